"""Session and LogTailer against moto's S3 and CloudWatch Logs servers: the SDK only speaks AWS APIs, so it
must behave the same against any faithful implementation of them (Shipyard's own server is covered in e2e)."""

import time

import pytest

from shipyard.sdk import LogTailer, Session
from shipyard.testing.server import free_port


@pytest.fixture(scope="module")
def moto_url():
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def session(moto_url):
    return Session(endpoint_url=moto_url, access_key_id="testing", secret_access_key="testing", region="us-east-1")


def test_default_bucket_is_created_once(session):
    bucket = session.default_bucket()
    assert bucket.startswith("shipyard-default-")
    names = [b["Name"] for b in session.s3_client.list_buckets()["Buckets"]]
    assert bucket in names
    assert session.default_bucket() == bucket  # idempotent


def test_upload_file_and_folder(session, tmp_path):
    f = tmp_path / "train.csv"
    f.write_text("1,0.5\n0,0.1\n")
    uri = session.upload_data(f, key_prefix="demo/train")
    assert uri == f"s3://{session.default_bucket()}/demo/train/train.csv"
    assert session.read_s3(uri) == b"1,0.5\n0,0.1\n"

    folder = tmp_path / "dir"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.csv").write_text("a")
    (folder / "sub" / "b.csv").write_text("b")
    uri = session.upload_data(folder, key_prefix="demo/dir")
    assert uri == f"s3://{session.default_bucket()}/demo/dir"
    keys = sorted(o["Key"] for o in session.s3_client.list_objects_v2(
        Bucket=session.default_bucket(), Prefix="demo/dir/")["Contents"])
    assert keys == ["demo/dir/a.csv", "demo/dir/sub/b.csv"]
    with pytest.raises(FileNotFoundError):
        session.upload_data(tmp_path / "nope")


def test_log_tailer_returns_each_event_once(session):
    logs = session.logs_client
    group, job = "/aws/sagemaker/TrainingJobs", "job-logs-1"
    tailer = LogTailer(logs, job)
    assert list(tailer.poll()) == []  # no group yet: nothing, no error
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=f"{job}/algo-1-1700000000")
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName=group, logStreamName=f"{job}/algo-1-1700000000",
                        logEvents=[{"timestamp": now, "message": "line 1"}, {"timestamp": now + 1, "message": "line 2"}])
    first = [e["message"] for _, e in tailer.poll()]
    assert first == ["line 1", "line 2"]
    assert list(tailer.poll()) == []
    logs.put_log_events(logGroupName=group, logStreamName=f"{job}/algo-1-1700000000",
                        logEvents=[{"timestamp": now + 2, "message": "line 3"}])
    assert [e["message"] for _, e in tailer.poll()] == ["line 3"]
