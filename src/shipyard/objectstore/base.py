"""The object-store interface: thin byte operations, with conveniences built on them.

Contract (every backend; checked by ``shipyard.testing.objectstore.ObjectStoreConformance``):

- Thread safety: every method may be called from any thread.
- Atomic writes: a reader sees the whole old object or the whole new one, never a part; a crash mid-write
  leaves the old object (or none).
- Errors: :class:`~shipyard.errors.S3Error` with S3's code: ``NoSuchBucket``, ``NoSuchKey``,
  ``BucketNotEmpty``, ``BucketAlreadyOwnedByYou``, ``InvalidRange``, ``NoSuchUpload``, ``InvalidPart``.
- ETags are quoted hex MD5 for simple puts and S3's ``"<md5-of-md5s>-<parts>"`` for multipart uploads.
- ``list_objects`` returns keys in byte order, honours prefix/delimiter, and pages with an opaque token
  (``start_after`` is the last key returned).
"""

from __future__ import annotations

import abc
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator

from ..domain.s3_uri import is_s3_uri, parse_s3_uri, to_s3_uri  # noqa: F401 - the backends' callers import them here
from ..errors import NotImplementedYet


@dataclass
class ObjectInfo:
    key: str
    size: int
    etag: str
    last_modified: float
    content_type: str = "binary/octet-stream"
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class ListResult:
    objects: list[ObjectInfo]
    common_prefixes: list[str]
    is_truncated: bool
    next_marker: str | None  # the last key or prefix returned, to continue after




class ObjectStore(abc.ABC):
    # --- buckets ---
    @abc.abstractmethod
    def create_bucket(self, bucket: str) -> None: ...

    @abc.abstractmethod
    def delete_bucket(self, bucket: str) -> None: ...

    @abc.abstractmethod
    def bucket_exists(self, bucket: str) -> bool: ...

    @abc.abstractmethod
    def list_buckets(self) -> list[tuple[str, float]]:
        """(name, creation time) pairs, sorted by name."""

    # --- objects ---
    @abc.abstractmethod
    def put_object(self, bucket: str, key: str, body: bytes | BinaryIO, content_type: str | None = None,
                   metadata: dict[str, str] | None = None) -> ObjectInfo: ...

    @abc.abstractmethod
    def head_object(self, bucket: str, key: str) -> ObjectInfo: ...

    @abc.abstractmethod
    def open_object(self, bucket: str, key: str, start: int = 0, end: int | None = None,
                    chunk_size: int = 1 << 20) -> tuple[ObjectInfo, Iterator[bytes]]:
        """The object's info and an iterator over bytes ``start..end`` (inclusive end, like HTTP ranges)."""

    @abc.abstractmethod
    def delete_object(self, bucket: str, key: str) -> None:
        """Deleting a missing key is not an error (as in S3); a missing bucket is."""

    @abc.abstractmethod
    def copy_object(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str,
                    metadata: dict[str, str] | None = None, content_type: str | None = None) -> ObjectInfo: ...

    @abc.abstractmethod
    def list_objects(self, bucket: str, prefix: str = "", delimiter: str = "", start_after: str = "",
                     max_keys: int = 1000) -> ListResult: ...

    # --- multipart ---
    @abc.abstractmethod
    def create_multipart_upload(self, bucket: str, key: str, content_type: str | None = None,
                                metadata: dict[str, str] | None = None) -> str: ...

    @abc.abstractmethod
    def upload_part(self, bucket: str, key: str, upload_id: str, part_number: int,
                    body: bytes | BinaryIO) -> str:
        """Store one part; return its quoted ETag."""

    @abc.abstractmethod
    def complete_multipart_upload(self, bucket: str, key: str, upload_id: str,
                                  parts: list[tuple[int, str]]) -> ObjectInfo: ...

    @abc.abstractmethod
    def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None: ...

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[tuple[int, str, int, float]]:
        """(part number, quoted ETag, size, last modified) of an upload's parts, by part number.
        Optional: a backend without it answers S3's NotImplemented."""
        raise NotImplementedYet("This object store cannot list parts.")

    def list_multipart_uploads(self, bucket: str, prefix: str = "") -> list[tuple[str, str, float]]:
        """(key, upload id, initiated) of the bucket's unfinished uploads, by key. Optional, as list_parts."""
        raise NotImplementedYet("This object store cannot list multipart uploads.")

    # --- conveniences, built on the primitives above ---
    def get_bytes(self, bucket: str, key: str) -> bytes:
        _, chunks = self.open_object(bucket, key)
        return b"".join(chunks)

    def iter_keys(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        marker = ""
        while True:
            res = self.list_objects(bucket, prefix=prefix, start_after=marker, max_keys=1000)
            yield from res.objects
            if not res.is_truncated or not res.next_marker:
                return
            marker = res.next_marker

    def download_file(self, bucket: str, key: str, dest: str | Path) -> int:
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".part")
        n = 0
        _, chunks = self.open_object(bucket, key)
        with open(tmp, "wb") as f:
            for c in chunks:
                f.write(c)
                n += len(c)
        os.replace(tmp, dest)
        return n

    def upload_file(self, path: str | Path, bucket: str, key: str, content_type: str | None = None) -> ObjectInfo:
        with open(path, "rb") as f:
            return self.put_object(bucket, key, f, content_type=content_type)

    def download_uri(self, uri: str, dest_dir: str | Path) -> list[Path]:
        """Download every object under ``uri`` taken as a prefix (or the one object it names) into
        ``dest_dir``, keeping key paths relative to the prefix's last ``/``. Returns the files written.
        A key whose remainder would land outside ``dest_dir`` (``../``, an absolute path) raises
        :class:`~shipyard.errors.UnsafePath` before anything is written."""
        from ..domain.paths import safe_join

        bucket, prefix = parse_s3_uri(uri)
        base = prefix.rsplit("/", 1)[0] + "/" if "/" in prefix else ""
        written = []
        keys = [info.key for info in self.iter_keys(bucket, prefix) if not info.key.endswith("/")]
        targets = [safe_join(dest_dir, key[len(base):], what="S3 key") for key in keys]  # all checked first
        for key, target in zip(keys, targets):
            self.download_file(bucket, key, target)
            written.append(target)
        return written

    def upload_dir(self, src_dir: str | Path, uri: str) -> int:
        bucket, prefix = parse_s3_uri(uri)
        prefix = prefix.rstrip("/")
        n = 0
        for p in sorted(Path(src_dir).rglob("*")):
            if p.is_file():
                rel = p.relative_to(src_dir).as_posix()
                self.upload_file(p, bucket, f"{prefix}/{rel}" if prefix else rel)
                n += 1
        return n
