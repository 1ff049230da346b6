"""S3 request bodies: streamed to a temporary file, unframed from ``aws-chunked`` and checked on the way.

What clients send (botocore among them, depending on version, transport and checksum settings):

- a plain body, with ``x-amz-content-sha256`` either the body's SHA-256 (checked here: XAmzContentSHA256Mismatch)
  or ``UNSIGNED-PAYLOAD``;
- ``aws-chunked`` framing (``x-amz-content-sha256: STREAMING-...``): ``<hex size>[;chunk-signature=<sig>]\\r\\n
  <data>\\r\\n`` ... ``0[;chunk-signature=...]\\r\\n`` then optional trailer lines (``x-amz-checksum-crc32:...``)
  and a blank line. ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` chunks are signed, each over the previous signature;
  we check that chain when given the secret key. ``x-amz-decoded-content-length`` is the unframed size;
- optionally ``Content-MD5`` (BadDigest) and ``x-amz-checksum-<algorithm>`` as a header or a trailer (BadDigest).

The body never sits in memory whole: it is written to a temporary file as it arrives.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import tempfile
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO

from ..errors import S3Error

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_MAX_CHUNK_HEADER = 4096


class _Crc32:
    def __init__(self):
        self.value = 0

    def update(self, data: bytes) -> None:
        self.value = zlib.crc32(data, self.value)

    def b64(self) -> str:
        return base64.b64encode(self.value.to_bytes(4, "big")).decode()


class _Hash:
    def __init__(self, name: str):
        self.h = hashlib.new(name)

    def update(self, data: bytes) -> None:
        self.h.update(data)

    def b64(self) -> str:
        return base64.b64encode(self.h.digest()).decode()


# Algorithms we can check; others (crc32c, crc64nvme without awscrt) are accepted unchecked.
_CHECKSUMS = {"crc32": _Crc32, "sha1": lambda: _Hash("sha1"), "sha256": lambda: _Hash("sha256")}


@dataclass
class ChunkSigner:
    """Verifies the signature chain of ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` chunks."""

    signing_key: bytes
    amz_date: str
    scope: str
    previous: str  # the seed signature (from the Authorization header), then each chunk's

    @classmethod
    def from_headers(cls, headers, secret_key: str) -> "ChunkSigner | None":
        auth = headers.get("authorization", "")
        m = re.search(r"Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request", auth)
        sig = re.search(r"Signature=([0-9a-f]{64})", auth)
        amz_date = _request_stamp(headers)
        if not (m and sig and amz_date and secret_key):
            return None
        date, region, service = m.group(2), m.group(3), m.group(4)
        key = ("AWS4" + secret_key).encode()
        for part in (date, region, service, "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        return cls(key, amz_date, f"{date}/{region}/{service}/aws4_request", sig.group(1))

    def check(self, chunk_sha256: str, signature: str) -> None:
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", self.amz_date, self.scope, self.previous, EMPTY_SHA256,
                         chunk_sha256])
        expected = hmac.new(self.signing_key, sts.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise S3Error("SignatureDoesNotMatch", "The request signature we calculated does not match the "
                          "signature you provided. Check your key and signing method.", 403)
        self.previous = signature


def _request_stamp(headers) -> str:
    """The request's ``yyyymmddTHHMMSSZ`` stamp, as the seed signature used it: ``X-Amz-Date``, else ``Date``.

    SigV4 signs with ``Date`` when ``X-Amz-Date`` is absent; the chunk signatures chain from the same stamp,
    so a request signed that way must have its chunks checked just the same.
    """
    stamp = headers.get("x-amz-date", "")
    if stamp or not headers.get("date"):
        return stamp
    import datetime as _dt
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(headers["date"])
    except (TypeError, ValueError):
        return ""
    when = when if when.tzinfo else when.replace(tzinfo=_dt.timezone.utc)
    return when.astimezone(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


@dataclass
class AwsChunkedDecoder:
    """Push-style decoder of the aws-chunked framing: ``feed`` bytes as they arrive, get payload bytes back."""

    signer: ChunkSigner | None = None
    trailers: dict[str, str] = field(default_factory=dict)
    _buf: bytearray = field(default_factory=bytearray)
    _state: str = "size"
    _remaining: int = 0
    _signature: str = ""
    _chunk_hash: object = None

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out: list[bytes] = []
        while self._buf:
            if self._state == "size":
                line = self._line()
                if line is None:
                    break
                size_part, _, ext = line.partition(";")
                try:
                    self._remaining = int(size_part.strip(), 16)
                except ValueError:
                    raise _incomplete("The chunk size is not hexadecimal.") from None
                self._signature = ext.split("=", 1)[1].strip() if ext.startswith("chunk-signature=") else ""
                if self.signer is not None and not self._signature:
                    raise S3Error("SignatureDoesNotMatch", "A signed chunk carries no chunk-signature.", 403)
                self._chunk_hash = hashlib.sha256() if self.signer is not None else None
                if self._remaining == 0:
                    self._end_chunk()
                    self._state = "trailer"
                else:
                    self._state = "data"
            elif self._state == "data":
                take = bytes(self._buf[:self._remaining])
                del self._buf[:len(take)]
                self._remaining -= len(take)
                if self._chunk_hash is not None:
                    self._chunk_hash.update(take)
                out.append(take)
                if self._remaining == 0:
                    self._state = "crlf"
            elif self._state == "crlf":
                if len(self._buf) < 2:
                    break
                if bytes(self._buf[:2]) != b"\r\n":
                    raise _incomplete("A chunk is not followed by CRLF.")
                del self._buf[:2]
                self._end_chunk()
                self._state = "size"
            elif self._state == "trailer":
                line = self._line()
                if line is None:
                    break
                if line == "":
                    self._state = "done"
                else:
                    name, _, value = line.partition(":")
                    self.trailers[name.strip().lower()] = value.strip()
            else:  # done: anything more is framing garbage
                raise _incomplete("Data follows the final chunk.")
        return out

    def finish(self) -> None:
        if self._state not in ("trailer", "done") or self._buf:
            raise _incomplete("The aws-chunked body ended before its final chunk.")

    def _line(self) -> str | None:
        i = self._buf.find(b"\r\n")
        if i < 0:
            if len(self._buf) > _MAX_CHUNK_HEADER:
                raise _incomplete("A chunk header is too long.")
            return None
        line = bytes(self._buf[:i]).decode("latin-1")
        del self._buf[:i + 2]
        return line

    def _end_chunk(self) -> None:
        if self.signer is not None:
            digest = self._chunk_hash.hexdigest() if self._chunk_hash is not None else EMPTY_SHA256
            self.signer.check(digest, self._signature)


def _incomplete(message: str) -> S3Error:
    return S3Error("IncompleteBody", message, 400)


@dataclass
class SpooledBody:
    file: BinaryIO
    size: int
    checksums: dict[str, str]  # header name (x-amz-checksum-crc32) -> base64 value, for the response

    def close(self) -> None:
        self.file.close()


async def spool_request_body(request, secret_key: str = "") -> SpooledBody:
    """Stream the request body into a temporary file, unframed and verified; the file is left at offset 0."""
    headers = request.headers
    sha_header = headers.get("x-amz-content-sha256", "")
    chunked = sha_header.startswith("STREAMING-") or "aws-chunked" in headers.get("content-encoding", "")
    decoder = None
    if chunked:
        signer = None
        if sha_header.startswith("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"):
            signer = ChunkSigner.from_headers(headers, secret_key)
            if signer is None and secret_key:  # never accept "signed" chunks we cannot check
                raise S3Error("SignatureDoesNotMatch", "The chunk signatures of this request cannot be checked: "
                              "its Authorization header or request date is missing or malformed.", 403)
        decoder = AwsChunkedDecoder(signer=signer)
    sha256 = hashlib.sha256() if _HEX64.match(sha_header) else None
    md5 = hashlib.md5() if headers.get("content-md5") else None
    algorithms = _checksum_algorithms(headers)
    sums = {alg: _CHECKSUMS[alg]() for alg in algorithms if alg in _CHECKSUMS}
    f = tempfile.TemporaryFile()
    size = 0
    try:
        async for raw in request.stream():
            if not raw:
                continue
            if sha256 is not None:
                sha256.update(raw)
            pieces = decoder.feed(raw) if decoder is not None else [raw]
            for piece in pieces:
                f.write(piece)
                size += len(piece)
                if md5 is not None:
                    md5.update(piece)
                for s in sums.values():
                    s.update(piece)
        if decoder is not None:
            decoder.finish()
        _verify(headers, size, sha256, sha_header, md5, sums, decoder.trailers if decoder else {})
        f.seek(0)
    except BaseException:
        f.close()
        raise
    return SpooledBody(f, size, {f"x-amz-checksum-{alg}": s.b64() for alg, s in sums.items()})


def _checksum_algorithms(headers) -> list[str]:
    algs = [name[len("x-amz-checksum-"):] for name in headers.keys()
            if name.lower().startswith("x-amz-checksum-") and name.lower() not in ("x-amz-checksum-type",
                                                                                  "x-amz-checksum-algorithm")]
    for name in headers.get("x-amz-trailer", "").split(","):
        name = name.strip().lower()
        if name.startswith("x-amz-checksum-"):
            algs.append(name[len("x-amz-checksum-"):])
    return [a.lower() for a in algs]


def _verify(headers, size: int, sha256, sha_header: str, md5, sums: dict, trailers: dict[str, str]) -> None:
    decoded = headers.get("x-amz-decoded-content-length")
    if decoded is not None and decoded.strip().isdigit() and int(decoded) != size:
        raise _incomplete(f"You did not provide the number of bytes specified by the x-amz-decoded-content-length "
                          f"header ({decoded}; received {size}).")
    if sha256 is not None and sha256.hexdigest() != sha_header:
        raise S3Error("XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what "
                      "was computed.", 400)
    if md5 is not None:
        try:
            expected = base64.b64decode(headers["content-md5"], validate=True)
        except ValueError:
            raise S3Error("InvalidDigest", "The Content-MD5 you specified was invalid.", 400) from None
        if expected != md5.digest():
            raise S3Error("BadDigest", "The Content-MD5 you specified did not match what we received.", 400)
    for alg, s in sums.items():
        given = headers.get(f"x-amz-checksum-{alg}") or trailers.get(f"x-amz-checksum-{alg}")
        if given is not None and given != s.b64():
            raise S3Error("BadDigest", f"The {alg.upper()} you specified did not match the calculated checksum.",
                          400)
