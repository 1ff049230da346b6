"""The S3 API of a real Shipyard server, driven by a real boto3 ``s3`` client (and a few hand-signed requests)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import zlib
import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3.s3.transfer
import httpx
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from shipyard.api.s3_body import ChunkSigner

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def s3(server):
    return server.client("s3")


@pytest.fixture
def bucket(s3):
    name = f"api-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    yield name
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=name, Delete={"Objects": keys})
    for u in s3.list_multipart_uploads(Bucket=name).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=name, Key=u["Key"], UploadId=u["UploadId"])
    s3.delete_bucket(Bucket=name)


def _code(e: pytest.ExceptionInfo) -> tuple[str, int]:
    return e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


# --- buckets -------------------------------------------------------------------------------------------------
def test_bucket_operations(s3, server):
    name = f"api-b-{uuid.uuid4().hex[:12]}"
    other = f"api-c-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    s3.create_bucket(Bucket=other, CreateBucketConfiguration={"LocationConstraint": server.region})
    listed = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert name in listed and other in listed and listed == sorted(listed)
    head = s3.head_bucket(Bucket=name)
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == server.region
    location = s3.get_bucket_location(Bucket=other)["LocationConstraint"]
    assert location in (None, "") if server.region == "us-east-1" else location == server.region
    if server.region == "us-east-1":  # as AWS: re-creating one's own bucket there answers 200
        assert s3.create_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
    else:
        with pytest.raises(ClientError) as e:
            s3.create_bucket(Bucket=name)
        assert _code(e) == ("BucketAlreadyOwnedByYou", 409)
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket="Bad_Name")
    assert _code(e) == ("InvalidBucketName", 400)
    s3.put_object(Bucket=name, Key="x", Body=b"1")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=name)
    assert _code(e) == ("BucketNotEmpty", 409)
    s3.delete_object(Bucket=name, Key="x")
    s3.delete_bucket(Bucket=name)
    s3.delete_bucket(Bucket=other)
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=name)
    assert _code(e) == ("404", 404)
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=name)
    assert _code(e) == ("NoSuchBucket", 404)
    assert e.value.response["Error"]["Message"] == "The specified bucket does not exist"
    assert e.value.response["ResponseMetadata"]["RequestId"]


# --- objects -------------------------------------------------------------------------------------------------
def test_put_get_head_with_metadata(s3, bucket):
    body = os.urandom(100_000)
    put = s3.put_object(Bucket=bucket, Key="dir/data.bin", Body=body, ContentType="application/x-test",
                        Metadata={"owner": "alice", "run-id": "7"})
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="dir/data.bin")
    assert got["Body"].read() == body
    assert (got["ContentType"], got["ContentLength"], got["ETag"]) == ("application/x-test", len(body), put["ETag"])
    assert got["Metadata"] == {"owner": "alice", "run-id": "7"}
    head = s3.head_object(Bucket=bucket, Key="dir/data.bin")
    assert (head["ContentLength"], head["ETag"], head["Metadata"]) == (len(body), put["ETag"], got["Metadata"])
    assert head["LastModified"] == got["LastModified"]
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    assert s3.get_object(Bucket=bucket, Key="empty")["Body"].read() == b""
    assert s3.get_object(Bucket=bucket, Key="empty")["ContentType"] == "binary/octet-stream"


def test_unicode_and_odd_keys(s3, bucket):
    keys = ["données/été 2024.csv", "日本語/キー", "a+b=c&d", "100%/x", "sp ace/", "a", "a/b", "emoji-\U0001F600",
            "tilde~/q?x#y"]
    for i, k in enumerate(keys):
        s3.put_object(Bucket=bucket, Key=k, Body=f"v{i}".encode())
    for i, k in enumerate(keys):
        assert s3.get_object(Bucket=bucket, Key=k)["Body"].read() == f"v{i}".encode(), k
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == sorted(keys, key=lambda s: s.encode("utf-8"))
    listed_v1 = [o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]]
    assert listed_v1 == listed
    res = s3.list_objects_v2(Bucket=bucket, Prefix="données/", Delimiter="/")
    assert [o["Key"] for o in res["Contents"]] == ["données/été 2024.csv"]


def test_ranges_and_conditions(s3, bucket):
    data = bytes(range(256)) * 40  # 10240 bytes
    etag = s3.put_object(Bucket=bucket, Key="r", Body=data)["ETag"]
    r = s3.get_object(Bucket=bucket, Key="r", Range="bytes=100-199")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert r["ContentRange"] == f"bytes 100-199/{len(data)}" and r["ContentLength"] == 100
    assert r["Body"].read() == data[100:200]
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=10000-")["Body"].read() == data[10000:]
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=-16")["Body"].read() == data[-16:]
    r = s3.get_object(Bucket=bucket, Key="r", Range="bytes=10200-99999")
    assert r["ContentRange"] == f"bytes 10200-10239/{len(data)}" and r["Body"].read() == data[10200:]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", Range="bytes=20000-20001")
    assert _code(e) == ("InvalidRange", 416)
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"]["content-range"] == f"bytes */{len(data)}"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", IfNoneMatch=etag)
    assert _code(e)[1] == 304
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", IfMatch='"0123"')
    assert _code(e) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket=bucket, Key="r", IfMatch=etag)["Body"].read() == data
    r = s3.get_object(Bucket=bucket, Key="r", ResponseContentType="text/plain",
                      ResponseContentDisposition="attachment; filename=r.bin")
    assert (r["ContentType"], r["ContentDisposition"]) == ("text/plain", "attachment; filename=r.bin")


def test_errors(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="missing/key")
    assert _code(e) == ("NoSuchKey", 404)
    assert e.value.response["Error"]["Message"] == "The specified key does not exist."
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="missing")
    assert _code(e) == ("404", 404)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=f"nobucket-{uuid.uuid4().hex[:8]}", Key="k")
    assert _code(e) == ("NoSuchBucket", 404)
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=f"nobucket-{uuid.uuid4().hex[:8]}", Key="k", Body=b"x")
    assert _code(e) == ("NoSuchBucket", 404)
    s3.delete_object(Bucket=bucket, Key="never-existed")  # as in S3: no error
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"abc", ContentMD5="AAAAAAAAAAAAAAAAAAAAAA==")
    assert _code(e) == ("BadDigest", 400)
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="k")
    assert _code(e)[1] == 404  # a rejected body stores nothing


def test_delete_objects(s3, bucket):
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"d/{i}", Body=b"x")
    res = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "d/0"}, {"Key": "d/1"}, {"Key": "nope"}]})
    assert sorted(d["Key"] for d in res["Deleted"]) == ["d/0", "d/1", "nope"]
    res = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "d/2"}], "Quiet": True})
    assert "Deleted" not in res
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["d/3", "d/4"]


def test_copy_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src key", Body=b"payload", ContentType="text/plain", Metadata={"a": "1"})
    res = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src key"})
    assert res["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"payload").hexdigest()}"'
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert (head["ContentType"], head["Metadata"]) == ("text/plain", {"a": "1"})
    s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/src key", MetadataDirective="REPLACE",
                   Metadata={"b": "2"}, ContentType="application/json")
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert (head["ContentType"], head["Metadata"]) == ("application/json", {"b": "2"})
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"payload"
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="src key", CopySource={"Bucket": bucket, "Key": "src key"})
    assert _code(e) == ("InvalidRequest", 400)
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "missing"})
    assert _code(e) == ("NoSuchKey", 404)


# --- listing -------------------------------------------------------------------------------------------------
def test_list_v2_and_paginators(s3, bucket):
    keys = [f"logs/{d}/{i:04d}" for d in ("a", "b") for i in range(600)] + [f"top{i}" for i in range(5)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=b""), keys))
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 250}))
    got = [o["Key"] for p in pages for o in p.get("Contents", [])]
    assert got == sorted(keys) and len(pages) == 5
    assert [p["KeyCount"] for p in pages] == [250, 250, 250, 250, 205]
    assert all(p["IsTruncated"] for p in pages[:-1]) and not pages[-1]["IsTruncated"]
    v1 = list(s3.get_paginator("list_objects").paginate(Bucket=bucket, PaginationConfig={"PageSize": 333}))
    assert [o["Key"] for p in v1 for o in p.get("Contents", [])] == sorted(keys) and len(v1) == 4
    res = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in res["CommonPrefixes"]] == ["logs/"]
    assert res["KeyCount"] == 6
    res = s3.list_objects_v2(Bucket=bucket, Prefix="logs/", Delimiter="/", MaxKeys=1)
    assert [p["Prefix"] for p in res["CommonPrefixes"]] == ["logs/a/"] and res["IsTruncated"]
    res = s3.list_objects_v2(Bucket=bucket, Prefix="logs/", Delimiter="/", MaxKeys=1,
                             ContinuationToken=res["NextContinuationToken"])
    assert [p["Prefix"] for p in res["CommonPrefixes"]] == ["logs/b/"] and not res["IsTruncated"]
    res = s3.list_objects_v2(Bucket=bucket, StartAfter="logs/b/0597", MaxKeys=3)
    assert [o["Key"] for o in res["Contents"]] == ["logs/b/0598", "logs/b/0599", "top0"]
    assert res["StartAfter"] == "logs/b/0597"
    res = s3.list_objects(Bucket=bucket, Marker="top2", MaxKeys=10)
    assert [o["Key"] for o in res["Contents"]] == ["top3", "top4"] and not res["IsTruncated"]
    first = s3.list_objects_v2(Bucket=bucket, MaxKeys=1)["Contents"][0]
    assert first["Size"] == 0 and first["ETag"] == f'"{hashlib.md5(b"").hexdigest()}"'
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=bucket, ContinuationToken="%%%not-a-token")
    assert _code(e) == ("InvalidArgument", 400)


# --- multipart -----------------------------------------------------------------------------------------------
def test_upload_file_and_download_file_multipart(s3, bucket, tmp_path):
    src = tmp_path / "big.bin"
    data = os.urandom(20 * MiB + 12345)
    src.write_bytes(data)
    config = boto3.s3.transfer.TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB,
                                              max_concurrency=4)
    s3.upload_file(str(src), bucket, "models/big.bin", Config=config)
    head = s3.head_object(Bucket=bucket, Key="models/big.bin")
    part_md5s = [hashlib.md5(data[i:i + 8 * MiB]).digest() for i in range(0, len(data), 8 * MiB)]
    assert head["ETag"] == f'"{hashlib.md5(b"".join(part_md5s)).hexdigest()}-3"'
    assert head["ContentLength"] == len(data)
    dest = tmp_path / "back.bin"
    s3.download_file(bucket, "models/big.bin", str(dest), Config=config)
    assert hashlib.sha256(dest.read_bytes()).digest() == hashlib.sha256(data).digest()


def test_multipart_low_level(s3, bucket):
    s3.put_object(Bucket=bucket, Key="source", Body=b"S" * (6 * MiB))
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", ContentType="text/x-mp", Metadata={"k": "v"})
    uid = up["UploadId"]
    assert (up["Bucket"], up["Key"]) == (bucket, "mp")
    listed = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in listed] == [("mp", uid)]
    p1 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=1, Body=b"A" * (5 * MiB))["ETag"]
    p2 = s3.upload_part_copy(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=2,
                             CopySource={"Bucket": bucket, "Key": "source"},
                             CopySourceRange="bytes=0-5242879")["CopyPartResult"]["ETag"]
    p3 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=3, Body=b"end")["ETag"]
    parts = s3.list_parts(Bucket=bucket, Key="mp", UploadId=uid)["Parts"]
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in parts] == [(1, p1, 5 * MiB), (2, p2, 5 * MiB),
                                                                         (3, p3, 3)]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": p1}, {"PartNumber": 2, "ETag": '"' + "0" * 32 + '"'}]})
    assert _code(e) == ("InvalidPart", 400)
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": p1}, {"PartNumber": 2, "ETag": p2}, {"PartNumber": 3, "ETag": p3}]})
    expected = hashlib.md5(b"".join(bytes.fromhex(p.strip('"')) for p in (p1, p2, p3))).hexdigest()
    assert done["ETag"] == f'"{expected}-3"' and done["Key"] == "mp"
    got = s3.get_object(Bucket=bucket, Key="mp")
    assert (got["ContentType"], got["Metadata"], got["ContentLength"]) == ("text/x-mp", {"k": "v"}, 10 * MiB + 3)
    body = got["Body"].read()
    assert body == b"A" * (5 * MiB) + b"S" * (5 * MiB) + b"end"
    aborted = s3.create_multipart_upload(Bucket=bucket, Key="gone")["UploadId"]
    s3.abort_multipart_upload(Bucket=bucket, Key="gone", UploadId=aborted)
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="gone", UploadId=aborted)
    assert _code(e) == ("NoSuchUpload", 404)
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="gone", UploadId=aborted, PartNumber=1, Body=b"x")
    assert _code(e) == ("NoSuchUpload", 404)


# --- request bodies as other SDKs frame them (hand-signed requests) --------------------------------------------
class _FixedPayloadAuth(S3SigV4Auth):
    """Signs with a given x-amz-content-sha256 value (a STREAMING-* marker or a deliberately wrong hash)."""

    def __init__(self, credentials, region, payload_hash):
        super().__init__(credentials, "s3", region)
        self._payload_hash = payload_hash

    def payload(self, request):
        return self._payload_hash


def _send(server, method, path, body: bytes, payload_hash: str, headers: dict | None = None):
    key_id, secret = server.keys()
    request = AWSRequest(method=method, url=f"{server.url}{path}", data=body, headers=dict(headers or {}))
    _FixedPayloadAuth(Credentials(key_id, secret), server.region, payload_hash).add_auth(request)
    prepared = request.prepare()
    return httpx.request(method, prepared.url, headers=dict(prepared.headers), content=body, timeout=30)


def _frame(chunks: list[bytes], signatures: list[str] | None = None, trailer: str = "") -> bytes:
    out = b""
    for i, c in enumerate(chunks + [b""]):
        ext = f";chunk-signature={signatures[i]}" if signatures else ""
        out += f"{len(c):x}{ext}\r\n".encode() + c + (b"\r\n" if c else b"")
    return out + trailer.encode() + b"\r\n"


def test_unsigned_trailer_body_with_checksum(server, s3, bucket):
    payload = os.urandom(70_000)
    crc = base64.b64encode(zlib.crc32(payload).to_bytes(4, "big")).decode()
    headers = {"content-encoding": "aws-chunked", "x-amz-trailer": "x-amz-checksum-crc32",
               "x-amz-decoded-content-length": str(len(payload))}
    body = _frame([payload[:65536], payload[65536:]], trailer=f"x-amz-checksum-crc32:{crc}\r\n")
    r = _send(server, "PUT", f"/{bucket}/chunked", body, "STREAMING-UNSIGNED-PAYLOAD-TRAILER", headers)
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == f'"{hashlib.md5(payload).hexdigest()}"'
    assert s3.get_object(Bucket=bucket, Key="chunked")["Body"].read() == payload
    bad = _frame([payload], trailer="x-amz-checksum-crc32:AAAAAA==\r\n")
    r = _send(server, "PUT", f"/{bucket}/bad", bad, "STREAMING-UNSIGNED-PAYLOAD-TRAILER", headers)
    assert r.status_code == 400 and "<Code>BadDigest</Code>" in r.text
    short = dict(headers, **{"x-amz-decoded-content-length": str(len(payload) + 1)})
    r = _send(server, "PUT", f"/{bucket}/bad", body, "STREAMING-UNSIGNED-PAYLOAD-TRAILER", short)
    assert r.status_code == 400 and "<Code>IncompleteBody</Code>" in r.text


def test_signed_streaming_body(server, s3, bucket):
    payload = os.urandom(100_000)
    pieces = [payload[:65536], payload[65536:]]
    headers = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(payload))}
    key_id, secret = server.keys()
    # Sign the headers first, then chain the chunk signatures from the seed signature.
    request = AWSRequest(method="PUT", url=f"{server.url}/{bucket}/signed", data=b"", headers=headers)
    _FixedPayloadAuth(Credentials(key_id, secret), server.region,
                      "STREAMING-AWS4-HMAC-SHA256-PAYLOAD").add_auth(request)
    sent = {k: v for k, v in request.prepare().headers.items() if k.lower() != "content-length"}
    signer = ChunkSigner.from_headers({k.lower(): v for k, v in sent.items()}, secret)
    sigs = []
    for c in pieces + [b""]:
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", signer.amz_date, signer.scope, signer.previous,
                         hashlib.sha256(b"").hexdigest(), hashlib.sha256(c).hexdigest()])
        signer.previous = hmac.new(signer.signing_key, sts.encode(), hashlib.sha256).hexdigest()
        sigs.append(signer.previous)
    r = httpx.put(f"{server.url}/{bucket}/signed", headers=sent, content=_frame(pieces, sigs), timeout=30)
    assert r.status_code == 200, r.text
    assert s3.get_object(Bucket=bucket, Key="signed")["Body"].read() == payload
    tampered = _frame([pieces[0][:-1] + b"!", pieces[1]], sigs)
    r = httpx.put(f"{server.url}/{bucket}/tampered", headers=sent, content=tampered, timeout=30)
    assert r.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in r.text
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="tampered")


def test_plain_body_sha256_is_checked(server, s3, bucket):
    body = b"the real body"
    r = _send(server, "PUT", f"/{bucket}/sha", body, hashlib.sha256(b"another body").hexdigest())
    assert r.status_code == 400 and "<Code>XAmzContentSHA256Mismatch</Code>" in r.text
    assert "<RequestId>" in r.text and "<Resource>" in r.text
    r = _send(server, "PUT", f"/{bucket}/sha", body, hashlib.sha256(body).hexdigest())
    assert r.status_code == 200
    assert s3.get_object(Bucket=bucket, Key="sha")["Body"].read() == body
    r = _send(server, "HEAD", f"/{bucket}/missing", b"", hashlib.sha256(b"").hexdigest())
    assert r.status_code == 404 and r.content == b""


def test_presigned_urls(s3, bucket):
    s3.put_object(Bucket=bucket, Key="shared/report.txt", Body=b"for your eyes")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "shared/report.txt"},
                                    ExpiresIn=300)
    r = httpx.get(url, timeout=30)
    assert (r.status_code, r.content) == (200, b"for your eyes")
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "shared/upload.bin"},
                                        ExpiresIn=300)
    assert httpx.put(put_url, content=b"\x00\x01\x02", timeout=30).status_code == 200
    assert s3.get_object(Bucket=bucket, Key="shared/upload.bin")["Body"].read() == b"\x00\x01\x02"
    bad = url.replace("Signature=", "Signature=0")
    assert httpx.get(bad, timeout=30).status_code == 403
