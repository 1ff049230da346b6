"""Payload -> ``xgboost.DMatrix`` decoders, as the XGBoost framework image's ``encoder`` module offers them.

``csv_to_dmatrix`` (delimiter sniffed, empty fields are missing values), ``libsvm_to_dmatrix``,
``recordio_protobuf_to_dmatrix``, ``decode(obj, content_type)`` (picks one by content type, parameters such as
``; charset=utf-8`` ignored) and ``json_to_jsonlines``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import struct
import tempfile

import numpy as np
import xgboost as xgb

from .constants import xgb_content_types

try:  # the toolkits' error type, so ``except UnsupportedFormatError`` in user code keeps working
    from sagemaker_containers._errors import UnsupportedFormatError
except Exception:  # noqa: BLE001 - toolkit absent or broken: our own
    class UnsupportedFormatError(Exception):
        def __init__(self, content_type, **kwargs):
            self.message = f"Content type {content_type} is not supported by this framework."
            super().__init__(self.message)


def _media_type(content_type: str) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _fields(line: str, delimiter: str) -> list[str]:
    return ["nan" if cell.strip() == "" else cell for cell in line.split(delimiter)]


def csv_to_dmatrix(input, dtype=None) -> "xgb.DMatrix":
    """CSV text or UTF-8 bytes (no header, no label column) -> DMatrix."""
    text = input.decode("utf-8") if isinstance(input, (bytes, bytearray)) else str(input)
    text = text.strip("\n")
    first = text.split("\n", 1)[0][:512]
    try:
        delimiter = csv.Sniffer().sniff(first).delimiter
    except csv.Error:
        delimiter = ","
    if delimiter.isalnum() or delimiter in ".-+":
        delimiter = ","
    logging.info("Determined delimiter of CSV input is '%s'", delimiter)
    rows = [_fields(line, delimiter) for line in text.split("\n") if line.strip()]
    return xgb.DMatrix(np.array(rows).astype(dtype if dtype is not None else np.float32))


def libsvm_to_dmatrix(string_like) -> "xgb.DMatrix":
    """LIBSVM text (``label idx:value ...`` per line) -> DMatrix, through a temporary file as xgboost reads it."""
    data = string_like.encode("utf-8") if isinstance(string_like, str) else bytes(string_like)
    fd, path = tempfile.mkstemp(suffix=".libsvm")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            return xgb.DMatrix(f"{path}?format=libsvm")
        except xgb.core.XGBoostError:
            return xgb.DMatrix(path)  # xgboost < 1.x has no format argument
    finally:
        os.unlink(path)


def _records(buf: bytes):
    """The payloads of a RecordIO stream (magic, length, data padded to 4 bytes)."""
    pos = 0
    while pos + 8 <= len(buf):
        magic, length = struct.unpack_from("<II", buf, pos)
        if magic != 0xCED7230A:
            raise ValueError("not a RecordIO stream (bad magic number)")
        length &= (1 << 29) - 1
        pos += 8
        yield buf[pos:pos + length]
        pos += length + (-length % 4)


def _record_class():
    for module in ("sagemaker_training.record_pb2", "sagemaker_containers.record_pb2"):
        try:
            return __import__(module, fromlist=["Record"]).Record
        except Exception:  # noqa: BLE001 - try the next toolkit
            continue
    raise UnsupportedFormatError(xgb_content_types.X_RECORDIO_PROTOBUF)


def recordio_protobuf_to_dmatrix(string_like) -> "xgb.DMatrix":
    """RecordIO-protobuf (``Record`` messages, ``values`` feature dense or sparse; labels ignored) -> DMatrix."""
    Record = _record_class()
    rows, width, sparse = [], 0, False
    for payload in _records(bytes(string_like)):
        rec = Record()
        rec.ParseFromString(payload)
        tensor = rec.features["values"]
        kind = tensor.WhichOneof("value") if hasattr(tensor, "WhichOneof") else None
        t = getattr(tensor, kind) if kind else tensor.float32_tensor
        vals = np.asarray(list(t.values), dtype=np.float32)
        if len(t.keys):
            sparse = True
            width = max(width, int(t.shape[0]) if len(t.shape) else (max(t.keys) + 1))
            rows.append((np.asarray(list(t.keys), dtype=np.int64), vals))
        else:
            width = max(width, len(vals))
            rows.append((None, vals))
    if sparse:
        dense = np.full((len(rows), width), np.nan, dtype=np.float32)
        for i, (keys, vals) in enumerate(rows):
            if keys is None:
                dense[i, :len(vals)] = vals
            else:
                dense[i, keys] = vals
        return xgb.DMatrix(dense)
    return xgb.DMatrix(np.vstack([v for _, v in rows]) if rows else np.empty((0, 0), dtype=np.float32))


_DECODERS = {
    xgb_content_types.CSV: csv_to_dmatrix,
    xgb_content_types.LIBSVM: libsvm_to_dmatrix,
    xgb_content_types.X_LIBSVM: libsvm_to_dmatrix,
    xgb_content_types.X_RECORDIO_PROTOBUF: recordio_protobuf_to_dmatrix,
}


def decode(obj, content_type):
    """Decode a payload of one of the XGBoost content types into a DMatrix."""
    media = _media_type(content_type)
    decoder = _DECODERS.get(media)
    if decoder is None:
        raise UnsupportedFormatError(media)
    return decoder(obj)


def json_to_jsonlines(json_data) -> bytes:
    """``{"predictions": [a, b]}`` (dict or JSON text) -> one JSON line per entry of its single key."""
    doc = json_data if isinstance(json_data, dict) else json.loads(json_data)
    if len(doc) != 1:
        raise ValueError("JSON response is not compatible for conversion to jsonlines.")
    out = io.BytesIO()
    for entries in doc.values():
        for entry in entries:
            out.write((json.dumps(entry) + "\n").encode("utf-8"))
    return out.getvalue()
