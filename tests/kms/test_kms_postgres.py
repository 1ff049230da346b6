"""The key service and the encryption rules on PostgreSQL (names there are length-checked, unlike SQLite's)."""

from __future__ import annotations

import secrets

import pytest

from shipyard.kms import envelope
from shipyard.kms.keys import KeyService
from shipyard.kms.s3 import EncryptionRuleBook
from shipyard.metastore import open_metastore
from shipyard.objectstore.encrypted import AES256, KMS, Encryption, UploadRecord


@pytest.fixture
def pg_meta(pg_url):
    import psycopg

    schema = f"shipyard_kms_{secrets.token_hex(6)}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    meta = open_metastore(f"{pg_url}{'&' if '?' in pg_url else '?'}schema={schema}")
    try:
        yield meta
    finally:
        meta.close()
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_keys_aliases_and_rules_on_postgres(pg_meta):
    keys = KeyService(pg_meta, envelope.new_key(), "us-east-1", "123456789012")
    key = keys.create_key(description="pg")
    keys.create_alias("alias/pg", key.key_id)
    blob, _ = keys.encrypt("alias/pg", b"on postgres")
    assert keys.decrypt(blob)[0] == b"on postgres"
    rules = EncryptionRuleBook(pg_meta, keys)
    deep = "bkt/" + "/".join(["a-long-folder-name"] * 40)  # ~760 characters: over any name column
    rules.encrypt_folder(deep, Encryption(KMS, key.arn))
    rules.encrypt_folder("bkt/Out", Encryption(AES256))
    rules.encrypt_folder("bkt/out", Encryption(KMS, key.arn))  # S3 keys are case-sensitive: two rules
    again = EncryptionRuleBook(pg_meta, keys)
    assert again.default_for("bkt", deep[4:] + "/model.tar.gz") == Encryption(KMS, key.arn)
    assert again.default_for("bkt", "Out/x") == Encryption(AES256)
    assert again.default_for("bkt", "out/x") == Encryption(KMS, key.arn)
    rules.save_upload("upload-1", UploadRecord(Encryption(AES256), "assembly-1"))
    rules.save_upload("assembly-1", UploadRecord(Encryption(AES256), "assembly-1", [10, 20]))
    assert again.load_upload("upload-1") == UploadRecord(Encryption(AES256), "assembly-1")
    assert again.load_upload("assembly-1").parts == [10, 20]
    rules.drop_upload("upload-1")
    assert again.load_upload("upload-1") is None
