"""``DataProcessing``: InputFilter before inference, JoinSource and OutputFilter after, per record.

CSV records are handled as JSON arrays of their column strings (index paths only, as on AWS); JSON records as
parsed JSON. Joining appends the output columns after the input's (CSV) or adds ``SageMakerOutput`` to the
input object (JSON; a non-object input becomes ``{"SageMakerInput": ..., "SageMakerOutput": ...}``).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from ..errors import ValidationError
from .jsonpath import select


def _is_csv(content_type: str) -> bool:
    return (content_type or "").split(";")[0].strip().lower() in ("text/csv", "text/plain", "")


def parse(record: bytes, content_type: str) -> Any:
    text = record.decode("utf-8")
    if _is_csv(content_type):
        return next(csv.reader([text]), [])
    try:
        return json.loads(text)
    except ValueError as e:
        raise ValidationError(f"record is not valid JSON ({e}): {text[:100]!r}") from None


def render(value: Any, content_type: str) -> bytes:
    if _is_csv(content_type):
        row = value if isinstance(value, list) else [value]
        buf = io.StringIO()
        csv.writer(buf, lineterminator="").writerow(
            [json.dumps(v) if isinstance(v, (dict, list)) else v for v in row])
        return buf.getvalue().encode()
    return json.dumps(value, separators=(",", ":")).encode()


def split_output(body: bytes, n: int, accept: str) -> list[bytes]:
    """One output per input record: lines for CSV / JSON Lines; a JSON ``predictions`` list or array otherwise."""
    text = body.decode("utf-8").strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if len(lines) == n:
        return [ln.encode() for ln in lines]
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    items = doc.get("predictions") if isinstance(doc, dict) else doc
    if isinstance(items, list) and len(items) == n:
        return [json.dumps(i, separators=(",", ":")).encode() for i in items]
    if n == 1:
        return [text.encode()]
    raise ValidationError(f"the model returned {len(lines)} lines for a batch of {n} records; with DataProcessing "
                          "each record needs its own output line (use SingleRecord or a line-per-record Accept).")


@dataclass
class DataProcessing:
    input_filter: str = "$"
    join_source: str = "None"
    output_filter: str = "$"

    @classmethod
    def from_request(cls, dp: dict | None) -> "DataProcessing":
        dp = dp or {}
        return cls(dp.get("InputFilter") or "$", dp.get("JoinSource") or "None", dp.get("OutputFilter") or "$")

    @property
    def filters_input(self) -> bool:
        return self.input_filter.strip() != "$"

    @property
    def per_record_output(self) -> bool:
        return self.join_source == "Input" or self.output_filter.strip() != "$"

    def filter_input(self, record: bytes, content_type: str) -> bytes:
        if not self.filters_input:
            return record
        return render(select(parse(record, content_type), self.input_filter), content_type)

    def finish(self, record: bytes, output: bytes, content_type: str, accept: str) -> bytes:
        out_value = parse(output, accept)
        if self.join_source == "Input":
            in_value = parse(record, content_type)
            if _is_csv(content_type) and _is_csv(accept):
                joined: Any = list(in_value) + (out_value if isinstance(out_value, list) else [out_value])
            elif isinstance(in_value, dict):
                joined = dict(in_value, SageMakerOutput=out_value)
            else:
                joined = {"SageMakerInput": in_value, "SageMakerOutput": out_value}
            kind = content_type if _is_csv(content_type) and _is_csv(accept) else "application/json"
        else:
            joined, kind = out_value, accept
        return render(select(joined, self.output_filter), kind)
