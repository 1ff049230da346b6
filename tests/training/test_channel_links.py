"""File-mode staging for built-in algorithms: hard links to the local object store's bodies, copies otherwise."""

from __future__ import annotations

import os

from shipyard.objectstore.local import LocalObjectStore
from shipyard.training.channels import ObjectRef, stage_channels, stage_file_channel


def _store(tmp_path):
    store = LocalObjectStore(tmp_path / "store")
    store.create_bucket("bkt")
    store.put_object("bkt", "data/a.csv", b"1,2\n" * 1000)
    store.put_object("bkt", "data/sub/b.csv", b"3,4\n")
    return store


def _refs():
    return [ObjectRef("bkt", "data/a.csv", "a.csv"), ObjectRef("bkt", "data/sub/b.csv", "sub/b.csv")]


def test_link_staging_shares_the_stored_body(tmp_path):
    store = _store(tmp_path)
    dest = tmp_path / "job" / "train"
    assert stage_file_channel(store, _refs(), dest, link=True) == 4000 + 4
    body = store.local_path("bkt", "data/a.csv")
    assert os.path.samefile(dest / "a.csv", body)
    assert (dest / "sub" / "b.csv").read_bytes() == b"3,4\n"
    # an overwrite writes a new body: the staged file keeps the version the job started with
    store.put_object("bkt", "data/a.csv", b"changed\n")
    assert (dest / "a.csv").read_bytes() == b"1,2\n" * 1000
    assert store.get_bytes("bkt", "data/a.csv") == b"changed\n"


def test_copy_staging_by_default(tmp_path):
    store = _store(tmp_path)
    dest = tmp_path / "job" / "train"
    stage_file_channel(store, _refs(), dest)
    assert not os.path.samefile(dest / "a.csv", store.local_path("bkt", "data/a.csv"))
    assert (dest / "a.csv").read_bytes() == b"1,2\n" * 1000
    (dest / "a.csv").write_bytes(b"scribbled")  # a script may write to its input: the store is untouched
    assert store.get_bytes("bkt", "data/a.csv") == b"1,2\n" * 1000


def test_link_failure_falls_back_to_copies(tmp_path, monkeypatch):
    store = _store(tmp_path)

    def no_link(*_a, **_k):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(store, "link_file", no_link)
    dest = tmp_path / "job" / "train"
    stage_file_channel(store, _refs(), dest, link=True)
    assert (dest / "a.csv").read_bytes() == b"1,2\n" * 1000
    assert not os.path.samefile(dest / "a.csv", store.local_path("bkt", "data/a.csv"))


def test_stage_channels_links_only_when_asked(tmp_path):
    store = _store(tmp_path)
    channel = [{"ChannelName": "train", "DataSource": {"S3DataSource": {"S3Uri": "s3://bkt/data/"}}}]
    stage_channels(store, channel, tmp_path / "linked", "File", link=True)
    stage_channels(store, channel, tmp_path / "copied", "File")
    body = store.local_path("bkt", "data/a.csv")
    assert os.path.samefile(tmp_path / "linked" / "train" / "a.csv", body)
    assert not os.path.samefile(tmp_path / "copied" / "train" / "a.csv", body)


def test_local_download_file_copies_in_the_kernel(tmp_path):
    store = _store(tmp_path)
    big = os.urandom(3 << 20)
    store.put_object("bkt", "big.bin", big)
    out = tmp_path / "out" / "big.bin"
    assert store.download_file("bkt", "big.bin", out) == len(big)
    assert out.read_bytes() == big
    assert not (tmp_path / "out" / "big.bin.part").exists()
