"""Signature checks through a real server with real boto3 clients: every failure is a 403 with AWS's code."""

from __future__ import annotations

import datetime as dt
import urllib.error
import urllib.request
from unittest import mock

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

AUTH_CODES = {"AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId", "RequestTimeTooSkewed",
              "MissingAuthenticationTokenException", "InvalidSignatureException", "UnrecognizedClientException"}


def _client(server, service, key_id=None, secret=None, **config):
    k, s = server.keys()
    session = boto3.session.Session(aws_access_key_id=key_id or k, aws_secret_access_key=secret or s,
                                    region_name="us-east-1")
    cfg = Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}, **config)
    return session.client(service, endpoint_url=server.url, config=cfg)


def _error(call):
    with pytest.raises(ClientError) as info:
        call()
    err = info.value.response
    return err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"], err["Error"].get("Message", "")


def _shifted(minutes):
    real = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(minutes=minutes)
    return mock.patch("botocore.auth.get_current_datetime", return_value=real)


# --- JSON services ---

def test_unsigned_json_request_is_rejected(server):
    sm = _client(server, "sagemaker", signature_version=UNSIGNED)
    assert _error(sm.list_training_jobs) == (403, "MissingAuthenticationTokenException",
                                             "Missing Authentication Token")


def test_wrong_secret_json(server):
    status, code, message = _error(_client(server, "sagemaker", secret="not-the-secret").list_endpoints)
    assert (status, code) == (403, "InvalidSignatureException")
    assert "signature we calculated does not match" in message


def test_unknown_key_json(server):
    status, code, _ = _error(_client(server, "logs", key_id="AKIAUNKNOWNUNKNOWN00").describe_log_groups)
    assert (status, code) == (403, "UnrecognizedClientException")


@pytest.mark.parametrize("minutes", [-20, 20])
def test_stale_or_future_json(server, minutes):
    sm = _client(server, "sagemaker")
    with _shifted(minutes):
        status, code, message = _error(sm.list_models)
    assert (status, code) == (403, "InvalidSignatureException")
    assert message.startswith("Signature expired")


def test_small_clock_skew_is_accepted(server):
    sts = _client(server, "sts")
    with _shifted(-5):
        assert sts.get_caller_identity()["Account"] == server.settings.account


# --- STS (query protocol) ---

def test_sts_auth_errors_use_query_codes(server):
    assert _error(_client(server, "sts", secret="nope").get_caller_identity)[:2] == (403, "SignatureDoesNotMatch")
    assert _error(_client(server, "sts", key_id="AKIAUNKNOWNUNKNOWN00").get_caller_identity)[:2] == \
        (403, "InvalidClientTokenId")


# --- S3 ---

def test_s3_auth_failures(server):
    assert _error(_client(server, "s3", signature_version=UNSIGNED).list_buckets)[:2] == (403, "AccessDenied")
    assert _error(_client(server, "s3", secret="nope").list_buckets)[:2] == (403, "SignatureDoesNotMatch")
    assert _error(_client(server, "s3", key_id="AKIAUNKNOWNUNKNOWN00").list_buckets)[:2] == \
        (403, "InvalidAccessKeyId")
    s3 = _client(server, "s3")
    with _shifted(-30):
        assert _error(s3.list_buckets)[:2] == (403, "RequestTimeTooSkewed")


@pytest.fixture(scope="module")
def bucket(server):
    s3 = _client(server, "s3")
    try:
        s3.create_bucket(Bucket="auth-bucket")
    except ClientError as e:
        assert e.response["Error"]["Code"] in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists")
    return "auth-bucket"


@pytest.mark.parametrize("key", ["plain.txt", "with space/and+plus.csv", "ünïcødé/ключ", "pct%41/tilde~/a=b&c",
                                 "dots/../x", "trailing/", "semi;colon,comma!*'()$@"])
def test_s3_keys_that_need_encoding_pass_auth(server, bucket, key):
    """The signature over an awkward key verifies, and the object comes back under the same key."""
    s3 = _client(server, "s3")
    body = key.encode() * 3
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(body)


def _fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.mark.parametrize("version", ["s3v4", "s3"])
def test_presigned_urls(server, bucket, version):
    s3 = _client(server, "s3", signature_version=version)
    s3.put_object(Bucket=bucket, Key="a b/c+d.txt", Body=b"presigned content")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "auth-bucket", "Key": "a b/c+d.txt"},
                                    ExpiresIn=300)
    assert _fetch(url) == (200, b"presigned content")
    tampered = url.replace("c%2Bd.txt", "c%2Be.txt")
    assert tampered != url
    status, body = _fetch(tampered)
    assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body
    with _shifted(-120):
        with mock.patch("time.time", return_value=dt.datetime.now().timestamp() - 7200):
            old = s3.generate_presigned_url("get_object", Params={"Bucket": "auth-bucket", "Key": "k"},
                                            ExpiresIn=60)
    status, body = _fetch(old)
    assert status == 403 and b"<Code>AccessDenied</Code>" in body and b"expired" in body


def test_health_needs_no_auth_but_everything_else_does(server):
    status, body = _fetch(f"{server.url}/shipyard/health")
    assert status == 200
    status, body = _fetch(f"{server.url}/some-bucket/some-key")
    assert status == 403 and b"<Code>AccessDenied</Code>" in body
