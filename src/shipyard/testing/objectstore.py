"""The object-store contract as tests: every backend's test module subclasses :class:`ObjectStoreConformance`.

A subclass supplies one pytest fixture, ``store``, returning the backend under test (it may be shared across
tests: every test works in buckets of its own, named ``bucket`` / ``make_bucket()``)::

    class TestLocal(ObjectStoreConformance):
        @pytest.fixture
        def store(self, tmp_path):
            return LocalObjectStore(tmp_path)

The checks follow ``shipyard.objectstore.base``'s docstring: S3 error codes, atomic overwrite, byte-order
listing with prefix/delimiter/paging, ranges, copies and S3-style multipart ETags.
"""

from __future__ import annotations

import hashlib
import io
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from ..errors import NotImplementedYet, S3Error
from ..objectstore.base import ObjectStore

MiB = 1024 * 1024


def _code(excinfo) -> str:
    return excinfo.value.code


class ObjectStoreConformance:
    """Subclass and provide a ``store`` fixture. Capability switches (class attributes) say what a backend lacks."""

    #: UploadPart / CompleteMultipartUpload on an aborted upload answer NoSuchUpload (moto 5 answers 500).
    part_ops_report_missing_upload = True
    #: ETags are the MD5 of the object's bytes (S3's for plaintext; an encrypting store's are the stored bytes',
    #: as AWS's SSE-KMS ETags are not the MD5 of the data). Either way HEAD, LIST and PUT agree.
    etag_is_body_md5 = True

    def _md5_etag(self, etag: str, expected: str) -> None:
        if self.etag_is_body_md5:
            assert etag == expected
        else:
            assert etag.startswith('"') and etag.endswith('"') and len(etag) > 2

    @pytest.fixture
    def store(self) -> ObjectStore:  # pragma: no cover - overridden
        raise NotImplementedError("subclasses provide the `store` fixture")

    @pytest.fixture
    def make_bucket(self, store):
        made: list[str] = []

        def make() -> str:
            name = f"conf-{uuid.uuid4().hex[:20]}"
            store.create_bucket(name)
            made.append(name)
            return name

        yield make
        for name in made:  # leave a shared store clean
            try:
                with ThreadPoolExecutor(8) as pool:
                    list(pool.map(lambda info: store.delete_object(name, info.key), list(store.iter_keys(name))))
                for key, upload_id, _ in store.list_multipart_uploads(name):
                    store.abort_multipart_upload(name, key, upload_id)
                store.delete_bucket(name)
            except (S3Error, NotImplementedYet):
                pass

    @pytest.fixture
    def bucket(self, make_bucket) -> str:
        return make_bucket()

    # --- buckets ---------------------------------------------------------------------------------------------
    def test_bucket_lifecycle(self, store):
        name = f"conf-life-{uuid.uuid4().hex[:12]}"
        assert not store.bucket_exists(name)
        store.create_bucket(name)
        assert store.bucket_exists(name)
        names = [n for n, _ in store.list_buckets()]
        assert name in names and names == sorted(names)
        created = dict(store.list_buckets())[name]
        assert abs(created - time.time()) < 120
        with pytest.raises(S3Error) as e:
            store.create_bucket(name)
        assert _code(e) == "BucketAlreadyOwnedByYou" and e.value.http_status == 409
        store.delete_bucket(name)
        assert not store.bucket_exists(name)
        with pytest.raises(S3Error) as e:
            store.delete_bucket(name)
        assert _code(e) == "NoSuchBucket" and e.value.http_status == 404

    def test_invalid_bucket_name(self, store):
        for bad in ("ab", "x" * 64, "Upper-Case", "bad_underscore"):
            with pytest.raises(S3Error) as e:
                store.create_bucket(bad)
            assert _code(e) == "InvalidBucketName", bad

    def test_delete_non_empty_bucket(self, store, bucket):
        store.put_object(bucket, "k", b"x")
        with pytest.raises(S3Error) as e:
            store.delete_bucket(bucket)
        assert _code(e) == "BucketNotEmpty" and e.value.http_status == 409
        store.delete_object(bucket, "k")
        store.delete_bucket(bucket)
        assert not store.bucket_exists(bucket)

    # --- objects ---------------------------------------------------------------------------------------------
    def test_put_get_head(self, store, bucket):
        body = b"hello shipyard" * 1000
        info = store.put_object(bucket, "dir/hello.txt", body, content_type="text/plain",
                                metadata={"owner": "alice", "run": "7"})
        self._md5_etag(info.etag, f'"{hashlib.md5(body).hexdigest()}"')
        assert info.size == len(body)
        head = store.head_object(bucket, "dir/hello.txt")
        assert (head.size, head.etag, head.content_type) == (len(body), info.etag, "text/plain")
        assert head.metadata == {"owner": "alice", "run": "7"}
        assert abs(head.last_modified - time.time()) < 120
        assert store.get_bytes(bucket, "dir/hello.txt") == body

    def test_put_from_file_object_and_empty(self, store, bucket):
        data = bytes(range(256)) * 5000
        store.put_object(bucket, "stream", io.BytesIO(data))
        assert store.get_bytes(bucket, "stream") == data

        class ReadOnly:  # a pipe-like body: read() only, no seek
            def __init__(self, payload: bytes):
                self._f = io.BytesIO(payload)

            def read(self, n: int = -1) -> bytes:
                return self._f.read(n)

        store.put_object(bucket, "pipe", ReadOnly(data[::-1]))
        assert store.get_bytes(bucket, "pipe") == data[::-1]
        etag = store.upload_part(bucket, "mp", store.create_multipart_upload(bucket, "mp"), 1, ReadOnly(b"part"))
        self._md5_etag(etag, f'"{hashlib.md5(b"part").hexdigest()}"')
        info = store.put_object(bucket, "empty", b"")
        assert info.size == 0
        self._md5_etag(info.etag, f'"{hashlib.md5(b"").hexdigest()}"')
        assert store.get_bytes(bucket, "empty") == b""
        assert store.head_object(bucket, "empty").size == 0

    def test_keys_that_look_like_paths_do_not_clash(self, store, bucket):
        keys = ["a", "a/b", "a/b/c", "dir/", "dir/x", "a//b", "..", "./x", "données/ü 1.txt", "sp ace+plus%25",
                "k" * 900, "日本語/キー", "emoji-\U0001F600"]
        for i, k in enumerate(keys):
            store.put_object(bucket, k, f"body-{i}".encode())
        for i, k in enumerate(keys):
            assert store.get_bytes(bucket, k) == f"body-{i}".encode(), k
        listed = [o.key for o in store.iter_keys(bucket)]
        assert listed == sorted(keys, key=lambda s: s.encode("utf-8"))
        store.delete_object(bucket, "a")
        assert store.get_bytes(bucket, "a/b") == b"body-1"

    def test_missing_key_and_bucket_errors(self, store, bucket):
        with pytest.raises(S3Error) as e:
            store.head_object(bucket, "nope")
        assert _code(e) == "NoSuchKey" and e.value.http_status == 404
        with pytest.raises(S3Error) as e:
            store.open_object(bucket, "nope")
        assert _code(e) == "NoSuchKey"
        missing = f"conf-missing-{uuid.uuid4().hex[:8]}"
        for call in (lambda: store.head_object(missing, "k"), lambda: store.put_object(missing, "k", b"x"),
                     lambda: store.list_objects(missing), lambda: store.delete_object(missing, "k")):
            with pytest.raises(S3Error) as e:
                call()
            assert _code(e) == "NoSuchBucket"
        store.delete_object(bucket, "nope")  # deleting a missing key is fine

    def test_overwrite_and_delete(self, store, bucket):
        store.put_object(bucket, "k", b"one", metadata={"v": "1"})
        store.put_object(bucket, "k", b"second", content_type="text/csv")
        head = store.head_object(bucket, "k")
        assert (head.size, head.content_type, head.metadata) == (6, "text/csv", {})
        assert store.get_bytes(bucket, "k") == b"second"
        store.delete_object(bucket, "k")
        with pytest.raises(S3Error):
            store.head_object(bucket, "k")

    def test_overwrite_is_atomic_for_readers(self, store, bucket):
        size = 256 * 1024
        bodies = [bytes([65 + i]) * size for i in range(3)]
        store.put_object(bucket, "hot", bodies[0])
        stop = threading.Event()
        seen: list[bytes] = []
        errors: list[BaseException] = []

        def reader():
            try:
                while not stop.is_set():
                    seen.append(store.get_bytes(bucket, "hot"))
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=reader) for _ in range(2)]
        for t in threads:
            t.start()
        deadline = time.time() + 5
        writes = 0
        while writes < 30 and time.time() < deadline:
            store.put_object(bucket, "hot", bodies[writes % 3])
            writes += 1
        stop.set()
        for t in threads:
            t.join(10)
        assert not errors, errors
        assert seen and all(s in bodies for s in seen)
        assert store.get_bytes(bucket, "hot") == bodies[(writes - 1) % 3]

    def test_ranges(self, store, bucket):
        data = bytes(range(256)) * 4  # 1024 bytes
        store.put_object(bucket, "r", data)

        def read(start, end=None):
            info, chunks = store.open_object(bucket, "r", start, end, chunk_size=100)
            assert info.size == len(data)
            return b"".join(chunks)

        assert read(0) == data
        assert read(10, 19) == data[10:20]
        assert read(1000, 5000) == data[1000:]
        assert read(1023, 1023) == data[-1:]
        assert read(500) == data[500:]
        for bad in ((1024, None), (2000, 3000)):
            with pytest.raises(S3Error) as e:
                read(*bad)
            assert _code(e) == "InvalidRange" and e.value.http_status == 416

    def test_copy(self, store, bucket, make_bucket):
        other = make_bucket()
        store.put_object(bucket, "src", b"payload", content_type="text/plain", metadata={"a": "1"})
        info = store.copy_object(bucket, "src", other, "dst")
        self._md5_etag(info.etag, f'"{hashlib.md5(b"payload").hexdigest()}"')
        head = store.head_object(other, "dst")
        assert (head.content_type, head.metadata) == ("text/plain", {"a": "1"})
        assert store.get_bytes(other, "dst") == b"payload"
        store.copy_object(bucket, "src", bucket, "src", metadata={"b": "2"}, content_type="application/json")
        head = store.head_object(bucket, "src")
        assert (head.content_type, head.metadata) == ("application/json", {"b": "2"})
        assert store.get_bytes(bucket, "src") == b"payload"
        with pytest.raises(S3Error) as e:
            store.copy_object(bucket, "missing", other, "x")
        assert _code(e) == "NoSuchKey"

    # --- listing ---------------------------------------------------------------------------------------------
    def test_listing_order_prefix_delimiter(self, store, bucket):
        keys = ["b", "a", "A", "a/1", "a/2/x", "a/2/y", "a-b", "a0", "é", "z/", "z/z", "c/d/e"]
        for k in keys:
            store.put_object(bucket, k, b"")
        res = store.list_objects(bucket)
        assert [o.key for o in res.objects] == sorted(keys, key=lambda s: s.encode())
        assert not res.is_truncated and res.common_prefixes == []
        res = store.list_objects(bucket, delimiter="/")
        assert [o.key for o in res.objects] == ["A", "a", "a-b", "a0", "b", "é"]
        assert res.common_prefixes == ["a/", "c/", "z/"]
        res = store.list_objects(bucket, prefix="a/", delimiter="/")
        assert [o.key for o in res.objects] == ["a/1"] and res.common_prefixes == ["a/2/"]
        res = store.list_objects(bucket, prefix="a")
        assert [o.key for o in res.objects] == ["a", "a-b", "a/1", "a/2/x", "a/2/y", "a0"]
        res = store.list_objects(bucket, prefix="nothing")
        assert res.objects == [] and res.common_prefixes == [] and not res.is_truncated
        res = store.list_objects(bucket, start_after="a0")
        assert [o.key for o in res.objects] == ["b", "c/d/e", "z/", "z/z", "é"]

    def test_paging_with_delimiter_never_repeats(self, store, bucket):
        keys = [f"g{g}/k{i}" for g in range(4) for i in range(3)] + [f"top{i}" for i in range(5)]
        for k in keys:
            store.put_object(bucket, k, b"")
        seen: list[str] = []
        marker, pages = "", 0
        while pages < 50:
            res = store.list_objects(bucket, delimiter="/", start_after=marker, max_keys=2)
            pages += 1
            seen += res.common_prefixes + [o.key for o in res.objects]
            if not res.is_truncated:
                break
            marker = res.next_marker
        assert sorted(seen) == sorted([f"g{g}/" for g in range(4)] + [f"top{i}" for i in range(5)])
        assert len(seen) == len(set(seen)) == 9
        assert pages >= 5

    def test_paging_over_more_than_1000_keys(self, store, bucket):
        keys = [f"p/{i:05d}" for i in range(1050)]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda k: store.put_object(bucket, k, b"x"), keys))
        assert [o.key for o in store.iter_keys(bucket, "p/")] == keys
        first = store.list_objects(bucket, prefix="p/", max_keys=1000)
        assert len(first.objects) == 1000 and first.is_truncated and first.next_marker == keys[999]
        got, marker = [], ""
        for _ in range(40):
            res = store.list_objects(bucket, prefix="p/", start_after=marker, max_keys=37)
            assert len(res.objects) <= 37
            got += [o.key for o in res.objects]
            if not res.is_truncated:
                break
            marker = res.next_marker
        assert got == keys

    # --- multipart -------------------------------------------------------------------------------------------
    def test_multipart_upload(self, store, bucket):
        part1 = b"A" * (5 * MiB)
        part2 = b"B" * (5 * MiB + 7)
        part3 = b"tail"
        upload_id = store.create_multipart_upload(bucket, "big/obj", content_type="application/x-test",
                                                  metadata={"m": "v"})
        assert (("big/obj", upload_id) in [(k, u) for k, u, _ in store.list_multipart_uploads(bucket)])
        e1 = store.upload_part(bucket, "big/obj", upload_id, 1, part1)
        e3 = store.upload_part(bucket, "big/obj", upload_id, 3, io.BytesIO(part3))
        e2 = store.upload_part(bucket, "big/obj", upload_id, 2, b"wrong")
        e2 = store.upload_part(bucket, "big/obj", upload_id, 2, part2)  # re-uploading a part replaces it
        self._md5_etag(e1, f'"{hashlib.md5(part1).hexdigest()}"')
        parts = store.list_parts(bucket, "big/obj", upload_id)
        assert [(n, e, s) for n, e, s, _ in parts] == [(1, e1, len(part1)), (2, e2, len(part2)), (3, e3, 4)]
        info = store.complete_multipart_upload(bucket, "big/obj", upload_id, [(1, e1), (2, e2), (3, e3)])
        expected = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in (part1, part2, part3))).hexdigest()
        self._md5_etag(info.etag, f'"{expected}-3"')
        head = store.head_object(bucket, "big/obj")
        assert (head.size, head.etag) == (len(part1) + len(part2) + 4, info.etag)
        assert (head.content_type, head.metadata) == ("application/x-test", {"m": "v"})
        _, chunks = store.open_object(bucket, "big/obj", 5 * MiB - 2, 5 * MiB + 1)
        assert b"".join(chunks) == b"AABB"
        assert hashlib.md5(store.get_bytes(bucket, "big/obj")).digest() == hashlib.md5(
            part1 + part2 + part3).digest()
        assert upload_id not in [u for _, u, _ in store.list_multipart_uploads(bucket)]

    def test_multipart_errors_and_abort(self, store, bucket):
        upload_id = store.create_multipart_upload(bucket, "m")
        e1 = store.upload_part(bucket, "m", upload_id, 1, b"small")
        e2 = store.upload_part(bucket, "m", upload_id, 2, b"also small")
        with pytest.raises(S3Error) as e:
            store.complete_multipart_upload(bucket, "m", upload_id, [(1, '"' + "0" * 32 + '"')])
        assert _code(e) == "InvalidPart"
        with pytest.raises(S3Error) as e:
            store.complete_multipart_upload(bucket, "m", upload_id, [(1, e1), (5, e2)])
        assert _code(e) == "InvalidPart"
        with pytest.raises(S3Error) as e:
            store.complete_multipart_upload(bucket, "m", upload_id, [(1, e1), (2, e2)])
        assert _code(e) == "EntityTooSmall"
        store.abort_multipart_upload(bucket, "m", upload_id)
        assert upload_id not in [u for _, u, _ in store.list_multipart_uploads(bucket)]
        calls = [lambda: store.abort_multipart_upload(bucket, "m", "no-such-upload-id")]
        if self.part_ops_report_missing_upload:
            calls += [lambda: store.upload_part(bucket, "m", upload_id, 1, b"x"),
                      lambda: store.complete_multipart_upload(bucket, "m", upload_id, [(1, e1)])]
        for call in calls:
            with pytest.raises(S3Error) as e:
                call()
            assert _code(e) == "NoSuchUpload" and e.value.http_status == 404
        with pytest.raises(S3Error) as e:
            store.head_object(bucket, "m")
        assert _code(e) == "NoSuchKey"

    def test_single_part_multipart(self, store, bucket):
        upload_id = store.create_multipart_upload(bucket, "one")
        e1 = store.upload_part(bucket, "one", upload_id, 1, b"only part")
        info = store.complete_multipart_upload(bucket, "one", upload_id, [(1, e1)])
        self._md5_etag(info.etag, f'"{hashlib.md5(hashlib.md5(b"only part").digest()).hexdigest()}-1"')
        assert store.get_bytes(bucket, "one") == b"only part"

    # --- conveniences ----------------------------------------------------------------------------------------
    def test_upload_dir_and_download_uri(self, store, bucket, tmp_path):
        src = tmp_path / "src"
        (src / "sub").mkdir(parents=True)
        (src / "a.csv").write_text("1,2\n")
        (src / "sub" / "b.bin").write_bytes(b"\x00\x01")
        assert store.upload_dir(src, f"s3://{bucket}/data/train/") == 2
        dest = tmp_path / "dest"
        written = store.download_uri(f"s3://{bucket}/data/train", dest)
        assert sorted(p.relative_to(dest).as_posix() for p in written) == ["train/a.csv", "train/sub/b.bin"]
        assert (dest / "train" / "sub" / "b.bin").read_bytes() == b"\x00\x01"
        n = store.download_file(bucket, "data/train/a.csv", tmp_path / "one" / "a.csv")
        assert n == 4 and (tmp_path / "one" / "a.csv").read_text() == "1,2\n"
