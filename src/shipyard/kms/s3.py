"""What the encrypting object store needs from KMS: data keys (:class:`S3KeyBroker`) and the rules that say which
writes are encrypted without asking (:class:`EncryptionRuleBook`).

SSE-S3 (``AES256``) uses one server-owned key, :data:`S3_KEY_ID`, whose material is derived from the master key:
it has no record, cannot be disabled and is not listed, as AWS's S3-managed keys are not customer keys.

Rules are ``s3-encryption`` resources whose scope is a bucket's name (its default encryption, from
PutBucketEncryption) or ``<bucket>/<folder>/`` (a job's output folder, from ``OutputDataConfig.KmsKeyId`` and
its kin). The longest folder a key is under wins, then the bucket's default. A rule's resource name is a digest
of its scope: S3 keys are case-sensitive and up to 1,024 bytes, resource names are neither. They are read once
and kept in memory: the server is their only writer. An encrypted multipart upload in progress is an
``s3-encrypted-upload`` resource (named by its upload id) until it completes or is aborted, and its assembly
(named ``assembly-...``) one until the completed object has been re-encrypted into one stream.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from typing import Any

from ..errors import MissingResource, ResourceInUse
from ..metastore.base import ListQuery, MetaStore
from ..objectstore.encrypted import AES256, KMS, Encryption, UploadRecord
from . import envelope
from .keys import KeyService, kms_error

RULE_KIND = "s3-encryption"
UPLOAD_KIND = "s3-encrypted-upload"
S3_KEY_ID = "00000000-0000-0000-0000-000000000053"
WRAPPED_KEY_LEN = envelope.MIN_BLOB_LEN + 32  # a KMS blob holding a 32-byte data key


class S3KeyBroker:
    """Data keys for objects: under a KMS key (``aws:kms``) or the server's S3 key (``AES256``)."""

    wrapped_key_len = WRAPPED_KEY_LEN

    def __init__(self, keys: KeyService, master_key: bytes):
        self.keys = keys
        self._s3_material = hmac.new(master_key, b"shipyard sse-s3 key v1", hashlib.sha256).digest()

    def new_data_key(self, encryption: Encryption, context: dict[str, str]) -> tuple[bytes, bytes, Encryption]:
        data_key = envelope.new_key()
        if encryption.algorithm == AES256:
            return data_key, envelope.encrypt_blob(self._s3_material, S3_KEY_ID, 1, data_key, context), encryption
        key_ref = encryption.key_id or self.keys.managed_key("s3").key_id  # no key named: aws/s3, as AWS does
        blob, key = self.keys.encrypt(key_ref, data_key, context)
        return data_key, blob, Encryption(KMS, key.arn)

    def open_data_key(self, wrapped: bytes, context: dict[str, str]) -> bytes:
        try:
            header = envelope.read_header(wrapped)
        except envelope.BadCiphertext:
            raise kms_error("InvalidCiphertextException", "An encrypted object's data key is damaged.") from None
        if header.key_id == S3_KEY_ID:
            try:
                return envelope.decrypt_blob(self._s3_material, wrapped, context)
            except envelope.BadCiphertext:
                raise kms_error("InvalidCiphertextException", "An SSE-S3 object's data key does not open under this "
                               "server's master key.") from None
        return self.keys.decrypt(wrapped, context)[0]


def _rule_name(scope: str) -> str:
    return "rule-" + hashlib.sha256(scope.encode("utf-8", "surrogatepass")).hexdigest()[:48]


class EncryptionRuleBook:
    """Bucket defaults and folder rules, in the metadata store and cached in memory."""

    def __init__(self, meta: MetaStore, keys: KeyService):
        self.meta = meta
        self.keys = keys
        self._lock = threading.Lock()
        self._rules: dict[str, Encryption] | None = None

    def _all(self) -> dict[str, Encryption]:
        if self._rules is None:
            with self._lock:
                if self._rules is None:
                    rules: dict[str, Encryption] = {}
                    token = None
                    for _ in range(100_000):  # bounded: pages of 100
                        page = self.meta.list(RULE_KIND, ListQuery(max_results=100, next_token=token))
                        for r in page.items:
                            rules[r.doc["Scope"]] = Encryption(r.doc["Algorithm"], r.doc.get("KeyId", ""))
                        token = page.next_token
                        if not token:
                            break
                    self._rules = rules
        return self._rules

    def default_for(self, bucket: str, key: str) -> Encryption | None:
        rules = self._all()
        if not rules:
            return None
        scope = f"{bucket}/{key}"
        cut = len(scope)
        while True:  # the longest folder rule ("bucket/a/b/", ..., "bucket/") the key is under
            cut = scope.rfind("/", 0, cut)
            if cut < len(bucket):
                return rules.get(bucket)  # then the bucket's default
            found = rules.get(scope[:cut + 1])
            if found is not None:
                return found

    def bucket_default(self, bucket: str) -> Encryption | None:
        return self._all().get(bucket)

    def set_bucket_default(self, bucket: str, encryption: Encryption | None) -> None:
        self.set_rule(bucket, encryption)

    def encrypt_folder(self, uri_prefix: str, encryption: Encryption) -> None:
        """Encrypt every write under ``bucket/prefix`` (taken as a folder) with ``encryption``."""
        self.set_rule(uri_prefix.rstrip("/") + "/", encryption)

    def set_rule(self, scope: str, encryption: Encryption | None) -> None:
        """Encrypt every write under ``scope`` with ``encryption`` (None: stop). ``scope`` is a bucket's name (its
        default) or ``bucket/folder/`` (``bucket/`` for a folder rule on the whole bucket): bucket names have no
        ``/``, so the two never meet."""
        rules = self._all()
        with self._lock:
            if encryption is None:
                try:
                    self.meta.delete(RULE_KIND, _rule_name(scope))
                except MissingResource:
                    pass
                rules.pop(scope, None)
                return
            doc: dict[str, Any] = {"Scope": scope, "Algorithm": encryption.algorithm, "KeyId": encryption.key_id}
            try:
                self.meta.create(RULE_KIND, _rule_name(scope), f"arn:aws:s3:::{scope}", "Active", doc)
            except ResourceInUse:
                self.meta.update(RULE_KIND, _rule_name(scope), changes=doc)
            rules[scope] = encryption

    # --- multipart uploads in progress ------------------------------------------------------------------------
    def save_upload(self, name: str, record: UploadRecord) -> None:
        doc = {"Algorithm": record.encryption.algorithm, "KeyId": record.encryption.key_id,
               "Assembly": record.assembly, "Parts": record.parts}
        try:
            self.meta.create(UPLOAD_KIND, name, f"arn:aws:s3:::upload/{name}", "InProgress", doc)
        except ResourceInUse:
            self.meta.update(UPLOAD_KIND, name, changes=doc)

    def load_upload(self, name: str) -> UploadRecord | None:
        found = self.meta.find(UPLOAD_KIND, name)
        if found is None:
            return None
        doc = found.doc
        return UploadRecord(Encryption(doc["Algorithm"], doc.get("KeyId", "")), doc.get("Assembly", ""),
                            doc.get("Parts"))

    def drop_upload(self, name: str) -> None:
        try:
            self.meta.delete(UPLOAD_KIND, name)
        except MissingResource:
            pass
