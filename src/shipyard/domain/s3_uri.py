"""S3 locations as SageMaker names them: ``s3://bucket/key`` or one of S3's https object URLs.

Pure string work, shared by the object stores (which open them) and the job keys (which scope a job to
them), so that both read every form the same way.
"""

from __future__ import annotations

import re

from ..errors import ValidationError

# S3's https object URLs, which SageMaker accepts wherever it takes an s3:// URI (ModelDataUrl's pattern is
# ^(https|s3)://...): virtual-hosted style, <bucket>.s3[.-]<region>.amazonaws.com/<key> or
# <bucket>.s3.amazonaws.com/<key>, and path style, s3[.-]<region>.amazonaws.com/<bucket>/<key> or
# s3.amazonaws.com/<bucket>/<key> (dualstack and China partition hosts too). The key is URL-encoded.
_S3_DOMAIN = r"(?:[.-](?!dualstack\.)[a-z0-9-]+)?(?:\.dualstack\.[a-z0-9-]+)?\.amazonaws\.com(?:\.cn)?"
_VIRTUAL_HOST = re.compile(r"^(?P<bucket>[a-z0-9][a-z0-9.-]*?)\.s3" + _S3_DOMAIN + "$")
_PATH_HOST = re.compile(r"^s3" + _S3_DOMAIN + "$")


def _https_s3(uri: str) -> tuple[str, str] | None:
    """(bucket, key) of an S3 https object URL, or None if ``uri`` is not one."""
    from urllib.parse import unquote, urlsplit

    if not uri[:8].lower() == "https://":
        return None
    parts = urlsplit(uri)
    host = (parts.hostname or "").lower()
    path = unquote(parts.path.lstrip("/"))
    m = _VIRTUAL_HOST.match(host)
    if m and not _PATH_HOST.match(host):
        return m.group("bucket"), path
    if _PATH_HOST.match(host):
        bucket, _, key = path.partition("/")
        return (bucket, key) if bucket else None
    return None


def is_s3_uri(uri: object) -> bool:
    """Whether ``uri`` names an S3 location: ``s3://bucket/key`` or an S3 https object URL."""
    return isinstance(uri, str) and (uri.startswith("s3://") or _https_s3(uri) is not None)


def to_s3_uri(uri: str) -> str:
    """``uri`` as ``s3://bucket/key`` (an S3 https object URL converted; anything else unchanged)."""
    found = _https_s3(uri) if isinstance(uri, str) and not uri.startswith("s3://") else None
    return f"s3://{found[0]}/{found[1]}" if found else uri


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key/part`` -> (bucket, "key/part"); S3's https object URLs
    (``https://bucket.s3.us-east-1.amazonaws.com/key/part`` and the other forms above) likewise."""
    if not uri.startswith("s3://"):
        found = _https_s3(uri)
        if found is None:
            raise ValidationError(f"Expected an S3 URI of the form s3://bucket/key, got {uri!r}.")
        return found
    rest = uri[5:]
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise ValidationError(f"S3 URI {uri!r} names no bucket.")
    return bucket, key
