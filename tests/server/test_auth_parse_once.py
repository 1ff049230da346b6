"""The server parses a request's Authorization header once: the claim checked before the body is read is the
one whose signature is verified after (in process, the app driven directly with botocore-signed requests)."""

from __future__ import annotations

import asyncio

import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from shipyard.server import app as app_module
from shipyard.server import auth as auth_module


@pytest.fixture
def app_and_settings(tmp_path):
    from shipyard.config import load_settings
    from shipyard.context import Services
    from shipyard.metastore import open_metastore
    from shipyard.objectstore import open_objectstore

    settings = load_settings(tmp_path / "home", port=1)
    meta = open_metastore(settings.database_url)
    objects = open_objectstore(settings.object_store_url)
    objects.create_bucket("parse-once")
    try:
        yield app_module.create_app(Services(settings=settings, meta=meta, objects=objects, runner=None)), settings
    finally:
        meta.close()


def _drive(app, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> list[dict]:
    sent: list[dict] = []
    chunks = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        return chunks.pop(0) if chunks else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": query.encode(),
             "headers": [(k.lower().encode(), str(v).encode()) for k, v in headers.items()]}
    asyncio.run(app(scope, receive, send))
    return sent


def _signed(settings, service: str, method: str, path: str, query: str, body: bytes, headers: dict) -> dict:
    url = f"http://127.0.0.1:1{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    signer = S3SigV4Auth if service == "s3" else SigV4Auth
    if service == "s3":
        import hashlib

        request.headers["X-Amz-Content-SHA256"] = hashlib.sha256(body).hexdigest()
    signer(Credentials(settings.access_key_id, settings.secret_access_key), service, settings.region).add_auth(request)
    return {"Host": "127.0.0.1:1", **dict(request.headers.items())}


@pytest.mark.parametrize("service", ["sts", "s3"])
def test_one_parse_per_request(app_and_settings, monkeypatch, service):
    app, settings = app_and_settings
    calls = []
    real = auth_module.parse_auth

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    real_claimed = auth_module.claimed_access_key

    def counting_claimed(*args, **kwargs):  # a second reading of the header, for the key id alone
        calls.append(args[0].get("authorization"))
        return real_claimed(*args, **kwargs)

    monkeypatch.setattr(auth_module, "parse_auth", counting)
    monkeypatch.setattr(app_module, "parse_auth", counting, raising=False)
    monkeypatch.setattr(app_module, "claimed_access_key", counting_claimed)
    if service == "sts":
        body = b"Action=GetCallerIdentity&Version=2011-06-15"
        headers = _signed(settings, "sts", "POST", "/", "", body,
                          {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        sent = _drive(app, "POST", "/", "", headers, body)
        assert sent[0]["status"] == 200, sent[1]["body"]
        assert settings.access_key_id.encode() in sent[1]["body"]  # the server's own key: its own id
    else:
        headers = _signed(settings, "s3", "GET", "/parse-once", "list-type=2", b"", {})
        sent = _drive(app, "GET", "/parse-once", "list-type=2", headers, b"")
        assert sent[0]["status"] == 200
    assert len(calls) == 1, calls

    # a bad signature is still refused after that one parse
    calls.clear()
    headers["Authorization"] = headers["Authorization"][:-4] + "0000"
    method, path, query, body = ("POST", "/", "", b"Action=GetCallerIdentity&Version=2011-06-15") \
        if service == "sts" else ("GET", "/parse-once", "list-type=2", b"")
    sent = _drive(app, method, path, query, headers, body)
    assert sent[0]["status"] == 403 and b"SignatureDoesNotMatch" in sent[-1]["body"]
    assert len(calls) == 1, calls
