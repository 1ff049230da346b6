"""The S3 REST API (path-style) over ``services.objects``: what boto3's ``s3`` client and the SageMaker SDK use.

The server calls :func:`handle_s3` for every request signed for service ``s3`` once the signature is checked.
Routing is by method, by whether the path names a bucket or an object, and by sub-resource query parameters
(``?uploads``, ``?uploadId=``, ``?delete``, ``?location``, ``?list-type=2``). Request bodies are streamed to a
temporary file (:mod:`.s3_body`); object bodies go out as a stream; object-store calls run in worker threads.
Errors are S3's XML document with S3's code and status; HEAD answers carry no body. Server-side encryption
(the ``x-amz-server-side-encryption*`` headers and ``?encryption``) is read and answered by :mod:`.s3_sse`; the
encrypting is the object store's (:mod:`shipyard.objectstore.encrypted`), and a KMS error met on the way is
answered as S3 answers it, ``KMS.<code>``.
"""

from __future__ import annotations

import base64
import binascii
import tempfile
import time
import uuid
from email.utils import parsedate_to_datetime
from typing import Iterator
from urllib.parse import unquote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..errors import KmsError, NotImplementedYet, S3Error, ShipyardError
from ..wire import s3xml
from ..wire.errors import error_of
from . import s3_sse
from .s3_body import SpooledBody, spool_request_body

XML = "application/xml"
# Bucket sub-resources we do not serve: answering them as a listing would mislead a client.
_UNSUPPORTED_BUCKET = {"acl", "policy", "cors", "lifecycle", "tagging", "website", "logging",
                       "notification", "replication", "object-lock", "ownershipControls", "publicAccessBlock",
                       "accelerate", "requestPayment", "analytics", "metrics", "inventory", "intelligent-tiering",
                       "policyStatus", "versions"}
_UNSUPPORTED_OBJECT = {"acl", "tagging", "retention", "legal-hold", "torrent", "restore", "select", "attributes"}
_RESPONSE_OVERRIDES = {"response-content-type": "content-type", "response-content-disposition":
                       "content-disposition", "response-content-encoding": "content-encoding",
                       "response-content-language": "content-language", "response-cache-control": "cache-control",
                       "response-expires": "expires"}


async def handle_s3(services, request: Request) -> Response:
    request_id = uuid.uuid4().hex[:16].upper()
    path = request.scope["path"]
    try:
        try:
            response = await _route(services, request, path)
        except KmsError as exc:  # S3 names the KMS errors it meets "KMS.<code>"
            raise s3_sse.as_s3_error(exc) from None
    except ShipyardError as exc:
        response = _error_response(exc, request.method, path, request_id)
    response.headers["x-amz-request-id"] = request_id
    return response


def _error_response(exc: ShipyardError, method: str, path: str, request_id: str) -> Response:
    code, status, message = error_of(exc, "s3")  # the one table, S3's column
    resource = getattr(exc, "resource", "") or path
    headers = {}
    if code == "InvalidRange" and "/" in str(getattr(exc, "resource", "")):
        headers["content-range"] = f"bytes */{exc.resource.rsplit('/', 1)[1]}"
        resource = path
    if method == "HEAD":
        return Response(status_code=status, headers=headers)
    body = s3xml.error_body(code, message or code, resource, request_id)
    return Response(body, status_code=status, media_type=XML, headers=headers)


async def _route(services, request: Request, path: str) -> Response:
    bucket, _, key = path.lstrip("/").partition("/")
    q = request.query_params
    method = request.method
    store = services.objects
    if not bucket:
        if method == "GET":
            return _xml(s3xml.list_buckets(await run_in_threadpool(store.list_buckets)))
        raise S3Error("MethodNotAllowed", "The specified method is not allowed against this resource.", 405)
    if not key:
        if _UNSUPPORTED_BUCKET & set(q.keys()):
            raise NotImplementedYet("A header or query you provided implies functionality that is not "
                                    "implemented.", resource=bucket)
        if "encryption" in q:
            return await _bucket_encryption(services, request, bucket)
        if method == "GET":
            if "location" in q:
                await _require_bucket(store, bucket)
                return _xml(s3xml.location(services.region))
            if "uploads" in q:
                return await _list_uploads(store, bucket, q)
            if "versioning" in q:
                await _require_bucket(store, bucket)
                return _xml(s3xml.doc("VersioningConfiguration", ""))
            return await _list_objects(store, bucket, q)
        if method == "PUT":
            return await _create_bucket(services, request, bucket)
        if method == "HEAD":
            await _require_bucket(store, bucket)
            return Response(headers={"x-amz-bucket-region": services.region})
        if method == "DELETE":
            await run_in_threadpool(store.delete_bucket, bucket)
            return Response(status_code=204)
        if method == "POST" and "delete" in q:
            return await _delete_objects(store, request, bucket)
        raise S3Error("MethodNotAllowed", "The specified method is not allowed against this resource.", 405)
    if _UNSUPPORTED_OBJECT & set(q.keys()):
        raise NotImplementedYet("A header or query you provided implies functionality that is not "
                                "implemented.", resource=key)
    if method == "PUT":
        if "uploadId" in q:
            if "x-amz-copy-source" in request.headers:
                return await _upload_part_copy(store, request, bucket, key)
            return await _upload_part(services, request, bucket, key)
        if "x-amz-copy-source" in request.headers:
            return await _copy_object(s3_sse.writer(store, request.headers), request, bucket, key)
        return await _put_object(services, request, bucket, key)
    if method in ("GET", "HEAD"):
        if "uploadId" in q and method == "GET":
            return await _list_parts(store, bucket, key, q)
        return await _get_object(store, request, bucket, key, head=method == "HEAD")
    if method == "DELETE":
        if "uploadId" in q:
            await run_in_threadpool(store.abort_multipart_upload, bucket, key, q["uploadId"])
        else:
            await run_in_threadpool(store.delete_object, bucket, key)
        return Response(status_code=204)
    if method == "POST":
        if "uploads" in q:
            upload_id = await run_in_threadpool(s3_sse.writer(store, request.headers).create_multipart_upload,
                                                bucket, key, request.headers.get("content-type"),
                                                _user_metadata(request))
            return _xml(s3xml.initiate_multipart(bucket, key, upload_id), headers=_upload_sse(store, upload_id))
        if "uploadId" in q:
            parts = s3xml.parse_complete_multipart(await _small_body(request))
            info = await run_in_threadpool(store.complete_multipart_upload, bucket, key, q["uploadId"], parts)
            location = f"{str(request.base_url).rstrip('/')}/{bucket}/{key}"
            return _xml(s3xml.complete_multipart(location, bucket, key, info.etag), headers=s3_sse.of(info))
    raise S3Error("MethodNotAllowed", "The specified method is not allowed against this resource.", 405)


# --- helpers -------------------------------------------------------------------------------------------------
def _xml(body: bytes, status: int = 200, headers: dict | None = None) -> Response:
    return Response(body, status_code=status, media_type=XML, headers=headers)


async def _require_bucket(store, bucket: str) -> None:
    if not await run_in_threadpool(store.bucket_exists, bucket):
        raise S3Error("NoSuchBucket", "The specified bucket does not exist", 404, bucket)


async def _small_body(request: Request, limit: int = 4 << 20) -> bytes:
    """An XML request body (bounded: these documents are small)."""
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise S3Error("MaxMessageLengthExceeded", "Your request was too big.", 400)
    return bytes(data)


def _user_metadata(request: Request) -> dict[str, str]:
    return {k[len("x-amz-meta-"):]: v for k, v in request.headers.items() if k.startswith("x-amz-meta-")}


def _int_param(q, name: str, default: int, low: int = 0, high: int = 1000) -> int:
    raw = q.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise S3Error("InvalidArgument", f"Provided {name} not an integer or within integer range", 400) from None
    if value < low:
        raise S3Error("InvalidArgument", f"Argument {name} must be an integer between {low} and 2147483647", 400)
    return min(value, high)


def _object_headers(info) -> dict[str, str]:
    headers = {"etag": info.etag, "last-modified": s3xml.http_date(info.last_modified),
               "content-type": info.content_type or "binary/octet-stream", "accept-ranges": "bytes"}
    headers.update({f"x-amz-meta-{k}": v for k, v in info.metadata.items()})
    headers.update(s3_sse.of(info))
    return headers


def _upload_sse(store, upload_id: str) -> dict[str, str]:
    """The SSE headers of a multipart upload (what its parts are encrypted with)."""
    of_upload = getattr(store, "upload_encryption", None)
    return s3_sse.response_headers(of_upload(upload_id) if of_upload else None)


async def _bucket_encryption(services, request: Request, bucket: str) -> Response:
    """GetBucketEncryption / PutBucketEncryption / DeleteBucketEncryption: the bucket's default SSE."""
    store = services.objects
    if not hasattr(store, "bucket_encryption"):
        raise NotImplementedYet("This server's object store does not do server-side encryption.", resource=bucket)
    method = request.method
    if method == "GET":
        sse = await run_in_threadpool(store.bucket_encryption, bucket)
        if sse is None:
            raise S3Error(*s3_sse.NO_CONFIG, 404, bucket)
        return _xml(s3_sse.configuration(sse))
    if method == "PUT":
        sse = s3_sse.parse_configuration(await _small_body(request))
        if sse.key_id:  # a key that does not exist is refused now rather than at every later PUT
            await run_in_threadpool(services.kms.keys.resolve, sse.key_id)
        await run_in_threadpool(store.set_bucket_encryption, bucket, sse)
        return Response()
    if method == "DELETE":
        await run_in_threadpool(store.set_bucket_encryption, bucket, None)
        return Response(status_code=204)
    raise S3Error("MethodNotAllowed", "The specified method is not allowed against this resource.", 405)


# --- buckets -------------------------------------------------------------------------------------------------
async def _create_bucket(services, request: Request, bucket: str) -> Response:
    constraint = s3xml.parse_location_constraint(await _small_body(request))
    if constraint and constraint != services.region:
        raise S3Error("IllegalLocationConstraintException", f"The {constraint} location constraint is "
                      f"incompatible for the region specific endpoint this request was sent to.", 400, bucket)
    try:
        await run_in_threadpool(services.objects.create_bucket, bucket)
    except S3Error as e:
        # As AWS: in us-east-1 re-creating a bucket you own answers 200 (legacy behaviour the SDKs rely on);
        # every other region answers 409 BucketAlreadyOwnedByYou.
        if e.code != "BucketAlreadyOwnedByYou" or services.region != "us-east-1":
            raise
    return Response(headers={"location": f"/{bucket}"})


async def _list_objects(store, bucket: str, q) -> Response:
    prefix = q.get("prefix", "")
    delimiter = q.get("delimiter", "")
    max_keys = _int_param(q, "max-keys", 1000)
    encoding = q.get("encoding-type", "")
    if encoding and encoding != "url":
        raise S3Error("InvalidArgument", "Invalid Encoding Method specified in Request", 400)
    if q.get("list-type") == "2":
        token = q.get("continuation-token")
        start_after = q.get("start-after", "")
        after = start_after
        if token is not None:
            try:
                after = base64.urlsafe_b64decode(token.encode()).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError, ValueError):
                raise S3Error("InvalidArgument", "The continuation token provided is incorrect", 400) from None
        result = await run_in_threadpool(store.list_objects, bucket, prefix, delimiter, after, max_keys)
        next_token = None
        if result.is_truncated and result.next_marker:
            next_token = base64.urlsafe_b64encode(result.next_marker.encode("utf-8")).decode()
        return _xml(s3xml.list_objects_v2(bucket, result, prefix, delimiter, max_keys, encoding, token,
                                          next_token, start_after))
    marker = q.get("marker", "")
    result = await run_in_threadpool(store.list_objects, bucket, prefix, delimiter, marker, max_keys)
    return _xml(s3xml.list_objects_v1(bucket, result, prefix, delimiter, max_keys, encoding, marker))


async def _delete_objects(store, request: Request, bucket: str) -> Response:
    keys, quiet = s3xml.parse_delete(await _small_body(request))
    await _require_bucket(store, bucket)

    def delete_all():
        deleted, errors = [], []
        for k in keys:
            try:
                store.delete_object(bucket, k)
                deleted.append(k)
            except S3Error as e:
                errors.append((k, e.code, e.message))
        return deleted, errors

    deleted, errors = await run_in_threadpool(delete_all)
    return _xml(s3xml.delete_result([] if quiet else deleted, errors))


async def _list_uploads(store, bucket: str, q) -> Response:
    prefix = q.get("prefix", "")
    max_uploads = _int_param(q, "max-uploads", 1000)
    uploads = await run_in_threadpool(store.list_multipart_uploads, bucket, prefix)
    return _xml(s3xml.list_uploads(bucket, uploads, prefix, max_uploads))


# --- objects -------------------------------------------------------------------------------------------------
async def _spool(services, request: Request) -> SpooledBody:
    secret = request.scope.get("shipyard.signing_secret")  # the signer's: the server's or a job's key
    return await spool_request_body(request, secret or getattr(services.settings, "secret_access_key", ""))


async def _put_object(services, request: Request, bucket: str, key: str) -> Response:
    store = s3_sse.writer(services.objects, request.headers)
    body = await _spool(services, request)
    try:
        info = await run_in_threadpool(store.put_object, bucket, key, body.file,
                                       request.headers.get("content-type"), _user_metadata(request))
    finally:
        body.close()
    return Response(headers={"etag": info.etag, **body.checksums, **s3_sse.of(info)})


async def _upload_part(services, request: Request, bucket: str, key: str) -> Response:
    q = request.query_params
    part_number = _int_param(q, "partNumber", 0, 1, 10000)
    body = await _spool(services, request)
    try:
        etag = await run_in_threadpool(services.objects.upload_part, bucket, key, q["uploadId"], part_number,
                                       body.file)
    finally:
        body.close()
    return Response(headers={"etag": etag, **body.checksums, **_upload_sse(services.objects, q["uploadId"])})


def _copy_source(request: Request) -> tuple[str, str]:
    raw = unquote(request.headers["x-amz-copy-source"].split("?versionId=", 1)[0]).lstrip("/")
    src_bucket, _, src_key = raw.partition("/")
    if not src_bucket or not src_key:
        raise S3Error("InvalidArgument", "Copy Source must mention the source bucket and key: "
                      "sourcebucket/sourcekey", 400)
    return src_bucket, src_key


async def _copy_object(store, request: Request, bucket: str, key: str) -> Response:
    src_bucket, src_key = _copy_source(request)
    directive = request.headers.get("x-amz-metadata-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise S3Error("InvalidArgument", "Unknown metadata directive.", 400)
    metadata = content_type = None
    if directive == "REPLACE":
        metadata = _user_metadata(request)
        content_type = request.headers.get("content-type") or "binary/octet-stream"
    elif (src_bucket, src_key) == (bucket, key) and s3_sse.requested(request.headers) is None:
        raise S3Error("InvalidRequest", "This copy request is illegal because it is trying to copy an object to "
                      "itself without changing the object's metadata, storage class, website redirect location or "
                      "encryption attributes.", 400, key)
    info = await run_in_threadpool(store.copy_object, src_bucket, src_key, bucket, key, metadata, content_type)
    return _xml(s3xml.copy_result("CopyObjectResult", info.etag, info.last_modified), headers=s3_sse.of(info))


async def _upload_part_copy(store, request: Request, bucket: str, key: str) -> Response:
    q = request.query_params
    part_number = _int_param(q, "partNumber", 0, 1, 10000)
    src_bucket, src_key = _copy_source(request)
    start, end = 0, None
    rng = request.headers.get("x-amz-copy-source-range")
    if rng:
        try:
            a, b = rng.strip().removeprefix("bytes=").split("-", 1)
            start, end = int(a), int(b)
        except ValueError:
            raise S3Error("InvalidArgument", "The x-amz-copy-source-range value must be of the form "
                          "bytes=first-last where first and last are the zero-based offsets of the first and last "
                          "bytes to copy", 400) from None

    def copy_part():
        _, chunks = store.open_object(src_bucket, src_key, start, end)
        with tempfile.TemporaryFile() as f:
            for c in chunks:
                f.write(c)
            f.seek(0)
            return store.upload_part(bucket, key, q["uploadId"], part_number, f)

    etag = await run_in_threadpool(copy_part)
    return _xml(s3xml.copy_result("CopyPartResult", etag, time.time()))


async def _list_parts(store, bucket: str, key: str, q) -> Response:
    parts = await run_in_threadpool(store.list_parts, bucket, key, q["uploadId"])
    marker = _int_param(q, "part-number-marker", 0, 0, 10000)
    max_parts = _int_param(q, "max-parts", 1000, 0, 1000)
    return _xml(s3xml.list_parts(bucket, key, q["uploadId"], parts, marker, max_parts))


def _parse_range(header: str | None) -> tuple[int, int | None] | tuple[None, int] | None:
    """``bytes=a-b`` -> (a, b); ``bytes=a-`` -> (a, None); ``bytes=-n`` -> (None, n). Anything else: ignored,
    as S3 ignores a Range header it cannot parse (and multiple ranges)."""
    if not header or not header.strip().startswith("bytes=") or "," in header:
        return None
    a, sep, b = header.strip()[6:].partition("-")
    if not sep:
        return None
    try:
        if a.strip() == "":
            return None, int(b)
        return int(a), (int(b) if b.strip() else None)
    except ValueError:
        return None


def _not_modified(request: Request, info) -> int | None:
    """Evaluate conditional headers; return 304/412 when the request should not get the body."""
    h = request.headers
    etag = info.etag.strip('"')
    if "if-match" in h and etag not in [t.strip().strip('"') for t in h["if-match"].split(",")] \
            and h["if-match"].strip() != "*":
        return 412
    if "if-unmodified-since" in h and "if-match" not in h:
        since = _http_time(h["if-unmodified-since"])
        if since is not None and int(info.last_modified) > since:
            return 412
    if "if-none-match" in h:
        tags = [t.strip().strip('"') for t in h["if-none-match"].split(",")]
        if etag in tags or h["if-none-match"].strip() == "*":
            return 304
    elif "if-modified-since" in h:
        since = _http_time(h["if-modified-since"])
        if since is not None and int(info.last_modified) <= since:
            return 304
    return None


def _http_time(value: str) -> float | None:
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


async def _get_object(store, request: Request, bucket: str, key: str, head: bool) -> Response:
    rng = _parse_range(request.headers.get("range"))
    if head:
        info = await run_in_threadpool(store.head_object, bucket, key)
        chunks = None
    else:
        start, end = 0, None
        if rng is not None:
            if rng[0] is None:  # suffix range: the last n bytes
                size = (await run_in_threadpool(store.head_object, bucket, key)).size
                if rng[1] == 0:
                    raise S3Error("InvalidRange", "The requested range is not satisfiable", 416,
                                  f"{key}/{size}")
                start, end = max(size - rng[1], 0), None
            else:
                start, end = rng
        try:
            info, chunks = await run_in_threadpool(store.open_object, bucket, key, start, end)
        except S3Error as e:
            if e.code == "InvalidRange":
                size = (await run_in_threadpool(store.head_object, bucket, key)).size
                raise S3Error("InvalidRange", "The requested range is not satisfiable", 416, f"{key}/{size}") \
                    from None
            raise
    status = _not_modified(request, info)
    headers = _object_headers(info)
    for param, header in _RESPONSE_OVERRIDES.items():
        if param in request.query_params:
            headers[header] = request.query_params[param]
    if status is not None:
        if chunks is not None:
            chunks.close()
        if status == 412:
            raise S3Error("PreconditionFailed", "At least one of the pre-conditions you specified did not hold",
                          412, key)
        return Response(status_code=304, headers={k: v for k, v in headers.items() if k in ("etag",
                                                                                             "last-modified")})
    code = 200
    length = info.size
    if rng is not None and not head:
        last = info.size - 1 if end is None else min(end, info.size - 1)
        code = 206
        length = last - start + 1
        headers["content-range"] = f"bytes {start}-{last}/{info.size}"
    headers["content-length"] = str(length)
    if head:
        return Response(status_code=code, headers=headers)
    return StreamingResponse(_guarded(chunks), status_code=code, headers=headers,
                             media_type=headers["content-type"])


def _guarded(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Yield the object's chunks and close the underlying file even if the client goes away."""
    try:
        yield from chunks
    finally:
        close = getattr(chunks, "close", None)
        if close:
            close()

