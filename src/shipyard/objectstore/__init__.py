"""The object store: buckets of byte objects. A local folder by default, any S3-compatible store otherwise.

Chosen by URL with :func:`open_objectstore`:
- ``file:///path``                      -> :class:`~.local.LocalObjectStore`
- ``s3://?endpoint_url=http://host:port&region=us-east-1`` (keys from AWS_* env or ``access_key``/``secret_key``
  query parameters) -> :class:`~.s3.S3ObjectStore`
"""

from __future__ import annotations

from .base import ObjectInfo, ObjectStore, ListResult, parse_s3_uri


def open_objectstore(url: str) -> ObjectStore:
    if url.startswith("file:"):
        from .local import LocalObjectStore

        return LocalObjectStore.from_url(url)
    if url.startswith("s3:"):
        from .s3 import S3ObjectStore

        return S3ObjectStore.from_url(url)
    raise ValueError(f"unsupported object store URL {url!r}: use file:///PATH or s3://?endpoint_url=...")


__all__ = ["ObjectInfo", "ObjectStore", "ListResult", "open_objectstore", "parse_s3_uri"]
