"""Inference request and response bodies for the built-in algorithms (contract §2 "Content types").

Requests: ``text/csv`` (rows of features, no header; ``label_size=N`` drops N leading columns),
``application/json`` (``{"instances":[{"features":[...]}]}`` or sparse ``{"instances":[{"data":{"features":
{"keys","values","shape"}}}]}``), ``application/jsonlines`` (one such instance per line) and
``application/x-recordio-protobuf`` (one Record per row). Responses: ``{"<key>":[{...}, ...]}`` JSON, one object
per line for JSON Lines, one Record per row whose ``label`` map holds the outputs for protobuf, and a CSV line
of the output values per row.
"""

from __future__ import annotations

import io
import json
from typing import Any, Iterable

import numpy as np
import scipy.sparse as sp

from ..errors import ValidationError
from .protobuf import Tensor, decode_record, encode_record, features_of
from .readers import parse_content_type
from .recordio import frame, read_records

JSON = "application/json"
JSONLINES = "application/jsonlines"
CSV = "text/csv"
RECORDIO = "application/x-recordio-protobuf"
_ALIASES = {"application/x-jsonlines": JSONLINES, "application/jsonl": JSONLINES, "text/x-csv": CSV}


def mime(content_type: str | None) -> str:
    m, _ = parse_content_type(content_type or "")
    return _ALIASES.get(m, m)


def _stack(rows: list) -> np.ndarray | sp.csr_matrix:
    if not rows:
        raise ValidationError("The request holds no instances.")
    if any(sp.issparse(r) for r in rows):
        width = max(r.shape[-1] for r in rows)
        mats = [sp.csr_matrix(r if sp.issparse(r) else np.atleast_2d(r), shape=(1, width)) for r in rows]
        return sp.vstack(mats, format="csr").astype(np.float32)
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise ValidationError(f"Instances have different numbers of features: {sorted(widths)}.")
    return np.asarray(rows, dtype=np.float32)


def _instance(obj: Any):
    """One JSON instance: a list of numbers, {"features":[...]}, or {"data":{"features":{keys,values,shape}}}."""
    if isinstance(obj, list):
        return np.asarray(obj, dtype=np.float32)
    if isinstance(obj, dict):
        if "features" in obj:
            return np.asarray(obj["features"], dtype=np.float32)
        data = obj.get("data")
        if isinstance(data, dict) and isinstance(data.get("features"), dict):
            f = data["features"]
            values = np.asarray(f.get("values", []), dtype=np.float32)
            if "keys" in f:
                shape = f.get("shape") or [int(max(f["keys"], default=-1)) + 1]
                keys = np.asarray(f["keys"], dtype=np.int64)
                return sp.csr_matrix((values, keys, [0, len(keys)]), shape=(1, int(shape[-1])))
            return values
    raise ValidationError('Each JSON instance must be a list of numbers, {"features": [...]} or '
                          '{"data": {"features": {"keys": [...], "values": [...], "shape": [...]}}}.')


def decode_features(body: bytes, content_type: str) -> np.ndarray | sp.csr_matrix:
    """A request body as a 2-D float32 array (or CSR for sparse JSON/protobuf instances)."""
    m = mime(content_type)
    _, params = parse_content_type(content_type or "")
    try:
        if m == CSV:
            label_size = int(params.get("label_size", 0))
            text = body.decode("utf-8")
            rows = [line for line in text.splitlines() if line.strip()]
            if not rows:
                raise ValidationError("The CSV request body is empty.")
            arr = np.asarray([[float(v) if v.strip() else np.nan for v in r.split(",")] for r in rows],
                             dtype=np.float32)
            return arr[:, label_size:]
        if m == JSON:
            doc = json.loads(body)
            if isinstance(doc, dict) and "instances" in doc:
                return _stack([_instance(i) for i in doc["instances"]])
            if isinstance(doc, list):
                return _stack([_instance(i) for i in doc])
            return _stack([_instance(doc)])
        if m == JSONLINES:
            lines = [ln for ln in body.decode("utf-8").splitlines() if ln.strip()]
            return _stack([_instance(json.loads(ln)) for ln in lines])
        if m in (RECORDIO, "application/x-recordio"):
            return _stack([features_of(decode_record(p)) for p in read_records(io.BytesIO(body))])
    except (ValueError, TypeError, KeyError) as e:
        if isinstance(e, ValidationError):
            raise
        raise ValidationError(f"Could not parse the {m} request body: {e}") from None
    raise ValidationError(f"Content type '{content_type}' is not supported; use one of "
                          f"{CSV}, {JSON}, {JSONLINES}, {RECORDIO}.")


def _plain(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    return v


def encode_predictions(rows: Iterable[dict], accept: str, key: str = "predictions") -> tuple[bytes, str]:
    """Encode per-row output dicts (e.g. ``{"score": .9, "predicted_label": 1}``) in the Accept type."""
    rows = [{k: _plain(v) for k, v in r.items()} for r in rows]
    m = mime(accept)
    if m in ("", "*/*", JSON):
        return json.dumps({key: rows}).encode(), JSON
    if m == JSONLINES:
        return "".join(json.dumps(r) + "\n" for r in rows).encode(), JSONLINES
    if m == CSV:
        lines = []
        for r in rows:
            vals = []
            for v in r.values():
                vals.extend(v if isinstance(v, list) else [v])
            lines.append(",".join(repr(float(x)) if isinstance(x, float) else str(x) for x in vals))
        return ("\n".join(lines) + "\n").encode(), CSV
    if m == RECORDIO:
        out = []
        for r in rows:
            label = {k: Tensor(np.atleast_1d(np.asarray(v, dtype=np.float32)).reshape(-1)) for k, v in r.items()}
            out.append(frame(encode_record(label=label)))
        return b"".join(out), RECORDIO
    raise ValidationError(f"Accept type '{accept}' is not supported; use one of {JSON}, {JSONLINES}, "
                          f"{RECORDIO}, {CSV}.")
