"""The conformance suite on the embedded folder store, plus what only a local folder can show."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from shipyard.objectstore import open_objectstore
from shipyard.objectstore.local import LocalObjectStore
from shipyard.testing.objectstore import ObjectStoreConformance


class TestLocalObjectStore(ObjectStoreConformance):
    @pytest.fixture
    def store(self, tmp_path):
        s = LocalObjectStore(tmp_path / "objects")
        yield s
        s.close()


def test_open_by_url(tmp_path):
    store = open_objectstore((tmp_path / "o b").as_uri())
    assert isinstance(store, LocalObjectStore) and store.root == tmp_path / "o b"
    store.create_bucket("bkt")
    store.put_object("bkt", "k", b"v")
    again = LocalObjectStore.from_url((tmp_path / "o b").as_uri())  # a second handle sees the same data
    assert again.get_bytes("bkt", "k") == b"v"


def test_crash_mid_write_leaves_old_object(tmp_path):
    """A writer killed while streaming a new body must leave the old object whole."""
    root = tmp_path / "objects"
    store = LocalObjectStore(root)
    store.create_bucket("bkt")
    store.put_object("bkt", "k", b"old" * 1000)
    script = textwrap.dedent(f"""
        import os, sys
        from shipyard.objectstore.local import LocalObjectStore
        store = LocalObjectStore({str(root)!r})
        def body():
            yield b"new" * 1000
            os._exit(9)   # die with the body half written
        class F:
            def __init__(self): self.it = body()
            def read(self, n): return next(self.it)
        store.put_object("bkt", "k", F())
    """)
    proc = subprocess.run([sys.executable, "-c", script], timeout=60)
    assert proc.returncode == 9
    assert store.get_bytes("bkt", "k") == b"old" * 1000
    assert LocalObjectStore(root).head_object("bkt", "k").size == 3000


def test_overwrite_removes_old_body_files(tmp_path):
    store = LocalObjectStore(tmp_path)
    store.create_bucket("bkt")
    for i in range(5):
        store.put_object("bkt", "k", os.urandom(100))
    files = [p for p in (tmp_path / "bkt").rglob("*") if p.is_file()]
    assert len(files) == 1 and store.local_path("bkt", "k") == files[0]
    store.delete_object("bkt", "k")
    assert not [p for p in (tmp_path / "bkt").rglob("*") if p.is_file()]


def test_two_processes_writing_one_key_leave_one_body(tmp_path):
    """Writers in separate processes share the index; the last commit wins and no replaced body is leaked."""
    root = tmp_path / "objects"
    store = LocalObjectStore(root)
    store.create_bucket("bkt")
    script = textwrap.dedent(f"""
        import sys
        from shipyard.objectstore.local import LocalObjectStore
        store = LocalObjectStore({str(root)!r})
        tag = sys.argv[1].encode()
        for i in range(40):
            store.put_object("bkt", "shared", tag * 10000)
            store.put_object("bkt", f"own-{{sys.argv[1]}}-{{i}}", tag)
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, tag]) for tag in ("x", "y")]
    for p in procs:
        assert p.wait(timeout=120) == 0
    assert store.get_bytes("bkt", "shared") in (b"x" * 10000, b"y" * 10000)
    keys = [o.key for o in store.iter_keys("bkt")]
    assert len(keys) == 81
    files = [p for p in (root / "bkt").rglob("*") if p.is_file()]
    assert len(files) == 81
