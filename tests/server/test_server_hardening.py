"""Hostile clients against a real server: raw sockets for what boto3 would never send.

- an unsigned (or oversized) request is answered at once, before its body is read or waited for;
- slow headers, silent connections and stalled bodies are cut off within their timeouts;
- a presigned URL may live at most 7 days; invalid Application Auto Scaling NextTokens, InstanceCount 0;
- aws-chunked signatures are checked when a request is signed with ``Date`` instead of ``X-Amz-Date``.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import hmac
import json
import socket
import time
import urllib.parse

import httpx
import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

ONE_GB = 1024 ** 3


def _connect(server, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    sock.settimeout(timeout)
    return sock


def _read_response(sock: socket.socket, limit_s: float = 10.0) -> bytes:
    """Everything the server sends until it closes, or until headers plus Content-Length bytes have come."""
    data = b""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            break
        if not chunk:
            break
        data += chunk
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length" and len(body) >= int(value.strip()):
                    return data
    return data


def _status(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/1.1 ") else 0


class _UnsignedPayloadAuth(S3SigV4Auth):
    def payload(self, request):
        return "UNSIGNED-PAYLOAD"


def _signed_headers(server, method, path, body: bytes, headers: dict, service="sagemaker") -> dict:
    """Headers of a correctly signed request (S3: with an UNSIGNED-PAYLOAD body hash)."""
    key_id, secret = server.keys()
    request = AWSRequest(method=method, url=f"{server.url}{path}", data=body, headers=dict(headers))
    auth = _UnsignedPayloadAuth if service == "s3" else SigV4Auth
    auth(Credentials(key_id, secret), service, server.region).add_auth(request)
    return dict(request.prepare().headers)


def _raw_request(server, method, path, headers: dict) -> bytes:
    host = next((v for k, v in headers.items() if k.lower() == "host"), f"127.0.0.1:{server.port}")
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "host"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# --- answered before the body: unsigned or oversized ---------------------------------------------------------
@pytest.mark.parametrize("target", ["SageMaker.ListTrainingJobs", "Logs_20140328.DescribeLogGroups"])
def test_unsigned_huge_json_post_is_refused_without_reading_the_body(server, target):
    with _connect(server) as sock:
        t0 = time.monotonic()
        sock.sendall(_raw_request(server, "POST", "/", {"X-Amz-Target": target, "Content-Length": str(ONE_GB),
                                                "Content-Type": "application/x-amz-json-1.1"}))
        raw = _read_response(sock, 5)
        elapsed = time.monotonic() - t0
    assert _status(raw) == 403, raw[:300]
    assert b"MissingAuthenticationTokenException" in raw
    assert b"connection: close" in raw.lower()
    assert elapsed < 3


def test_signed_but_oversized_json_is_refused_at_once(server):
    headers = _signed_headers(server, "POST", "/", b"{}", {"X-Amz-Target": "SageMaker.ListTrainingJobs",
                                                           "Content-Type": "application/x-amz-json-1.1"})
    headers["Content-Length"] = str(ONE_GB)  # the claim is checked first: no body is ever sent
    with _connect(server) as sock:
        t0 = time.monotonic()
        sock.sendall(_raw_request(server, "POST", "/", headers))
        raw = _read_response(sock, 5)
        assert time.monotonic() - t0 < 3
    assert _status(raw) == 413, raw[:300]
    assert b"x-amzn-errortype: RequestEntityTooLarge" in raw


def test_unsigned_runtime_and_s3_uploads_are_refused_at_once(server):
    for method, path in (("POST", "/endpoints/none/invocations"), ("PUT", "/some-bucket/key")):
        with _connect(server) as sock:
            t0 = time.monotonic()
            sock.sendall(_raw_request(server, method, path, {"Content-Length": str(ONE_GB)}))
            raw = _read_response(sock, 5)
            assert time.monotonic() - t0 < 3, path
        assert _status(raw) == 403, (path, raw[:300])
        assert b"MissingAuthenticationTokenException" in raw or b"<Code>AccessDenied</Code>" in raw


def test_s3_upload_over_five_gib_is_refused_at_once(server):
    s3 = server.client("s3")
    s3.create_bucket(Bucket="hardening-big")
    size = 5 * ONE_GB + 1
    headers = _signed_headers(server, "PUT", "/hardening-big/huge", b"",
                              {"Content-Length": str(size)}, "s3")
    headers["Content-Length"] = str(size)
    with _connect(server) as sock:
        sock.sendall(_raw_request(server, "PUT", "/hardening-big/huge", headers))
        raw = _read_response(sock, 5)
    assert _status(raw) == 400, raw[:300]
    assert b"<Code>EntityTooLarge</Code>" in raw


# --- timeouts --------------------------------------------------------------------------------------------------
@pytest.fixture
def impatient_server(server_factory):
    return server_factory(env={"SHIPYARD_HEADER_TIMEOUT": "1.5", "SHIPYARD_BODY_IDLE_TIMEOUT": "1.5",
                               "SHIPYARD_BODY_TIMEOUT": "4", "SHIPYARD_MAX_CONNECTIONS": "8"})


def _closed_within(sock: socket.socket, seconds: float, trickle: bytes = b"") -> tuple[bool, bytes]:
    """Trickle ``trickle`` one byte per 0.2 s (a slow loris) and report whether the server closed in time."""
    got = b""
    deadline = time.monotonic() + seconds
    sock.settimeout(0.2)
    i = 0
    while time.monotonic() < deadline:
        if i < len(trickle):
            try:
                sock.sendall(trickle[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                return True, got
            i += 1
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return True, got
        if not chunk:
            return True, got
        got += chunk
    return False, got


def test_slow_loris_headers_are_cut_off(impatient_server):
    with _connect(impatient_server) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        t0 = time.monotonic()
        closed, got = _closed_within(sock, 8, b"X-Slow-Header-" + b"a" * 200)
        assert closed and time.monotonic() - t0 < 4, got
    assert got == b"" or _status(got) == 408


def test_silent_connection_is_closed(impatient_server):
    with _connect(impatient_server) as sock:
        t0 = time.monotonic()
        closed, _ = _closed_within(sock, 8)
        assert closed and time.monotonic() - t0 < 4


def test_connection_limit(impatient_server):
    """Over the limit a client gets a 503 in its own protocol, with a code botocore names (and retries as
    throttling) and a message saying what to do; the server recovers once connections go."""
    from botocore.config import Config

    once = Config(retries={"max_attempts": 1, "mode": "standard"})
    s3, sm = impatient_server.client("s3", config=once), impatient_server.client("sagemaker", config=once)
    idle = [_connect(impatient_server) for _ in range(8)]  # silent: the header timeout will close them
    try:
        r = httpx.get(f"{impatient_server.url}/shipyard/health", timeout=5)
        assert r.status_code == 503
        with pytest.raises(ClientError) as e:
            s3.list_objects_v2(Bucket="hardening-busy")
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert e.value.response["Error"]["Code"] == "SlowDown"
        assert "SHIPYARD_MAX_CONNECTIONS" in e.value.response["Error"]["Message"]
        with pytest.raises(ClientError) as e:
            sm.list_training_jobs()
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert e.value.response["Error"]["Code"] == "ServiceUnavailable"
        assert "retry" in e.value.response["Error"]["Message"]
    finally:
        for sock in idle:
            sock.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the slots are free again once those connections are gone
        if httpx.get(f"{impatient_server.url}/shipyard/health", timeout=5).status_code == 200:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the server did not recover from its connection limit")


def test_endless_headers_are_refused(impatient_server):
    with _connect(impatient_server) as sock:
        sock.sendall(b"GET /shipyard/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        try:
            for _ in range(100):  # 100 x 1 KB = 100 KB of headers: over the 64 KB cap
                sock.sendall(b"X-Filler: " + b"f" * 1000 + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        closed, got = _closed_within(sock, 5)
    assert closed
    assert got == b"" or _status(got) == 431


def test_stalled_body_is_answered_request_timeout(impatient_server):
    body = json.dumps({"MaxResults": 1}).encode()
    headers = _signed_headers(impatient_server, "POST", "/", body,
                              {"X-Amz-Target": "SageMaker.ListTrainingJobs",
                               "Content-Type": "application/x-amz-json-1.1"})
    with _connect(impatient_server) as sock:
        sock.sendall(_raw_request(impatient_server, "POST", "/", headers) + body[:5])  # ...and the rest never comes
        t0 = time.monotonic()
        raw = _read_response(sock, 8)
        assert time.monotonic() - t0 < 5
    assert _status(raw) == 400, raw[:300]
    assert b"RequestTimeout" in raw and b"connection: close" in raw.lower()
    # a whole request on the same server still works
    assert impatient_server.client("sagemaker").list_training_jobs()["TrainingJobSummaries"] == []


def test_stalled_s3_upload_is_answered_request_timeout(impatient_server):
    impatient_server.client("s3").create_bucket(Bucket="stall")
    headers = _signed_headers(impatient_server, "PUT", "/stall/key", b"",
                              {"Content-Length": "1000"}, "s3")
    headers["Content-Length"] = "1000"
    with _connect(impatient_server) as sock:
        sock.sendall(_raw_request(impatient_server, "PUT", "/stall/key", headers) + b"x" * 100)
        t0 = time.monotonic()
        raw = _read_response(sock, 8)
        assert time.monotonic() - t0 < 5
    assert _status(raw) == 400 and b"<Code>RequestTimeout</Code>" in raw, raw[:400]


# --- smaller ones ----------------------------------------------------------------------------------------------
def test_presigned_url_lives_at_most_seven_days(server):
    s3 = server.client("s3")
    s3.create_bucket(Bucket="presign-cap")
    s3.put_object(Bucket="presign-cap", Key="k", Body=b"v")
    from botocore.config import Config

    v4 = server.client("s3", config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    ok = v4.generate_presigned_url("get_object", Params={"Bucket": "presign-cap", "Key": "k"}, ExpiresIn=604800)
    assert httpx.get(ok, timeout=10).content == b"v"
    url = v4.generate_presigned_url("get_object", Params={"Bucket": "presign-cap", "Key": "k"},
                                    ExpiresIn=3 * 365 * 86400)
    assert "X-Amz-Expires=94608000" in url
    r = httpx.get(url, timeout=10)
    assert r.status_code == 403 and "<Code>AuthorizationQueryParametersError</Code>" in r.text, r.text


def test_invalid_next_token_on_application_autoscaling(server):
    aas = server.client("application-autoscaling")
    for token in ("not-a-token", "-1", "99999999999"):
        with pytest.raises(ClientError) as e:
            aas.describe_scalable_targets(ServiceNamespace="sagemaker", NextToken=token)
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert e.value.response["Error"]["Code"] == "InvalidNextTokenException"
    assert "ScalableTargets" in aas.describe_scalable_targets(ServiceNamespace="sagemaker")


def test_instance_count_zero_is_refused(server):
    sm = server.client("sagemaker")
    with pytest.raises(ClientError) as e:
        sm.create_training_job(
            TrainingJobName="zero-instances",
            AlgorithmSpecification={"TrainingImage": "xgboost", "TrainingInputMode": "File"},
            RoleArn="arn:aws:iam::000000000000:role/r",
            OutputDataConfig={"S3OutputPath": "s3://nowhere/out"},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 0, "VolumeSizeInGB": 1},
            StoppingCondition={"MaxRuntimeInSeconds": 60})
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert "InstanceCount" in e.value.response["Error"]["Message"]
    assert not [j for j in sm.list_training_jobs()["TrainingJobSummaries"]
                if j["TrainingJobName"] == "zero-instances"]


def _sign_with_date_header(server, method: str, path: str, headers: dict) -> tuple[dict, str, str, bytes]:
    """SigV4 by hand with ``Date`` (and no X-Amz-Date), as AWS allows: (headers, seed, stamp, signing key)."""
    key_id, secret = server.keys()
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    headers = dict(headers, host=f"127.0.0.1:{server.port}", date=email.utils.format_datetime(now, usegmt=True))
    names = sorted(h.lower() for h in headers)
    lower = {k.lower(): v for k, v in headers.items()}
    canonical = "\n".join([method, urllib.parse.quote(path, safe="/~"), "",
                           "".join(f"{n}:{lower[n].strip()}\n" for n in names), ";".join(names),
                           lower["x-amz-content-sha256"]])
    scope = f"{day}/{server.region}/s3/aws4_request"
    key = f"AWS4{secret}".encode()
    for part in (day, server.region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    sts = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    seed = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={key_id}/{scope}, "
                                f"SignedHeaders={';'.join(names)}, Signature={seed}")
    return headers, seed, f"{stamp}\n{scope}", key


def _chunked(pieces: list[bytes], seed: str, stamp_scope: str, key: bytes) -> bytes:
    out, previous = b"", seed
    for piece in pieces + [b""]:
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", stamp_scope, previous, hashlib.sha256(b"").hexdigest(),
                         hashlib.sha256(piece).hexdigest()])
        previous = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        out += f"{len(piece):x};chunk-signature={previous}\r\n".encode() + piece + b"\r\n"
    return out


def test_chunk_signatures_are_checked_with_a_date_header(server):
    s3 = server.client("s3")
    s3.create_bucket(Bucket="date-signed")
    pieces = [b"a" * 70_000, b"b" * 1000]
    base = {"x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "content-encoding": "aws-chunked",
            "x-amz-decoded-content-length": str(sum(map(len, pieces)))}
    headers, seed, stamp_scope, key = _sign_with_date_header(server, "PUT", "/date-signed/good", base)
    assert "x-amz-date" not in {h.lower() for h in headers}
    good = _chunked(pieces, seed, stamp_scope, key)
    r = httpx.put(f"{server.url}/date-signed/good", headers=headers, content=good, timeout=30)
    assert r.status_code == 200, r.text
    assert s3.get_object(Bucket="date-signed", Key="good")["Body"].read() == b"".join(pieces)

    headers, seed, stamp_scope, key = _sign_with_date_header(server, "PUT", "/date-signed/bad", base)
    tampered = _chunked(pieces, seed, stamp_scope, key).replace(b"b" * 1000, b"c" * 1000)
    r = httpx.put(f"{server.url}/date-signed/bad", headers=headers, content=tampered, timeout=30)
    assert r.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in r.text, r.text
    with pytest.raises(ClientError):
        s3.head_object(Bucket="date-signed", Key="bad")
