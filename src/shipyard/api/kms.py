"""KMS (``TrentService``, JSON 1.1): thin handlers over :class:`shipyard.kms.keys.KeyService` (``services.kms``)."""

from __future__ import annotations

from typing import Any

from ..errors import ValidationError
from .registry import operation

SYMMETRIC = "SYMMETRIC_DEFAULT"


def _keys(services):
    return services.kms.keys


def _algorithm(params: dict) -> None:
    alg = params.get("EncryptionAlgorithm")
    if alg not in (None, SYMMETRIC):
        raise ValidationError(f"EncryptionAlgorithm {alg} is not valid for a symmetric key: use {SYMMETRIC}.")


def _limit(params: dict) -> int:
    return int(params.get("Limit") or 100)


@operation("kms", "CreateKey")
def create_key(services, params: dict) -> dict:
    key = _keys(services).create_key(description=params.get("Description") or "",
                                     key_spec=params.get("KeySpec") or params.get("CustomerMasterKeySpec") or SYMMETRIC,
                                     key_usage=params.get("KeyUsage") or "ENCRYPT_DECRYPT",
                                     origin=params.get("Origin") or "AWS_KMS", tags=params.get("Tags"))
    return {"KeyMetadata": key.metadata(services.account)}


@operation("kms", "DescribeKey")
def describe_key(services, params: dict) -> dict:
    return {"KeyMetadata": _keys(services).resolve(params["KeyId"]).metadata(services.account)}


@operation("kms", "ListKeys")
def list_keys(services, params: dict) -> dict:
    keys, marker = _keys(services).list_keys(_limit(params), params.get("Marker"))
    out: dict[str, Any] = {"Keys": [{"KeyId": k.key_id, "KeyArn": k.arn} for k in keys], "Truncated": bool(marker)}
    if marker:
        out["NextMarker"] = marker
    return out


@operation("kms", "UpdateKeyDescription")
def update_key_description(services, params: dict) -> dict:
    _keys(services).update_description(params["KeyId"], params.get("Description") or "")
    return {}


@operation("kms", "EnableKey")
def enable_key(services, params: dict) -> dict:
    _keys(services).set_enabled(params["KeyId"], True)
    return {}


@operation("kms", "DisableKey")
def disable_key(services, params: dict) -> dict:
    _keys(services).set_enabled(params["KeyId"], False)
    return {}


@operation("kms", "ScheduleKeyDeletion")
def schedule_key_deletion(services, params: dict) -> dict:
    key = _keys(services).schedule_deletion(params["KeyId"], params.get("PendingWindowInDays"))
    return {"KeyId": key.arn, "DeletionDate": key.deletion_date, "KeyState": key.state,
            "PendingWindowInDays": key.pending_window}


@operation("kms", "CancelKeyDeletion")
def cancel_key_deletion(services, params: dict) -> dict:
    return {"KeyId": _keys(services).cancel_deletion(params["KeyId"]).arn}


@operation("kms", "EnableKeyRotation")
def enable_key_rotation(services, params: dict) -> dict:
    _keys(services).set_rotation(params["KeyId"], True, params.get("RotationPeriodInDays"))
    return {}


@operation("kms", "DisableKeyRotation")
def disable_key_rotation(services, params: dict) -> dict:
    _keys(services).set_rotation(params["KeyId"], False)
    return {}


@operation("kms", "GetKeyRotationStatus")
def get_key_rotation_status(services, params: dict) -> dict:
    keys = _keys(services)
    key = keys.resolve(params["KeyId"])
    out: dict[str, Any] = {"KeyRotationEnabled": key.rotation, "KeyId": key.arn}
    if key.rotation:
        out["RotationPeriodInDays"] = key.rotation_days
        out["NextRotationDate"] = keys.next_rotation(key)
    return out


@operation("kms", "RotateKeyOnDemand")
def rotate_key_on_demand(services, params: dict) -> dict:
    return {"KeyId": _keys(services).rotate(params["KeyId"]).key_id}


@operation("kms", "ListKeyRotations")
def list_key_rotations(services, params: dict) -> dict:
    key = _keys(services).resolve(params["KeyId"])
    rotations = [{"KeyId": key.arn, "RotationDate": v.created,
                  "RotationType": "AUTOMATIC" if key.rotation else "ON_DEMAND"} for v in key.versions[1:]]
    return {"Rotations": rotations, "Truncated": False}


@operation("kms", "Encrypt")
def encrypt(services, params: dict) -> dict:
    _algorithm(params)
    blob, key = _keys(services).encrypt(params["KeyId"], params["Plaintext"], params.get("EncryptionContext"))
    return {"CiphertextBlob": blob, "KeyId": key.arn, "EncryptionAlgorithm": SYMMETRIC}


def _ciphertext(params: dict) -> bytes:
    """CiphertextBlob: optional in botocore's model (for Recipient/DryRun variants), required by every use here."""
    blob = params.get("CiphertextBlob")
    if not blob:
        raise ValidationError("CiphertextBlob is required: pass the blob Encrypt or GenerateDataKey returned.")
    return blob


@operation("kms", "Decrypt")
def decrypt(services, params: dict) -> dict:
    _algorithm(params)
    _ciphertext(params)
    plaintext, key = _keys(services).decrypt(params["CiphertextBlob"], params.get("EncryptionContext"),
                                             params.get("KeyId"))
    return {"KeyId": key.arn, "Plaintext": plaintext, "EncryptionAlgorithm": SYMMETRIC}


@operation("kms", "ReEncrypt")
def re_encrypt(services, params: dict) -> dict:
    keys = _keys(services)
    plaintext, source = keys.decrypt(_ciphertext(params), params.get("SourceEncryptionContext"),
                                     params.get("SourceKeyId"))
    blob, key = keys.encrypt(params["DestinationKeyId"], plaintext, params.get("DestinationEncryptionContext"))
    return {"CiphertextBlob": blob, "SourceKeyId": source.arn, "KeyId": key.arn,
            "SourceEncryptionAlgorithm": SYMMETRIC, "DestinationEncryptionAlgorithm": SYMMETRIC}


@operation("kms", "GenerateDataKey")
def generate_data_key(services, params: dict) -> dict:
    plaintext, blob, key = _keys(services).generate_data_key(params["KeyId"], params.get("EncryptionContext"),
                                                             params.get("NumberOfBytes"), params.get("KeySpec"))
    return {"CiphertextBlob": blob, "Plaintext": plaintext, "KeyId": key.arn}


@operation("kms", "GenerateDataKeyWithoutPlaintext")
def generate_data_key_without_plaintext(services, params: dict) -> dict:
    _, blob, key = _keys(services).generate_data_key(params["KeyId"], params.get("EncryptionContext"),
                                                     params.get("NumberOfBytes"), params.get("KeySpec"))
    return {"CiphertextBlob": blob, "KeyId": key.arn}


@operation("kms", "CreateAlias")
def create_alias(services, params: dict) -> dict:
    _keys(services).create_alias(params["AliasName"], params["TargetKeyId"])
    return {}


@operation("kms", "UpdateAlias")
def update_alias(services, params: dict) -> dict:
    _keys(services).update_alias(params["AliasName"], params["TargetKeyId"])
    return {}


@operation("kms", "DeleteAlias")
def delete_alias(services, params: dict) -> dict:
    _keys(services).delete_alias(params["AliasName"])
    return {}


@operation("kms", "ListAliases")
def list_aliases(services, params: dict) -> dict:
    aliases = _keys(services).list_aliases(params.get("KeyId"))
    start = int(params.get("Marker") or 0) if str(params.get("Marker") or "0").isdigit() else 0
    page = aliases[start:start + _limit(params)]
    out: dict[str, Any] = {"Aliases": page, "Truncated": start + len(page) < len(aliases)}
    if out["Truncated"]:
        out["NextMarker"] = str(start + len(page))
    return out
