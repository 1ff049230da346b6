"""AES-256-GCM envelope encryption (``cryptography``'s AESGCM), and the KMS ciphertext blob format.

Pure functions over bytes: no store, no clock. A KMS key's material (one 32-byte AES key per rotation version)
is kept only *wrapped* under the operator's master key (:func:`wrap_material`); ``Encrypt`` seals plaintext
under a version's material into a blob that names its key and version, so ``Decrypt`` needs no ``KeyId``,
as in AWS. The blob layout::

    b"SYK1" | key id (36 ASCII bytes, a UUID) | version (4 bytes, big-endian) | nonce (12) | ciphertext + tag (16)

The header and the request's encryption context are the AEAD's associated data: a blob whose key id, version
or context was changed does not open (InvalidCiphertextException), as AWS behaves.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"SYK1"
KEY_ID_LEN = 36
NONCE_LEN = 12
TAG_LEN = 16
HEADER_LEN = len(MAGIC) + KEY_ID_LEN + 4
MIN_BLOB_LEN = HEADER_LEN + NONCE_LEN + TAG_LEN


class BadCiphertext(Exception):
    """The bytes are not a blob of ours, or they do not open under the key (tampered, wrong context)."""


@dataclass(frozen=True)
class BlobHeader:
    key_id: str
    version: int


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def seal(key: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
    """``nonce | ciphertext+tag`` under ``key`` (a fresh random 96-bit nonce per call)."""
    nonce = os.urandom(NONCE_LEN)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def unseal(key: bytes, sealed: bytes, aad: bytes = b"") -> bytes:
    if len(sealed) < NONCE_LEN + TAG_LEN:
        raise BadCiphertext("too short")
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_LEN], sealed[NONCE_LEN:], aad)
    except InvalidTag:
        raise BadCiphertext("authentication failed") from None


def wrap_material(master: bytes, key_id: str, version: int, material: bytes) -> bytes:
    """A key version's material sealed under the master key, bound to its key id and version."""
    return seal(master, material, f"material:{key_id}:{version}".encode())


def unwrap_material(master: bytes, key_id: str, version: int, wrapped: bytes) -> bytes:
    return unseal(master, wrapped, f"material:{key_id}:{version}".encode())


def context_bytes(context: dict[str, str] | None) -> bytes:
    """The encryption context, canonically (sorted keys), so the same map always authenticates the same."""
    return json.dumps(context or {}, sort_keys=True, separators=(",", ":")).encode()


def encrypt_blob(material: bytes, key_id: str, version: int, plaintext: bytes,
                 context: dict[str, str] | None = None) -> bytes:
    header = MAGIC + key_id.encode("ascii") + struct.pack(">I", version)
    if len(header) != HEADER_LEN:
        raise ValueError("a key id is a 36-character UUID")
    return header + seal(material, plaintext, header + context_bytes(context))


def read_header(blob: bytes) -> BlobHeader:
    """The key id and version a blob names (without opening it)."""
    if len(blob) < MIN_BLOB_LEN or not blob.startswith(MAGIC):
        raise BadCiphertext("not a Shipyard KMS ciphertext")
    try:
        key_id = blob[len(MAGIC):len(MAGIC) + KEY_ID_LEN].decode("ascii")
    except UnicodeDecodeError:
        raise BadCiphertext("not a Shipyard KMS ciphertext") from None
    (version,) = struct.unpack(">I", blob[len(MAGIC) + KEY_ID_LEN:HEADER_LEN])
    return BlobHeader(key_id, version)


def decrypt_blob(material: bytes, blob: bytes, context: dict[str, str] | None = None) -> bytes:
    read_header(blob)
    header = blob[:HEADER_LEN]
    return unseal(material, blob[HEADER_LEN:], header + context_bytes(context))
