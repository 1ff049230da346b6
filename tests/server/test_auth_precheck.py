"""precheck(): what can be refused before a body is read, and the 7-day cap on presigned URLs (unit level)."""

from __future__ import annotations

import datetime as dt

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from shipyard.errors import AuthError
from shipyard.server.auth import MAX_PRESIGNED_EXPIRES, precheck, verify

KEY, SECRET = "AKIDPRECHECK0000", "precheck-secret"


def _signed(body: bytes = b"{}") -> tuple[dict, str]:
    request = AWSRequest(method="POST", url="http://127.0.0.1:7070/", data=body,
                         headers={"X-Amz-Target": "SageMaker.ListModels"})
    SigV4Auth(Credentials(KEY, SECRET), "sagemaker", "us-east-1").add_auth(request)
    return {k.lower(): v for k, v in request.prepare().headers.items()} | {"host": "127.0.0.1:7070"}, ""


def _code(call) -> str:
    with pytest.raises(AuthError) as e:
        call()
    return e.value.code


def test_precheck_refuses_without_the_body():
    headers, qs = _signed()
    assert _code(lambda: precheck(query_string=qs, headers={}, access_key_id=KEY)) == \
        "MissingAuthenticationTokenException"
    assert _code(lambda: precheck(query_string=qs, headers=headers, access_key_id="AKIDOTHER")) == \
        "UnrecognizedClientException"
    broken = dict(headers, authorization="AWS4-HMAC-SHA256 Credential=x")
    assert _code(lambda: precheck(query_string=qs, headers=broken, access_key_id=KEY)) == \
        "IncompleteSignatureException"
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=30)
    assert _code(lambda: precheck(query_string=qs, headers=headers, access_key_id=KEY, now=later)) == \
        "InvalidSignatureException"


def test_precheck_then_verify_checks_the_body():
    import hashlib

    headers, qs = _signed(b'{"a": 1}')
    claim = precheck(query_string=qs, headers=headers, access_key_id=KEY)
    kw = dict(method="POST", raw_path="/", query_string=qs, headers=headers, access_key_id=KEY,
              secret_access_key=SECRET, s3=False, claim=claim)
    verify(payload_hash=hashlib.sha256(b'{"a": 1}').hexdigest(), **kw)
    assert _code(lambda: verify(payload_hash=hashlib.sha256(b'{"a": 2}').hexdigest(), **kw)) == \
        "InvalidSignatureException"


@pytest.mark.parametrize("expires, ok", [(MAX_PRESIGNED_EXPIRES, True), (MAX_PRESIGNED_EXPIRES + 1, False)])
def test_presigned_expiry_is_capped_at_seven_days(expires, ok):
    request = AWSRequest(method="GET", url="http://127.0.0.1:7070/bucket/key")
    SigV4QueryAuth(Credentials(KEY, SECRET), "s3", "us-east-1", expires=expires).add_auth(request)
    qs = request.prepare().url.split("?", 1)[1]
    if ok:
        assert precheck(query_string=qs, headers={}, access_key_id=KEY, s3=True).presigned
    else:
        assert _code(lambda: precheck(query_string=qs, headers={}, access_key_id=KEY, s3=True)) == \
            "AuthorizationQueryParametersError"
