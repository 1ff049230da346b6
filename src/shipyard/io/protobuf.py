"""The ``aialgs.data.Record`` protobuf message, encoded and decoded by hand (no protobuf dependency).

Built-in algorithms read and write this message (SageMaker contract §6)::

    message Float32Tensor { repeated float  values=1 [packed]; repeated uint64 keys=2 [packed]; repeated uint64 shape=3 [packed]; }
    message Float64Tensor { repeated double values=1 ...; }      message Int32Tensor { repeated int32 values=1 ...; }
    message Bytes  { repeated bytes value=1; optional string content_type=2; }
    message Value  { oneof { Float32Tensor float32_tensor=2; Float64Tensor float64_tensor=3; Int32Tensor int32_tensor=7; Bytes bytes=9; } }
    message Record { map<string,Value> features=1; map<string,Value> label=2; string uid=3; string metadata=4; string configuration=5; }

Packed numbers go through numpy in bulk (floats by ``frombuffer``, varints by vectorised byte arithmetic), so
a record costs a few microseconds in Python, not one call per number. The byte layout matches what the
SageMaker SDK's ``write_numpy_to_dense_tensor`` / ``write_spmatrix_to_sparse_tensor`` produce, byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, BinaryIO, Iterator

import numpy as np

from .recordio import frame, read_records

# Value's oneof field numbers
_F32, _F64, _I32, _BYTES = 2, 3, 7, 9
_KIND_BY_FIELD = {_F32: "float32", _F64: "float64", _I32: "int32"}
_FIELD_BY_KIND = {v: k for k, v in _KIND_BY_FIELD.items()}


class ProtobufError(ValueError):
    """The bytes are not a well-formed aialgs.data.Record."""


@dataclass
class Tensor:
    """A Float32/Float64/Int32 tensor: dense (``values``) or sparse (``keys`` + ``values`` + ``shape``)."""

    values: np.ndarray
    keys: np.ndarray | None = None
    shape: tuple[int, ...] | None = None

    @property
    def dtype(self) -> str:
        return str(self.values.dtype)

    @property
    def is_sparse(self) -> bool:
        return self.keys is not None

    def to_dense(self) -> np.ndarray:
        if self.keys is None:
            return self.values if self.shape is None else self.values.reshape(self.shape)
        if not self.shape:
            raise ProtobufError("sparse tensor without a shape")
        out = np.zeros(int(np.prod(self.shape)), dtype=self.values.dtype)
        out[self.keys.astype(np.int64)] = self.values
        return out.reshape(self.shape)


@dataclass
class BytesValue:
    value: list[bytes]
    content_type: str | None = None


@dataclass
class Record:
    features: dict[str, Any] = field(default_factory=dict)   # name -> Tensor | BytesValue
    label: dict[str, Any] = field(default_factory=dict)
    uid: str | None = None
    metadata: str | None = None
    configuration: str | None = None


# ---------------------------------------------------------------- varints

def varint(n: int) -> bytes:
    """``n`` as a protobuf varint (a negative int64 as its two's complement, ten bytes, as protobuf writes it)."""
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def encode_varints(values: np.ndarray) -> bytes:
    """Vectorised varint encoding of non-negative integers (uint64)."""
    v = np.ascontiguousarray(values, dtype=np.uint64)
    if v.size == 0:
        return b""
    if int(v.max()) < 0x80:
        return v.astype(np.uint8).tobytes()
    nbytes = np.ones(v.shape, dtype=np.int64)
    t = v >> np.uint64(7)
    while t.any():
        nbytes += t > 0
        t >>= np.uint64(7)
    starts = np.concatenate(([0], np.cumsum(nbytes)[:-1]))
    out = np.empty(int(nbytes.sum()), dtype=np.uint8)
    for j in range(int(nbytes.max())):
        m = nbytes > j
        byte = (v[m] >> np.uint64(7 * j)) & np.uint64(0x7F)
        cont = (nbytes[m] > j + 1).astype(np.uint64) << np.uint64(7)
        out[starts[m] + j] = (byte | cont).astype(np.uint8)
    return out.tobytes()


def decode_varints(buf: bytes | memoryview) -> np.ndarray:
    """Vectorised decoding of a packed varint run into uint64."""
    b = np.frombuffer(buf, dtype=np.uint8)
    if b.size == 0:
        return np.zeros(0, dtype=np.uint64)
    ends = np.flatnonzero(b < 0x80)
    if ends.size == 0 or ends[-1] != b.size - 1:
        raise ProtobufError("truncated packed varint")
    if ends.size == b.size:
        return b.astype(np.uint64)
    starts = np.concatenate(([0], ends[:-1] + 1))
    group_start = np.repeat(starts, ends - starts + 1)
    shift = ((np.arange(b.size) - group_start) * 7).astype(np.uint64)
    parts = (b & 0x7F).astype(np.uint64) << shift
    return np.bitwise_or.reduceat(parts, starts)


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """(value, position after it) of the varint at ``pos``; ProtobufError when the buffer ends inside it."""
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ProtobufError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int, Any]]:
    """Yield (field number, wire type, value) where value is an int or a (start, end) slice for LEN."""
    pos = start
    end = len(buf) if end is None else end
    while pos < end:
        key, pos = read_varint(buf, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, pos = read_varint(buf, pos)
            yield num, wt, val
        elif wt == 2:
            n, pos = read_varint(buf, pos)
            if pos + n > end:
                raise ProtobufError("length-delimited field runs past the end of the message")
            yield num, wt, (pos, pos + n)
            pos += n
        elif wt == 5:
            yield num, wt, buf[pos:pos + 4]
            pos += 4
        elif wt == 1:
            yield num, wt, buf[pos:pos + 8]
            pos += 8
        else:
            raise ProtobufError(f"unsupported wire type {wt}")
    if pos != end:
        raise ProtobufError("message runs past its end")


# ---------------------------------------------------------------- encoding

def _len_field(tag: int, payload: bytes) -> bytes:
    return bytes([tag]) + varint(len(payload)) + payload


def encode_tensor(values, keys=None, shape=None, kind: str | None = None) -> bytes:
    """Encode a Value holding a tensor. ``kind`` float32/float64/int32 (default: from the values' dtype)."""
    arr = np.asarray(values)
    if kind is None:
        kind = "float64" if arr.dtype == np.float64 else "int32" if arr.dtype.kind in "iub" else "float32"
    body = b""
    if arr.size:
        if kind == "float32":
            packed = np.ascontiguousarray(arr, dtype="<f4").tobytes()
        elif kind == "float64":
            packed = np.ascontiguousarray(arr, dtype="<f8").tobytes()
        else:
            packed = encode_varints(np.asarray(arr, dtype=np.int32).astype(np.int64).view(np.uint64))
        body += _len_field(0x0A, packed)
    if keys is not None and len(keys):
        body += _len_field(0x12, encode_varints(np.asarray(keys, dtype=np.uint64)))
    if shape is not None and len(shape):
        body += _len_field(0x1A, encode_varints(np.asarray(shape, dtype=np.uint64)))
    return _len_field(_FIELD_BY_KIND[kind] << 3 | 2, body)


def _encode_value(v) -> bytes:
    if isinstance(v, bytes):
        return _len_field(_BYTES << 3 | 2, _len_field(0x0A, v))
    if isinstance(v, BytesValue):
        body = b"".join(_len_field(0x0A, x) for x in v.value)
        if v.content_type is not None:
            body += _len_field(0x12, v.content_type.encode())
        return _len_field(_BYTES << 3 | 2, body)
    if isinstance(v, Tensor):
        return encode_tensor(v.values, v.keys, v.shape)
    arr = np.asarray(v)
    return encode_tensor(arr.reshape(-1))


def _encode_map(tag: int, entries: dict) -> bytes:
    out = []
    for name, value in entries.items():
        entry = _len_field(0x0A, name.encode()) + _len_field(0x12, _encode_value(value))
        out.append(_len_field(tag, entry))
    return b"".join(out)


def encode_record(features: dict | None = None, label: dict | None = None, uid: str | None = None,
                  metadata: str | None = None, configuration: str | None = None) -> bytes:
    """Serialize a Record. Map values: Tensor, BytesValue, bytes, a numpy array or a list/scalar."""
    out = _encode_map(0x0A, features or {}) + _encode_map(0x12, label or {})
    for tag, text in ((0x1A, uid), (0x22, metadata), (0x2A, configuration)):
        if text is not None:
            out += _len_field(tag, text.encode())
    return out


# ---------------------------------------------------------------- decoding

def _decode_tensor(buf: bytes, start: int, end: int, kind: str) -> Tensor:
    values = keys = shape = None
    for num, wt, val in _fields(buf, start, end):
        if num == 1:
            if wt != 2:  # unpacked single value
                raw = val.to_bytes(10, "little") if isinstance(val, int) else val
                chunk = np.frombuffer(raw[:4] if kind == "float32" else raw[:8], dtype="<f4" if kind == "float32" else "<f8") \
                    if kind != "int32" else np.array([val], dtype=np.uint64)
            else:
                s, e = val
                if kind == "float32":
                    chunk = np.frombuffer(buf, dtype="<f4", count=(e - s) // 4, offset=s)
                elif kind == "float64":
                    chunk = np.frombuffer(buf, dtype="<f8", count=(e - s) // 8, offset=s)
                else:
                    chunk = decode_varints(memoryview(buf)[s:e])
            values = chunk if values is None else np.concatenate([values, chunk])
        elif num in (2, 3):
            chunk = decode_varints(memoryview(buf)[val[0]:val[1]]) if wt == 2 else np.array([val], dtype=np.uint64)
            if num == 2:
                keys = chunk if keys is None else np.concatenate([keys, chunk])
            else:
                shape = chunk if shape is None else np.concatenate([shape, chunk])
    if kind == "int32":
        arr = np.zeros(0, dtype=np.int32) if values is None else values.view(np.int64).astype(np.int32)
    else:
        arr = np.zeros(0, dtype=np.float32 if kind == "float32" else np.float64) if values is None else values
    return Tensor(arr, keys, tuple(int(x) for x in shape) if shape is not None else None)


def _decode_value(buf: bytes, start: int, end: int):
    result = None
    for num, wt, val in _fields(buf, start, end):
        if num in _KIND_BY_FIELD and wt == 2:
            result = _decode_tensor(buf, val[0], val[1], _KIND_BY_FIELD[num])
        elif num == _BYTES and wt == 2:
            bv = BytesValue([])
            for n2, _, v2 in _fields(buf, val[0], val[1]):
                if n2 == 1:
                    bv.value.append(bytes(buf[v2[0]:v2[1]]))
                elif n2 == 2:
                    bv.content_type = bytes(buf[v2[0]:v2[1]]).decode()
            result = bv
    return result


def _decode_entry(buf: bytes, start: int, end: int):
    key, value = "", None
    for num, _, val in _fields(buf, start, end):
        if num == 1:
            key = bytes(buf[val[0]:val[1]]).decode()
        elif num == 2:
            value = _decode_value(buf, val[0], val[1])
    return key, value


def decode_record(payload: bytes) -> Record:
    buf = bytes(payload)
    rec = Record()
    for num, wt, val in _fields(buf):
        if wt != 2:
            continue
        if num == 1:
            k, v = _decode_entry(buf, *val)
            rec.features[k] = v
        elif num == 2:
            k, v = _decode_entry(buf, *val)
            rec.label[k] = v
        elif num in (3, 4, 5):
            text = buf[val[0]:val[1]].decode()
            setattr(rec, {3: "uid", 4: "metadata", 5: "configuration"}[num], text)
    return rec


# ---------------------------------------------------------------- numpy / scipy convenience

def _kind_for(dtype) -> str:
    """The SDK's dtype rule: int -> Int32, float64 -> Float64, float32 -> Float32 (others refused)."""
    dt = np.dtype(dtype)
    if dt.kind in "iub":
        return "int32"
    if dt == np.float64:
        return "float64"
    if dt == np.float32:
        return "float32"
    raise ValueError(f"Unsupported dtype {dt} on array")


def _check_labels(array_shape, labels):
    if labels is None:
        return None
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError("Labels must be a Vector")
    if labels.shape[0] not in array_shape:
        raise ValueError(f"Label shape {labels.shape} not compatible with array shape {array_shape}")
    return labels


def write_recordio_protobuf(file: BinaryIO, array, labels=None) -> int:
    """Write one Record per row: dense numpy -> ``features["values"]`` dense tensor; scipy.sparse -> sparse
    tensor with keys and ``shape=[n_cols]``; labels (1-D) -> ``label["values"]``. Returns the row count.

    Matches the SDK's ``write_numpy_to_dense_tensor`` / ``write_spmatrix_to_sparse_tensor`` byte for byte.
    """
    import scipy.sparse as sp

    sparse = sp.issparse(array)
    if not sparse:
        array = np.asarray(array)
    if len(array.shape) != 2:
        raise ValueError("Array must be a Matrix")
    labels = _check_labels(array.shape, labels)
    kind = _kind_for(array.dtype)
    label_kind = _kind_for(labels.dtype) if labels is not None else None
    key_entry = _len_field(0x0A, b"values")
    n_rows, n_cols = array.shape
    if (not sparse and kind != "int32" and label_kind != "int32" and n_rows and n_cols):
        file.write(_dense_fixed_width(array, kind, labels, label_kind, key_entry))
        return n_rows
    if sparse:
        csr = array.tocsr()
        shape_field = _len_field(0x1A, varint(n_cols))
    for i in range(n_rows):
        if sparse:
            s, e = csr.indptr[i], csr.indptr[i + 1]
            inner = b""
            if e > s:
                inner += _len_field(0x0A, value_bytes(csr.data[s:e], kind))
                inner += _len_field(0x12, encode_varints(csr.indices[s:e].astype(np.uint64)))
            inner += shape_field
            value = _len_field(_FIELD_BY_KIND[kind] << 3 | 2, inner)
        else:
            row = array[i]
            inner = _len_field(0x0A, value_bytes(row, kind)) if row.size else b""
            value = _len_field(_FIELD_BY_KIND[kind] << 3 | 2, inner)
        rec = _len_field(0x0A, key_entry + _len_field(0x12, value))
        if labels is not None:
            lv = _len_field(_FIELD_BY_KIND[label_kind] << 3 | 2,
                            _len_field(0x0A, value_bytes(np.asarray([labels[i]]), label_kind)))
            rec += _len_field(0x12, key_entry + _len_field(0x12, lv))
        file.write(frame(rec))
    return n_rows


def _dense_fixed_width(array, kind, labels, label_kind, key_entry) -> bytes:
    """All rows at once: with fixed-width values every record has the same bytes around its values, so the
    framed records are one (rows x record size) byte matrix filled column block by column block."""
    n_rows, n_cols = array.shape
    ftype = "<f4" if kind == "float32" else "<f8"
    fw = n_cols * np.dtype(ftype).itemsize
    tensor = _len_field(_FIELD_BY_KIND[kind] << 3 | 2, _len_field(0x0A, b"\0" * fw))
    rec = _len_field(0x0A, key_entry + _len_field(0x12, tensor))
    f_off = len(rec) - fw
    l_off = lw = None
    if labels is not None:
        ltype = "<f4" if label_kind == "float32" else "<f8"
        lw = np.dtype(ltype).itemsize
        lv = _len_field(_FIELD_BY_KIND[label_kind] << 3 | 2, _len_field(0x0A, b"\0" * lw))
        rec += _len_field(0x12, key_entry + _len_field(0x12, lv))
        l_off = len(rec) - lw
    framed = frame(rec)
    out = np.tile(np.frombuffer(framed, dtype=np.uint8), (n_rows, 1))
    out[:, 8 + f_off:8 + f_off + fw] = np.ascontiguousarray(array, dtype=ftype).view(np.uint8).reshape(n_rows, fw)
    if labels is not None:
        out[:, 8 + l_off:8 + l_off + lw] = np.ascontiguousarray(labels, dtype=ltype).view(np.uint8).reshape(n_rows, lw)
    return out.tobytes()


def value_bytes(arr: np.ndarray, kind: str) -> bytes:
    if kind == "float32":
        return np.ascontiguousarray(arr, dtype="<f4").tobytes()
    if kind == "float64":
        return np.ascontiguousarray(arr, dtype="<f8").tobytes()
    return encode_varints(np.asarray(arr).astype(np.int32).astype(np.int64).view(np.uint64))


write_numpy_to_dense_tensor = write_recordio_protobuf


def write_spmatrix_to_sparse_tensor(file: BinaryIO, array, labels=None) -> int:
    import scipy.sparse as sp
    if not sp.issparse(array):
        raise TypeError("Array must be sparse")
    return write_recordio_protobuf(file, array, labels)


def features_of(rec: Record, key: str = "values"):
    """A record's feature vector: 1-D numpy array (dense) or a 1-row CSR matrix (sparse)."""
    t = rec.features.get(key)
    if t is None:
        raise ProtobufError(f"record has no features['{key}'] tensor")
    if not isinstance(t, Tensor):
        raise ProtobufError(f"features['{key}'] is bytes, not a tensor")
    if t.keys is None and (t.shape is None or t.values.size == int(np.prod(t.shape))):
        return t.values
    import scipy.sparse as sp
    if not t.shape:
        raise ProtobufError("sparse features tensor has no shape")
    n_cols = int(t.shape[-1]) if len(t.shape) == 1 else int(np.prod(t.shape))
    keys = t.keys.astype(np.int64) if t.keys is not None else np.zeros(0, dtype=np.int64)
    return sp.csr_matrix((t.values, keys, np.array([0, len(keys)])), shape=(1, n_cols))


def label_of(rec: Record, key: str = "values"):
    t = rec.label.get(key)
    if t is None or not isinstance(t, Tensor):
        return None
    v = t.to_dense().reshape(-1)
    return v[0].item() if v.size == 1 else v


def read_recordio_protobuf(stream: BinaryIO, key: str = "values") -> Iterator[tuple[Any, Any]]:
    """Yield ``(features, label)`` per record: features a 1-D array or 1-row CSR; label a number, an array,
    or None when the record has no label."""
    for payload in read_records(stream):
        rec = decode_record(payload)
        yield features_of(rec, key), label_of(rec, key)
