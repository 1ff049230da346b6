"""Streaming record splitting and batching, per SageMaker's ``SplitType`` and ``BatchStrategy``.

Nothing here holds a whole object: input arrives as an iterator of byte chunks and records leave one at a time.
"""

from __future__ import annotations

import io
from typing import Iterable, Iterator

from ..errors import ValidationError
from ..io.recordio import frame, read_records


class _ChunkReader(io.RawIOBase):
    """A file-like view over an iterator of byte chunks (for the RecordIO reader)."""

    def __init__(self, chunks: Iterable[bytes]):
        self._it = iter(chunks)
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self._buf:
            try:
                self._buf = next(self._it)
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def split_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Lines without their newline; a last line without one still counts; blank lines are skipped."""
    rest = b""
    for chunk in chunks:
        data = rest + chunk
        lines = data.split(b"\n")
        rest = lines.pop()
        for line in lines:
            line = line.rstrip(b"\r")
            if line.strip():
                yield line
    if rest.strip():
        yield rest.rstrip(b"\r")


def split_records(chunks: Iterable[bytes], split_type: str) -> Iterator[bytes]:
    if split_type == "Line":
        return split_lines(chunks)
    if split_type == "RecordIO":
        return read_records(io.BufferedReader(_ChunkReader(chunks), 1 << 20))
    if split_type in ("None", "", None):
        return iter([b"".join(chunks)])
    raise ValidationError(f"SplitType {split_type!r} is not supported; use None, Line or RecordIO.")


def join_records(records: list[bytes], split_type: str) -> bytes:
    """How records are put back together into one request body."""
    if split_type == "RecordIO":
        return b"".join(frame(r) for r in records)
    if split_type == "Line":
        return b"\n".join(records) + b"\n"
    return b"".join(records)


def batches(records: Iterable[bytes], strategy: str, max_payload: int, split_type: str
            ) -> Iterator[tuple[int, list[bytes]]]:
    """Yield (index of the first record, records) groups: one record each for SingleRecord, else as many as fit
    in ``max_payload`` bytes (MultiRecord). A record that alone exceeds the limit is an error naming it."""
    group: list[bytes] = []
    size = 0
    first = 0
    overhead = 8 if split_type == "RecordIO" else 1
    for i, rec in enumerate(records):
        n = len(rec) + overhead
        if max_payload and n > max_payload:
            raise ValidationError(
                f"Record {i} is {len(rec)} bytes, larger than MaxPayloadInMB ({max_payload // (1 << 20)} MB).")
        if group and (strategy != "MultiRecord" or (max_payload and size + n > max_payload)):
            yield first, group
            group, size = [], 0
        if not group:
            first = i
        group.append(rec)
        size += n
    if group:
        yield first, group
