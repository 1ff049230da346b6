"""RecordIO framing (dmlc/MXNet), the envelope of ``application/x-recordio-protobuf`` and Pipe-mode records.

Each record is ``uint32 magic 0xCED7230A | uint32 lrec | payload | zero padding to 4 bytes``, little-endian.
The low 29 bits of ``lrec`` are the part's length and the high 3 bits a continuation flag: 0 = whole record,
1 = first part, 2 = middle part, 3 = last part. dmlc splits a payload wherever it contains the magic word and
drops that word, so a reader joins the parts with the magic word put back; we do the same. Writers here
always emit whole records (flag 0), as the SageMaker SDK does.
"""

from __future__ import annotations

import struct
from typing import BinaryIO, Iterable, Iterator

MAGIC = 0xCED7230A
MAGIC_BYTES = struct.pack("<I", MAGIC)
_LEN_MASK = (1 << 29) - 1
_PAD = [b"", b"\0", b"\0\0", b"\0\0\0"]


class RecordIOError(ValueError):
    """The bytes are not RecordIO (bad magic, truncated record, or a continuation out of order)."""


def frame(payload: bytes) -> bytes:
    """One whole record: header, payload and padding."""
    n = len(payload)
    if n > _LEN_MASK:
        raise RecordIOError(f"RecordIO payload of {n} bytes exceeds the 2^29-1 byte limit")
    return struct.pack("<II", MAGIC, n) + payload + _PAD[-n % 4]


def write_record(f: BinaryIO, payload: bytes) -> None:
    f.write(frame(payload))


def write_records(f: BinaryIO, payloads: Iterable[bytes]) -> int:
    count = 0
    for p in payloads:
        f.write(frame(p))
        count += 1
    return count


def _read_exact(f: BinaryIO, n: int) -> bytes:
    """Read n bytes, looping over short reads (pipes return what is there)."""
    data = f.read(n)
    if data is None:
        data = b""
    if len(data) == n:
        return data
    parts = [data]
    got = len(data)
    while got < n:
        chunk = f.read(n - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def read_records(f: BinaryIO) -> Iterator[bytes]:
    """Yield each record's payload from a binary stream (file, BytesIO, FIFO) until EOF."""
    pending: list[bytes] | None = None
    while True:
        header = _read_exact(f, 8)
        if not header:
            if pending is not None:
                raise RecordIOError("RecordIO stream ended inside a multi-part record")
            return
        if len(header) < 8:
            raise RecordIOError(f"truncated RecordIO header ({len(header)} of 8 bytes)")
        magic, lrec = struct.unpack("<II", header)
        if magic != MAGIC:
            raise RecordIOError(f"bad RecordIO magic 0x{magic:08X} (expected 0x{MAGIC:08X})")
        length, cflag = lrec & _LEN_MASK, lrec >> 29
        body = _read_exact(f, length + (-length % 4))
        if len(body) < length:
            raise RecordIOError(f"truncated RecordIO record ({len(body)} of {length} bytes)")
        payload = body[:length]
        if cflag == 0:
            if pending is not None:
                raise RecordIOError("whole RecordIO record inside a multi-part record")
            yield payload
        elif cflag == 1:
            if pending is not None:
                raise RecordIOError("RecordIO record started twice")
            pending = [payload]
        elif cflag in (2, 3):
            if pending is None:
                raise RecordIOError("RecordIO continuation without a first part")
            pending.append(payload)
            if cflag == 3:
                yield MAGIC_BYTES.join(pending)
                pending = None
        else:
            raise RecordIOError(f"bad RecordIO continuation flag {cflag}")


def split_records(data: bytes) -> list[bytes]:
    """All payloads of an in-memory RecordIO buffer (a request body, a batch-transform chunk)."""
    import io
    return list(read_records(io.BytesIO(data)))
