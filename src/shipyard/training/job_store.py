"""A job's object store: the server's S3 API with the job's own key, as an executor opens it.

:func:`open_job_store` (the training executor's) builds it on boto3; :func:`open_light_job_store` (the processing
executor's) on :class:`JobS3Store`, the server's S3 API spoken over ``http.client`` with SigV4 signing.

An executor (processing, and any job executor that opts in) talks to exactly one S3 endpoint — the Shipyard
server that started it — with the job's own key, and needs only a handful of operations (list a prefix,
download, upload, head, delete). boto3 costs ~0.3 s to import and build a client on every job's start-up
path, more than the rest of a short job's executor together; this client costs a few milliseconds. It keeps
what the executor relied on boto3 for:

- **SigV4** as botocore's ``S3SigV4Auth`` signs (path as sent, canonical query, ``UNSIGNED-PAYLOAD``), so
  the server's verification (:mod:`shipyard.server.auth`) is the same for both;
- **retries**: a job outlives a server restart, so a refused connection, a dropped one or a 5xx answer is
  retried with exponential backoff (``SERVER_RETRY_ATTEMPTS``, up to ~2 minutes in all), as the boto3 client
  was configured to do; a 4xx answer is final;
- **errors** as :class:`~shipyard.errors.S3Error` with S3's code, as every object store raises them;
- **thread safety**: one connection per thread (continuous uploads run beside the main thread).

Buckets are not created or deleted here, and multipart/copy are not needed by a job: those raise
NotImplementedYet (a job's key could not do most of them anyway).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import os
import random
import threading
import time
from typing import TYPE_CHECKING, BinaryIO, Iterator
from urllib.parse import quote, urlsplit

from ..domain.job_file import ProcessingJobFile, TrainingJobFile
from ..errors import NotImplementedYet, S3Error
from ..objectstore.base import ListResult, ObjectInfo, ObjectStore

if TYPE_CHECKING:
    import http.client

SERVER_RETRY_ATTEMPTS = 15  # per request: backoff up to 20 s each, ~2 min in all (as the boto3 client had)
MAX_BACKOFF = 20.0
TIMEOUT = 120.0
_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_HEAD_CODES = {404: "NoSuchKey", 403: "AccessDenied", 416: "InvalidRange", 412: "PreconditionFailed"}


class _Retry(Exception):
    """A transient failure (connection trouble, 5xx): the request is sent again after a backoff."""


def _q(value: str) -> str:
    return quote(value, safe="-_.~")


def _sign(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def _file_length(body) -> int | None:
    """The bytes left to read of a real file (its size less the position), or None for any other stream."""
    try:
        return os.fstat(body.fileno()).st_size - body.tell()
    except (AttributeError, OSError, ValueError):
        return None


class JobS3Store(ObjectStore):
    """The subset of :class:`~shipyard.objectstore.base.ObjectStore` a job's executor uses, over one endpoint."""

    def __init__(self, endpoint_url: str, region: str, access_key: str, secret_key: str,
                 session_token: str | None = None, attempts: int = SERVER_RETRY_ATTEMPTS):
        parts = urlsplit(endpoint_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) endpoint: {endpoint_url!r}")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.host_header = parts.netloc
        self.base_path = parts.path.rstrip("/")
        self.region = region
        self.access_key = access_key
        self.secret_key = secret_key
        self.session_token = session_token
        self.attempts = max(1, int(attempts))
        self._local = threading.local()

    # --- the wire ---
    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            import http.client  # here, not at the top: the training executor imports this module too

            cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
            conn = self._local.conn = cls(self.host, self.port, timeout=TIMEOUT)
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    def _headers(self, method: str, path: str, query: str, extra: dict[str, str]) -> dict[str, str]:
        now = _dt.datetime.now(_dt.timezone.utc)
        amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        headers = {"host": self.host_header, "x-amz-date": amz_date, "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
                   **{k.lower(): v for k, v in extra.items()}}
        if self.session_token:
            headers["x-amz-security-token"] = self.session_token
        names = sorted(headers)
        canonical = "\n".join([method, path, query, "".join(f"{n}:{' '.join(str(headers[n]).split())}\n"
                                                             for n in names),
                               ";".join(names), "UNSIGNED-PAYLOAD"])
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        key = _sign(_sign(_sign(_sign(("AWS4" + self.secret_key).encode(), day), self.region), "s3"),
                    "aws4_request")
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, "
                                    f"SignedHeaders={';'.join(names)}, Signature={signature}")
        return headers

    def _request(self, method: str, bucket: str, key: str = "", query: dict[str, str] | None = None,
                 headers: dict[str, str] | None = None, body: bytes | BinaryIO | None = None,
                 ok: tuple[int, ...] = (200,)) -> http.client.HTTPResponse:
        """Send one signed request (retried while transient); the response, its body unread, for ``ok``."""
        path = self.base_path + "/" + quote(bucket, safe="") + ("/" + quote(key, safe="/~") if key else "")
        qs = "&".join(f"{_q(k)}={_q(v)}" for k, v in sorted((query or {}).items()))
        if body is not None and not isinstance(body, (bytes, bytearray)) and _file_length(body) is None:
            body = body.read()  # not a file: its length must be known, and a retry must send it again
        start = body.tell() if body is not None and not isinstance(body, (bytes, bytearray)) else 0
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(min(MAX_BACKOFF, 0.2 * 2 ** attempt) * random.uniform(0.5, 1.0))
                if body is not None and not isinstance(body, (bytes, bytearray)):
                    body.seek(start)
            try:
                return self._send(method, bucket, key, path, qs, dict(headers or {}), body, ok)
            except _Retry:
                if attempt == self.attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def _send(self, method, bucket, key, path, qs, extra, body, ok) -> http.client.HTTPResponse:
        if body is not None:
            extra["content-length"] = str(len(body) if isinstance(body, (bytes, bytearray))
                                          else _file_length(body))
        import http.client

        headers = self._headers(method, path, qs, extra)
        conn = self._connection()
        try:
            conn.request(method, path + (f"?{qs}" if qs else ""), body=body, headers=headers)
            res = conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            self._drop_connection()
            raise _Retry(str(e)) from e
        if res.status in ok:
            return res
        data = res.read()
        if res.status >= 500 or res.status == 429:
            raise _Retry(f"HTTP {res.status}")
        raise self._error(res.status, data, bucket, key, method)

    def _error(self, status: int, data: bytes, bucket: str, key: str, method: str) -> S3Error:
        code, message = "", ""
        if data:
            import xml.etree.ElementTree as ET

            try:
                root = ET.fromstring(data)
                code = root.findtext("Code") or ""
                message = root.findtext("Message") or ""
            except ET.ParseError:
                message = data[:200].decode("utf-8", "replace")
        if not code:
            code = "NoSuchBucket" if status == 404 and not key else _HEAD_CODES.get(status, "InternalError")
        return S3Error(code, message or f"{method} {bucket}/{key} answered HTTP {status} ({code}).", status,
                       key or bucket)

    @staticmethod
    def _info(key: str, res: http.client.HTTPResponse) -> ObjectInfo:
        from email.utils import parsedate_to_datetime

        modified = res.getheader("Last-Modified")
        return ObjectInfo(key=key, size=int(res.getheader("Content-Length") or 0), etag=res.getheader("ETag") or "",
                          last_modified=parsedate_to_datetime(modified).timestamp() if modified else 0.0,
                          content_type=res.getheader("Content-Type") or "binary/octet-stream",
                          metadata={k[11:]: v for k, v in res.getheaders() if k.lower().startswith("x-amz-meta-")})

    # --- what a job uses ---
    def bucket_exists(self, bucket: str) -> bool:
        try:
            self._request("HEAD", bucket).read()
        except S3Error as e:
            if e.http_status == 404:
                return False
            raise
        return True

    def head_object(self, bucket: str, key: str) -> ObjectInfo:
        res = self._request("HEAD", bucket, key)
        res.read()
        return self._info(key, res)

    def open_object(self, bucket: str, key: str, start: int = 0, end: int | None = None,
                    chunk_size: int = 1 << 20) -> tuple[ObjectInfo, Iterator[bytes]]:
        headers = {"range": f"bytes={start}-{'' if end is None else end}"} if start or end is not None else {}
        res = self._request("GET", bucket, key, headers=headers, ok=(200, 206))
        info = self._info(key, res)
        content_range = res.getheader("Content-Range")
        if content_range:  # bytes a-b/total: the object's size is the total
            info.size = int(content_range.rsplit("/", 1)[1])

        def chunks() -> Iterator[bytes]:
            try:
                while True:
                    data = res.read(chunk_size)
                    if not data:
                        return
                    yield data
            finally:
                if not res.isclosed():  # abandoned midway: this connection cannot be reused
                    self._drop_connection()

        return info, chunks()

    def put_object(self, bucket: str, key: str, body: bytes | BinaryIO, content_type: str | None = None,
                   metadata: dict[str, str] | None = None) -> ObjectInfo:
        headers = {f"x-amz-meta-{k}": v for k, v in (metadata or {}).items()}
        if content_type:
            headers["content-type"] = content_type
        if not isinstance(body, (bytes, bytearray)) and _file_length(body) is None:
            body = body.read()
        size = len(body) if isinstance(body, (bytes, bytearray)) else int(_file_length(body) or 0)
        res = self._request("PUT", bucket, key, headers=headers, body=body)
        res.read()
        return ObjectInfo(key=key, size=size, etag=res.getheader("ETag") or "", last_modified=time.time(),
                          content_type=content_type or "binary/octet-stream", metadata=dict(metadata or {}))

    def delete_object(self, bucket: str, key: str) -> None:
        self._request("DELETE", bucket, key, ok=(200, 204)).read()

    def list_objects(self, bucket: str, prefix: str = "", delimiter: str = "", start_after: str = "",
                     max_keys: int = 1000) -> ListResult:
        import xml.etree.ElementTree as ET

        query = {"list-type": "2", "prefix": prefix, "max-keys": str(max_keys)}
        if delimiter:
            query["delimiter"] = delimiter
        if start_after:
            query["start-after"] = start_after
        objects: list[ObjectInfo] = []
        prefixes: list[str] = []
        truncated = False
        for _ in range(1000):
            root = ET.fromstring(self._request("GET", bucket, query=query).read())
            # StartAfter is a key: a common prefix returned on the previous page comes back once more.
            prefixes += [p for p in (e.findtext(f"{_NS}Prefix") or "" for e in root.iter(f"{_NS}CommonPrefixes"))
                         if not start_after.startswith(p)]
            for e in root.iter(f"{_NS}Contents"):
                modified = e.findtext(f"{_NS}LastModified") or ""
                objects.append(ObjectInfo(
                    key=e.findtext(f"{_NS}Key") or "", size=int(e.findtext(f"{_NS}Size") or 0),
                    etag=e.findtext(f"{_NS}ETag") or "",
                    last_modified=_dt.datetime.fromisoformat(modified.replace("Z", "+00:00")).timestamp()
                    if modified else 0.0))
            truncated = (root.findtext(f"{_NS}IsTruncated") or "").lower() == "true"
            if objects or prefixes or not truncated:
                break
            query.pop("start-after", None)
            query["continuation-token"] = root.findtext(f"{_NS}NextContinuationToken") or ""
        entries = sorted([o.key for o in objects] + prefixes, key=lambda s: s.encode("utf-8"))
        return ListResult(objects, prefixes, truncated, entries[-1] if truncated and entries else None)

    # --- not a job's business ---
    def _not_here(self, what: str):
        return NotImplementedYet(f"A job's object store does not {what}; the server's own store does.")

    def create_bucket(self, bucket: str) -> None:
        raise self._not_here("create buckets")

    def delete_bucket(self, bucket: str) -> None:
        raise self._not_here("delete buckets")

    def list_buckets(self) -> list[tuple[str, float]]:
        raise self._not_here("list buckets")

    def copy_object(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str,
                    metadata: dict[str, str] | None = None, content_type: str | None = None) -> ObjectInfo:
        raise self._not_here("copy objects")

    def create_multipart_upload(self, bucket: str, key: str, content_type: str | None = None,
                                metadata: dict[str, str] | None = None) -> str:
        raise self._not_here("upload in parts")

    def upload_part(self, bucket: str, key: str, upload_id: str, part_number: int,
                    body: bytes | BinaryIO) -> str:
        raise self._not_here("upload in parts")

    def complete_multipart_upload(self, bucket: str, key: str, upload_id: str,
                                  parts: list[tuple[int, str]]) -> ObjectInfo:
        raise self._not_here("upload in parts")

    def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        raise self._not_here("upload in parts")


def open_job_store(job: TrainingJobFile | ProcessingJobFile):
    """The object store as this job may see it: the server's S3 API with the job's own key (``aws_env``,
    scoped by :func:`shipyard.controllers.training.job_scope`), never the server's store or its credentials.
    A job file written before the executor used the job's key (no ``aws_env``, only ``object_store_url``)
    still opens the store it names, so a job started before an upgrade finishes."""
    aws = job.aws_env or {}
    if aws.get("AWS_ENDPOINT_URL") and aws.get("AWS_ACCESS_KEY_ID"):
        import boto3
        from botocore.config import Config

        from ..objectstore.s3 import S3ObjectStore

        # The server may be restarting when the job downloads or uploads (a job outlives a server crash):
        # connection errors are retried with backoff for a couple of minutes, well within the time the
        # controller allows for the upload (UPLOAD_ALLOWANCE), before the job fails.
        client = boto3.session.Session().client(
            "s3", endpoint_url=aws["AWS_ENDPOINT_URL"], region_name=aws.get("AWS_REGION") or job.region,
            aws_access_key_id=aws["AWS_ACCESS_KEY_ID"], aws_secret_access_key=aws.get("AWS_SECRET_ACCESS_KEY"),
            config=Config(s3={"addressing_style": "path"}, max_pool_connections=32,
                          retries={"max_attempts": SERVER_RETRY_ATTEMPTS, "mode": "standard"}))
        return S3ObjectStore(region=aws.get("AWS_REGION") or job.region, client=client)
    if job.object_store_url:
        from ..objectstore import open_objectstore

        return open_objectstore(job.object_store_url)
    raise ValueError("job.json names no object store: it carries neither the job's key (aws_env) nor "
                     "object_store_url; restart the job from a server of this version.")


def open_light_job_store(job: TrainingJobFile | ProcessingJobFile):
    """The job's store through :class:`JobS3Store` when ``job.json`` carries the job's key (``aws_env``); a
    job file from an older server (only ``object_store_url``) opens the store it names, as before."""
    aws = job.aws_env or {}
    if aws.get("AWS_ENDPOINT_URL") and aws.get("AWS_ACCESS_KEY_ID"):
        return JobS3Store(aws["AWS_ENDPOINT_URL"], aws.get("AWS_REGION") or job.region, aws["AWS_ACCESS_KEY_ID"],
                          aws.get("AWS_SECRET_ACCESS_KEY") or "", aws.get("AWS_SESSION_TOKEN"))
    return open_job_store(job)
