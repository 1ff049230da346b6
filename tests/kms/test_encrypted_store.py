"""The encrypting object store: the object-store conformance suite with every write encrypted, and what only
encryption can show (ciphertext on disk, ranges across chunks, refusals once the key is unusable)."""

from __future__ import annotations

import os
import random

import pytest

from shipyard.errors import KmsError, S3Error
from shipyard.kms import envelope
from shipyard.kms.keys import DAY, KeyService
from shipyard.kms.s3 import EncryptionRuleBook, S3KeyBroker
from shipyard.metastore import open_metastore
from shipyard.objectstore.encrypted import AES256, CHUNK, KMS, Encryption, EncryptedObjectStore
from shipyard.objectstore.local import LocalObjectStore
from shipyard.testing.objectstore import ObjectStoreConformance


class Clock:
    now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class EveryBucket:
    """Rules that encrypt every write (so the conformance suite exercises the encrypted path throughout)."""

    def __init__(self, encryption: Encryption | None):
        self.encryption = encryption
        self.uploads: dict = {}

    def save_upload(self, name, record):
        self.uploads[name] = record

    def load_upload(self, name):
        return self.uploads.get(name)

    def drop_upload(self, name):
        self.uploads.pop(name, None)

    def default_for(self, bucket, key):
        return self.encryption

    def bucket_default(self, bucket):
        return self.encryption

    def set_bucket_default(self, bucket, encryption):
        pass


@pytest.fixture
def kms(tmp_path):
    meta = open_metastore(f"sqlite:///{tmp_path / 'meta.db'}")
    master = envelope.new_key()
    clock = Clock()
    keys = KeyService(meta, master, "us-east-1", "123456789012", clock=clock)
    yield keys, S3KeyBroker(keys, master), clock
    meta.close()


def _wrapped(tmp_path, kms, encryption):
    keys, broker, _ = kms
    inner = LocalObjectStore(tmp_path / "objects")
    return EncryptedObjectStore(inner, broker, EveryBucket(encryption)), inner


class TestEncryptedUnderKms(ObjectStoreConformance):
    etag_is_body_md5 = False  # the stored bytes' MD5, as AWS's SSE-KMS ETags

    @pytest.fixture
    def store(self, tmp_path, kms):
        key = kms[0].create_key()
        store, inner = _wrapped(tmp_path, kms, Encryption(KMS, key.key_id))
        yield store
        inner.close()


class TestEncryptedSseS3(ObjectStoreConformance):
    etag_is_body_md5 = False

    @pytest.fixture
    def store(self, tmp_path, kms):
        store, inner = _wrapped(tmp_path, kms, Encryption(AES256))
        yield store
        inner.close()


class TestPassThrough(ObjectStoreConformance):
    """With no rule and no request the wrapper is the store below: plaintext, MD5 ETags."""

    @pytest.fixture
    def store(self, tmp_path, kms):
        store, inner = _wrapped(tmp_path, kms, None)
        yield store
        inner.close()


def _stored_files(inner: LocalObjectStore, bucket: str) -> list[bytes]:
    return [p.read_bytes() for p in (inner.root / bucket).rglob("*") if p.is_file()]


def test_bytes_on_disk_are_ciphertext(tmp_path, kms):
    key = kms[0].create_key()
    store, inner = _wrapped(tmp_path, kms, Encryption(KMS, key.key_id))
    store.create_bucket("bkt")
    secret = b"the quarterly numbers: 42\n" * 5000
    info = store.put_object("bkt", "report.txt", secret, metadata={"owner": "ann"})
    assert info.sse == Encryption(KMS, key.arn) and info.size == len(secret)
    files = _stored_files(inner, "bkt")
    assert len(files) == 1 and b"quarterly" not in files[0] and len(files[0]) > len(secret)
    assert store.get_bytes("bkt", "report.txt") == secret
    assert store.head_object("bkt", "report.txt").metadata == {"owner": "ann"}  # ours are never shown


def test_ranges_across_chunk_boundaries(tmp_path, kms):
    key = kms[0].create_key()
    store, _ = _wrapped(tmp_path, kms, Encryption(KMS, key.key_id))
    store.create_bucket("bkt")
    data = os.urandom(3 * CHUNK + 123)
    store.put_object("bkt", "r", data)
    rng = random.Random(7)
    cases = [(0, 0), (CHUNK - 1, CHUNK), (CHUNK, 2 * CHUNK - 1), (len(data) - 1, None), (5, 10 ** 9)]
    cases += [tuple(sorted(rng.sample(range(len(data)), 2))) for _ in range(20)]
    for start, end in cases:
        _, chunks = store.open_object("bkt", "r", start, end)
        stop = len(data) if end is None else min(end + 1, len(data))
        assert b"".join(chunks) == data[start:stop], (start, end)
    for size in (0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK):
        body = os.urandom(size)
        store.put_object("bkt", f"s{size}", body)
        assert store.head_object("bkt", f"s{size}").size == size
        assert store.get_bytes("bkt", f"s{size}") == body


def test_tampered_ciphertext_is_refused(tmp_path, kms):
    key = kms[0].create_key()
    store, inner = _wrapped(tmp_path, kms, Encryption(KMS, key.key_id))
    store.create_bucket("bkt")
    store.put_object("bkt", "k", b"x" * 1000)
    path = inner.local_path("bkt", "k")
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(S3Error) as e:
        store.get_bytes("bkt", "k")
    assert "does not authenticate" in e.value.message


def test_disabled_and_deleted_keys_make_objects_unreadable(tmp_path, kms):
    keys, _, clock = kms
    key = keys.create_key()
    store, _ = _wrapped(tmp_path, kms, Encryption(KMS, key.key_id))
    store.create_bucket("bkt")
    store.put_object("bkt", "k", b"secret")
    keys.set_enabled(key.key_id, False)
    with pytest.raises(KmsError) as e:
        store.get_bytes("bkt", "k")
    assert e.value.code == "DisabledException"
    with pytest.raises(KmsError) as e:
        store.put_object("bkt", "k2", b"more")
    assert e.value.code == "DisabledException"
    assert store.head_object("bkt", "k").size == 6  # HEAD needs no key, as in S3
    keys.set_enabled(key.key_id, True)
    keys.schedule_deletion(key.key_id, 7)
    with pytest.raises(KmsError) as e:
        store.get_bytes("bkt", "k")
    assert e.value.code == "KMSInvalidStateException"
    clock.now += 8 * DAY
    with pytest.raises(KmsError) as e:
        store.get_bytes("bkt", "k")
    assert e.value.code == "NotFoundException"


def test_folder_rules_and_bucket_defaults(tmp_path, kms):
    keys, broker, _ = kms
    a, b = keys.create_key(), keys.create_key()
    rules = EncryptionRuleBook(keys.meta, keys)
    inner = LocalObjectStore(tmp_path / "objects")
    store = EncryptedObjectStore(inner, broker, rules)
    store.create_bucket("bkt")
    store.set_bucket_encryption("bkt", Encryption(KMS, a.arn))
    rules.encrypt_folder("bkt/jobs/j1", Encryption(KMS, b.arn))
    assert store.put_object("bkt", "plain-by-default", b"x").sse == Encryption(KMS, a.arn)
    assert store.put_object("bkt", "jobs/j1/output/model.tar.gz", b"x").sse == Encryption(KMS, b.arn)
    assert store.put_object("bkt", "jobs/j10/x", b"x").sse == Encryption(KMS, a.arn)  # a folder, not a prefix
    assert store.with_encryption(Encryption(AES256)).put_object("bkt", "jobs/j1/y", b"x").sse.algorithm == AES256
    again = EncryptionRuleBook(keys.meta, keys)  # read back from the store (a restarted server)
    assert again.default_for("bkt", "jobs/j1/z") == Encryption(KMS, b.arn)
    store.set_bucket_encryption("bkt", None)
    assert store.put_object("bkt", "now-plain", b"x").sse is None
    store.create_bucket("other")
    assert store.put_object("other", "k", b"x").sse is None


def test_a_completion_cut_short_is_finished_by_the_next_reader(tmp_path, kms, monkeypatch):
    """A crash after the parts became the object, before the one-stream pass: the next read finishes it."""
    key = kms[0].create_key()
    store, _ = _wrapped(tmp_path, kms, Encryption(KMS, key.key_id))
    store.create_bucket("bkt")
    parts = [os.urandom(5 * 1024 * 1024 + 11), b"tail bytes"]
    upload = store.create_multipart_upload("bkt", "obj", metadata={"m": "v"})
    etags = [(n, store.upload_part("bkt", "obj", upload, n, body)) for n, body in enumerate(parts, 1)]

    def crash(*args, **kwargs):
        raise RuntimeError("server killed mid-completion")

    with monkeypatch.context() as m:
        m.setattr(EncryptedObjectStore, "_assemble", crash)
        with pytest.raises(RuntimeError):
            store.complete_multipart_upload("bkt", "obj", upload, etags)
    listed = store.list_objects("bkt").objects
    assert [o.key for o in listed] == ["obj"]  # listing never fails on an unfinished assembly
    head = store.head_object("bkt", "obj")  # the next reader finishes it
    assert head.size == len(parts[0]) + len(parts[1]) and head.metadata == {"m": "v"}
    assert store.get_bytes("bkt", "obj") == b"".join(parts)
    _, chunks = store.open_object("bkt", "obj", len(parts[0]) - 2, len(parts[0]) + 3)
    assert b"".join(chunks) == parts[0][-2:] + parts[1][:4]
