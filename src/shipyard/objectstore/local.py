"""The embedded object store: buckets in a local folder, with a small SQLite index.

Layout under the root folder::

    .index.sqlite3                  buckets, objects (key -> data file + metadata), uploads and parts
    <bucket>/<xx>/<uuid>            object bodies, one file per stored version (never rewritten in place)
    <bucket>/.uploads/<id>/<n>.<uuid>   multipart parts until the upload completes or is aborted

Why an index rather than files named after keys: S3 keys may be anything (``a`` and ``a/b`` both, ``dir/``
markers, ``..``, 1024-byte unicode), which no file-name encoding maps cleanly onto a file system; and listing must
come back in byte order, with prefix/delimiter/paging, in time that does not grow with the whole bucket. SQLite
(standard library) compares BLOB keys bytewise, so an ``ORDER BY key`` range scan is exactly S3's order.

Atomicity: a body is written to a fresh file (fsync'd) that no row names yet; committing the row that points to
it is the moment the new object appears, so readers see the whole old or the whole new object and a crash leaves
at most an orphan file, never a torn object. The file the old row named is removed after the commit; a reader
that raced with that removal simply re-reads the row.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import shutil
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import BinaryIO, Iterator
from urllib.parse import unquote, urlparse

from ..errors import S3Error, no_such_bucket, no_such_key
from .base import ListResult, ObjectInfo, ObjectStore

DEFAULT_CONTENT_TYPE = "binary/octet-stream"
MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_NUMBER = 10000
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (name TEXT PRIMARY KEY, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS objects (
    bucket TEXT NOT NULL, key BLOB NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL, mtime REAL NOT NULL,
    ctype TEXT NOT NULL, meta TEXT NOT NULL, file TEXT NOT NULL, PRIMARY KEY (bucket, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key BLOB NOT NULL, ctype TEXT, meta TEXT NOT NULL,
    created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS parts (
    upload_id TEXT NOT NULL, part_number INTEGER NOT NULL, etag TEXT NOT NULL, size INTEGER NOT NULL,
    mtime REAL NOT NULL, file TEXT NOT NULL, PRIMARY KEY (upload_id, part_number)) WITHOUT ROWID;
"""


def validate_bucket_name(bucket: str) -> None:
    """S3's rules: 3-63 characters of lowercase letters, digits, dots and hyphens; not shaped like an IP."""
    ok = bool(_BUCKET_RE.match(bucket or "")) and ".." not in bucket and ".-" not in bucket and "-." not in bucket
    if ok:
        try:
            ipaddress.IPv4Address(bucket)
            ok = False
        except ValueError:
            pass
    if not ok:
        raise S3Error("InvalidBucketName", "The specified bucket is not valid.", 400, bucket)


def validate_key(key: str) -> bytes:
    if not key:
        raise S3Error("InvalidArgument", "An object key must not be empty.", 400, key)
    raw = key.encode("utf-8", "surrogatepass")
    if len(raw) > 1024:
        raise S3Error("KeyTooLongError", "Your key is too long", 400, key)
    return raw


def successor(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string starting with ``prefix`` (None: no bound)."""
    p = prefix.rstrip(b"\xff")
    if not p:
        return None
    return p[:-1] + bytes([p[-1] + 1])


def multipart_etag(part_etags: list[str]) -> str:
    """S3's multipart ETag: the MD5 of the parts' binary MD5s, then ``-<number of parts>``."""
    digest = hashlib.md5(b"".join(bytes.fromhex(e.strip('"')) for e in part_etags)).hexdigest()
    return f'"{digest}-{len(part_etags)}"'


def _chunks_of(body: bytes | BinaryIO, size: int = 1 << 20) -> Iterator[bytes]:
    if isinstance(body, (bytes, bytearray, memoryview)):
        view = memoryview(body)
        for i in range(0, len(view), size):
            yield bytes(view[i:i + size])
        return
    while True:
        chunk = body.read(size)
        if not chunk:
            return
        yield chunk


class LocalObjectStore(ObjectStore):
    """Buckets in a local folder; see the module docstring for the layout and why it is shaped so."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.root / ".index.sqlite3"), timeout=60, isolation_level=None,
                                   check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    @classmethod
    def from_url(cls, url: str) -> "LocalObjectStore":
        parsed = urlparse(url)
        if parsed.scheme != "file":
            raise ValueError(f"not a file:// URL: {url!r}")
        return cls(unquote(parsed.path))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- small helpers -------------------------------------------------------------------------------------
    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _write(self, statements: list[tuple[str, tuple]]) -> None:
        """Run statements in one transaction (the commit point of every change)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for sql, args in statements:
                    self._db.execute(sql, args)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _require_bucket(self, bucket: str) -> None:
        if not self._query("SELECT 1 FROM buckets WHERE name=?", (bucket,)):
            raise no_such_bucket(bucket)

    def _new_data_path(self, bucket: str) -> tuple[str, Path]:
        name = uuid.uuid4().hex
        rel = f"{bucket}/{name[:2]}/{name}"
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        return rel, path

    @staticmethod
    def _write_file(path: Path, chunks: Iterator[bytes], digest=None) -> tuple[int, str]:
        """Write chunks to a new file and fsync it; return (size, hex md5)."""
        md5 = digest or hashlib.md5()
        size = 0
        try:
            with open(path, "xb") as f:
                for chunk in chunks:
                    f.write(chunk)
                    md5.update(chunk)
                    size += len(chunk)
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            _unlink(path)
            raise
        return size, md5.hexdigest()

    @staticmethod
    def _info(key: bytes, size: int, etag: str, mtime: float, ctype: str, meta: str) -> ObjectInfo:
        return ObjectInfo(key=key.decode("utf-8", "surrogatepass"), size=size, etag=etag, last_modified=mtime,
                          content_type=ctype, metadata=json.loads(meta))

    # --- buckets ---------------------------------------------------------------------------------------------
    def create_bucket(self, bucket: str) -> None:
        validate_bucket_name(bucket)
        with self._lock:
            if self._query("SELECT 1 FROM buckets WHERE name=?", (bucket,)):
                raise S3Error("BucketAlreadyOwnedByYou", "Your previous request to create the named bucket "
                              "succeeded and you already own it.", 409, bucket)
            (self.root / bucket).mkdir(parents=True, exist_ok=True)
            self._write([("INSERT INTO buckets (name, created) VALUES (?, ?)", (bucket, time.time()))])

    def delete_bucket(self, bucket: str) -> None:
        with self._lock:
            self._require_bucket(bucket)
            if self._query("SELECT 1 FROM objects WHERE bucket=? LIMIT 1", (bucket,)):
                raise S3Error("BucketNotEmpty", "The bucket you tried to delete is not empty", 409, bucket)
            self._write([
                ("DELETE FROM parts WHERE upload_id IN (SELECT upload_id FROM uploads WHERE bucket=?)", (bucket,)),
                ("DELETE FROM uploads WHERE bucket=?", (bucket,)),
                ("DELETE FROM buckets WHERE name=?", (bucket,)),
            ])
        shutil.rmtree(self.root / bucket, ignore_errors=True)

    def bucket_exists(self, bucket: str) -> bool:
        return bool(self._query("SELECT 1 FROM buckets WHERE name=?", (bucket,)))

    def list_buckets(self) -> list[tuple[str, float]]:
        return [(n, c) for n, c in self._query("SELECT name, created FROM buckets ORDER BY name")]

    # --- objects ---------------------------------------------------------------------------------------------
    def _commit_object(self, bucket: str, raw_key: bytes, rel: str, size: int, etag: str, ctype: str | None,
                       metadata: dict[str, str] | None, extra: list[tuple[str, tuple]] = ()) -> ObjectInfo:
        mtime = time.time()
        ctype = ctype or DEFAULT_CONTENT_TYPE
        meta = json.dumps(dict(metadata or {}), sort_keys=True)
        with self._lock:
            # Read the replaced row inside the write transaction, so that concurrent writers (threads or other
            # processes) each remove exactly the file they replaced.
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if not self._db.execute("SELECT 1 FROM buckets WHERE name=?", (bucket,)).fetchall():
                    raise no_such_bucket(bucket)  # deleted while we wrote
                old = self._db.execute("SELECT file FROM objects WHERE bucket=? AND key=?",
                                       (bucket, raw_key)).fetchall()
                self._db.execute("INSERT OR REPLACE INTO objects (bucket, key, size, etag, mtime, ctype, meta, "
                                 "file) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                 (bucket, raw_key, size, etag, mtime, ctype, meta, rel))
                for sql, args in extra:
                    self._db.execute(sql, args)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                _unlink(self.root / rel)
                raise
        if old and old[0][0] != rel:
            _unlink(self.root / old[0][0])
        return self._info(raw_key, size, etag, mtime, ctype, meta)

    def put_object(self, bucket: str, key: str, body: bytes | BinaryIO, content_type: str | None = None,
                   metadata: dict[str, str] | None = None) -> ObjectInfo:
        raw_key = validate_key(key)
        self._require_bucket(bucket)
        rel, path = self._new_data_path(bucket)
        size, md5 = self._write_file(path, _chunks_of(body))
        return self._commit_object(bucket, raw_key, rel, size, f'"{md5}"', content_type, metadata)

    def _row(self, bucket: str, key: str) -> tuple:
        raw_key = validate_key(key)
        rows = self._query("SELECT key, size, etag, mtime, ctype, meta, file FROM objects WHERE bucket=? AND key=?",
                           (bucket, raw_key))
        if not rows:
            self._require_bucket(bucket)
            raise no_such_key(key)
        return rows[0]

    def head_object(self, bucket: str, key: str) -> ObjectInfo:
        return self._info(*self._row(bucket, key)[:6])

    def local_path(self, bucket: str, key: str) -> Path:
        """The file holding the object's bytes now (read-only use; replaced, not rewritten, on overwrite)."""
        return self.root / self._row(bucket, key)[6]

    def download_file(self, bucket: str, key: str, dest: str | Path) -> int:
        """Copy the object's bytes to ``dest`` inside the kernel (``copy_file_range``: a reflink on file
        systems that share extents, else no trip through Python's buffers), atomically as the base does."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".part")
        src = self._open_body(bucket, key)[1]
        try:
            with open(tmp, "wb") as out:
                n = _copy_fd(src.fileno(), out.fileno())
        finally:
            src.close()
        os.replace(tmp, dest)
        return n

    def link_file(self, bucket: str, key: str, dest: str | Path) -> int:
        """Make ``dest`` a hard link to the object's body file: no bytes copied. Bodies are never rewritten
        in place (an overwrite writes a new file), so ``dest`` keeps the bytes of this version; whoever holds
        it must not write to it. Raises OSError where a link cannot be made (another file system, a link
        limit): the caller copies instead. Returns the size."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(20):
            row = self._row(bucket, key)
            try:
                os.link(self.root / row[6], dest)
            except FileNotFoundError:
                if not dest.parent.is_dir():
                    raise
                continue  # overwritten between reading the row and linking: read the row again
            return row[1]
        raise S3Error("InternalError", "The object kept changing while it was being read.", 500, key)

    def _open_body(self, bucket: str, key: str) -> tuple[tuple, BinaryIO]:
        for _ in range(20):
            row = self._row(bucket, key)
            try:
                return row, open(self.root / row[6], "rb")
            except FileNotFoundError:  # overwritten between reading the row and opening the file
                continue
        raise S3Error("InternalError", "The object kept changing while it was being read.", 500, key)

    def open_object(self, bucket: str, key: str, start: int = 0, end: int | None = None,
                    chunk_size: int = 1 << 20) -> tuple[ObjectInfo, Iterator[bytes]]:
        row, f = self._open_body(bucket, key)
        info = self._info(*row[:6])
        try:
            first, last = _check_range(info.size, start, end)
            f.seek(first)
        except BaseException:
            f.close()
            raise
        return info, _read_range(f, last - first + 1, chunk_size)

    def delete_object(self, bucket: str, key: str) -> None:
        raw_key = validate_key(key)
        with self._lock:
            self._require_bucket(bucket)
            rows = self._query("SELECT file FROM objects WHERE bucket=? AND key=?", (bucket, raw_key))
            if not rows:
                return
            self._write([("DELETE FROM objects WHERE bucket=? AND key=?", (bucket, raw_key))])
        _unlink(self.root / rows[0][0])

    def copy_object(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str,
                    metadata: dict[str, str] | None = None, content_type: str | None = None) -> ObjectInfo:
        raw_dst = validate_key(dst_key)
        self._require_bucket(dst_bucket)
        info, chunks = self.open_object(src_bucket, src_key)
        rel, path = self._new_data_path(dst_bucket)
        size, md5 = self._write_file(path, chunks)
        if metadata is None and content_type is None:
            metadata, content_type = info.metadata, info.content_type
        # The copy's ETag is the MD5 of its bytes, as in S3 (a multipart source's "-N" ETag is not kept).
        etag = f'"{md5}"'
        return self._commit_object(dst_bucket, raw_dst, rel, size, etag, content_type, metadata or {})

    def list_objects(self, bucket: str, prefix: str = "", delimiter: str = "", start_after: str = "",
                     max_keys: int = 1000) -> ListResult:
        self._require_bucket(bucket)
        pre = prefix.encode("utf-8", "surrogatepass")
        after = start_after.encode("utf-8", "surrogatepass")
        delim = delimiter.encode("utf-8", "surrogatepass")
        upper = successor(pre) if pre else None
        # The scan position: keys > `low` (exclusive) or >= `low` (inclusive).
        low, inclusive = (after, False) if after >= pre else (pre, True)
        objects: list[ObjectInfo] = []
        prefixes: list[str] = []
        last: bytes | None = None
        # With a delimiter each common prefix ends a scan (we jump past its keys), so fetch little at a time.
        batch = min(max(max_keys, 1), 64 if delim else 1000) + 1
        while True:
            sql = ("SELECT key, size, etag, mtime, ctype, meta FROM objects WHERE bucket=? AND key "
                   + (">=" if inclusive else ">") + " ?" + (" AND key < ?" if upper is not None else "")
                   + " ORDER BY key LIMIT ?")
            args = (bucket, low) + ((upper,) if upper is not None else ()) + (batch,)
            rows = self._query(sql, args)
            if not rows:
                return ListResult(objects, prefixes, False, None)
            jumped = False
            for row in rows:
                k = row[0]
                cp = None
                if delim:
                    i = k.find(delim, len(pre))
                    if i >= 0:
                        cp = k[:i + len(delim)]
                if cp is not None and cp <= after:  # this group was returned on an earlier page
                    nxt = successor(cp)
                    if nxt is None:
                        return ListResult(objects, prefixes, False, None)
                    low, inclusive, jumped = nxt, True, True
                    break
                if len(objects) + len(prefixes) >= max_keys:
                    return ListResult(objects, prefixes, True, last.decode("utf-8", "surrogatepass") if last
                                      else None)
                if cp is not None:
                    prefixes.append(cp.decode("utf-8", "surrogatepass"))
                    last = cp
                    nxt = successor(cp)
                    if nxt is None:
                        return ListResult(objects, prefixes, False, None)
                    low, inclusive, jumped = nxt, True, True
                    break
                objects.append(self._info(*row))
                last = k
            if not jumped:
                if len(rows) < batch:
                    return ListResult(objects, prefixes, False, None)
                low, inclusive = rows[-1][0], False

    # --- multipart -------------------------------------------------------------------------------------------
    def create_multipart_upload(self, bucket: str, key: str, content_type: str | None = None,
                                metadata: dict[str, str] | None = None) -> str:
        raw_key = validate_key(key)
        self._require_bucket(bucket)
        upload_id = uuid.uuid4().hex + uuid.uuid4().hex
        self._write([("INSERT INTO uploads (upload_id, bucket, key, ctype, meta, created) VALUES (?, ?, ?, ?, ?, ?)",
                      (upload_id, bucket, raw_key, content_type, json.dumps(dict(metadata or {})), time.time()))])
        return upload_id

    def _upload(self, bucket: str, key: str, upload_id: str) -> tuple:
        rows = self._query("SELECT ctype, meta FROM uploads WHERE upload_id=? AND bucket=? AND key=?",
                           (upload_id, bucket, validate_key(key)))
        if not rows:
            self._require_bucket(bucket)
            raise S3Error("NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, or "
                          "the upload may have been aborted or completed.", 404, upload_id)
        return rows[0]

    def upload_part(self, bucket: str, key: str, upload_id: str, part_number: int,
                    body: bytes | BinaryIO) -> str:
        if not 1 <= int(part_number) <= MAX_PART_NUMBER:
            raise S3Error("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive",
                          400, str(part_number))
        self._upload(bucket, key, upload_id)
        folder = self.root / bucket / ".uploads" / upload_id
        folder.mkdir(parents=True, exist_ok=True)
        rel = f"{bucket}/.uploads/{upload_id}/{part_number}.{uuid.uuid4().hex}"
        size, md5 = self._write_file(self.root / rel, _chunks_of(body))
        etag = f'"{md5}"'
        with self._lock:
            if not self._query("SELECT 1 FROM uploads WHERE upload_id=?", (upload_id,)):
                _unlink(self.root / rel)
                self._upload(bucket, key, upload_id)
            old = self._query("SELECT file FROM parts WHERE upload_id=? AND part_number=?", (upload_id, part_number))
            self._write([("INSERT OR REPLACE INTO parts (upload_id, part_number, etag, size, mtime, file) "
                          "VALUES (?, ?, ?, ?, ?, ?)", (upload_id, int(part_number), etag, size, time.time(), rel))])
        if old:
            _unlink(self.root / old[0][0])
        return etag

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[tuple[int, str, int, float]]:
        self._upload(bucket, key, upload_id)
        return [tuple(r) for r in self._query(
            "SELECT part_number, etag, size, mtime FROM parts WHERE upload_id=? ORDER BY part_number", (upload_id,))]

    def list_multipart_uploads(self, bucket: str, prefix: str = "") -> list[tuple[str, str, float]]:
        self._require_bucket(bucket)
        rows = self._query("SELECT key, upload_id, created FROM uploads WHERE bucket=? ORDER BY key, created",
                           (bucket,))
        pre = prefix.encode("utf-8", "surrogatepass")
        return [(k.decode("utf-8", "surrogatepass"), u, c) for k, u, c in rows if k.startswith(pre)]

    def complete_multipart_upload(self, bucket: str, key: str, upload_id: str,
                                  parts: list[tuple[int, str]]) -> ObjectInfo:
        ctype, meta = self._upload(bucket, key, upload_id)
        if not parts:
            raise S3Error("MalformedXML", "You must specify at least one part.", 400, key)
        numbers = [int(n) for n, _ in parts]
        if numbers != sorted(set(numbers)):
            raise S3Error("InvalidPartOrder", "The list of parts was not in ascending order. Parts must be "
                          "ordered by part number.", 400, key)
        stored = {n: (e, s, f) for n, e, s, _, f in self._query(
            "SELECT part_number, etag, size, mtime, file FROM parts WHERE upload_id=?", (upload_id,))}
        chosen = []
        for n, etag in parts:
            have = stored.get(int(n))
            if have is None or have[0].strip('"') != str(etag).strip('"'):
                raise S3Error("InvalidPart", "One or more of the specified parts could not be found. The part may "
                              "not have been uploaded, or the specified entity tag may not have matched the "
                              "part's entity tag.", 400, key)
            chosen.append(have)
        if any(size < MIN_PART_SIZE for _, size, _ in chosen[:-1]):
            raise S3Error("EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size", 400, key)

        def concatenated() -> Iterator[bytes]:
            for _, _, f in chosen:
                with open(self.root / f, "rb") as fh:
                    yield from _chunks_of(fh, 4 << 20)

        rel, path = self._new_data_path(bucket)
        size, _ = self._write_file(path, concatenated(), digest=_NoDigest())
        etag = multipart_etag([e for e, _, _ in chosen])
        info = self._commit_object(bucket, validate_key(key), rel, size, etag, ctype, json.loads(meta), extra=[
            ("DELETE FROM parts WHERE upload_id=?", (upload_id,)),
            ("DELETE FROM uploads WHERE upload_id=?", (upload_id,)),
        ])
        shutil.rmtree(self.root / bucket / ".uploads" / upload_id, ignore_errors=True)
        return info

    def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        self._upload(bucket, key, upload_id)
        self._write([("DELETE FROM parts WHERE upload_id=?", (upload_id,)),
                     ("DELETE FROM uploads WHERE upload_id=?", (upload_id,))])
        shutil.rmtree(self.root / bucket / ".uploads" / upload_id, ignore_errors=True)


class _NoDigest:
    """Stands in for md5 where the ETag is computed otherwise (multipart), to save hashing the whole object."""

    def update(self, _data: bytes) -> None:
        pass

    def hexdigest(self) -> str:
        return ""


def _check_range(size: int, start: int, end: int | None) -> tuple[int, int]:
    """Clamp an inclusive byte range to the object; raise InvalidRange when it selects nothing at all."""
    last = size - 1 if end is None else min(end, size - 1)
    if start < 0 or (end is not None and end < start) or (start >= size and not (size == 0 and start == 0
                                                                                    and end is None)):
        raise S3Error("InvalidRange", "The requested range is not satisfiable", 416, f"bytes={start}-{end}")
    return start, max(last, start - 1)


def _read_range(f: BinaryIO, remaining: int, chunk_size: int) -> Iterator[bytes]:
    try:
        while remaining > 0:
            chunk = f.read(min(chunk_size, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk
    finally:
        f.close()


def _copy_fd(src: int, dst: int) -> int:
    """Copy ``src`` from its current offset to its end into ``dst`` in the kernel; returns bytes copied."""
    total = 0
    try:
        while True:
            n = os.copy_file_range(src, dst, 1 << 30)
            if n == 0:
                return total
            total += n
    except OSError:  # not supported here (an old kernel, a special file system): sendfile, then read/write
        pass
    try:
        while True:
            n = os.sendfile(dst, src, None, 1 << 30)
            if n == 0:
                return total
            total += n
    except OSError:
        pass
    while True:
        chunk = memoryview(os.read(src, 1 << 20))
        if not chunk:
            return total
        total += len(chunk)
        while chunk:
            chunk = chunk[os.write(dst, chunk):]


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
