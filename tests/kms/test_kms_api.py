"""KMS and S3 server-side encryption through boto3 against a real Shipyard server."""

from __future__ import annotations

import hashlib
import os
import uuid

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

pytestmark = pytest.mark.integration  # a server process of its own (module fixture)


@pytest.fixture(scope="module")
def kms_server(tmp_path_factory):
    from shipyard.testing.server import ShipyardProcess

    proc = ShipyardProcess(tmp_path_factory.mktemp("kms-home"))
    proc.start()
    try:
        yield proc
    finally:
        proc.stop(kill_children=True)


@pytest.fixture(scope="module")
def kms(kms_server):
    return kms_server.client("kms")


@pytest.fixture(scope="module")
def s3(kms_server):
    return kms_server.client("s3")


@pytest.fixture
def bucket(s3):
    name = f"sse-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def _code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def _stored(server, needle: bytes) -> list[str]:
    """Files in the server's object folder that hold ``needle`` (the plaintext must be in none)."""
    root = server.home / "objects"
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_key_lifecycle_through_boto3(kms):
    meta = kms.create_key(Description="lifecycle")["KeyMetadata"]
    assert meta["KeyState"] == "Enabled" and meta["Arn"].endswith(f":key/{meta['KeyId']}")
    kms.create_alias(AliasName="alias/lifecycle", TargetKeyId=meta["KeyId"])
    assert kms.describe_key(KeyId="alias/lifecycle")["KeyMetadata"]["KeyId"] == meta["KeyId"]
    assert meta["KeyId"] in [k["KeyId"] for k in kms.list_keys()["Keys"]]
    assert [a["TargetKeyId"] for a in kms.list_aliases(KeyId=meta["Arn"])["Aliases"]] == [meta["KeyId"]]

    blob = kms.encrypt(KeyId="alias/lifecycle", Plaintext=b"hello", EncryptionContext={"k": "v"})["CiphertextBlob"]
    out = kms.decrypt(CiphertextBlob=blob, EncryptionContext={"k": "v"})
    assert out["Plaintext"] == b"hello" and out["KeyId"] == meta["Arn"]
    data_key = kms.generate_data_key(KeyId=meta["KeyId"], KeySpec="AES_256")
    assert kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"] == data_key["Plaintext"]

    kms.enable_key_rotation(KeyId=meta["KeyId"])
    assert kms.get_key_rotation_status(KeyId=meta["KeyId"])["KeyRotationEnabled"] is True
    kms.rotate_key_on_demand(KeyId=meta["KeyId"])
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"k": "v"})["Plaintext"] == b"hello"

    kms.disable_key(KeyId=meta["KeyId"])
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"x")
    assert _code(e) == "DisabledException"
    kms.enable_key(KeyId=meta["KeyId"])
    deletion = kms.schedule_key_deletion(KeyId=meta["KeyId"], PendingWindowInDays=7)
    assert deletion["KeyState"] == "PendingDeletion" and deletion["PendingWindowInDays"] == 7
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=blob, EncryptionContext={"k": "v"})
    assert _code(e) == "KMSInvalidStateException"
    kms.cancel_key_deletion(KeyId=meta["KeyId"])
    assert kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"


def test_kms_errors_carry_aws_codes(kms):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"x")["CiphertextBlob"]
    cases = [
        (lambda: kms.describe_key(KeyId=str(uuid.uuid4())), "NotFoundException"),
        (lambda: kms.decrypt(CiphertextBlob=blob, KeyId=other), "IncorrectKeyException"),
        (lambda: kms.decrypt(CiphertextBlob=b"garbage" * 20), "InvalidCiphertextException"),
        (lambda: kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=3), "ValidationException"),
        (lambda: kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY"), "UnsupportedOperationException"),
    ]
    kms.create_alias(AliasName=f"alias/{key}", TargetKeyId=key)
    cases.append((lambda: kms.create_alias(AliasName=f"alias/{key}", TargetKeyId=key), "AlreadyExistsException"))
    for call, code in cases:
        with pytest.raises(ClientError) as e:
            call()
        assert _code(e) == code


def test_sse_kms_put_get_head_and_ciphertext_on_disk(kms_server, kms, s3, bucket):
    key = kms.create_key()["KeyMetadata"]
    secret = b"SSE-KMS plaintext marker " + uuid.uuid4().hex.encode()
    put = s3.put_object(Bucket=bucket, Key="doc.txt", Body=secret * 100, ServerSideEncryption="aws:kms",
                        SSEKMSKeyId=key["KeyId"])
    assert (put["ServerSideEncryption"], put["SSEKMSKeyId"]) == ("aws:kms", key["Arn"])
    head = s3.head_object(Bucket=bucket, Key="doc.txt")
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"], head["ContentLength"]) == (
        "aws:kms", key["Arn"], len(secret) * 100)
    got = s3.get_object(Bucket=bucket, Key="doc.txt")
    assert got["Body"].read() == secret * 100 and got["SSEKMSKeyId"] == key["Arn"]
    ranged = s3.get_object(Bucket=bucket, Key="doc.txt", Range=f"bytes={len(secret)}-{2 * len(secret) - 1}")
    assert ranged["Body"].read() == secret and ranged["ContentRange"].endswith(f"/{len(secret) * 100}")
    assert _stored(kms_server, secret) == []
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"]) for o in listed] == [("doc.txt", len(secret) * 100)]

    s3.put_object(Bucket=bucket, Key="s3-managed", Body=secret, ServerSideEncryption="AES256")
    assert s3.head_object(Bucket=bucket, Key="s3-managed")["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="s3-managed")["Body"].read() == secret
    s3.put_object(Bucket=bucket, Key="plain", Body=secret)
    assert "ServerSideEncryption" not in s3.head_object(Bucket=bucket, Key="plain")
    assert len(_stored(kms_server, secret)) == 1  # only the object stored without encryption


def test_wrong_disabled_and_deleted_keys_are_refused(kms, s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="aws:kms",
                      SSEKMSKeyId=str(uuid.uuid4()))
    assert _code(e) == "KMS.NotFoundException"
    with pytest.raises(ClientError) as e:  # SSE-C is refused, never silently stored as plaintext
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", SSECustomerAlgorithm="AES256", SSECustomerKey="k" * 32)
    assert _code(e) == "NotImplemented"
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    s3.put_object(Bucket=bucket, Key="k", Body=b"secret", ServerSideEncryption="aws:kms", SSEKMSKeyId=key)
    kms.disable_key(KeyId=key)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k")
    assert _code(e) == "KMS.DisabledException"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k2", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=key)
    assert _code(e) == "KMS.DisabledException"
    kms.enable_key(KeyId=key)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"secret"
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k")
    assert _code(e) == "KMS.KMSInvalidStateException"


def test_multipart_copy_and_bucket_default(kms, s3, bucket, tmp_path):
    key = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName=f"alias/mp-{bucket}", TargetKeyId=key["KeyId"])
    data = os.urandom(11 * 1024 * 1024 + 17)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    config = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024 + 3)
    s3.upload_file(str(src), bucket, "big.bin", Config=config,
                   ExtraArgs={"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": f"alias/mp-{bucket}"})
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == len(data) and head["SSEKMSKeyId"] == key["Arn"]
    got = s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    tail = s3.get_object(Bucket=bucket, Key="big.bin", Range="bytes=-100")["Body"].read()
    assert tail == data[-100:]

    copied = s3.copy_object(Bucket=bucket, Key="copy-plain", CopySource={"Bucket": bucket, "Key": "big.bin"})
    assert "ServerSideEncryption" not in copied  # no header and no bucket default: stored as plaintext
    assert s3.get_object(Bucket=bucket, Key="copy-plain")["Body"].read() == data
    copied = s3.copy_object(Bucket=bucket, Key="copy-s3", CopySource={"Bucket": bucket, "Key": "copy-plain"},
                            ServerSideEncryption="AES256")
    assert copied["ServerSideEncryption"] == "AES256"

    with pytest.raises(ClientError) as e:
        s3.get_bucket_encryption(Bucket=bucket)
    assert _code(e) == "ServerSideEncryptionConfigurationNotFoundError"
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key["Arn"]}}]})
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key["Arn"]}
    put = s3.put_object(Bucket=bucket, Key="by-default", Body=b"d")
    assert put["ServerSideEncryption"] == "aws:kms" and put["SSEKMSKeyId"] == key["Arn"]
    copied = s3.copy_object(Bucket=bucket, Key="copy-default", CopySource={"Bucket": bucket, "Key": "copy-plain"})
    assert copied["SSEKMSKeyId"] == key["Arn"]
    with pytest.raises(ClientError) as e:
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [
            {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms",
                                                    "KMSMasterKeyID": str(uuid.uuid4())}}]})
    assert _code(e) == "KMS.NotFoundException"
    s3.delete_bucket_encryption(Bucket=bucket)
    assert "ServerSideEncryption" not in s3.put_object(Bucket=bucket, Key="after", Body=b"d")


def test_aws_kms_without_a_key_uses_the_aws_managed_aws_s3_key(kms_server, kms, s3, bucket):
    """What the SageMaker SDK asks for its source uploads: ServerSideEncryption aws:kms, no key id."""
    secret = b"managed-key-secret-" + uuid.uuid4().hex.encode()
    put = s3.put_object(Bucket=bucket, Key="sdk/source.tar.gz", Body=secret, ServerSideEncryption="aws:kms")
    managed = kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]
    assert managed["KeyManager"] == "AWS" and managed["KeyState"] == "Enabled"
    assert put["SSEKMSKeyId"] == managed["Arn"]
    s3.put_object(Bucket=bucket, Key="sdk/second", Body=b"x", ServerSideEncryption="aws:kms")
    assert [a["TargetKeyId"] for a in kms.list_aliases()["Aliases"] if a["AliasName"] == "alias/aws/s3"] == [
        managed["KeyId"]]  # one managed key, made once
    assert s3.get_object(Bucket=bucket, Key="sdk/source.tar.gz")["Body"].read() == secret
    assert _stored(kms_server, secret) == []  # ciphertext on disk
    for refused in (lambda: kms.disable_key(KeyId=managed["KeyId"]),
                    lambda: kms.schedule_key_deletion(KeyId=managed["KeyId"], PendingWindowInDays=7)):
        with pytest.raises(ClientError) as e:
            refused()
        assert _code(e) == "UnsupportedOperationException" and "AWS managed" in str(e.value)
