"""An endpoint's captured traffic (``sagemakerCaptureJson``) and ground-truth labels, as the analyzer reads them.

Each ``.jsonl`` line is one request/response pair as data capture writes it::

    {"captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": "1,2",
                                       "encoding": "CSV"},
                     "endpointOutput": {...}},
     "eventMetadata": {"eventId": "...", "inferenceId": "...", "inferenceTime": "2024-05-01T12:00:00Z"},
     "eventVersion": "0"}

``data`` is text for encodings CSV and JSON and base64 for BASE64 (decoded by its ``observedContentType``). A CSV
payload with several lines is several rows, as is a JSON ``{"instances": [...]}`` or a list of lists. The
columns of a row are the output's then the input's (AWS's default ``output_columns_position`` START, which lines
them up with a training set whose label comes first), named ``_c0``, ``_c1``....

Ground truth (model quality) is uploaded by the user in the same hourly layout::

    {"groundTruthData": {"data": "1", "encoding": "CSV"}, "eventMetadata": {"eventId": "..."}, "eventVersion": "0"}

and joined to captured records by ``inferenceId`` where the capture has one, else by ``eventId``.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from .datasets import flatten, rows_to_table


@dataclass
class CapturedRecord:
    event_id: str
    inference_id: str | None
    inference_time: str | None
    input: dict | None
    output: dict | None

    @property
    def join_key(self) -> str:
        return self.inference_id or self.event_id


@dataclass
class Captures:
    records: list[CapturedRecord] = field(default_factory=list)
    table: pa.Table = field(default_factory=lambda: pa.table({}))
    skipped: int = 0  # lines that were not capture records (counted, reported, not fatal)


def parse_time(text: str | None) -> datetime | None:
    """An ISO-8601 time as AWS writes them (``2019-12-01T16:20:00Z``; the docs' example has a space after the
    colon, tolerated), or None."""
    if not text:
        return None
    cleaned = str(text).strip().replace(" ", "").replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(cleaned)
    except ValueError:
        return None


def decode(part: dict | None) -> str:
    """A capture part's payload as text."""
    if not part:
        return ""
    data = part.get("data") or ""
    if str(part.get("encoding") or "").upper() == "BASE64":
        try:
            return base64.b64decode(data).decode("utf-8", "replace")
        except (ValueError, TypeError):
            return ""
    return str(data)


def payload_rows(part: dict | None) -> list[list[Any] | dict]:
    """The rows one payload holds: CSV lines, or JSON instances/objects."""
    text = decode(part).strip()
    if not text:
        return []
    content_type = str((part or {}).get("observedContentType") or "").lower()
    encoding = str((part or {}).get("encoding") or "").upper()
    if "json" in content_type or encoding == "JSON" or text[:1] in "[{":
        try:
            return json_rows(json.loads(text))
        except json.JSONDecodeError:
            pass
    return [[scalar(v) for v in row] for row in csv.reader(io.StringIO(text)) if row]


def json_rows(doc: Any) -> list[list[Any] | dict]:
    if isinstance(doc, dict):
        for key in ("instances", "predictions", "outputs"):
            if isinstance(doc.get(key), list) and len(doc) == 1:
                return json_rows(doc[key])
        return [doc]
    if isinstance(doc, list):
        if doc and all(isinstance(v, (list, dict)) for v in doc):
            return [v if isinstance(v, (list, dict)) else [v] for v in doc]
        return [doc]
    return [[doc]]


_PATH_TOKEN = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]")


def json_path(text: str, path: str) -> Any:
    """The value a simple JSONPath (``$.predictions[0].score``, ``$[1]``) selects in a JSON payload, or None."""
    try:
        value: Any = json.loads(text)
    except json.JSONDecodeError:
        return None
    for match in _PATH_TOKEN.finditer(path.lstrip("$")):
        key, index = match.groups()
        try:
            value = value[int(index)] if index is not None else value[key]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def scalar(text: str) -> Any:
    """A CSV cell as a number where it is one (so captured numbers are numbers), else the text; empty is None."""
    text = text.strip()
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _row_values(row: list | dict) -> list[Any]:
    return list(flatten(row).values()) if isinstance(row, dict) else list(row)


def read_captures(files: list[Path], indexes: tuple[str, ...] = ("endpointInput", "endpointOutput"),
                  start: datetime | None = None, end: datetime | None = None,
                  preprocess: Callable[[Any], Any] | None = None) -> Captures:
    """Every capture record in ``files`` whose ``inferenceTime`` is within [start, end) when those are given
    (AWS stages a little more than the window and filters by time), and their rows as a table. With a record
    preprocessor (:mod:`.scripts`) its rows are the record's, and a record it returns nothing for is left out."""
    out = Captures()
    rows: list[list[Any]] = []
    named: list[dict] = []
    use_input = "endpointInput" in indexes
    use_output = "endpointOutput" in indexes
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    doc = json.loads(line)
                    data = doc["captureData"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    out.skipped += 1
                    continue
                meta = doc.get("eventMetadata") or {}
                when = parse_time(meta.get("inferenceTime"))
                if when is not None and ((start and when < start) or (end and when >= end)):
                    continue
                record = CapturedRecord(str(meta.get("eventId") or ""), meta.get("inferenceId"),
                                        meta.get("inferenceTime"), data.get("endpointInput"),
                                        data.get("endpointOutput"))
                if preprocess is not None:
                    from .scripts import inference_record, rows_from

                    produced = rows_from(preprocess(inference_record(doc)))
                    if produced:
                        out.records.append(record)
                        named.extend(produced)
                    continue
                out.records.append(record)
                inputs = payload_rows(record.input) if use_input else []
                outputs = payload_rows(record.output) if use_output else []
                count = max(len(inputs), len(outputs))
                for i in range(count):
                    head = _row_values(outputs[i]) if i < len(outputs) else []
                    tail = _row_values(inputs[i]) if i < len(inputs) else []
                    rows.append(head + tail)
    if preprocess is not None:
        out.table = rows_to_table(named) if named else pa.table({})
        return out
    width = max((len(r) for r in rows), default=0)
    out.table = rows_to_table([r + [None] * (width - len(r)) for r in rows]) if rows else pa.table({})
    return out


def read_ground_truth(files: list[Path]) -> dict[str, str]:
    """``{eventId: label text}`` from ground-truth ``.jsonl`` files (a later line for the same id wins)."""
    labels: dict[str, str] = {}
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    doc = json.loads(line)
                    event = str(doc["eventMetadata"]["eventId"])
                    part = doc["groundTruthData"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue
                labels[event] = decode(part).strip()
    return labels
