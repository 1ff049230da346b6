"""Server-side encryption of objects (S3's SSE-KMS and SSE-S3) as a wrapper around any object store.

Every reader in the server (the S3 API, controllers, the model server's downloads) goes through
``services.objects``; wrapping that one store means objects are ciphertext in the store below and plaintext to
everyone who reads through the wrapper while the object's KMS key is usable. Nothing else changes: a job reads
its encrypted inputs through the server's S3 API and sees plaintext; a disabled or deleted key makes every such
read fail with KMS's error.

Which objects are encrypted: a write through :meth:`EncryptedObjectStore.with_encryption` (the S3 API's
``x-amz-server-side-encryption`` headers), else the rule the :class:`EncryptionRules` give for the bucket and
key (a bucket's default encryption, or a job output folder's ``KmsKeyId``), else none (plaintext, as before).

Stored layout of an encrypted object (a *stream*)::

    u16 length | wrapped data key (a KMS ciphertext blob) | 8 random bytes P | chunk 0 | chunk 1 | ...

Each chunk is up to 64 KiB of plaintext sealed with AES-256-GCM under the object's own data key, with nonce
``P | u32 index`` and associated data saying whether it is the last chunk (so chunks cannot be reordered,
dropped or the stream cut short unnoticed). Chunks have a fixed size, so the plaintext size follows from the
stored size and a range read decrypts only the chunks it touches. The object's metadata in the store below
carries only the algorithm and the key's ARN (``x-shipyard-sse*``, never shown to clients), so HEAD and listings
need no KMS call. ETags are the stored bytes' (as AWS's SSE-KMS ETags, they are not the MD5 of the plaintext).

Multipart uploads: the rules remember which encryption an upload was started with (by its id); each part is a
stream of its own (own data key); completing the upload re-encrypts the assembled parts into one stream in a
single pass, chunk by chunk (plaintext is never written anywhere). Until that pass has replaced it, the assembled
object carries an assembly mark and its parts' sizes are kept: a reader that meets it (a crash mid-completion,
a read racing the completion) finishes the pass itself first, so such an object is never unreadable.
"""

from __future__ import annotations

import copy
import os
import struct
import uuid
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator, Protocol, cast

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import S3Error
from .base import ListResult, ObjectInfo, ObjectStore

CHUNK = 64 * 1024
TAG = 16
PREFIX = 8
SEALED = CHUNK + TAG
READ_CHUNKS = 16  # sealed chunks read (and plaintext handed on) at a time: ~1 MiB
META_ALG = "x-shipyard-sse"
META_KEY = "x-shipyard-sse-key"
META_ASSEMBLY = "x-shipyard-sse-assembly"  # a completed upload not yet re-encrypted into one stream
RESERVED = "x-shipyard-sse"  # every metadata name starting with this is ours
KMS, AES256 = "aws:kms", "AES256"


@dataclass(frozen=True)
class Encryption:
    """How an object is (to be) encrypted: ``aws:kms`` under ``key_id`` (an id, ARN or alias when asked; the key's
    ARN once resolved), or ``AES256`` under the server's own key (``key_id`` empty)."""

    algorithm: str
    key_id: str = ""


@dataclass
class EncryptedInfo(ObjectInfo):
    """An object's info with how it is encrypted (None: stored as plaintext)."""

    sse: Encryption | None = field(default=None)


class KeyBroker(Protocol):
    """Makes and opens data keys (implemented by :mod:`shipyard.kms.s3` over the key service)."""

    def new_data_key(self, encryption: Encryption, context: dict[str, str]) -> tuple[bytes, bytes, Encryption]:
        """(plaintext data key, wrapped data key, the encryption with the key's ARN). Raises KmsError."""

    def open_data_key(self, wrapped: bytes, context: dict[str, str]) -> bytes:
        """The plaintext data key; KmsError when the key is disabled, pending deletion or gone."""


class EncryptionRules(Protocol):
    """Which writes are encrypted without asking: bucket defaults and job output folders."""

    def default_for(self, bucket: str, key: str) -> Encryption | None: ...

    def bucket_default(self, bucket: str) -> Encryption | None: ...

    def set_bucket_default(self, bucket: str, encryption: Encryption | None) -> None: ...

    def save_upload(self, name: str, record: "UploadRecord") -> None:
        """Keep ``record`` under ``name`` (an upload id while parts arrive; an assembly id while completing)."""

    def load_upload(self, name: str) -> "UploadRecord | None": ...

    def drop_upload(self, name: str) -> None: ...


@dataclass
class UploadRecord:
    """An encrypted multipart upload: its encryption, the id its object is marked with until it has been
    re-encrypted into one stream, and (once completing) the stored size of each part in order."""

    encryption: Encryption
    assembly: str
    parts: list[int] | None = None


# --- the stream format --------------------------------------------------------------------------------------
def plain_size(stored: int, header: int) -> int:
    """The plaintext size of a stream of ``stored`` bytes whose header is ``header`` bytes."""
    body = stored - header
    full, rest = divmod(body, SEALED)
    if rest == 0:
        return full * CHUNK
    if rest < TAG:
        raise S3Error("InternalError", "An encrypted object's stored size is inconsistent with its format.", 500)
    return full * CHUNK + rest - TAG


def _chunk_count(size: int) -> int:
    return max(1, -(-size // CHUNK))


def _nonce(prefix: bytes, index: int) -> bytes:
    return prefix + struct.pack(">I", index)


def _aad(last: bool) -> bytes:
    return b"\x01" if last else b"\x00"


def stream_header(wrapped: bytes, prefix: bytes) -> bytes:
    return struct.pack(">H", len(wrapped)) + wrapped + prefix


class EncryptingReader:
    """A file-like ``read(n)`` over the ciphertext stream of ``body`` (bytes or a readable file): what the store
    below writes, produced as it reads, never all in memory."""

    def __init__(self, body: bytes | BinaryIO, data_key: bytes, wrapped: bytes):
        self._src: BinaryIO | None = None
        self._bytes = memoryview(body) if isinstance(body, (bytes, bytearray, memoryview)) else None
        if self._bytes is None:
            self._src = body  # type: ignore[assignment]
        self._pos = 0
        self._aes = AESGCM(data_key)
        self._prefix = os.urandom(PREFIX)
        self._out = bytearray(stream_header(wrapped, self._prefix))
        self._index = 0
        self._pending = self._next_plain()
        self._done = False
        self.plain_bytes = 0

    def _next_plain(self) -> bytes:
        if self._bytes is not None:
            piece = bytes(self._bytes[self._pos:self._pos + CHUNK])
            self._pos += len(piece)
            return piece
        assert self._src is not None
        buf = bytearray()
        while len(buf) < CHUNK:
            got = self._src.read(CHUNK - len(buf))
            if not got:
                break
            buf += got
        return bytes(buf)

    def _seal_next(self) -> None:
        current = self._pending
        following = self._next_plain() if len(current) == CHUNK else b""
        last = not following
        self._out += self._aes.encrypt(_nonce(self._prefix, self._index), current, _aad(last))
        self.plain_bytes += len(current)
        self._index += 1
        self._pending = following
        self._done = last

    def read(self, n: int = -1) -> bytes:
        while not self._done and (n < 0 or len(self._out) < n):
            self._seal_next()
        if n < 0 or n >= len(self._out):
            out, self._out = bytes(self._out), bytearray()
            return out
        out = bytes(self._out[:n])
        del self._out[:n]
        return out


def _sealed_pieces(chunks: Iterator[bytes]) -> Iterator[bytes | memoryview]:
    """Regroup a byte iterator into sealed chunks (the last may be short), slicing without copies where the
    pieces arrive aligned (the store below is asked for whole multiples of a sealed chunk)."""
    buf = bytearray()
    for c in chunks:
        view = memoryview(c)
        if buf:
            take = min(SEALED - len(buf), len(view))
            buf += view[:take]
            view = view[take:]
            if len(buf) < SEALED:
                continue
            yield bytes(buf)
            buf = bytearray()
        whole = len(view) - len(view) % SEALED
        for i in range(0, whole, SEALED):
            yield view[i:i + SEALED]
        buf += view[whole:]
    if buf:
        yield bytes(buf)


def _open_chunk(aes: AESGCM, prefix: bytes, index: int, sealed: bytes | memoryview, last: bool,
                key: str) -> bytes:
    try:
        return aes.decrypt(_nonce(prefix, index), sealed, _aad(last))
    except InvalidTag:
        raise S3Error("InternalError", f"The stored ciphertext of {key} does not authenticate: it was changed "
                      "outside Shipyard.", 500, key) from None


class EncryptedObjectStore(ObjectStore):
    """Wraps ``inner``; see the module docstring. ``with_encryption`` returns a view whose writes use the given
    encryption (the S3 API's per-request headers)."""

    def __init__(self, inner: ObjectStore, broker: KeyBroker, rules: EncryptionRules):
        self.inner = inner
        self.broker = broker
        self.rules = rules
        self._forced: Encryption | None = None

    def with_encryption(self, encryption: Encryption | None) -> "EncryptedObjectStore":
        if encryption is None:
            return self
        view = copy.copy(self)
        view._forced = encryption
        return view

    def _choice(self, bucket: str, key: str) -> Encryption | None:
        return self._forced or self.rules.default_for(bucket, key)

    @staticmethod
    def _context(bucket: str, key: str) -> dict[str, str]:
        return {"aws:s3:arn": f"arn:aws:s3:::{bucket}/{key}"}

    @staticmethod
    def _user_meta(metadata: dict[str, str] | None) -> dict[str, str]:
        return {k: v for k, v in (metadata or {}).items() if not k.lower().startswith(RESERVED)}

    def _wrap_info(self, info: ObjectInfo, header: int | None = None) -> EncryptedInfo:
        meta = info.metadata or {}
        alg = meta.get(META_ALG)
        sse = Encryption(alg, meta.get(META_KEY, "")) if alg else None
        size = info.size
        if sse is not None and META_ASSEMBLY not in meta:  # (an assembly's size is known once it is finished)
            size = plain_size(info.size, header if header is not None else self._header_len(sse))
        return EncryptedInfo(key=info.key, size=size, etag=info.etag, last_modified=info.last_modified,
                             content_type=info.content_type, metadata=self._user_meta(meta), sse=sse)

    def _header_len(self, sse: Encryption) -> int:
        return 2 + self.blob_len + PREFIX

    #: the length of a wrapped data key (fixed by the KMS blob format; set from the broker when it says)
    @property
    def blob_len(self) -> int:
        return int(getattr(self.broker, "wrapped_key_len", 104))

    # --- buckets ---------------------------------------------------------------------------------------------
    def create_bucket(self, bucket: str) -> None:
        self.inner.create_bucket(bucket)

    def delete_bucket(self, bucket: str) -> None:
        self.inner.delete_bucket(bucket)
        self.rules.set_bucket_default(bucket, None)

    def bucket_exists(self, bucket: str) -> bool:
        return self.inner.bucket_exists(bucket)

    def list_buckets(self) -> list[tuple[str, float]]:
        return self.inner.list_buckets()

    def bucket_encryption(self, bucket: str) -> Encryption | None:
        if not self.inner.bucket_exists(bucket):
            raise S3Error("NoSuchBucket", "The specified bucket does not exist", 404, bucket)
        return self.rules.bucket_default(bucket)

    def set_bucket_encryption(self, bucket: str, encryption: Encryption | None) -> None:
        if not self.inner.bucket_exists(bucket):
            raise S3Error("NoSuchBucket", "The specified bucket does not exist", 404, bucket)
        self.rules.set_bucket_default(bucket, encryption)

    # --- objects ---------------------------------------------------------------------------------------------
    def _encrypting(self, bucket: str, key: str, body: bytes | BinaryIO,
                    encryption: Encryption) -> tuple[EncryptingReader, Encryption]:
        data_key, wrapped, resolved = self.broker.new_data_key(encryption, self._context(bucket, key))
        return EncryptingReader(body, data_key, wrapped), resolved

    def _sse_meta(self, metadata: dict[str, str] | None, sse: Encryption) -> dict[str, str]:
        meta = self._user_meta(metadata)
        meta[META_ALG] = sse.algorithm
        if sse.key_id:
            meta[META_KEY] = sse.key_id
        return meta

    def put_object(self, bucket: str, key: str, body: bytes | BinaryIO, content_type: str | None = None,
                   metadata: dict[str, str] | None = None) -> ObjectInfo:
        choice = self._choice(bucket, key)
        if choice is None:
            return self._wrap_info(self.inner.put_object(bucket, key, body, content_type, self._user_meta(metadata)))
        if not self.inner.bucket_exists(bucket):  # before asking KMS, as S3 answers NoSuchBucket first
            raise S3Error("NoSuchBucket", "The specified bucket does not exist", 404, bucket)
        reader, sse = self._encrypting(bucket, key, body, choice)
        info = self.inner.put_object(bucket, key, _file(reader), content_type, self._sse_meta(metadata, sse))
        return self._wrap_info(info)

    def head_object(self, bucket: str, key: str) -> ObjectInfo:
        raw = self.inner.head_object(bucket, key)
        for _ in range(20):
            if META_ASSEMBLY not in (raw.metadata or {}):
                break
            done = self._assemble(bucket, key, raw)
            if done is not None:
                return done
            raw = self.inner.head_object(bucket, key)
        return self._wrap_info(raw)

    def open_object(self, bucket: str, key: str, start: int = 0, end: int | None = None,
                    chunk_size: int = 1 << 20) -> tuple[ObjectInfo, Iterator[bytes]]:
        for _ in range(20):
            try:  # a plaintext object costs what it costs below: one open
                raw, chunks = self.inner.open_object(bucket, key, start, end, chunk_size)
            except S3Error as e:
                if e.code != "InvalidRange":
                    raise
                raw = self.inner.head_object(bucket, key)
                if META_ALG not in (raw.metadata or {}):
                    raise
            else:
                if META_ALG not in (raw.metadata or {}):
                    return self._wrap_info(raw), chunks
                _close(chunks)  # an encrypted object: its plaintext range is another range below
            if META_ASSEMBLY in raw.metadata:
                self._assemble(bucket, key, raw)  # finish a completion first (then read the result)
                continue
            got = self._open_encrypted(bucket, key, raw, start, end)
            if got is not None:
                return got
        raise S3Error("InternalError", "The object kept changing while it was being read.", 500, key)

    def _open_encrypted(self, bucket: str, key: str, raw: ObjectInfo, start: int,
                        end: int | None) -> tuple[ObjectInfo, Iterator[bytes]] | None:
        info = self._wrap_info(raw)
        size = info.size
        if size == 0 and start == 0:
            last = -1
        else:
            if start < 0 or start >= size:
                raise S3Error("InvalidRange", "The requested range is not satisfiable", 416, key)
            last = size - 1 if end is None else min(end, size - 1)
            if last < start:
                raise S3Error("InvalidRange", "The requested range is not satisfiable", 416, key)
        header_len = 2 + self.blob_len + PREFIX
        first_chunk = start // CHUNK
        last_chunk = max(last, 0) // CHUNK
        count = _chunk_count(size)
        ct_from = header_len + first_chunk * SEALED
        ct_to = min(header_len + (last_chunk + 1) * SEALED, raw.size) - 1
        head_info, head_chunks = self.inner.open_object(bucket, key, 0, header_len - 1)
        header = b"".join(head_chunks)
        if head_info.etag != raw.etag:
            return None
        wrapped, prefix = header[2:2 + self.blob_len], header[2 + self.blob_len:]
        aes = AESGCM(self.broker.open_data_key(wrapped, self._context(bucket, key)))  # KMS says yes or raises
        body_info, body = self.inner.open_object(bucket, key, ct_from, ct_to, chunk_size=READ_CHUNKS * SEALED)
        if body_info.etag != raw.etag:
            _close(body)
            return None

        def plaintext() -> Iterator[bytes]:
            try:
                index = first_chunk
                batch: list[bytes] = []
                for sealed in _sealed_pieces(body):
                    plain = _open_chunk(aes, prefix, index, sealed, index == count - 1, key)
                    lo = start - index * CHUNK if index == first_chunk else 0
                    hi = last - index * CHUNK + 1 if index == last_chunk else len(plain)
                    if hi > lo:
                        batch.append(plain[lo:hi] if (lo, hi) != (0, len(plain)) else plain)
                    if len(batch) >= READ_CHUNKS:  # hand on ~1 MiB at a time, as the stores below do
                        yield b"".join(batch)
                        batch = []
                    index += 1
                if batch:
                    yield b"".join(batch)
            finally:
                _close(body)

        return info, _Closing(plaintext())

    def delete_object(self, bucket: str, key: str) -> None:
        self.inner.delete_object(bucket, key)

    def copy_object(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str,
                    metadata: dict[str, str] | None = None, content_type: str | None = None) -> ObjectInfo:
        choice = self._choice(dst_bucket, dst_key)
        src = self.inner.head_object(src_bucket, src_key)
        if choice is None and META_ALG not in (src.metadata or {}):
            keep = metadata is None and content_type is None
            return self._wrap_info(self.inner.copy_object(src_bucket, src_key, dst_bucket, dst_key,
                                                          None if keep else self._user_meta(metadata), content_type))
        info, chunks = self.open_object(src_bucket, src_key)
        if metadata is None and content_type is None:
            metadata, content_type = info.metadata, info.content_type
        try:
            return self.put_object(dst_bucket, dst_key, _file(_IterReader(chunks)), content_type, metadata or {})
        finally:
            _close(chunks)

    def list_objects(self, bucket: str, prefix: str = "", delimiter: str = "", start_after: str = "",
                     max_keys: int = 1000) -> ListResult:
        res = self.inner.list_objects(bucket, prefix, delimiter, start_after, max_keys)
        return ListResult([self._wrap_info(o) for o in res.objects], res.common_prefixes, res.is_truncated,
                          res.next_marker)

    # --- multipart -------------------------------------------------------------------------------------------
    def create_multipart_upload(self, bucket: str, key: str, content_type: str | None = None,
                                metadata: dict[str, str] | None = None) -> str:
        choice = self._choice(bucket, key)
        if choice is None:
            return self.inner.create_multipart_upload(bucket, key, content_type, self._user_meta(metadata))
        if not self.inner.bucket_exists(bucket):
            raise S3Error("NoSuchBucket", "The specified bucket does not exist", 404, bucket)
        _, _, sse = self.broker.new_data_key(choice, self._context(bucket, key))  # checks the key now, as S3 does
        assembly = f"assembly-{uuid.uuid4().hex}"
        meta = {**self._sse_meta(metadata, sse), META_ASSEMBLY: assembly}
        upload_id = self.inner.create_multipart_upload(bucket, key, content_type, meta)
        self.rules.save_upload(upload_id, UploadRecord(sse, assembly))
        return upload_id

    def upload_encryption(self, upload_id: str) -> Encryption | None:
        """The encryption an upload's parts get (None: a plaintext upload)."""
        record = self.rules.load_upload(upload_id)
        return record.encryption if record is not None else None

    def upload_part(self, bucket: str, key: str, upload_id: str, part_number: int,
                    body: bytes | BinaryIO) -> str:
        sse = self.upload_encryption(upload_id)
        if sse is None:
            return self.inner.upload_part(bucket, key, upload_id, part_number, body)
        reader, _ = self._encrypting(bucket, key, body, sse)
        return self.inner.upload_part(bucket, key, upload_id, part_number, _file(reader))

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[tuple[int, str, int, float]]:
        parts = self.inner.list_parts(bucket, key, upload_id)
        if self.rules.load_upload(upload_id) is None:
            return parts
        header = 2 + self.blob_len + PREFIX
        return [(n, etag, plain_size(size, header), mtime) for n, etag, size, mtime in parts]

    def list_multipart_uploads(self, bucket: str, prefix: str = "") -> list[tuple[str, str, float]]:
        return self.inner.list_multipart_uploads(bucket, prefix)

    def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        self.inner.abort_multipart_upload(bucket, key, upload_id)
        self.rules.drop_upload(upload_id)

    def complete_multipart_upload(self, bucket: str, key: str, upload_id: str,
                                  parts: list[tuple[int, str]]) -> ObjectInfo:
        record = self.rules.load_upload(upload_id)
        if record is None:
            return self._wrap_info(self.inner.complete_multipart_upload(bucket, key, upload_id, parts))
        sizes = {n: size for n, _, size, _ in self.inner.list_parts(bucket, key, upload_id)}
        # Kept before the parts become the object, so whoever meets the assembled object can finish it.
        assembly = UploadRecord(record.encryption, record.assembly, [sizes.get(n, 0) for n, _ in parts])
        self.rules.save_upload(record.assembly, assembly)
        try:
            raw = self.inner.complete_multipart_upload(bucket, key, upload_id, parts)
        except BaseException:
            self.rules.drop_upload(record.assembly)
            raise
        self.rules.drop_upload(upload_id)
        for _ in range(20):
            done = self._assemble(bucket, key, raw)
            if done is not None:
                return done
            raw = self.inner.head_object(bucket, key)
            if META_ASSEMBLY not in (raw.metadata or {}):
                return self._wrap_info(raw)
        raise S3Error("InternalError", "The object kept changing while its upload was being completed.", 500, key)

    def _assemble(self, bucket: str, key: str, raw: ObjectInfo) -> EncryptedInfo | None:
        """Re-encrypt a completed upload's object (its parts' streams one after another) into one stream.
        None when it is no longer the object ``raw`` describes (someone else finished it, or replaced it)."""
        record = self.rules.load_upload(raw.metadata[META_ASSEMBLY])
        if record is None or record.parts is None:
            return None
        opened, chunks = self.inner.open_object(bucket, key)
        try:
            if opened.etag != raw.etag:
                return None
            plain = _file(_IterReader(self._decrypt_parts(bucket, key, chunks, record.parts)))
            reader, resolved = self._encrypting(bucket, key, plain, record.encryption)
            meta = {k: v for k, v in self._sse_meta(raw.metadata, resolved).items() if k != META_ASSEMBLY}
            info = self.inner.put_object(bucket, key, _file(reader), raw.content_type, meta)
        finally:
            _close(chunks)
        self.rules.drop_upload(record.assembly)
        return self._wrap_info(info)

    def _decrypt_parts(self, bucket: str, key: str, chunks: Iterator[bytes], stored: list[int]) -> Iterator[bytes]:
        source = _IterReader(chunks)
        header_len = 2 + self.blob_len + PREFIX
        for part_size in stored:
            header = _read_exact(source, header_len)
            wrapped, prefix = header[2:2 + self.blob_len], header[2 + self.blob_len:]
            aes = AESGCM(self.broker.open_data_key(wrapped, self._context(bucket, key)))
            size = plain_size(part_size, header_len)
            count = _chunk_count(size)
            for index in range(count):
                want = CHUNK if index < count - 1 else size - index * CHUNK
                sealed = _read_exact(source, want + TAG)
                yield _open_chunk(aes, prefix, index, sealed, index == count - 1, key)

    # --- local fast paths ------------------------------------------------------------------------------------
    def link_file(self, bucket: str, key: str, dest) -> int:
        """A hard link to a plaintext object's body where the store below can make one; an encrypted object
        raises OSError, so the caller copies (decrypts) it instead."""
        linker = getattr(self.inner, "link_file", None)
        if linker is None or META_ALG in (self.inner.head_object(bucket, key).metadata or {}):
            raise OSError("an encrypted object is decrypted, not linked")
        return linker(bucket, key, dest)

    def close(self) -> None:
        closer = getattr(self.inner, "close", None)
        if closer is not None:
            closer()


def _read_exact(source: "_IterReader", n: int) -> bytes:
    data = source.read(n)
    if len(data) != n:
        raise S3Error("InternalError", "An encrypted object ended before its format says it should.", 500)
    return data


def _file(reader) -> BinaryIO:
    """Our readers offer ``read(n)``, all a store's writes use of a body."""
    return cast(BinaryIO, reader)


def _close(chunks) -> None:
    close = getattr(chunks, "close", None)
    if close:
        close()


class _IterReader:
    """``read(n)`` over a byte iterator (to stream one object's plaintext into another write)."""

    def __init__(self, chunks: Iterator[bytes]):
        self._it = iter(chunks)
        self._buf = bytearray()

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buf) < n:
            try:
                self._buf += next(self._it)
            except StopIteration:
                break
        if n < 0:
            n = len(self._buf)
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out


class _Closing:
    """An iterator with ``close`` (readers close what they do not finish, as the local store's files allow)."""

    def __init__(self, gen: Iterator[bytes]):
        self._gen = gen

    def __iter__(self) -> "_Closing":
        return self

    def __next__(self) -> bytes:
        return next(self._gen)

    def close(self) -> None:
        close = getattr(self._gen, "close", None)
        if close:
            close()
