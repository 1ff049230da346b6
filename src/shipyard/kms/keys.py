"""The key service: KMS keys and aliases as metadata-store resources, and the operations over them.

A key is a ``kms-key`` resource (name: its UUID, status: its KeyState); its material, one 32-byte AES key per
rotation version, is stored only wrapped under the operator's master key (:mod:`.envelope`). An alias is a
``kms-alias`` resource (name: ``alias/...``) naming its target key. Every operation that takes a ``KeyId``
accepts the key's id, its ARN, an alias name or an alias ARN (:meth:`KeyService.resolve`).

States follow AWS: ``Enabled`` <-> ``Disabled`` (EnableKey / DisableKey); ScheduleKeyDeletion moves either to
``PendingDeletion`` for 7-30 days (CancelKeyDeletion brings it back as ``Disabled``); once the window has passed
the key is purged (its record, its material and its aliases) the next time anything looks it up, so every
ciphertext under it is unreadable from then on. Rotation (EnableKeyRotation, RotateKeyOnDemand) adds a version;
old versions are kept so older ciphertext still decrypts, and new encryption uses the newest.

The clock is a parameter (``clock``), so tests move time instead of sleeping for days.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from ..errors import ConflictError, KmsError, MissingResource, ResourceInUse, ValidationError
from ..metastore.base import ListQuery, MetaStore
from . import envelope

KEY_KIND = "kms-key"
ALIAS_KIND = "kms-alias"
DAY = 86400.0
MIN_WINDOW_DAYS, MAX_WINDOW_DAYS, DEFAULT_WINDOW_DAYS = 7, 30, 30
DEFAULT_ROTATION_DAYS = 365
MAX_RETRIES = 20  # compare-and-set attempts before a change gives up
SYMMETRIC = "SYMMETRIC_DEFAULT"
DATA_KEY_SPECS = {"AES_256": 32, "AES_128": 16}


def kms_error(code: str, message: str, http_status: int = 400) -> KmsError:
    """A KMS error with KMS's code (the one exception type; see :class:`shipyard.errors.KmsError`)."""
    return KmsError(message, code=code, http_status=http_status)


def not_found(key_ref: str) -> KmsError:
    return kms_error("NotFoundException", f"Key '{key_ref}' does not exist")


@dataclass
class KeyVersion:
    version: int
    wrapped: str      # the material sealed under the master key, base64
    created: float


@dataclass
class KmsKey:
    """A key's typed state (the resource's ``doc``)."""

    key_id: str
    arn: str
    created: float
    description: str = ""
    state: str = "Enabled"
    versions: list[KeyVersion] = field(default_factory=list)
    rotation: bool = False
    rotation_days: int = DEFAULT_ROTATION_DAYS
    last_rotated: float = 0.0
    deletion_date: float | None = None
    pending_window: int | None = None
    tags: list[dict[str, str]] = field(default_factory=list)
    manager: str = "CUSTOMER"  # "AWS": a managed key (alias/aws/s3), made by the service on first use
    revision: int = field(default=0, compare=False)  # the record's version when read (not stored in the doc)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> "KmsKey":
        data = dict(doc)
        data["versions"] = [KeyVersion(**v) for v in data.get("versions") or []]
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def to_doc(self) -> dict[str, Any]:
        doc = asdict(self)
        doc.pop("revision")
        return doc

    def metadata(self, account: str) -> dict[str, Any]:
        """DescribeKey's ``KeyMetadata``."""
        out: dict[str, Any] = {
            "AWSAccountId": account, "KeyId": self.key_id, "Arn": self.arn, "CreationDate": self.created,
            "Enabled": self.state == "Enabled", "Description": self.description, "KeyUsage": "ENCRYPT_DECRYPT",
            "KeyState": self.state, "Origin": "AWS_KMS", "KeyManager": self.manager, "CustomerMasterKeySpec": SYMMETRIC,
            "KeySpec": SYMMETRIC, "EncryptionAlgorithms": [SYMMETRIC], "MultiRegion": False,
        }
        if self.state == "PendingDeletion":
            out["DeletionDate"] = self.deletion_date
            out["PendingDeletionWindowInDays"] = self.pending_window
        return out

    def current(self) -> KeyVersion:
        return self.versions[-1]


class KeyService:
    """KMS over the metadata store. Thread safe: each change is a compare-and-set on the key's record."""

    def __init__(self, meta: MetaStore, master_key: bytes, region: str, account: str,
                 clock: Callable[[], float] = time.time):
        self.meta = meta
        self.region = region
        self.account = account
        self.clock = clock
        self._master = master_key
        self._materials: dict[tuple[str, int], bytes] = {}  # unwrapped versions (immutable once made)
        self._lock = threading.Lock()

    # --- names ------------------------------------------------------------------------------------------------
    def key_arn(self, key_id: str) -> str:
        return f"arn:aws:kms:{self.region}:{self.account}:key/{key_id}"

    def alias_arn(self, alias: str) -> str:
        return f"arn:aws:kms:{self.region}:{self.account}:{alias}"

    def _load(self, key_id: str) -> KmsKey | None:
        res = self.meta.find(KEY_KIND, key_id)
        if res is None:
            return None
        key = KmsKey.from_doc(res.doc)
        key.revision = res.version
        if key.state == "PendingDeletion" and key.deletion_date is not None and self.clock() >= key.deletion_date:
            self._purge(key)
            return None
        return key

    def resolve(self, key_ref: str) -> KmsKey:
        """The key named by an id, a key ARN, an alias name or an alias ARN; NotFoundException otherwise."""
        ref = (key_ref or "").strip()
        if not ref:
            raise ValidationError("KeyId must name a key: its id, its ARN, an alias name (alias/...) or an alias "
                                  "ARN.")
        name = ref
        if ref.startswith("arn:"):
            parts = ref.split(":", 5)
            if len(parts) != 6 or parts[2] != "kms":
                raise not_found(ref)
            name = parts[5]
        if name.startswith("alias/"):
            alias = self.meta.find(ALIAS_KIND, name)
            if alias is None:
                raise kms_error("NotFoundException", f"Alias {self.alias_arn(name)} is not found.")
            key_id = alias.doc["TargetKeyId"]
        else:
            key_id = name.removeprefix("key/")
        key = self._load(key_id.lower())
        if key is None:
            raise kms_error("NotFoundException", f"Key '{self.key_arn(key_id)}' does not exist")
        return key

    @staticmethod
    def require_usable(key: KmsKey) -> None:
        """DisabledException / KMSInvalidStateException for a key that may not encrypt or decrypt now."""
        if key.state == "Disabled":
            raise kms_error("DisabledException", f"{key.arn} is disabled.")
        if key.state != "Enabled":
            raise kms_error("KMSInvalidStateException", f"{key.arn} is pending deletion.")

    def _modify(self, key_ref: str, change: Callable[[KmsKey], None]) -> KmsKey:
        """Apply ``change`` to the key and save it as a compare-and-set on the record's version: a concurrent
        change (a DisableKey racing an EnableKeyRotation) makes this one read the key again and re-apply, so
        neither is lost. ``change`` raises to refuse (a key in the wrong state)."""
        for _ in range(MAX_RETRIES):
            key = self.resolve(key_ref)
            change(key)
            try:
                self.meta.update(KEY_KIND, key.key_id, changes=key.to_doc(), status=key.state,
                                 expect_version=key.revision)
            except ConflictError:
                continue
            return key
        raise kms_error("KMSInternalException", f"The key {key_ref} kept changing while this change was being "
                        "made; retry.", 500)

    def _material(self, key: KmsKey, version: KeyVersion) -> bytes:
        cached = self._materials.get((key.key_id, version.version))
        if cached is None:
            try:
                cached = envelope.unwrap_material(self._master, key.key_id, version.version,
                                                  base64.b64decode(version.wrapped))
            except envelope.BadCiphertext:
                raise kms_error("KMSInternalException", f"The material of {key.arn} does not open under this "
                               "server's master key: the server was started with a different "
                               "SHIPYARD_KMS_MASTER_KEY than the one the key was created under.", 500) from None
            self._materials[(key.key_id, version.version)] = cached
        return cached

    def _new_version(self, key: KmsKey) -> KeyVersion:
        number = (key.versions[-1].version + 1) if key.versions else 1
        wrapped = envelope.wrap_material(self._master, key.key_id, number, envelope.new_key())
        return KeyVersion(number, base64.b64encode(wrapped).decode(), self.clock())

    # --- keys -------------------------------------------------------------------------------------------------
    def create_key(self, description: str = "", key_spec: str = SYMMETRIC, key_usage: str = "ENCRYPT_DECRYPT",
                   origin: str = "AWS_KMS", tags: list[dict[str, str]] | None = None,
                   manager: str = "CUSTOMER") -> KmsKey:
        if key_spec != SYMMETRIC or key_usage != "ENCRYPT_DECRYPT":
            raise kms_error("UnsupportedOperationException", f"Shipyard's KMS makes symmetric encryption keys only "
                           f"(KeySpec {SYMMETRIC}, KeyUsage ENCRYPT_DECRYPT); {key_spec}/{key_usage} is not "
                           "supported.")
        if origin != "AWS_KMS":
            raise kms_error("UnsupportedOperationException", f"Origin {origin} is not supported: Shipyard makes the "
                           "key material itself (Origin AWS_KMS).")
        key_id = str(uuid.uuid4())
        now = self.clock()
        key = KmsKey(key_id=key_id, arn=self.key_arn(key_id), created=now, description=description,
                     last_rotated=now, tags=list(tags or []), manager=manager)
        key.versions.append(self._new_version(key))
        self.meta.create(KEY_KIND, key_id, key.arn, key.state, key.to_doc())
        return key

    def list_keys(self, limit: int = 100, marker: str | None = None) -> tuple[list[KmsKey], str | None]:
        page = self.meta.list(KEY_KIND, ListQuery(sort_by="created", descending=False, max_results=limit,
                                                  next_token=marker or None))
        keys = [k for k in (self._load(r.name) for r in page.items) if k is not None]
        return keys, page.next_token

    @staticmethod
    def _customer_managed(key: KmsKey, what: str) -> None:
        if key.manager == "AWS":
            raise kms_error("UnsupportedOperationException", f"{key.arn} is an AWS managed key: it cannot be "
                           f"{what}. Use a key of your own (CreateKey) for that.")

    def managed_key(self, service: str = "s3") -> KmsKey:
        """The account's AWS managed key for ``service`` (``alias/aws/s3``), made on first use as AWS does: what
        ``ServerSideEncryption: aws:kms`` without a key id encrypts under (the SageMaker SDK's uploads ask so)."""
        alias = f"alias/aws/{service}"
        for _ in range(MAX_RETRIES):
            found = self.meta.find(ALIAS_KIND, alias)
            if found is not None:
                key = self._load(found.doc["TargetKeyId"])
                if key is not None:
                    return key
                self.meta.delete(ALIAS_KIND, alias)  # its key is gone: make a new one
                continue
            what = {"s3": "S3 objects", "secretsmanager": "Secrets Manager data"}.get(service, f"{service} data")
            key = self.create_key(f"Default key that protects my {what} when no other key is defined",
                                  manager="AWS")
            try:
                self.meta.create(ALIAS_KIND, alias, self.alias_arn(alias), "Active", self._alias_doc(alias, key))
            except ResourceInUse:  # another request made it first: use that one, drop ours
                self.meta.delete(KEY_KIND, key.key_id)
                continue
            return key
        raise kms_error("KMSInternalException", f"The AWS managed key {alias} could not be made; retry.", 500)

    def set_enabled(self, key_ref: str, enabled: bool) -> KmsKey:
        def change(key: KmsKey) -> None:
            self._customer_managed(key, "enabled or disabled")
            if key.state == "PendingDeletion":
                raise kms_error("KMSInvalidStateException", f"{key.arn} is pending deletion.")
            key.state = "Enabled" if enabled else "Disabled"

        return self._modify(key_ref, change)

    def update_description(self, key_ref: str, description: str) -> KmsKey:
        def change(key: KmsKey) -> None:
            key.description = description

        return self._modify(key_ref, change)

    def schedule_deletion(self, key_ref: str, days: int | None) -> KmsKey:
        days = DEFAULT_WINDOW_DAYS if days is None else int(days)
        if not MIN_WINDOW_DAYS <= days <= MAX_WINDOW_DAYS:
            raise ValidationError(f"PendingWindowInDays must be between {MIN_WINDOW_DAYS} and {MAX_WINDOW_DAYS}; "
                                  f"{days} was given.")

        def change(key: KmsKey) -> None:
            self._customer_managed(key, "scheduled for deletion")
            if key.state == "PendingDeletion":
                raise kms_error("KMSInvalidStateException", f"{key.arn} is pending deletion.")
            key.state, key.pending_window, key.deletion_date = "PendingDeletion", days, self.clock() + days * DAY

        return self._modify(key_ref, change)

    def cancel_deletion(self, key_ref: str) -> KmsKey:
        def change(key: KmsKey) -> None:
            if key.state != "PendingDeletion":
                raise kms_error("KMSInvalidStateException", f"{key.arn} is not pending deletion.")
            key.state, key.pending_window, key.deletion_date = "Disabled", None, None

        return self._modify(key_ref, change)

    def _purge(self, key: KmsKey) -> None:
        """Delete a key whose deletion window has passed: its record, its material, its aliases."""
        with self._lock:
            for alias in self._aliases_of(key.key_id):
                try:
                    self.meta.delete(ALIAS_KIND, alias.name)
                except MissingResource:
                    pass
            try:
                self.meta.delete(KEY_KIND, key.key_id)
            except MissingResource:
                pass
            for k in [k for k in self._materials if k[0] == key.key_id]:
                del self._materials[k]

    # --- rotation ---------------------------------------------------------------------------------------------
    def set_rotation(self, key_ref: str, enabled: bool, period_days: int | None = None) -> KmsKey:
        if period_days is not None and not 90 <= int(period_days) <= 2560:
            raise ValidationError(f"RotationPeriodInDays must be between 90 and 2560; {period_days} was given.")

        def change(key: KmsKey) -> None:
            self.require_usable(key)
            if enabled and not key.rotation:  # the first automatic rotation is one period from now
                key.last_rotated = self.clock()
            key.rotation = enabled
            if period_days is not None:
                key.rotation_days = int(period_days)

        return self._modify(key_ref, change)

    def rotate(self, key_ref: str) -> KmsKey:
        """RotateKeyOnDemand: a new version; older ones stay for decryption."""
        def change(key: KmsKey) -> None:
            self.require_usable(key)
            self._add_version(key)

        return self._modify(key_ref, change)

    def _add_version(self, key: KmsKey) -> None:
        key.versions.append(self._new_version(key))
        key.last_rotated = self.clock()

    def next_rotation(self, key: KmsKey) -> float | None:
        return key.last_rotated + key.rotation_days * DAY if key.rotation else None

    def _due_rotation(self, key: KmsKey) -> KmsKey:
        """The key, rotated first when its period has passed (once, however many callers race to it)."""
        due = self.next_rotation(key)
        if due is None or self.clock() < due:
            return key

        def change(fresh: KmsKey) -> None:
            when = self.next_rotation(fresh)
            if when is not None and self.clock() >= when:
                self._add_version(fresh)

        return self._modify(key.key_id, change)

    # --- cryptographic operations -----------------------------------------------------------------------------
    def encrypt(self, key_ref: str, plaintext: bytes, context: dict[str, str] | None = None) -> tuple[bytes, KmsKey]:
        key = self.resolve(key_ref)
        self.require_usable(key)
        key = self._due_rotation(key)
        version = key.current()
        blob = envelope.encrypt_blob(self._material(key, version), key.key_id, version.version, plaintext, context)
        return blob, key

    def decrypt(self, blob: bytes, context: dict[str, str] | None = None,
                key_ref: str | None = None) -> tuple[bytes, KmsKey]:
        try:
            header = envelope.read_header(blob)
        except envelope.BadCiphertext:
            raise kms_error("InvalidCiphertextException", "The ciphertext is not a KMS ciphertext blob (or it was "
                           "changed).") from None
        key = self._load(header.key_id)
        if key_ref:
            wanted = self.resolve(key_ref)
            if key is None or wanted.key_id != key.key_id:
                raise kms_error("IncorrectKeyException", f"The key ID in the request ({wanted.arn}) does not "
                               "identify the KMS key that encrypted the ciphertext.")
        if key is None:
            raise kms_error("NotFoundException", f"The KMS key that encrypted this ciphertext "
                           f"({self.key_arn(header.key_id)}) does not exist (it may have been deleted).")
        self.require_usable(key)
        version = next((v for v in key.versions if v.version == header.version), None)
        if version is None:
            raise kms_error("InvalidCiphertextException", "The ciphertext names a key version that does not exist.")
        try:
            return envelope.decrypt_blob(self._material(key, version), blob, context), key
        except envelope.BadCiphertext:
            raise kms_error("InvalidCiphertextException", "The ciphertext does not decrypt: it was changed, or the "
                           "EncryptionContext differs from the one it was encrypted with.") from None

    def generate_data_key(self, key_ref: str, context: dict[str, str] | None = None, number_of_bytes: int | None = None,
                          key_spec: str | None = None) -> tuple[bytes, bytes, KmsKey]:
        """A fresh data key: its plaintext and the same sealed under the KMS key."""
        if (number_of_bytes is None) == (key_spec is None):
            raise ValidationError("Give exactly one of KeySpec (AES_256, AES_128) or NumberOfBytes (1-1024).")
        if key_spec is not None:
            if key_spec not in DATA_KEY_SPECS:
                raise ValidationError(f"KeySpec must be one of {sorted(DATA_KEY_SPECS)}; {key_spec} was given.")
            number_of_bytes = DATA_KEY_SPECS[key_spec]
        assert number_of_bytes is not None
        if not 1 <= number_of_bytes <= 1024:
            raise ValidationError(f"NumberOfBytes must be between 1 and 1024; {number_of_bytes} was given.")
        plaintext = secrets.token_bytes(number_of_bytes)
        blob, key = self.encrypt(key_ref, plaintext, context)
        return plaintext, blob, key

    # --- aliases ----------------------------------------------------------------------------------------------
    @staticmethod
    def _check_alias_name(name: str) -> None:
        if not name.startswith("alias/") or len(name) <= len("alias/"):
            raise ValidationError(f"AliasName must begin with alias/ and name something: {name!r}.")
        if name.startswith("alias/aws/"):
            raise kms_error("NotAuthorizedException", "Aliases beginning with alias/aws/ are reserved for AWS "
                           "managed keys; choose another name.")

    def _alias_doc(self, name: str, key: KmsKey, created: float | None = None) -> dict[str, Any]:
        now = self.clock()
        return {"AliasName": name, "AliasArn": self.alias_arn(name), "TargetKeyId": key.key_id,
                "CreationDate": created or now, "LastUpdatedDate": now}

    def create_alias(self, name: str, target: str) -> None:
        self._check_alias_name(name)
        key = self.resolve(target)
        if key.state == "PendingDeletion":
            raise kms_error("KMSInvalidStateException", f"{key.arn} is pending deletion.")
        try:
            self.meta.create(ALIAS_KIND, name, self.alias_arn(name), "Active", self._alias_doc(name, key))
        except ResourceInUse:
            raise kms_error("AlreadyExistsException", f"An alias with the name {self.alias_arn(name)} already "
                           "exists") from None

    def update_alias(self, name: str, target: str) -> None:
        self._check_alias_name(name)
        alias = self.meta.find(ALIAS_KIND, name)
        if alias is None:
            raise kms_error("NotFoundException", f"Alias {self.alias_arn(name)} is not found.")
        key = self.resolve(target)
        self.meta.update(ALIAS_KIND, name, changes=self._alias_doc(name, key, alias.doc.get("CreationDate")))

    def delete_alias(self, name: str) -> None:
        self._check_alias_name(name)
        try:
            self.meta.delete(ALIAS_KIND, name)
        except MissingResource:
            raise kms_error("NotFoundException", f"Alias {self.alias_arn(name)} is not found.") from None

    def _aliases_of(self, key_id: str | None) -> list[Any]:
        out, token = [], None
        for _ in range(10_000):  # bounded: 1,000 pages of 100
            page = self.meta.list(ALIAS_KIND, ListQuery(sort_by="name", descending=False, max_results=100,
                                                        next_token=token))
            out += [a for a in page.items if key_id is None or a.doc.get("TargetKeyId") == key_id]
            token = page.next_token
            if not token:
                break
        return out

    def list_aliases(self, key_ref: str | None = None) -> list[dict[str, Any]]:
        key_id = self.resolve(key_ref).key_id if key_ref else None
        return [dict(a.doc) for a in self._aliases_of(key_id)]
