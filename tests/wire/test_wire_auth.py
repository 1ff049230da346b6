"""SigV4 verification against requests signed by botocore's own signers (no server needed)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from shipyard.errors import AuthError
from shipyard.server.auth import verify

KEY, SECRET = "AKIDEXAMPLEEXAMPLE01", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def _check(req: AWSRequest, *, s3: bool, body: bytes = b"", secret: str = SECRET, presigned_url: str | None = None):
    url = presigned_url or req.url
    parts = urlsplit(url)
    headers: dict[str, str] = {}
    for k, v in req.headers.items():
        headers[k.lower()] = f"{headers[k.lower()]},{v}" if k.lower() in headers else v
    headers.setdefault("host", parts.netloc)
    import hashlib

    return verify(method=req.method, raw_path=parts.path, query_string=parts.query, headers=headers,
                  payload_hash=None if s3 else hashlib.sha256(body).hexdigest(), access_key_id=KEY,
                  secret_access_key=secret, s3=s3)


def _signed(url, service="sagemaker", body=b"{}", headers=None, signer=SigV4Auth, method="POST"):
    req = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    signer(Credentials(KEY, SECRET), service, "us-west-2").add_auth(req)
    return req


def test_json_request():
    req = _signed("http://127.0.0.1:7070/", headers={"X-Amz-Target": "SageMaker.ListModels",
                                                     "Content-Type": "application/x-amz-json-1.1"})
    claim = _check(req, s3=False, body=b"{}")
    assert (claim.service, claim.region, claim.access_key) == ("sagemaker", "us-west-2", KEY)


def test_body_is_part_of_the_signature():
    req = _signed("http://127.0.0.1:7070/", body=b'{"a": 1}')
    with pytest.raises(AuthError) as e:
        _check(req, s3=False, body=b'{"a": 2}')
    assert e.value.code == "InvalidSignatureException"


@pytest.mark.parametrize("path", ["/endpoints/my-endpoint/invocations", "/endpoints/a%20b/invocations",
                                  "/endpoints/x%2Fy/invocations", "/a/./b/../c"])
def test_non_s3_paths_are_double_encoded(path):
    req = _signed("http://127.0.0.1:7070" + path, body=b"1,2,3")
    assert _check(req, s3=False, body=b"1,2,3").service == "sagemaker"


@pytest.mark.parametrize("key", ["k", "a%20b/c%2Bd", "%C3%BC/%D0%BA", "x/../y", "t~ilde/%25"])
def test_s3_paths_are_used_as_sent(key):
    req = _signed(f"http://127.0.0.1:7070/bucket/{key}", "s3", body=b"data", signer=S3SigV4Auth, method="PUT")
    assert _check(req, s3=True).service == "s3"


def test_s3_wrong_secret_and_unknown_key():
    req = _signed("http://127.0.0.1:7070/bucket/k", "s3", signer=S3SigV4Auth, method="GET", body=b"")
    with pytest.raises(AuthError) as e:
        _check(req, s3=True, secret="other")
    assert e.value.code == "SignatureDoesNotMatch"
    req.headers.replace_header("Authorization", req.headers["Authorization"].replace(KEY, "AKIDOTHER"))
    with pytest.raises(AuthError) as e:
        _check(req, s3=True)
    assert e.value.code == "InvalidAccessKeyId"


def test_query_strings_are_canonicalized():
    url = "http://127.0.0.1:7070/bucket?list-type=2&prefix=a%20b%2Fc&delimiter=%2F&max-keys=5&z=&a=1"
    req = _signed(url, "s3", signer=S3SigV4Auth, method="GET", body=b"")
    assert _check(req, s3=True).service == "s3"


def test_presigned_s3_url():
    req = AWSRequest(method="GET", url="http://127.0.0.1:7070/bucket/a%20b/c%2Bd.txt", headers={})
    S3SigV4QueryAuth(Credentials(KEY, SECRET), "s3", "us-east-1", expires=60).add_auth(req)
    claim = _check(req, s3=True)
    assert claim.presigned
    tampered = req.url.replace("X-Amz-Expires=60", "X-Amz-Expires=6000")
    with pytest.raises(AuthError) as e:
        _check(req, s3=True, presigned_url=tampered)
    assert e.value.code == "SignatureDoesNotMatch"


def test_clock_skew():
    req = _signed("http://127.0.0.1:7070/")
    parts = urlsplit(req.url)
    headers = {k.lower(): v for k, v in req.headers.items()}
    headers["host"] = parts.netloc
    import hashlib

    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=16)
    for s3, code in ((False, "InvalidSignatureException"), (True, "RequestTimeTooSkewed")):
        with pytest.raises(AuthError) as e:
            verify(method="POST", raw_path="/", query_string="", headers=headers,
                   payload_hash=hashlib.sha256(b"{}").hexdigest(), access_key_id=KEY, secret_access_key=SECRET,
                   s3=s3, now=later)
        assert e.value.code == code


def test_missing_and_malformed_auth():
    headers = {"host": "h", "x-amz-date": "20240101T000000Z"}
    kw = dict(method="GET", raw_path="/", query_string="", payload_hash="", access_key_id=KEY,
              secret_access_key=SECRET)
    with pytest.raises(AuthError) as e:
        verify(headers=headers, s3=False, **kw)
    assert e.value.code == "MissingAuthenticationTokenException"
    with pytest.raises(AuthError) as e:
        verify(headers=headers, s3=True, **kw)
    assert e.value.code == "AccessDenied"
    for bad in ("AWS4-HMAC-SHA256 Credential=x", "AWS4-HMAC-SHA256 Credential=a/b, SignedHeaders=host, Signature=0",
                "Bearer token"):
        with pytest.raises(AuthError) as e:
            verify(headers={**headers, "authorization": bad}, s3=False, **kw)
        assert e.value.http_status == 403
