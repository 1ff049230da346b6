"""Shipyard's KMS: symmetric keys kept wrapped under the operator's master key, envelope encryption with AES-GCM,
and what S3 server-side encryption needs from them.

- :mod:`.master`   loads the master key (``SHIPYARD_KMS_MASTER_KEY``, ``..._FILE``, or ``<home>/kms-master.key``)
- :mod:`.envelope` AES-256-GCM sealing and the self-describing ciphertext blob (pure)
- :mod:`.keys`     keys and aliases as metadata-store resources; Encrypt, Decrypt, GenerateDataKey, states, rotation
- :mod:`.s3`       data keys and encryption rules for the encrypting object store
- :mod:`.jobs`     validating a SageMaker request's ``KmsKeyId`` fields and encrypting job outputs with them
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..metastore.base import MetaStore
from .keys import KeyService
from .master import load_master_key
from .s3 import EncryptionRuleBook, S3KeyBroker


@dataclass
class Kms:
    """The key service and the object store's view of it, built once per server (``services.kms``)."""

    keys: KeyService
    broker: S3KeyBroker
    rules: EncryptionRuleBook


def build_kms(meta: MetaStore, home: str | Path, region: str, account: str) -> Kms:
    master = load_master_key(home)
    keys = KeyService(meta, master, region, account)
    return Kms(keys=keys, broker=S3KeyBroker(keys, master), rules=EncryptionRuleBook(meta, keys))


__all__ = ["Kms", "KeyService", "build_kms", "load_master_key"]
