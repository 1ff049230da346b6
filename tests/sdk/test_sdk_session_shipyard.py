"""Session against the real Shipyard server: STS account, default bucket, uploads through the S3 API."""

from shipyard.sdk import Session


def _session(server) -> Session:
    key_id, secret = server.keys()
    return Session(endpoint_url=server.url, access_key_id=key_id, secret_access_key=secret, region=server.region)


def test_account_bucket_and_uploads(server, tmp_path):
    session = _session(server)
    assert session.account_id() == server.settings.account
    assert session.default_role() == f"arn:aws:iam::{server.settings.account}:role/shipyard"
    bucket = session.default_bucket()
    assert bucket == f"shipyard-default-{server.settings.account}"
    assert bucket in [b["Name"] for b in server.client("s3").list_buckets()["Buckets"]]
    assert _session(server).default_bucket() == bucket  # a second session finds it (HeadBucket 200)

    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.csv").write_text("1,2\n")
    (tmp_path / "d" / "sub" / "b.csv").write_text("3,4\n")
    assert session.upload_data(tmp_path / "d", key_prefix="sdk/d") == f"s3://{bucket}/sdk/d"
    assert session.read_s3(f"s3://{bucket}/sdk/d/sub/b.csv") == b"3,4\n"
    uri = session.upload_data(tmp_path / "d" / "a.csv", key_prefix="sdk/file")
    assert uri == f"s3://{bucket}/sdk/file/a.csv"
    assert session.read_s3(uri) == b"1,2\n"


def test_environment_configures_the_session(server, monkeypatch):
    for key, value in server.env().items():
        monkeypatch.setenv(key, value)
    session = Session()
    assert session.endpoint_url == server.url
    assert session.region == server.region
    assert session.s3_client.list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200
