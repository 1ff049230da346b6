"""The light job store (``training/job_store.py``, what a processing executor opens) against a real server's S3
API: the operations a job uses, S3's error codes, paging, keys that need escaping, and retries that ride out
a server that is down for a moment."""

from __future__ import annotations

import io
import socket
import threading
import time

import pytest

from shipyard.domain.job_file import TrainingJobFile
from shipyard.errors import NotImplementedYet, S3Error
from shipyard.training.job_store import JobS3Store, open_light_job_store

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def store(proc_server):
    s3 = proc_server.client("s3")
    s3.create_bucket(Bucket="light")
    key_id, secret = proc_server.keys()
    return JobS3Store(proc_server.url, proc_server.region, key_id, secret)


def test_put_get_head_delete(store, tmp_path):
    info = store.put_object("light", "a/one.txt", b"hello", content_type="text/plain", metadata={"k": "v"})
    assert info.size == 5 and info.etag.startswith('"')
    head = store.head_object("light", "a/one.txt")
    assert (head.size, head.content_type, head.metadata) == (5, "text/plain", {"k": "v"})
    assert store.get_bytes("light", "a/one.txt") == b"hello"
    _, chunks = store.open_object("light", "a/one.txt", start=1, end=3)
    assert b"".join(chunks) == b"ell"
    src = tmp_path / "big.bin"
    src.write_bytes(bytes(range(256)) * 5000)
    store.upload_file(src, "light", "a/dir with space/ü+big.bin")
    assert store.download_file("light", "a/dir with space/ü+big.bin", tmp_path / "back.bin") == 1_280_000
    assert (tmp_path / "back.bin").read_bytes() == src.read_bytes()
    store.put_object("light", "a/stream", io.BytesIO(b"from a stream"))
    assert store.get_bytes("light", "a/stream") == b"from a stream"
    store.delete_object("light", "a/one.txt")
    with pytest.raises(S3Error) as e:
        store.head_object("light", "a/one.txt")
    assert e.value.code == "NoSuchKey"
    with pytest.raises(S3Error) as e:
        store.get_bytes("light", "a/one.txt")
    assert e.value.code == "NoSuchKey"


def test_listing_pages_and_prefixes(store):
    for i in range(7):
        store.put_object("light", f"list/{i:02d}", b"x")
    store.put_object("light", "list/sub/deep", b"x")
    assert [o.key for o in store.iter_keys("light", "list/")] == [f"list/{i:02d}" for i in range(7)] + [
        "list/sub/deep"]
    page = store.list_objects("light", prefix="list/", max_keys=3)
    assert page.is_truncated and page.next_marker == "list/02"
    top = store.list_objects("light", prefix="list/", delimiter="/")
    assert top.common_prefixes == ["list/sub/"] and len(top.objects) == 7
    assert store.bucket_exists("light") and not store.bucket_exists("no-such-bucket-here")
    with pytest.raises(S3Error) as e:
        store.list_objects("no-such-bucket-here")
    assert e.value.code == "NoSuchBucket"


def test_a_wrong_secret_is_refused_not_retried(proc_server):
    key_id, _ = proc_server.keys()
    bad = JobS3Store(proc_server.url, proc_server.region, key_id, "not-the-secret")
    began = time.monotonic()
    with pytest.raises(S3Error) as e:
        bad.get_bytes("light", "list/00")
    assert e.value.code == "SignatureDoesNotMatch" and time.monotonic() - began < 5


def test_connection_refused_is_retried_then_succeeds(proc_server):
    """A server that comes up a moment later (a restart) is reached: the refused attempts are retried."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    key_id, secret = proc_server.keys()
    store = JobS3Store(f"http://127.0.0.1:{port}", proc_server.region, key_id, secret, attempts=6)
    target = proc_server.url.rsplit(":", 1)[1]

    def forward_later() -> None:  # a tiny TCP forwarder that starts listening after ~0.5 s
        time.sleep(0.5)
        listener = socket.create_server(("127.0.0.1", port))
        listener.settimeout(10)
        conn, _ = listener.accept()
        upstream = socket.create_connection(("127.0.0.1", int(target)))
        for a, b in ((conn, upstream), (upstream, conn)):
            threading.Thread(target=_pipe, args=(a, b), daemon=True).start()
        listener.close()

    threading.Thread(target=forward_later, daemon=True).start()
    assert store.bucket_exists("light")


def _pipe(a: socket.socket, b: socket.socket) -> None:
    try:
        while data := a.recv(65536):
            b.sendall(data)
    except OSError:
        pass
    finally:
        try:
            b.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def test_what_a_job_never_does_says_so(store):
    with pytest.raises(NotImplementedYet):
        store.create_bucket("x")


def test_old_job_file_opens_its_store_url(tmp_path):
    from shipyard.objectstore.local import LocalObjectStore

    job = TrainingJobFile.from_dict({"request": {}, "object_store_url": (tmp_path / "objects").as_uri()})
    assert isinstance(open_light_job_store(job), LocalObjectStore)
    keyed = TrainingJobFile(request={}, aws_env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "K",
                                                 "AWS_SECRET_ACCESS_KEY": "s", "AWS_REGION": "eu-west-1"})
    opened = open_light_job_store(keyed)
    assert isinstance(opened, JobS3Store) and opened.region == "eu-west-1" and opened.port == 9
