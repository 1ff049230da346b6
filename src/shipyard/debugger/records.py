"""smdebug's event files, byte for byte: TFRecord framing around ``Event`` protobufs, without protobuf.

smdebug (the SageMaker Debugger client library) pins protobuf 3.20, which this environment cannot take, so
Shipyard writes and reads the few messages the format uses by hand. A record is::

    uint64 length | uint32 masked crc32c(length) | payload | uint32 masked crc32c(b"0x12345678")

(smdebug's default footer: a checksum of its magic bytes, not of the payload, which its reader checks in its
"minimal" mode). The payload is an ``Event`` (wall_time=1 double, step=2 int64, summary=5) whose ``Summary``
holds one ``Value`` (tag=1, tensor=8, metadata=9 with the ``mode`` and ``mode_step`` plugin data) whose
``TensorProto`` carries dtype=1, tensor_shape=2 (dims: size=1, name=2) and the raw little-endian bytes in
tensor_content=4. These field numbers are TensorFlow's; smdebug's ``create_trial`` reads what is written here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from ..io.protobuf import read_varint, varint

MAGIC = b"0x12345678"

# TensorFlow's DataType enum values for the dtypes a hook saves (DT_FLOAT=1, DT_DOUBLE=2, DT_INT32=3, ...)
_DTYPES: dict[str, int] = {"float32": 1, "float64": 2, "int32": 3, "uint8": 4, "int16": 5, "int8": 6,
                           "int64": 9, "bool": 10, "uint16": 17, "float16": 19, "uint32": 22, "uint64": 23}
_NUMPY = {v: np.dtype(k) for k, v in _DTYPES.items()}


def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    x = crc32c(data)
    return (((x >> 15) | (x << 17)) + 0xA282EAD8) & 0xFFFFFFFF


_MAGIC_FOOTER = struct.pack("<I", masked_crc32c(MAGIC))


def frame(payload: bytes) -> bytes:
    """One TFRecord around ``payload``."""
    header = struct.pack("<Q", len(payload))
    return header + struct.pack("<I", masked_crc32c(header)) + payload + _MAGIC_FOOTER


def unframe(data: bytes, start: int = 0) -> tuple[bytes, int]:
    """The payload of the record at ``start`` and where the next one begins; ValueError for a torn record."""
    if start + 12 > len(data):
        raise ValueError("truncated record header")
    header = data[start:start + 8]
    (length,) = struct.unpack("<Q", header)
    (crc,) = struct.unpack("<I", data[start + 8:start + 12])
    if crc != masked_crc32c(header):
        raise ValueError("record length checksum mismatch")
    end = start + 12 + length
    if end + 4 > len(data):
        raise ValueError("truncated record")
    return data[start + 12:end], end + 4


# --- the protobuf wire format, for the fields above ---
def _field(number: int, wire: int) -> bytes:
    return varint((number << 3) | wire)


def _bytes_field(number: int, value: bytes) -> bytes:
    return _field(number, 2) + varint(len(value)) + value


def _fields(buf: bytes):
    """(field number, wire type, value) of a message: ints for varints, bytes for the rest."""
    i = 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = read_varint(buf, i)
            yield number, wire, value
        elif wire == 1:
            yield number, wire, buf[i:i + 8]
            i += 8
        elif wire == 2:
            length, i = read_varint(buf, i)
            yield number, wire, buf[i:i + length]
            i += length
        elif wire == 5:
            yield number, wire, buf[i:i + 4]
            i += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")


@dataclass
class TensorEvent:
    """One saved tensor: its name, step, mode (1 TRAIN, 2 EVAL, 3 PREDICT, 4 GLOBAL), mode step and value."""

    name: str
    step: int
    value: np.ndarray
    mode: int = 4
    mode_step: int = -1
    wall_time: float = 0.0


def encode_event(ev: TensorEvent) -> bytes:
    """The serialized ``Event`` of one tensor, as smdebug's ``FileWriter.write_tensor`` makes it."""
    value = np.asarray(ev.value)
    if value.dtype.name not in _DTYPES:
        value = value.astype(np.float64 if value.dtype.kind == "f" else np.int64)
    value = value.astype(value.dtype.newbyteorder("<"), copy=False)
    shape = b"".join(_bytes_field(2, _field(1, 0) + varint(d) + _bytes_field(2, f"{ev.name}_{d}".encode()))
                     for d in value.shape)
    tensor = (_field(1, 0) + varint(_DTYPES[value.dtype.name]) + _bytes_field(2, shape)
              + _bytes_field(4, np.ascontiguousarray(value).tobytes()))
    mode_step = ev.mode_step if ev.mode_step >= 0 else ev.step

    def plugin(name: str, content: str) -> bytes:
        return _bytes_field(1, _bytes_field(1, name.encode()) + _bytes_field(2, content.encode()))

    metadata = plugin("mode_step", str(mode_step)) + plugin("mode", str(ev.mode))
    summary_value = _bytes_field(1, ev.name.encode()) + _bytes_field(9, metadata) + _bytes_field(8, tensor)
    summary = _bytes_field(1, summary_value)
    return (_field(1, 1) + struct.pack("<d", ev.wall_time) + _field(2, 0) + varint(ev.step)
            + _bytes_field(5, summary))


def _decode_tensor(buf: bytes) -> np.ndarray:
    dtype, shape, content, strings = 1, [], b"", []
    for number, _, value in _fields(buf):
        if number == 1:
            dtype = value
        elif number == 2:
            for n, _, dim in _fields(value):
                if n == 2:
                    shape.append(next((v for k, _, v in _fields(dim) if k == 1), 0))
        elif number == 4:
            content = value
        elif number == 8:  # string_val
            strings.append(value.decode("utf-8", "replace"))
    if strings:
        return np.array(strings)
    arr = np.frombuffer(content, dtype=_NUMPY.get(dtype, np.dtype("float32")).newbyteorder("<"))
    return arr.reshape(shape) if shape else arr.reshape(())


def decode_event(payload: bytes) -> list[TensorEvent]:
    """The tensors of one serialized ``Event`` (one, in what smdebug writes; none for other events)."""
    wall, step, out = 0.0, 0, []
    summaries = []
    for number, _, value in _fields(payload):
        if number == 1:
            (wall,) = struct.unpack("<d", value)
        elif number == 2:
            step = value
        elif number == 5:
            summaries.append(value)
    for summary in summaries:
        for number, _, value in _fields(summary):
            if number != 1:
                continue
            tag, tensor, mode, mode_step = "", None, 4, -1
            for n, _, v in _fields(value):
                if n == 1:
                    tag = v.decode()
                elif n == 8:
                    tensor = _decode_tensor(v)
                elif n == 9:
                    for _, _, pd in _fields(v):
                        items = {k: x.decode() for k, _, x in _fields(pd)}
                        if items.get(1) == "mode":
                            mode = int(items.get(2) or 4)
                        elif items.get(1) == "mode_step":
                            mode_step = int(items.get(2) or -1)
            if tensor is not None:
                out.append(TensorEvent(tag, step, tensor, mode, mode_step, wall))
    return out
