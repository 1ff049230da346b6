"""safe_extract: every archive Shipyard unpacks is capped (bytes written, members) and stays in its folder."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from shipyard.errors import ArchiveRefused, ValidationError
from shipyard.io.archives import BYTES_SETTING, MEMBERS_SETTING, Caps, configure, max_extract_bytes, safe_extract


def _file(name: str, data: bytes = b"x", mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    return info, data


def _special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info, None


def _tar(path: Path, members, mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _zeros_member(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    return info


def test_an_ordinary_archive_unpacks_with_folders_links_and_modes(tmp_path):
    top = tarfile.TarInfo(".")
    top.type = tarfile.DIRTYPE
    archive = _tar(tmp_path / "ok.tar.gz", [
        (top, None), _file("./code/train.py", b"print(1)\n"), _file("run.sh", b"#!/bin/sh\n", 0o4755),
        _special("latest", tarfile.SYMTYPE, "code/train.py"), _special("copy.py", tarfile.LNKTYPE, "code/train.py")])
    done = safe_extract(archive, tmp_path / "out")
    out = tmp_path / "out"
    assert (out / "code" / "train.py").read_bytes() == b"print(1)\n"
    assert os.readlink(out / "latest") == "code/train.py"
    assert (out / "copy.py").read_bytes() == b"print(1)\n"
    mode = (out / "run.sh").stat().st_mode
    assert mode & 0o100 and not mode & stat.S_ISUID  # executable stays executable; setuid is dropped
    assert (done.files, done.bytes) == (3, 2 * 9 + 10)


def test_a_bomb_is_refused_by_the_bytes_written(tmp_path):
    archive = tmp_path / "bomb.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:  # 8 MiB of zeros: a few KiB compressed
        tar.addfile(_zeros_member("big", 8 << 20), io.BytesIO(bytes(8 << 20)))
    assert archive.stat().st_size < 64 << 10
    with pytest.raises(ArchiveRefused) as e:
        safe_extract(archive, tmp_path / "out", max_bytes=1 << 20, what="model artifact")
    assert isinstance(e.value, ValidationError)
    assert "model artifact expands to more than 1.0 MiB" in e.value.message and BYTES_SETTING in e.value.message
    assert not (tmp_path / "out" / "big").exists()  # the partial file is removed


def test_the_bytes_cap_counts_every_member_together(tmp_path):
    archive = _tar(tmp_path / "a.tar", [_file(f"f{i}", bytes(400)) for i in range(5)], mode="w")
    safe_extract(archive, tmp_path / "fits", max_bytes=2000)
    with pytest.raises(ArchiveRefused, match="expands to more than"):
        safe_extract(archive, tmp_path / "over", max_bytes=1999)


@pytest.fixture
def caps():
    """Set this process's caps for a test, and put the defaults back after it."""
    yield configure
    configure(Caps())


def test_the_caps_come_from_the_server_settings_not_the_environment(tmp_path, monkeypatch, caps):
    archive = _tar(tmp_path / "a.tar.gz", [_file("f", bytes(5000))])
    caps(Caps.from_json({"max_bytes": 4096}))  # what an executor does with its job.json's archive_caps
    assert max_extract_bytes() == 4096
    monkeypatch.setenv(BYTES_SETTING, str(1 << 40))  # a job's Environment reaching the unpacking process
    with pytest.raises(ArchiveRefused, match=BYTES_SETTING):
        safe_extract(archive, tmp_path / "out")
    caps(Caps.from_json(None))  # a job.json without caps (an older server): the defaults
    assert max_extract_bytes() == 20 << 30  # generous by default
    safe_extract(archive, tmp_path / "out2")
    monkeypatch.setenv(BYTES_SETTING, "4096")
    assert max_extract_bytes() == 20 << 30  # nor can the environment lower it behind the server's back


def test_settings_carry_the_caps_to_job_json(tmp_path, monkeypatch):
    from shipyard.config import load_settings

    monkeypatch.setenv(BYTES_SETTING, "4096")
    monkeypatch.setenv(MEMBERS_SETTING, "not-a-number")
    caps_json = load_settings(tmp_path / "home").archive_caps()
    assert Caps.from_json(caps_json) == Caps(max_bytes=4096, max_members=100_000)


def test_the_member_count_is_capped(tmp_path, caps):
    archive = _tar(tmp_path / "many.tar", [_file(f"f{i}") for i in range(50)], mode="w")
    with pytest.raises(ArchiveRefused, match="more than 10 members"):
        safe_extract(archive, tmp_path / "out", max_members=10)
    caps(Caps(max_members=20))
    with pytest.raises(ArchiveRefused, match=MEMBERS_SETTING):
        safe_extract(archive, tmp_path / "out2")


def _header_block(name: bytes, kind: bytes, size: int) -> bytes:
    """One raw 512-byte ustar header claiming ``size`` bytes of content (its checksum computed)."""
    block = bytearray(512)
    block[0:len(name)] = name
    block[100:108] = b"0000644\0"
    block[108:116] = block[116:124] = b"0000000\0"
    block[124:136] = b"%011o\0" % size
    block[136:148] = b"00000000000\0"
    block[156:157] = kind
    block[257:263] = b"ustar\0"
    block[263:265] = b"00"
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


@pytest.mark.parametrize("kind,label", [(tarfile.XHDTYPE, "PAX"), (tarfile.GNUTYPE_LONGNAME, "GNU long-name")])
def test_a_huge_extended_header_is_refused_before_it_is_read(tmp_path, kind, label):
    """A 1 GB PAX (or GNU long-name) header, which tarfile would read into memory whole, costs one header
    block to refuse: the file is sparse on disk, and the refusal allocates next to nothing."""
    import time
    import tracemalloc

    archive = tmp_path / "huge-header.tar"
    size = 1 << 30
    with open(archive, "wb") as f:
        f.write(_header_block(b"././@header", kind, size))
        f.truncate(512 + size + 1024)  # sparse: the gigabyte is claimed, not stored
    tracemalloc.start()
    t0 = time.monotonic()
    try:
        with pytest.raises(ArchiveRefused) as e:
            safe_extract(archive, tmp_path / "out", what="model artifact")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert f"holds a {label} header of 1.0 GiB" in e.value.message, e.value.message
    assert peak < 8 << 20, peak  # tarfile would have read 1 GiB into memory
    assert time.monotonic() - t0 < 5


def test_extended_headers_count_against_the_caps(tmp_path):
    """Long names are bytes and members too: many PAX headers of a small archive reach the caps."""
    members = []
    for i in range(20):
        info, data = _file(f"f{i}", b"x")
        info.pax_headers = {"comment": "c" * 100_000}  # 100 kB of PAX attributes per member
        members.append((info, data))
    archive = _tar(tmp_path / "pax.tar", members, mode="w")
    with tarfile.open(archive, format=tarfile.PAX_FORMAT) as tar:
        assert len(tar.getmembers()) == 20
    with pytest.raises(ArchiveRefused, match="expands to more than 1.0 MiB"):
        safe_extract(archive, tmp_path / "out", max_bytes=1 << 20)
    with pytest.raises(ArchiveRefused, match="more than 30 members"):
        safe_extract(archive, tmp_path / "out2", max_members=30)  # 20 files and their 20 headers
    done = safe_extract(archive, tmp_path / "out3", max_bytes=4 << 20)
    assert done.files == 20


@pytest.mark.parametrize("members,why", [
    ([_file("../evil")], "leaves its folder"),
    ([_file("a/../../evil")], "leaves its folder"),
    ([_file("/tmp/evil")], "absolute path"),
    ([_special("l", tarfile.SYMTYPE, "../../evil")], "leaves its folder"),
    ([_special("l", tarfile.SYMTYPE, "/etc")], "absolute path"),
    ([_special("h", tarfile.LNKTYPE, "../evil")], "leaves its folder"),
    ([_special("h", tarfile.LNKTYPE, "missing")], "not a file unpacked before it"),
    ([_special("dev", tarfile.CHRTYPE)], "device file"),
    ([_special("blk", tarfile.BLKTYPE)], "device file"),
    ([_special("fifo", tarfile.FIFOTYPE)], "FIFO"),
])
def test_members_that_escape_or_are_not_plain_are_refused(tmp_path, members, why):
    archive = _tar(tmp_path / "bad.tar.gz", members)
    dest = tmp_path / "box" / "out"
    with pytest.raises(ArchiveRefused, match=why):
        safe_extract(archive, dest, what="sourcedir")
    assert not (tmp_path / "box" / "evil").exists() and not (tmp_path / "evil").exists()


def test_a_link_out_of_the_folder_is_refused_before_later_members_use_it(tmp_path):
    (tmp_path / "outside").mkdir()
    link = _special("l", tarfile.SYMTYPE, "../outside")
    archive = _tar(tmp_path / "a.tar", [link, _file("l/evil")], mode="w")
    with pytest.raises(ArchiveRefused, match="escapes its folder"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "outside" / "evil").exists()


def test_a_corrupt_archive_is_refused_with_a_reason(tmp_path):
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"\x1f\x8b" + os.urandom(200))
    with pytest.raises(ArchiveRefused, match="model artifact"):
        safe_extract(bad, tmp_path / "out", what="model artifact")


def test_an_in_memory_zip_is_read_under_the_same_caps():
    import zipfile

    from shipyard.io.archives import read_zip

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("model/symbol.json", b"{}")
        z.writestr("model/params", bytes(3 << 20))  # 3 MiB of zeros, a few KiB deflated
    data = buf.getvalue()
    assert read_zip(data)["model/symbol.json"] == b"{}"
    with pytest.raises(ArchiveRefused, match="model zip expands to more than 1.0 MiB"):
        read_zip(data, max_bytes=1 << 20, what="model zip")
    with pytest.raises(ArchiveRefused, match="more than 1 members"):
        read_zip(data, max_members=1)
