"""A small CBOR (RFC 8949) encoder and decoder: what the Smithy RPC v2 CBOR protocol needs, nothing more.

botocore speaks CloudWatch in ``smithy-rpc-v2-cbor`` (its model lists that protocol first), so the server must
read and write CBOR. The subset here is the one that protocol uses: integers, byte and text strings
(definite and indefinite length), arrays, maps, tag 1 (epoch-seconds timestamps), booleans, null/undefined
and half/single/double floats. It is written here rather than taken from ``cbor2`` because it is ~150 lines,
has no C extension to build, and keeps the core dependency list short; the tests check it against
botocore's own CBOR serializer and parser, which are what the clients run.

Timestamps: :func:`loads` turns tag 1 into a timezone-aware ``datetime``; :func:`dumps` writes a ``datetime``
as tag 1 around a float (or int) of epoch seconds, which botocore parses back into a ``datetime``.
"""

from __future__ import annotations

import datetime as _dt
import math
import struct
from typing import Any

__all__ = ["CBORDecodeError", "dumps", "loads", "Timestamp"]

_BREAK = 0xFF
_MAX_DEPTH = 100


class CBORDecodeError(ValueError):
    """The bytes are not well-formed CBOR (or use a feature outside the supported subset)."""


class Timestamp(float):
    """Epoch seconds that :func:`dumps` writes as a tag-1 timestamp (a plain float is written as a double)."""


# --- encoding ---

def _head(out: bytearray, major: int, value: int) -> None:
    if value < 24:
        out.append((major << 5) | value)
    elif value < 0x100:
        out += bytes(((major << 5) | 24, value))
    elif value < 0x10000:
        out.append((major << 5) | 25)
        out += value.to_bytes(2, "big")
    elif value < 0x100000000:
        out.append((major << 5) | 26)
        out += value.to_bytes(4, "big")
    elif value < 0x10000000000000000:
        out.append((major << 5) | 27)
        out += value.to_bytes(8, "big")
    else:
        raise ValueError(f"integer {value} does not fit in 64 bits")


def _float(out: bytearray, value: float) -> None:
    if math.isnan(value):
        out += b"\xf9\x7e\x00"
    elif math.isinf(value):
        out += b"\xf9\x7c\x00" if value > 0 else b"\xf9\xfc\x00"
    else:
        out.append(0xFB)
        out += struct.pack(">d", value)


def _encode(out: bytearray, value: Any, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise ValueError("value nested too deeply for CBOR encoding")
    if value is None:
        out.append(0xF6)
    elif value is True:
        out.append(0xF5)
    elif value is False:
        out.append(0xF4)
    elif isinstance(value, Timestamp):
        out.append(0xC1)
        _float(out, float(value))
    elif isinstance(value, int):
        if value >= 0:
            _head(out, 0, value)
        else:
            _head(out, 1, -1 - value)
    elif isinstance(value, float):
        _float(out, value)
    elif isinstance(value, str):
        data = value.encode("utf-8")
        _head(out, 3, len(data))
        out += data
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        _head(out, 2, len(data))
        out += data
    elif isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        out.append(0xC1)
        _float(out, value.timestamp())
    elif isinstance(value, dict):
        _head(out, 5, len(value))
        for k, v in value.items():
            _encode(out, k, depth + 1)
            _encode(out, v, depth + 1)
    elif isinstance(value, (list, tuple)):
        _head(out, 4, len(value))
        for item in value:
            _encode(out, item, depth + 1)
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as CBOR")


def dumps(value: Any) -> bytes:
    """CBOR bytes of ``value`` (dict, list, str, bytes, int, float, bool, None, datetime, Timestamp)."""
    out = bytearray()
    _encode(out, value, 0)
    return bytes(out)


# --- decoding ---

class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes):
        self.data = memoryview(data)
        self.pos = 0

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise CBORDecodeError("unexpected end of CBOR data")
        chunk = bytes(self.data[self.pos:end])
        self.pos = end
        return chunk

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise CBORDecodeError("unexpected end of CBOR data")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def at_break(self) -> bool:
        if self.pos < len(self.data) and self.data[self.pos] == _BREAK:
            self.pos += 1
            return True
        return False


def _argument(r: _Reader, info: int) -> int:
    if info < 24:
        return info
    if info == 24:
        return r.byte()
    if info in (25, 26, 27):
        return int.from_bytes(r.take(1 << (info - 24)), "big")
    raise CBORDecodeError(f"invalid additional information {info}")


def _string(r: _Reader, major: int, info: int) -> bytes:
    if info != 31:
        return r.take(_argument(r, info))
    chunks = []
    while not r.at_break():
        head = r.byte()
        if head >> 5 != major or (head & 31) == 31:
            raise CBORDecodeError("invalid chunk in an indefinite-length string")
        chunks.append(r.take(_argument(r, head & 31)))
    return b"".join(chunks)


def _decode(r: _Reader, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        raise CBORDecodeError("CBOR data nested too deeply")
    head = r.byte()
    major, info = head >> 5, head & 31
    if major == 0:
        return _argument(r, info)
    if major == 1:
        return -1 - _argument(r, info)
    if major == 2:
        return _string(r, 2, info)
    if major == 3:
        try:
            return _string(r, 3, info).decode("utf-8")
        except UnicodeDecodeError:
            raise CBORDecodeError("a CBOR text string is not valid UTF-8") from None
    if major == 4:
        if info == 31:
            items = []
            while not r.at_break():
                items.append(_decode(r, depth + 1))
            return items
        return [_decode(r, depth + 1) for _ in range(_argument(r, info))]
    if major == 5:
        out: dict[Any, Any] = {}
        if info == 31:
            while not r.at_break():
                key = _decode(r, depth + 1)
                out[key] = _decode(r, depth + 1)
        else:
            for _ in range(_argument(r, info)):
                key = _decode(r, depth + 1)
                out[key] = _decode(r, depth + 1)
        return out
    if major == 6:
        tag = _argument(r, info)
        value = _decode(r, depth + 1)
        if tag == 1 and isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                return _dt.datetime.fromtimestamp(value, _dt.timezone.utc)
            except (OverflowError, OSError, ValueError):  # out of datetime's range, or NaN
                raise CBORDecodeError(f"CBOR epoch time {value!r} is out of range") from None
        raise CBORDecodeError(f"unsupported CBOR tag {tag}")
    # major 7: simple values and floats
    if info == 20:
        return False
    if info == 21:
        return True
    if info in (22, 23):
        return None
    if info == 25:
        return struct.unpack(">e", r.take(2))[0]
    if info == 26:
        return struct.unpack(">f", r.take(4))[0]
    if info == 27:
        return struct.unpack(">d", r.take(8))[0]
    raise CBORDecodeError(f"unsupported CBOR simple value {info}")


def loads(data: bytes) -> Any:
    """The value encoded in ``data`` (exactly one data item; trailing bytes are an error)."""
    r = _Reader(data)
    value = _decode(r, 0)
    if r.pos != len(r.data):
        raise CBORDecodeError("trailing bytes after the CBOR data item")
    return value
