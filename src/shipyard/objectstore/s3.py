"""The object store over any S3-compatible service (AWS S3, MinIO, Ceph, moto, ...), through boto3.

``s3://?endpoint_url=http://127.0.0.1:9000&region=us-east-1&access_key=..&secret_key=..`` — every parameter is
optional; keys default to boto3's usual chain (AWS_* variables, profiles). Path-style addressing is used so that
plain host:port endpoints work.

boto3 clients are thread safe; errors come back as :class:`~shipyard.errors.S3Error` with S3's own codes.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from typing import BinaryIO, Iterator
from urllib.parse import parse_qs, urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from ..errors import S3Error
from .base import ListResult, ObjectInfo, ObjectStore
from .local import validate_bucket_name

_STATUS = {"NoSuchBucket": 404, "NoSuchKey": 404, "NoSuchUpload": 404, "BucketNotEmpty": 409,
           "BucketAlreadyOwnedByYou": 409, "BucketAlreadyExists": 409, "InvalidRange": 416,
           "PreconditionFailed": 412, "AccessDenied": 403}
# HEAD answers carry no body, so botocore only sees the status; map it back to S3's codes.
_HEAD_CODES = {"404": "NoSuchKey", "403": "AccessDenied", "416": "InvalidRange", "412": "PreconditionFailed"}


@contextlib.contextmanager
def _translated(bucket: str = "", key: str = "", head_missing: str = "NoSuchKey"):
    """Turn botocore's ClientError into S3Error with the same code (and a sensible status)."""
    try:
        yield
    except ClientError as e:
        err = e.response.get("Error", {})
        code = str(err.get("Code") or "InternalError")
        status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or _STATUS.get(code, 400))
        if code.isdigit():
            code = head_missing if code == "404" else _HEAD_CODES.get(code, "InternalError")
        raise S3Error(code, err.get("Message") or code, _STATUS.get(code, status), key or bucket) from None


@contextlib.contextmanager
def _seekable(body):
    """botocore needs a seekable body (to sign, checksum and retry): spool a plain stream to a temporary file."""
    if isinstance(body, (bytes, bytearray)) or (hasattr(body, "seek") and hasattr(body, "tell")
                                                and getattr(body, "seekable", lambda: True)()):
        yield body
        return
    with tempfile.TemporaryFile() as f:
        shutil.copyfileobj(body, f, 1 << 20)
        f.seek(0)
        yield f


def _info(key: str, d: dict) -> ObjectInfo:
    return ObjectInfo(key=key, size=int(d.get("ContentLength", d.get("Size", 0))), etag=d["ETag"],
                      last_modified=d["LastModified"].timestamp(),
                      content_type=d.get("ContentType", "binary/octet-stream"),
                      metadata=dict(d.get("Metadata") or {}))


class S3ObjectStore(ObjectStore):
    def __init__(self, endpoint_url: str | None = None, region: str = "us-east-1", access_key: str | None = None,
                 secret_key: str | None = None, session_token: str | None = None, client=None):
        self.region = region
        self.client = client or boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url, region_name=region, aws_access_key_id=access_key,
            aws_secret_access_key=secret_key, aws_session_token=session_token,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3, "mode": "standard"},
                          max_pool_connections=32))

    @classmethod
    def from_url(cls, url: str) -> "S3ObjectStore":
        parsed = urlparse(url)
        if parsed.scheme != "s3":
            raise ValueError(f"not an s3:// URL: {url!r}")
        q = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        return cls(endpoint_url=q.get("endpoint_url"), region=q.get("region", "us-east-1"),
                   access_key=q.get("access_key"), secret_key=q.get("secret_key"),
                   session_token=q.get("session_token"))

    # --- buckets ---------------------------------------------------------------------------------------------
    def create_bucket(self, bucket: str) -> None:
        validate_bucket_name(bucket)
        # us-east-1 answers 200 to re-creating one's own bucket; the contract says BucketAlreadyOwnedByYou.
        if self.bucket_exists(bucket):
            raise S3Error("BucketAlreadyOwnedByYou", "Your previous request to create the named bucket "
                          "succeeded and you already own it.", 409, bucket)
        kwargs = {}
        if self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        with _translated(bucket):
            self.client.create_bucket(Bucket=bucket, **kwargs)

    def delete_bucket(self, bucket: str) -> None:
        with _translated(bucket, head_missing="NoSuchBucket"):
            self.client.delete_bucket(Bucket=bucket)

    def bucket_exists(self, bucket: str) -> bool:
        try:
            self.client.head_bucket(Bucket=bucket)
            return True
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket"):
                return False
            with _translated(bucket, head_missing="NoSuchBucket"):
                raise

    def list_buckets(self) -> list[tuple[str, float]]:
        with _translated():
            res = self.client.list_buckets()
        return sorted((b["Name"], b["CreationDate"].timestamp()) for b in res.get("Buckets", []))

    # --- objects ---------------------------------------------------------------------------------------------
    def put_object(self, bucket: str, key: str, body: bytes | BinaryIO, content_type: str | None = None,
                   metadata: dict[str, str] | None = None) -> ObjectInfo:
        kwargs = {"ContentType": content_type} if content_type else {}
        with _seekable(body) as body, _translated(bucket, key):
            self.client.put_object(Bucket=bucket, Key=key, Body=body, Metadata=dict(metadata or {}), **kwargs)
        return self.head_object(bucket, key)

    def head_object(self, bucket: str, key: str) -> ObjectInfo:
        with _translated(bucket, key):
            try:
                return _info(key, self.client.head_object(Bucket=bucket, Key=key))
            except ClientError as e:
                if e.response.get("Error", {}).get("Code") == "404" and not self.bucket_exists(bucket):
                    raise S3Error("NoSuchBucket", "The specified bucket does not exist", 404, bucket) from None
                raise

    def open_object(self, bucket: str, key: str, start: int = 0, end: int | None = None,
                    chunk_size: int = 1 << 20) -> tuple[ObjectInfo, Iterator[bytes]]:
        kwargs = {}
        if start or end is not None:
            kwargs["Range"] = f"bytes={start}-{'' if end is None else end}"
        with _translated(bucket, key):
            res = self.client.get_object(Bucket=bucket, Key=key, **kwargs)
        info = _info(key, res)
        if "ContentRange" in res:  # bytes a-b/total: the object's size is the total
            info.size = int(res["ContentRange"].rsplit("/", 1)[1])
        body = res["Body"]

        def chunks() -> Iterator[bytes]:
            try:
                yield from body.iter_chunks(chunk_size)
            finally:
                body.close()

        return info, chunks()

    def delete_object(self, bucket: str, key: str) -> None:
        with _translated(bucket, key):
            self.client.delete_object(Bucket=bucket, Key=key)

    def copy_object(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str,
                    metadata: dict[str, str] | None = None, content_type: str | None = None) -> ObjectInfo:
        kwargs = {}
        if metadata is not None or content_type is not None:
            src = self.head_object(src_bucket, src_key)
            kwargs = {"MetadataDirective": "REPLACE", "Metadata": dict(metadata or {}),
                      "ContentType": content_type or src.content_type}
        with _translated(dst_bucket, src_key):
            self.client.copy_object(Bucket=dst_bucket, Key=dst_key,
                                    CopySource={"Bucket": src_bucket, "Key": src_key}, **kwargs)
        return self.head_object(dst_bucket, dst_key)

    def list_objects(self, bucket: str, prefix: str = "", delimiter: str = "", start_after: str = "",
                     max_keys: int = 1000) -> ListResult:
        kwargs = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": max_keys}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        if start_after:
            kwargs["StartAfter"] = start_after
        objects: list[ObjectInfo] = []
        prefixes: list[str] = []
        for _ in range(1000):
            with _translated(bucket):
                res = self.client.list_objects_v2(**kwargs)
            # StartAfter is a key: a common prefix returned on the previous page comes back once more.
            cps = [p["Prefix"] for p in res.get("CommonPrefixes", []) if not start_after.startswith(p["Prefix"])]
            prefixes += cps
            objects += [ObjectInfo(key=o["Key"], size=o["Size"], etag=o["ETag"],
                                   last_modified=o["LastModified"].timestamp()) for o in res.get("Contents", [])]
            truncated = bool(res.get("IsTruncated"))
            if objects or prefixes or not truncated:
                break
            kwargs.pop("StartAfter", None)
            kwargs["ContinuationToken"] = res["NextContinuationToken"]
        entries = sorted([o.key for o in objects] + prefixes, key=lambda s: s.encode("utf-8"))
        return ListResult(objects, prefixes, truncated, entries[-1] if truncated and entries else None)

    # --- multipart -------------------------------------------------------------------------------------------
    def create_multipart_upload(self, bucket: str, key: str, content_type: str | None = None,
                                metadata: dict[str, str] | None = None) -> str:
        kwargs = {"ContentType": content_type} if content_type else {}
        with _translated(bucket, key):
            return self.client.create_multipart_upload(Bucket=bucket, Key=key, Metadata=dict(metadata or {}),
                                                       **kwargs)["UploadId"]

    def upload_part(self, bucket: str, key: str, upload_id: str, part_number: int,
                    body: bytes | BinaryIO) -> str:
        with _seekable(body) as body, _translated(bucket, upload_id, head_missing="NoSuchUpload"):
            return self.client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=int(part_number),
                                           Body=body)["ETag"]

    def complete_multipart_upload(self, bucket: str, key: str, upload_id: str,
                                  parts: list[tuple[int, str]]) -> ObjectInfo:
        with _translated(bucket, upload_id):
            self.client.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": int(n), "ETag": e} for n, e in parts]})
        return self.head_object(bucket, key)

    def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        with _translated(bucket, upload_id):
            self.client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[tuple[int, str, int, float]]:
        out: list[tuple[int, str, int, float]] = []
        kwargs = {"Bucket": bucket, "Key": key, "UploadId": upload_id}
        for _ in range(100):
            with _translated(bucket, upload_id):
                res = self.client.list_parts(**kwargs)
            out += [(p["PartNumber"], p["ETag"], p["Size"], p["LastModified"].timestamp())
                    for p in res.get("Parts", [])]
            if not res.get("IsTruncated"):
                break
            kwargs["PartNumberMarker"] = res["NextPartNumberMarker"]
        return out

    def list_multipart_uploads(self, bucket: str, prefix: str = "") -> list[tuple[str, str, float]]:
        with _translated(bucket):
            res = self.client.list_multipart_uploads(Bucket=bucket, Prefix=prefix)
        return [(u["Key"], u["UploadId"], u["Initiated"].timestamp()) for u in res.get("Uploads", [])]
