import io
import struct

import pytest

from shipyard.io.recordio import MAGIC, MAGIC_BYTES, RecordIOError, frame, read_records, split_records


def test_frame_pads_to_four_bytes_and_reads_back():
    payloads = [b"", b"a", b"ab", b"abc", b"abcd", b"x" * 1001]
    data = b"".join(frame(p) for p in payloads)
    assert all(len(frame(p)) % 4 == 0 for p in payloads)
    assert split_records(data) == payloads


def test_multipart_records_are_joined_with_the_magic_word():
    def part(p, flag):
        return struct.pack("<II", MAGIC, len(p) | flag << 29) + p + b"\0" * (-len(p) % 4)
    data = part(b"one", 1) + part(b"two", 2) + part(b"three", 3) + frame(b"next")
    assert split_records(data) == [b"one" + MAGIC_BYTES + b"two" + MAGIC_BYTES + b"three", b"next"]


class Trickle(io.RawIOBase):
    """A stream that returns at most 3 bytes per read, like a pipe under load."""

    def __init__(self, data):
        self.data, self.pos = data, 0

    def readable(self):
        return True

    def read(self, n=-1):
        chunk = self.data[self.pos:self.pos + min(n, 3)]
        self.pos += len(chunk)
        return chunk


def test_short_reads_are_completed():
    payloads = [b"hello world", b"z" * 50]
    assert list(read_records(Trickle(b"".join(map(frame, payloads))))) == payloads


@pytest.mark.parametrize("data, message", [
    (b"\x00\x00\x00\x00\x01\x00\x00\x00", "bad RecordIO magic"),
    (frame(b"abcdef")[:9], "truncated RecordIO record"),
    (frame(b"abc")[:5], "truncated RecordIO header"),
    (struct.pack("<II", MAGIC, 3 | 2 << 29) + b"abc\0", "continuation without"),
])
def test_corrupt_streams_raise(data, message):
    with pytest.raises(RecordIOError, match=message):
        split_records(data)
