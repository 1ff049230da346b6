"""The S3 browser: buckets, objects under a prefix (with "folders"), an object's page with a preview, and
download, upload and delete.

S3 is a REST API outside the operations registry, so these pages reach the services' object store directly,
as ``api/s3.py`` does, after the same S3 authorization a signed request gets with the request's method and
path (``operations.authorize_s3_request``, the API's rules): a job's key browses, reads, writes and deletes only
under its scope, a viewer user's key only reads, the server's key does everything. Each handler authorizes
before it touches the store.

What is served back to the browser is never trusted as a page of the console: a preview is shown escaped, an
object is served inline only when it is a raster image, and every raw answer carries ``nosniff`` and a
sandboxing Content-Security-Policy, so an uploaded HTML or SVG file cannot run script as the console.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import mimetypes
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from markupsafe import escape
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from ..errors import RequestTooLarge, ShipyardError, ValidationError
from .forms import read_limited
from .operations import authorize_s3_request

if TYPE_CHECKING:
    from .app import Context

PAGE_SIZE = 100
PREVIEW_BYTES = 64 * 1024
PREVIEW_ROWS = 200
UPLOAD_LIMIT = 16 * 1024 * 1024  # the whole request is held in memory (the console's gate reads it first)
FORM_OVERHEAD = 64 * 1024  # room for the multipart framing and the small fields around the file
GENERIC_TYPES = ("", "binary/octet-stream", "application/octet-stream")
INLINE_IMAGES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp")
TEXT_TYPES = ("application/json", "application/x-ndjson", "application/jsonlines", "application/xml",
              "application/x-yaml", "application/yaml", "application/javascript", "application/x-sh")
# types by extension that mimetypes does not know, or knows as something a preview cannot use
KNOWN_SUFFIXES = ((".csv", "text/csv"), (".tsv", "text/tab-separated-values"), (".jsonl", "application/jsonlines"),
                  (".json", "application/json"), (".log", "text/plain"), (".md", "text/markdown"),
                  (".yaml", "application/yaml"), (".yml", "application/yaml"))
RAW_HEADERS = {"x-content-type-options": "nosniff", "content-security-policy": "default-src 'none'; sandbox",
               "cache-control": "private, no-store"}


def _bucket(ctx: Context) -> str:
    bucket = ctx.request.path_params["bucket"]
    if not bucket or "/" in bucket:
        raise ValidationError("Name a bucket: /studio/s3/<bucket>.")
    return bucket


def _key(value: str | None) -> str:
    key = (value or "").strip()
    if not key:
        raise ValidationError("Name an object: ?key=<key> (the object's full key in the bucket).")
    return key


# --- presentation helpers -----------------------------------------------------------------------------------
def human_size(size: int | float) -> str:
    """Bytes as a person reads them (1.5 KiB); exact bytes below a KiB."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover - the loop always returns


def crumbs(prefix: str) -> list[tuple[str, str]]:
    """(label, prefix) for every folder level of ``prefix`` ("a/b/" -> ("a", "a/"), ("b", "a/b/"))."""
    out, at = [], ""
    for part in [p for p in prefix.split("/")[:-1]]:
        at += part + "/"
        out.append((part or "/", at))
    return out


def parent_prefix(key: str) -> str:
    return key.rsplit("/", 1)[0] + "/" if "/" in key else ""


def content_type_of(key: str, stored: str | None) -> str:
    """The object's type: the stored one, or a guess from the key's extension where the stored one says
    nothing (boto3's put_object without ContentType stores ``binary/octet-stream``)."""
    stored = (stored or "").split(";")[0].strip().lower()
    if stored not in GENERIC_TYPES:
        return stored
    lowered = key.lower()
    for suffix, kind in KNOWN_SUFFIXES:
        if lowered.endswith(suffix):
            return kind
    guessed, _ = mimetypes.guess_type(key, strict=False)
    return guessed or stored or "binary/octet-stream"


def preview_kind(content_type: str) -> str:
    """How an object of this type is previewed: csv, json, text, image, or "" (sniffed as text or none)."""
    if content_type in ("text/csv", "application/csv", "text/tab-separated-values"):
        return "csv"
    if content_type == "application/json":
        return "json"
    if content_type.startswith("text/") or content_type in TEXT_TYPES or content_type.endswith(("+json", "+xml")):
        return "text"
    if content_type in INLINE_IMAGES:
        return "image"
    return ""


@dataclass(frozen=True)
class Preview:
    """What the object page shows: ``kind`` is csv (``rows``), json/text (``text``), image, or none."""

    kind: str
    text: str = ""
    rows: tuple[tuple[str, ...], ...] = ()
    truncated: bool = False


def _decode(head: bytes) -> str | None:
    """Text of the object's first bytes, or None when they are not text (a NUL, or invalid UTF-8 before the
    last few bytes, which may be a character cut by the 64 KiB limit)."""
    if b"\x00" in head:
        return None
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:
            return None
        return head[:exc.start].decode("utf-8")


def make_preview(kind: str, head: bytes, size: int, content_type: str) -> Preview:
    """The preview of an object from its first ``PREVIEW_BYTES`` (``head``); ``size`` is the whole size."""
    truncated = size > len(head)
    if kind == "image":
        return Preview("image")
    text = _decode(head)
    if text is None:
        return Preview("none")
    if kind == "csv":
        lines = text.splitlines()
        if truncated and lines:
            lines = lines[:-1]  # the last line may be cut
        delimiter = "\t" if content_type == "text/tab-separated-values" else ","
        rows = tuple(tuple(r) for _, r in zip(range(PREVIEW_ROWS), csv.reader(lines, delimiter=delimiter)))
        return Preview("csv", rows=rows, truncated=truncated or len(lines) > PREVIEW_ROWS)
    if kind == "json" and not truncated:
        try:
            return Preview("json", text=json.dumps(json.loads(text), indent=2, ensure_ascii=False))
        except ValueError:
            pass
    return Preview("text", text=text, truncated=truncated)


# --- pages --------------------------------------------------------------------------------------------------
async def buckets(ctx: Context) -> Response:
    authorize_s3_request(ctx.identity, "GET", "")
    names = await asyncio.to_thread(ctx.ops.services.objects.list_buckets)
    return ctx.page("s3_buckets.html", buckets=[{"name": n, "created": c} for n, c in names])


async def objects(ctx: Context) -> Response:
    """One page of the objects and "folders" (common prefixes, delimiter ``/``) directly under a prefix."""
    bucket = _bucket(ctx)
    q = ctx.request.query_params
    prefix, after = q.get("prefix", ""), q.get("after", "")
    authorize_s3_request(ctx.identity, "GET", bucket, query={"prefix": prefix})
    store = ctx.ops.services.objects
    result = await asyncio.to_thread(store.list_objects, bucket, prefix, "/", after, PAGE_SIZE)
    folders = [{"prefix": p, "name": p[len(prefix):]} for p in result.common_prefixes]
    files = [{"key": o.key, "name": o.key[len(prefix):], "size": o.size, "size_text": human_size(o.size),
              "modified": o.last_modified} for o in result.objects]
    next_url = ""
    if result.is_truncated and result.next_marker:
        next_url = f"?prefix={quote(prefix, safe='')}&after={quote(result.next_marker, safe='')}"
    return ctx.page("s3_objects.html", bucket=bucket, path_prefix=prefix, crumbs=crumbs(prefix), folders=folders,
                    files=files, next_url=next_url, paged=bool(after), upload_limit=human_size(UPLOAD_LIMIT),
                    upload_limit_bytes=UPLOAD_LIMIT, uploaded=q.get("uploaded", ""), deleted=q.get("deleted", ""))


async def object_page(ctx: Context) -> Response:
    """An object's size, type and time, and a preview of its first 64 KiB (escaped) or its image."""
    bucket, key = _bucket(ctx), _key(ctx.request.query_params.get("key"))
    authorize_s3_request(ctx.identity, "GET", bucket, key)
    store = ctx.ops.services.objects
    info = await asyncio.to_thread(store.head_object, bucket, key)  # S3Error NoSuchKey if absent
    content_type = content_type_of(key, info.content_type)
    kind = preview_kind(content_type)
    if kind == "image":
        preview = Preview("image")
    elif kind or content_type in GENERIC_TYPES:  # a generic type: sniff whether it is text
        head = await asyncio.to_thread(_read_head, store, bucket, key, info.size) if info.size else b""
        preview = make_preview(kind or "text", head, info.size, content_type)
    else:
        preview = Preview("none")
    parent = parent_prefix(key)
    return ctx.page("s3_object.html", bucket=bucket, key=key, info=info, size_text=human_size(info.size),
                    content_type=content_type, preview=preview, parent=parent, crumbs=crumbs(parent))


def _read_head(store, bucket: str, key: str, size: int) -> bytes:
    _info, chunks = store.open_object(bucket, key, 0, min(size, PREVIEW_BYTES) - 1)
    try:
        return b"".join(chunks)[:PREVIEW_BYTES]
    finally:
        close = getattr(chunks, "close", None)
        if close:
            close()


def _disposition(kind: str, key: str) -> str:
    name = key.rsplit("/", 1)[-1] or "download"
    ascii_name = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


async def raw(ctx: Context) -> Response:
    """The object's bytes: inline for a raster image (the preview), else as a download (``?download=1`` always
    downloads). Never as a page the browser would render (see the module docstring)."""
    bucket, key = _bucket(ctx), _key(ctx.request.query_params.get("key"))
    authorize_s3_request(ctx.identity, "GET", bucket, key)
    store = ctx.ops.services.objects
    info, chunks = await asyncio.to_thread(store.open_object, bucket, key)
    content_type = content_type_of(key, info.content_type)
    inline = content_type in INLINE_IMAGES and ctx.request.query_params.get("download") != "1"
    headers = {**RAW_HEADERS, "content-length": str(info.size),
               "content-disposition": _disposition("inline" if inline else "attachment", key)}
    return StreamingResponse(_closing(chunks), headers=headers,
                             media_type=content_type if inline else "application/octet-stream")


def _closing(chunks):
    try:
        yield from chunks
    finally:
        close = getattr(chunks, "close", None)
        if close:
            close()


# --- actions ------------------------------------------------------------------------------------------------
def parse_multipart(body: bytes, content_type: str) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    """A ``multipart/form-data`` body: its text fields and its files (field -> (filename, bytes)).

    The standard library has no form parser any more (``cgi`` is gone) and the console needs one file field,
    so this reads RFC 7578's framing directly: parts split on ``CRLF--boundary``, headers up to the blank
    line, the rest is the part's bytes, untouched."""
    boundary = ""
    for param in content_type.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary":
            boundary = value.strip().strip('"')
    if not content_type.lower().startswith("multipart/form-data") or not boundary:
        raise ValidationError("Send the upload as multipart/form-data (the page's upload form does).")
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, bytes]] = {}
    pieces = (b"\r\n" + body).split(b"\r\n--" + boundary.encode("latin-1"))
    if len(pieces) < 2 or not pieces[-1].startswith(b"--"):
        raise ValidationError("The upload arrived incomplete (no closing boundary); try again.")
    for piece in pieces[1:-1]:
        head, sep, data = piece.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            raise ValidationError("The upload's form data is malformed (a part without headers).")
        name, filename = "", None
        for line in head.decode("utf-8", "replace").split("\r\n"):
            header, _, value = line.partition(":")
            if header.strip().lower() != "content-disposition":
                continue
            for param in value.split(";")[1:]:
                pname, _, pvalue = param.strip().partition("=")
                pvalue = pvalue.strip()
                if len(pvalue) >= 2 and pvalue[0] == pvalue[-1] == '"':
                    pvalue = pvalue[1:-1].replace('\\"', '"')
                if pname.lower() == "name":
                    name = pvalue
                elif pname.lower() == "filename":
                    filename = pvalue
        if filename is not None:
            files[name] = (filename, data)
        else:
            fields[name] = data.decode("utf-8", "replace")
    return fields, files


def _too_large(size: int) -> RequestTooLarge:
    return RequestTooLarge(f"The file is {human_size(size)}; the console uploads at most {human_size(UPLOAD_LIMIT)} "
                           "per file. Upload larger files with the AWS CLI or boto3 (aws s3 cp ... "
                           "--endpoint-url <server>).")


def _upload_key(prefix: str, chosen: str, filename: str) -> str:
    """The key an upload is stored under: the typed name (relative to the prefix) or the file's own name."""
    name = chosen.strip() or filename.replace("\\", "/").rsplit("/", 1)[-1]
    if not name:
        raise ValidationError("Choose a file to upload (or give its object name).")
    key = prefix + name.lstrip("/")
    if len(key.encode("utf-8")) > 1024:
        raise ValidationError("The object key is longer than S3's 1024 bytes; choose a shorter name.")
    return key


def _fragment_error(exc: ShipyardError) -> HTMLResponse:
    """An action's error as the piece of page htmx puts under the form (the form's before-swap handler shows
    4xx answers too), keeping the status a script would check."""
    status = exc.http_status if 400 <= exc.http_status < 500 else 400
    return HTMLResponse(f'<p class="error" id="upload-error"><strong>{escape(exc.code)}</strong>: '
                        f"{escape(exc.message or str(exc))}</p>", status_code=status)


async def upload(ctx: Context) -> Response:
    """PutObject of a file posted from the bucket page's form (multipart, CSRF in the htmx header)."""
    try:
        return await _upload(ctx)
    except ShipyardError as exc:
        if "hx-request" in ctx.request.headers:
            return _fragment_error(exc)
        raise


async def _upload(ctx: Context) -> Response:
    bucket = _bucket(ctx)
    declared = ctx.request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > UPLOAD_LIMIT + FORM_OVERHEAD:
        raise _too_large(int(declared) - FORM_OVERHEAD)
    body = await read_limited(ctx.request, UPLOAD_LIMIT + FORM_OVERHEAD)
    if body is None:  # a chunked body that outgrew the limit: refused without buffering the rest
        raise _too_large(UPLOAD_LIMIT + 1)
    fields, files = parse_multipart(body, ctx.request.headers.get("content-type", ""))
    if "file" not in files:
        raise ValidationError("Choose a file to upload.")
    filename, data = files["file"]
    if len(data) > UPLOAD_LIMIT:
        raise _too_large(len(data))
    prefix = fields.get("prefix", "")
    key = _upload_key(prefix, fields.get("name", ""), filename)
    authorize_s3_request(ctx.identity, "PUT", bucket, key)
    content_type = mimetypes.guess_type(key, strict=False)[0] or "binary/octet-stream"
    store = ctx.ops.services.objects
    await asyncio.to_thread(store.put_object, bucket, key, io.BytesIO(data), content_type)
    target = f"/studio/s3/{quote(bucket)}?prefix={quote(prefix, safe='')}&uploaded={quote(key, safe='')}"
    if "hx-request" in ctx.request.headers:
        return Response(status_code=200, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


async def delete(ctx: Context) -> Response:
    """DeleteObject of the key the object page's form names; back to its folder."""
    bucket, key = _bucket(ctx), _key(ctx.form.get("key"))
    authorize_s3_request(ctx.identity, "DELETE", bucket, key)
    await asyncio.to_thread(ctx.ops.services.objects.delete_object, bucket, key)
    target = f"/studio/s3/{quote(bucket)}?prefix={quote(parent_prefix(key), safe='')}&deleted={quote(key, safe='')}"
    return RedirectResponse(target, status_code=303)


ROUTES: list[tuple[str, Any, list[str]]] = [
    ("/s3", buckets, ["GET"]),
    ("/s3/{bucket}", objects, ["GET"]),
    ("/s3/{bucket}/object", object_page, ["GET"]),
    ("/s3/{bucket}/raw", raw, ["GET"]),
    ("/s3/{bucket}/upload", upload, ["POST"]),
    ("/s3/{bucket}/delete", delete, ["POST"]),
]
