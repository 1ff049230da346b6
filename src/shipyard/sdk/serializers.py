"""Request serializers and response deserializers for :class:`~shipyard.sdk.Predictor`.

They mirror the SageMaker Python SDK's classes of the same names (``CONTENT_TYPE`` on serializers, ``ACCEPT``
on deserializers, ``serialize(data)`` / ``deserialize(body, content_type)``), so code moves between the two
unchanged. numpy is imported only when an array is actually handled.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any


def _is_numpy(data: Any) -> bool:
    return type(data).__module__ == "numpy" and hasattr(data, "tolist")


def _csv_row(row: Any) -> str:
    if isinstance(row, (str, bytes)):
        return row.decode() if isinstance(row, bytes) else row
    if _is_numpy(row):
        row = row.tolist()
    if isinstance(row, (list, tuple)):
        return ",".join(str(v) for v in row)
    return str(row)


class CSVSerializer:
    """Rows of numbers -> ``text/csv``: a flat sequence is one row, a sequence of sequences is one row each."""

    CONTENT_TYPE = "text/csv"

    def __init__(self, content_type: str = "text/csv"):
        self.CONTENT_TYPE = content_type

    def serialize(self, data: Any) -> str:
        if isinstance(data, bytes):
            return data.decode()
        if isinstance(data, str):
            return data
        if hasattr(data, "to_csv"):  # a pandas DataFrame or Series, without importing pandas
            return data.to_csv(header=False, index=False).rstrip("\n")
        if _is_numpy(data):
            data = data.tolist()
        if isinstance(data, (list, tuple)):
            if data and isinstance(data[0], (list, tuple, str, bytes)) or (data and _is_numpy(data[0])):
                return "\n".join(_csv_row(r) for r in data)
            return _csv_row(data)
        return str(data)


class JSONSerializer:
    """Any JSON-able value (numpy arrays become lists) -> ``application/json``."""

    CONTENT_TYPE = "application/json"

    def __init__(self, content_type: str = "application/json"):
        self.CONTENT_TYPE = content_type

    def serialize(self, data: Any) -> str:
        if isinstance(data, (str, bytes)):
            return data.decode() if isinstance(data, bytes) else data
        return json.dumps(data, default=lambda o: o.tolist() if _is_numpy(o) else str(o))


class NumpySerializer:
    """An array (or anything ``numpy.asarray`` takes) -> ``application/x-npy`` bytes."""

    CONTENT_TYPE = "application/x-npy"

    def __init__(self, dtype: str | None = None, content_type: str = "application/x-npy"):
        self.dtype = dtype
        self.CONTENT_TYPE = content_type

    def serialize(self, data: Any) -> bytes:
        import numpy as np

        buf = io.BytesIO()
        np.save(buf, np.asarray(data, dtype=self.dtype), allow_pickle=False)
        return buf.getvalue()


def _text(body: Any) -> str:
    data = body.read() if hasattr(body, "read") else body
    return data.decode("utf-8") if isinstance(data, bytes) else str(data)


class CSVDeserializer:
    """``text/csv`` -> a list of rows, each a list of strings (as the SageMaker SDK returns them)."""

    ACCEPT = ("text/csv",)

    def __init__(self, accept: str = "text/csv", encoding: str = "utf-8"):
        self.ACCEPT = (accept,)
        self.encoding = encoding

    def deserialize(self, body: Any, content_type: str = "text/csv") -> list[list[str]]:
        text = _text(body)
        return [row for row in csv.reader(io.StringIO(text)) if row]


class JSONDeserializer:
    """``application/json`` -> the decoded value."""

    ACCEPT = ("application/json",)

    def __init__(self, accept: str = "application/json"):
        self.ACCEPT = (accept,)

    def deserialize(self, body: Any, content_type: str = "application/json") -> Any:
        return json.loads(_text(body))


class NumpyDeserializer:
    """``application/x-npy`` (or CSV / JSON answers) -> a numpy array."""

    ACCEPT = ("application/x-npy",)

    def __init__(self, dtype: str | None = None, accept: str = "application/x-npy", allow_pickle: bool = False):
        self.dtype = dtype
        self.ACCEPT = (accept,)
        self.allow_pickle = allow_pickle

    def deserialize(self, body: Any, content_type: str = "application/x-npy") -> Any:
        import numpy as np

        data = body.read() if hasattr(body, "read") else body
        ctype = (content_type or "").split(";")[0].strip()
        if ctype == "text/csv":
            return np.genfromtxt(io.StringIO(_text(data)), delimiter=",", dtype=self.dtype, ndmin=1)
        if ctype == "application/json":
            return np.array(json.loads(_text(data)), dtype=self.dtype)
        return np.load(io.BytesIO(data), allow_pickle=self.allow_pickle)


def accept_header(deserializer: Any) -> str | None:
    """The Accept header a deserializer asks for (its first accepted type)."""
    accept = getattr(deserializer, "ACCEPT", None)
    if accept is None:
        return None
    return accept if isinstance(accept, str) else ", ".join(accept)
