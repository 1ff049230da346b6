"""MXNet image RecordIO (.rec) and .lst files: layout byte for byte, round trips, dmlc's split of payloads
holding the magic word, and clear errors."""

from __future__ import annotations

import io
import struct

import pytest

from shipyard.io.image_record import (IR_SIZE, ImageRecord, ImageRecordError, ListEntry, format_lst, frame_split,
                                      im2rec, pack, pack_img, parse_lst, read_lst, read_rec, read_rec_bytes, unpack,
                                      unpack_img, write_lst, write_rec)
from shipyard.io.recordio import MAGIC, MAGIC_BYTES, split_records


def test_header_layout_matches_mxnet_pack():
    # mxnet.recordio.pack(IRHeader(0, 3.0, 7, 0), b"img") == struct.pack("IfQQ", 0, 3.0, 7, 0) + b"img"
    assert IR_SIZE == 24
    assert pack(3.0, b"img", 7) == struct.pack("<IfQQ", 0, 3.0, 7, 0) + b"img"
    # a label array: flag = its length, header label 0, the float32 labels before the image
    assert pack([1.0, 0.0, 2.5], b"x", 9, 4) == (struct.pack("<IfQQ", 3, 0.0, 9, 4)
                                                  + struct.pack("<3f", 1.0, 0.0, 2.5) + b"x")


def test_unpack_round_trips():
    rec = unpack(pack(2, b"\xff\xd8jpeg", 5, 6))
    assert (rec.labels, rec.image, rec.id, rec.id2, rec.label) == ([2.0], b"\xff\xd8jpeg", 5, 6, 2.0)
    rec = unpack(pack([0, 1, 1], b"png"))
    assert rec.labels == [0.0, 1.0, 1.0] and rec.image == b"png"


def test_unpack_refuses_short_records():
    with pytest.raises(ImageRecordError, match="24-byte header"):
        unpack(b"short")
    with pytest.raises(ImageRecordError, match="5 labels follow"):
        unpack(struct.pack("<IfQQ", 5, 0.0, 0, 0) + b"abc")


def test_write_and_read_rec_with_idx():
    records = [ImageRecord([float(i % 3)], bytes([i]) * (i + 1), i) for i in range(5)]
    buf, idx = io.BytesIO(), io.BytesIO()
    assert write_rec(buf, records, idx) == 5
    back = read_rec_bytes(buf.getvalue())
    assert [(r.labels, r.image, r.id) for r in back] == [(r.labels, r.image, r.id) for r in records]
    offsets = [int(line.split("\t")[1]) for line in idx.getvalue().decode().splitlines()]
    data = buf.getvalue()
    for off, rec in zip(offsets, records):  # each offset starts a record (MXIndexedRecordIO seeks there)
        assert data[off:off + 4] == MAGIC_BYTES
        assert unpack(split_records(data[off:])[0]).id == rec.id


def test_payload_holding_the_magic_word_is_split_as_dmlc_does():
    payload = pack(1, b"abcd" + MAGIC_BYTES + b"efgh" + MAGIC_BYTES + b"ij")  # aligned at 28 and 36
    framed = frame_split(payload)
    flags = []
    pos = 0
    while pos < len(framed):
        magic, lrec = struct.unpack_from("<II", framed, pos)
        assert magic == MAGIC
        n = lrec & ((1 << 29) - 1)
        flags.append(lrec >> 29)
        pos += 8 + n + (-n % 4)
    assert flags == [1, 2, 3]
    assert split_records(framed) == [payload]
    # an unaligned magic word is left alone (one whole record)
    odd = pack(1, b"abc" + MAGIC_BYTES + b"x")
    assert struct.unpack_from("<II", frame_split(odd))[1] >> 29 == 0
    assert list(read_rec(io.BytesIO(frame_split(odd))))[0].image == b"abc" + MAGIC_BYTES + b"x"


def test_lst_format_and_parse(tmp_path):
    entries = [ListEntry(0, [1.0], "a/b.jpg"), ListEntry(1, [0.0, 1.0, 1.0], "c.png")]
    text = format_lst(entries)
    assert text == "0\t1.000000\ta/b.jpg\n1\t0.000000\t1.000000\t1.000000\tc.png\n"  # im2rec.py's %d / %f
    assert parse_lst(text) == entries
    write_lst(tmp_path / "x.lst", entries)
    assert read_lst(tmp_path / "x.lst") == entries
    with pytest.raises(ImageRecordError, match="line 2"):
        parse_lst("0\t1\ta.jpg\n1 2 b.jpg\n")
    with pytest.raises(ImageRecordError, match="numbers"):
        parse_lst("zero\tone\ta.jpg\n")


def test_im2rec_and_pack_img(tmp_path):
    np = pytest.importorskip("numpy")
    pytest.importorskip("PIL")
    img = np.zeros((6, 5, 3), dtype="uint8")
    img[:, :, 0] = 200
    payload = pack_img(4, img, id=3, img_fmt=".png")
    rec, pil = unpack_img(payload)
    assert rec.label == 4.0 and rec.id == 3 and pil.size == (5, 6)
    assert np.asarray(pil)[0, 0].tolist() == [200, 0, 0]
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "one.png").write_bytes(rec.image)
    buf = io.BytesIO()
    assert im2rec([ListEntry(8, [2.0], "d/one.png")], tmp_path, buf) == 1
    back = read_rec_bytes(buf.getvalue())[0]
    assert (back.id, back.label, back.image) == (8, 2.0, rec.image)
