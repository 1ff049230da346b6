"""S3's REST-XML documents: the few response bodies the S3 API builds and the request bodies it parses.

Built as text with escaping (the shapes are small and fixed); parsed with ElementTree, ignoring namespaces,
because clients send the 2006-03-01 namespace or none at all.
"""

from __future__ import annotations

import datetime as _dt
import html
import xml.etree.ElementTree as ET
from email.utils import formatdate
from typing import Any, Callable, Iterable, Sequence
from urllib.parse import quote_plus

from ..errors import S3Error

XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"
HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n'
OWNER_ID = "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a"


def x(text: object) -> str:
    """Escape text for an XML element (keys may hold any character, including control characters)."""
    s = html.escape(str(text), quote=False)
    return "".join(c if c >= " " or c in "\t\n" else f"&#x{ord(c):x};" for c in s) if any(
        c < " " for c in s) else s


def iso(ts: float) -> str:
    """S3's XML timestamps: ``2024-05-01T12:00:00.000Z``."""
    d = _dt.datetime.fromtimestamp(ts, _dt.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


def http_date(ts: float) -> str:
    """Header timestamps (Last-Modified): RFC 7231."""
    return formatdate(ts, usegmt=True)


def doc(root: str, inner: str) -> bytes:
    return (f'{HEADER}<{root} xmlns="{XMLNS}">{inner}</{root}>').encode("utf-8")


def el(name: str, value: object) -> str:
    return f"<{name}>{x(value)}</{name}>"


def owner() -> str:
    return f"<Owner><ID>{OWNER_ID}</ID><DisplayName>shipyard</DisplayName></Owner>"


def encoder(encoding_type: str) -> Callable[[str], str]:
    """``encoding-type=url`` asks for keys and prefixes URL-encoded (botocore decodes them with unquote_plus)."""
    if encoding_type == "url":
        return lambda s: quote_plus(s, safe="/")
    return lambda s: s


def error_body(code: str, message: str, resource: str, request_id: str) -> bytes:
    return (f"{HEADER}<Error>{el('Code', code)}{el('Message', message)}{el('Resource', resource)}"
            f"{el('RequestId', request_id)}</Error>").encode("utf-8")


# --- parsing -------------------------------------------------------------------------------------------------
def _parse(body: bytes) -> ET.Element:
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise S3Error("MalformedXML", "The XML you provided was not well-formed or did not validate against our "
                      "published schema.", 400) from None
    for e in root.iter():  # drop namespaces: {ns}Tag -> Tag
        if isinstance(e.tag, str) and "}" in e.tag:
            e.tag = e.tag.split("}", 1)[1]
    return root


def _text(e: ET.Element | None, default: str = "") -> str:
    return default if e is None or e.text is None else e.text


def parse_location_constraint(body: bytes) -> str:
    """CreateBucketConfiguration's LocationConstraint ("" when the body is empty or names none)."""
    if not body.strip():
        return ""
    return _text(_parse(body).find("LocationConstraint")).strip()


def parse_delete(body: bytes) -> tuple[list[str], bool]:
    """DeleteObjects: (keys, quiet)."""
    root = _parse(body)
    if root.tag != "Delete":
        raise S3Error("MalformedXML", "The XML you provided was not well-formed or did not validate against our "
                      "published schema.", 400)
    keys = [_text(o.find("Key")) for o in root.findall("Object")]
    if not keys or len(keys) > 1000:
        raise S3Error("MalformedXML", "The XML you provided was not well-formed or did not validate against our "
                      "published schema.", 400)
    return keys, _text(root.find("Quiet")).strip().lower() == "true"


def parse_complete_multipart(body: bytes) -> list[tuple[int, str]]:
    """CompleteMultipartUpload: [(part number, ETag)] in the order given."""
    root = _parse(body)
    parts = []
    for p in root.findall("Part"):
        try:
            number = int(_text(p.find("PartNumber")).strip())
        except ValueError:
            raise S3Error("MalformedXML", "A part number is not an integer.", 400) from None
        parts.append((number, _text(p.find("ETag")).strip()))
    if not parts:
        raise S3Error("MalformedXML", "The XML you provided was not well-formed or did not validate against our "
                      "published schema.", 400)
    return parts


# --- responses -----------------------------------------------------------------------------------------------
def list_buckets(buckets: Iterable[tuple[str, float]]) -> bytes:
    items = "".join(f"<Bucket>{el('Name', n)}{el('CreationDate', iso(c))}</Bucket>" for n, c in buckets)
    return doc("ListAllMyBucketsResult", f"{owner()}<Buckets>{items}</Buckets>")


def location(region: str) -> bytes:
    value = "" if region == "us-east-1" else x(region)
    return f'{HEADER}<LocationConstraint xmlns="{XMLNS}">{value}</LocationConstraint>'.encode()


def _contents(objects: Iterable[Any], enc: Callable[[str], str]) -> str:
    return "".join(
        f"<Contents>{el('Key', enc(o.key))}{el('LastModified', iso(o.last_modified))}{el('ETag', o.etag)}"
        f"{el('Size', o.size)}<StorageClass>STANDARD</StorageClass>{owner()}</Contents>" for o in objects)


def _prefixes(prefixes: Iterable[str], enc: Callable[[str], str]) -> str:
    return "".join(f"<CommonPrefixes>{el('Prefix', enc(p))}</CommonPrefixes>" for p in prefixes)


def list_objects_v2(bucket: str, result: Any, prefix: str, delimiter: str, max_keys: int, encoding_type: str,
                    continuation_token: str | None, next_token: str | None, start_after: str) -> bytes:
    enc = encoder(encoding_type)
    inner = [el("Name", bucket), el("Prefix", enc(prefix))]
    if delimiter:
        inner.append(el("Delimiter", enc(delimiter)))
    inner += [el("MaxKeys", max_keys), el("KeyCount", len(result.objects) + len(result.common_prefixes)),
              el("IsTruncated", "true" if result.is_truncated else "false")]
    if encoding_type:
        inner.append(el("EncodingType", encoding_type))
    if continuation_token is not None:
        inner.append(el("ContinuationToken", continuation_token))
    if next_token:
        inner.append(el("NextContinuationToken", next_token))
    if start_after:
        inner.append(el("StartAfter", enc(start_after)))
    inner.append(_contents(result.objects, enc))
    inner.append(_prefixes(result.common_prefixes, enc))
    return doc("ListBucketResult", "".join(inner))


def list_objects_v1(bucket: str, result: Any, prefix: str, delimiter: str, max_keys: int, encoding_type: str,
                    marker: str) -> bytes:
    enc = encoder(encoding_type)
    inner = [el("Name", bucket), el("Prefix", enc(prefix)), el("Marker", enc(marker))]
    if delimiter:
        inner.append(el("Delimiter", enc(delimiter)))
    inner += [el("MaxKeys", max_keys), el("IsTruncated", "true" if result.is_truncated else "false")]
    if encoding_type:
        inner.append(el("EncodingType", encoding_type))
    if result.is_truncated and result.next_marker:
        inner.append(el("NextMarker", enc(result.next_marker)))
    inner.append(_contents(result.objects, enc))
    inner.append(_prefixes(result.common_prefixes, enc))
    return doc("ListBucketResult", "".join(inner))


def copy_result(root: str, etag: str, last_modified: float) -> bytes:
    return doc(root, el("LastModified", iso(last_modified)) + el("ETag", etag))


def delete_result(deleted: list[str], errors: list[tuple[str, str, str]]) -> bytes:
    inner = "".join(f"<Deleted>{el('Key', k)}</Deleted>" for k in deleted)
    inner += "".join(f"<Error>{el('Key', k)}{el('Code', c)}{el('Message', m)}</Error>" for k, c, m in errors)
    return doc("DeleteResult", inner)


def initiate_multipart(bucket: str, key: str, upload_id: str) -> bytes:
    return doc("InitiateMultipartUploadResult", el("Bucket", bucket) + el("Key", key) + el("UploadId", upload_id))


def complete_multipart(location_url: str, bucket: str, key: str, etag: str) -> bytes:
    return doc("CompleteMultipartUploadResult",
               el("Location", location_url) + el("Bucket", bucket) + el("Key", key) + el("ETag", etag))


def list_parts(bucket: str, key: str, upload_id: str, parts: Sequence[tuple[Any, ...]], marker: int,
               max_parts: int) -> bytes:
    page = [p for p in parts if p[0] > marker]
    truncated = len(page) > max_parts
    page = page[:max_parts]
    inner = [el("Bucket", bucket), el("Key", key), el("UploadId", upload_id), el("PartNumberMarker", marker)]
    if page:
        inner.append(el("NextPartNumberMarker", page[-1][0]))
    inner += [el("MaxParts", max_parts), el("IsTruncated", "true" if truncated else "false"),
              f"<Initiator><ID>{OWNER_ID}</ID><DisplayName>shipyard</DisplayName></Initiator>", owner(),
              "<StorageClass>STANDARD</StorageClass>"]
    inner += [f"<Part>{el('PartNumber', n)}{el('LastModified', iso(t))}{el('ETag', e)}{el('Size', s)}</Part>"
              for n, e, s, t in page]
    return doc("ListPartsResult", "".join(inner))


def list_uploads(bucket: str, uploads: Sequence[tuple[Any, ...]], prefix: str, max_uploads: int) -> bytes:
    truncated = len(uploads) > max_uploads
    uploads = uploads[:max_uploads]
    inner = [el("Bucket", bucket), "<KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>",
             el("Prefix", prefix), el("MaxUploads", max_uploads),
             el("IsTruncated", "true" if truncated else "false")]
    if truncated and uploads:
        inner += [el("NextKeyMarker", uploads[-1][0]), el("NextUploadIdMarker", uploads[-1][1])]
    inner += [f"<Upload>{el('Key', k)}{el('UploadId', u)}<Initiator><ID>{OWNER_ID}</ID>"
              f"<DisplayName>shipyard</DisplayName></Initiator>{owner()}<StorageClass>STANDARD</StorageClass>"
              f"{el('Initiated', iso(t))}</Upload>" for k, u, t in uploads]
    return doc("ListMultipartUploadsResult", "".join(inner))
