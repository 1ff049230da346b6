"""MXNet's image RecordIO (``.rec``) and image list (``.lst``) files, as ``im2rec.py`` writes them.

The vision built-ins (image classification) read ``application/x-recordio`` channels: a RecordIO stream (the
framing of :mod:`.recordio`) whose every record is an *image record*::

    IRHeader: uint32 flag | float32 label | uint64 id | uint64 id2     (24 bytes, little-endian)
    flag > 0: flag float32 labels follow (the header's own label is then 0)
    the encoded image (JPEG or PNG bytes)

exactly as ``mxnet.recordio.pack`` / ``unpack`` lay it out. An ``.lst`` file lists images one a line,
``index<TAB>label[<TAB>label...]<TAB>relative/path``, labels printed with ``%f`` as ``im2rec.py --list``
does; its paths are relative to the image folder (for SageMaker, the ``train`` / ``validation`` channel).

Writing follows dmlc's ``RecordIOWriter``: where a payload holds the magic word at a 4-byte-aligned offset it
is split into parts there (continuation flags 1, 2, 3) so that a reader scanning for record starts never
mistakes image bytes for a header; :func:`shipyard.io.recordio.read_records` joins the parts again. An
``.idx`` file (``index<TAB>byte offset``, what ``MXIndexedRecordIO`` reads) can be written beside.

No image decoding here except :func:`pack_img` / :func:`unpack_img`, which import Pillow when called.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator, Sequence

from .recordio import MAGIC, MAGIC_BYTES, RecordIOError, read_records

IR_FORMAT = "<IfQQ"
IR_SIZE = struct.calcsize(IR_FORMAT)  # 24
_LEN_MASK = (1 << 29) - 1


class ImageRecordError(ValueError):
    """Bytes that are not an image record, or an ``.lst`` line that cannot be read."""


@dataclass
class ImageRecord:
    """One record: its labels (one value, or ``flag`` values), ids and the encoded image bytes."""

    labels: list[float]
    image: bytes
    id: int = 0
    id2: int = 0

    @property
    def label(self) -> float:
        return self.labels[0] if self.labels else 0.0


def pack(labels: float | Sequence[float], image: bytes, id: int = 0, id2: int = 0) -> bytes:
    """The payload of one image record (``mxnet.recordio.pack``): a single number goes in the header with
    flag 0; a sequence is written after it, flag = its length."""
    if isinstance(labels, (int, float)):
        return struct.pack(IR_FORMAT, 0, float(labels), id, id2) + image
    values = [float(v) for v in labels]
    if len(values) == 0:
        return struct.pack(IR_FORMAT, 0, 0.0, id, id2) + image
    return (struct.pack(IR_FORMAT, len(values), 0.0, id, id2) + struct.pack(f"<{len(values)}f", *values)
            + image)


def unpack(payload: bytes) -> ImageRecord:
    """Inverse of :func:`pack` (``mxnet.recordio.unpack``)."""
    if len(payload) < IR_SIZE:
        raise ImageRecordError(f"an image record needs a {IR_SIZE}-byte header; this one has {len(payload)} bytes")
    flag, label, id_, id2 = struct.unpack_from(IR_FORMAT, payload)
    if flag == 0:
        return ImageRecord([label], payload[IR_SIZE:], id_, id2)
    end = IR_SIZE + 4 * flag
    if flag > 1 << 24 or len(payload) < end:
        raise ImageRecordError(f"image record header says {flag} labels follow, but the record has only "
                               f"{len(payload) - IR_SIZE} bytes after its header")
    labels = list(struct.unpack_from(f"<{flag}f", payload, IR_SIZE))
    return ImageRecord(labels, payload[end:], id_, id2)


def frame_split(payload: bytes) -> bytes:
    """One record in dmlc's framing, split where the payload holds the magic word at an aligned offset."""
    n = len(payload)
    if n > _LEN_MASK:
        raise RecordIOError(f"RecordIO payload of {n} bytes exceeds the 2^29-1 byte limit")
    out = []
    start = 0
    pos = payload.find(MAGIC_BYTES)
    while pos != -1 and pos + 4 <= (n // 4) * 4:
        if pos % 4 == 0:
            part = payload[start:pos]
            cflag = 1 if start == 0 else 2
            out.append(struct.pack("<II", MAGIC, (cflag << 29) | len(part)) + part + b"\0" * (-len(part) % 4))
            start = pos + 4
            pos = payload.find(MAGIC_BYTES, start)
        else:
            pos = payload.find(MAGIC_BYTES, pos + 1)
    part = payload[start:]
    cflag = 3 if start else 0
    out.append(struct.pack("<II", MAGIC, (cflag << 29) | len(part)) + part + b"\0" * (-len(part) % 4))
    return b"".join(out)


def write_rec(f: BinaryIO, records: Iterable[ImageRecord | bytes], idx: BinaryIO | None = None) -> int:
    """Write image records (or ready payloads) to a ``.rec`` stream; with ``idx``, also the ``.idx`` lines
    (record index and byte offset). Returns how many were written."""
    offset = 0
    count = 0
    for i, rec in enumerate(records):
        payload = rec if isinstance(rec, bytes) else pack(rec.labels if len(rec.labels) != 1 else rec.labels[0],
                                                          rec.image, rec.id, rec.id2)
        data = frame_split(payload)
        if idx is not None:
            key = i if isinstance(rec, bytes) else rec.id
            idx.write(f"{key}\t{offset}\n".encode())
        f.write(data)
        offset += len(data)
        count += 1
    return count


def read_rec(f: BinaryIO) -> Iterator[ImageRecord]:
    """Every image record of a ``.rec`` stream (a file, a Pipe-mode FIFO, a BytesIO)."""
    for payload in read_records(f):
        yield unpack(payload)


def read_rec_bytes(data: bytes) -> list[ImageRecord]:
    return list(read_rec(io.BytesIO(data)))


# ------------------------------------------------------------------ .lst files

@dataclass
class ListEntry:
    """One ``.lst`` line: index, labels, image path relative to the image folder."""

    index: int
    labels: list[float] = field(default_factory=list)
    path: str = ""


def parse_lst(text: str, source: str = ".lst") -> list[ListEntry]:
    """Entries of an ``.lst`` file (tab-separated; blank lines skipped). Errors name the line."""
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.rstrip("\r\n").split("\t")]
        if len(parts) < 3:
            raise ImageRecordError(
                f"{source} line {number}: expected 'index<TAB>label<TAB>path' (tab-separated, at least 3 "
                f"fields), got {line.strip()[:80]!r}")
        try:
            index = int(float(parts[0]))
            labels = [float(v) for v in parts[1:-1]]
        except ValueError:
            raise ImageRecordError(f"{source} line {number}: the index and labels must be numbers, got "
                                   f"{line.strip()[:80]!r}") from None
        if not parts[-1]:
            raise ImageRecordError(f"{source} line {number}: the image path is empty")
        entries.append(ListEntry(index, labels, parts[-1]))
    return entries


def format_lst(entries: Iterable[ListEntry]) -> str:
    """``.lst`` text as ``im2rec.py`` writes it (``%d``, labels ``%f``, path)."""
    lines = []
    for e in entries:
        lines.append("\t".join([f"{e.index:d}", *(f"{v:f}" for v in e.labels), e.path]))
    return "".join(line + "\n" for line in lines)


def read_lst(path: str | Path) -> list[ListEntry]:
    p = Path(path)
    return parse_lst(p.read_text(encoding="utf-8"), source=p.name)


def write_lst(path: str | Path, entries: Iterable[ListEntry]) -> None:
    Path(path).write_text(format_lst(entries), encoding="utf-8")


def im2rec(lst: Iterable[ListEntry], root: str | Path, rec: BinaryIO, idx: BinaryIO | None = None) -> int:
    """Pack the images an ``.lst`` names (paths relative to ``root``) into a ``.rec``, bytes as they are on
    disk (``im2rec.py --pass-through``)."""
    base = Path(root)
    records = (ImageRecord(e.labels, (base / e.path).read_bytes(), e.index) for e in lst)
    return write_rec(rec, records, idx)


# ------------------------------------------------------------------ images (Pillow, imported on use)

def pack_img(labels: float | Sequence[float], img, id: int = 0, quality: int = 95, img_fmt: str = ".jpg") -> bytes:
    """``mxnet.recordio.pack_img``: encode an image (a PIL image or an HxW / HxWxC uint8 array) as JPEG or
    PNG and pack it with its labels."""
    from PIL import Image

    if not isinstance(img, Image.Image):
        import numpy as np
        img = Image.fromarray(np.asarray(img).astype("uint8"))
    buf = io.BytesIO()
    if img_fmt.lower() in (".jpg", ".jpeg", "jpg", "jpeg"):
        img.convert("RGB" if img.mode not in ("L", "RGB") else img.mode).save(buf, "JPEG", quality=quality)
    elif img_fmt.lower() in (".png", "png"):
        img.save(buf, "PNG")
    else:
        raise ValueError(f"img_fmt must be .jpg or .png, not {img_fmt!r}")
    return pack(labels, buf.getvalue(), id)


def unpack_img(payload: bytes):
    """(record, PIL image) of one payload (``mxnet.recordio.unpack_img`` returns an array instead)."""
    from PIL import Image

    rec = unpack(payload)
    return rec, Image.open(io.BytesIO(rec.image))
