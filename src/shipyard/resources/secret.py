"""Secrets: the minimal Secrets Manager a code repository's ``GitConfig.SecretArn`` needs.

SageMaker reads a private repository's credentials from a Secrets Manager secret whose SecretString is
``{"username": ..., "password": ...}``. Shipyard serves CreateSecret, DescribeSecret, GetSecretValue,
PutSecretValue and DeleteSecret (unmodified boto3 ``secretsmanager`` clients) so the same SecretArn works against
both. A secret is a row of kind ``secret`` in the metadata store, readable by whoever can read that store (the
server's own credentials are in the same home) — but the value only as ciphertext: encrypted under the secret's
``KmsKeyId`` or, as AWS does, the account's AWS managed key ``alias/aws/secretsmanager`` (Shipyard's KMS), with
the secret's ARN as the encryption context. Its ARN ends with ``-`` and six random characters, as AWS's does.
There are no versions beyond the current one and no rotation. DeleteSecret deletes at once (no recovery window).
"""

from __future__ import annotations

import base64
import json
import re
import secrets as _random
import string
import time
import uuid
from typing import Any

from ..context import Services
from ..errors import ResourceInUse, ResourceNotFound, ValidationError
from ..metastore.base import Resource

KIND = "secret"
_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
_ALPHABET = string.ascii_letters + string.digits


class SecretNotFound(ResourceNotFound):
    """Secrets Manager's own code for a secret that is not there."""

    code = "ResourceNotFoundException"
    http_status = 400


class SecretExists(ResourceInUse):
    code = "ResourceExistsException"
    http_status = 400


def _name_of(secret_id: str) -> str:
    """A secret's name from its name or ARN (``...:secret:<name>-XXXXXX``)."""
    if secret_id.startswith("arn:"):
        tail = secret_id.split(":secret:", 1)[-1]
        return tail[:-7] if len(tail) > 7 and tail[-7] == "-" else tail
    return secret_id


def get(services: Services, secret_id: str) -> Resource:
    found = services.meta.find(KIND, _name_of(secret_id or ""))
    if found is None or (secret_id.startswith("arn:") and found.arn != secret_id):
        raise SecretNotFound(f"Secrets Manager can't find the specified secret {secret_id!r}: create it with "
                             "CreateSecret, or give the ARN CreateSecret answered.")
    return found


def _seal(services: Services, arn: str, key_ref: str, text: str | None) -> dict[str, Any]:
    """The document fields holding ``text`` encrypted (``_Ciphertext``, base64) under ``key_ref`` (or aws/...)."""
    if text is None:
        return {"_Ciphertext": None, "KmsKeyId": key_ref or None}
    keys = services.kms.keys
    key = keys.resolve(key_ref) if key_ref else keys.managed_key("secretsmanager")
    blob, key = keys.encrypt(key.key_id, text.encode("utf-8"), {"SecretARN": arn})
    return {"_Ciphertext": base64.b64encode(blob).decode("ascii"), "KmsKeyId": key_ref or None}


def _open(services: Services, r: Resource) -> str | None:
    sealed = r.doc.get("_Ciphertext")
    if sealed is None:
        return r.doc.get("SecretString")  # a secret stored before values were encrypted
    plaintext, _ = services.kms.keys.decrypt(base64.b64decode(sealed), {"SecretARN": r.arn})
    return plaintext.decode("utf-8")


def create(services: Services, params: dict) -> dict:
    name = params["Name"]
    if not _NAME.match(name):
        raise ValidationError("Name must be 1-512 letters, digits and /_+=.@- characters.")
    if params.get("SecretBinary") is not None:
        raise ValidationError("SecretBinary is not served by Shipyard: give the secret as SecretString.")
    suffix = "".join(_random.choice(_ALPHABET) for _ in range(6))
    arn = f"arn:aws:secretsmanager:{services.region}:{services.account}:secret:{name}-{suffix}"
    version = params.get("ClientRequestToken") or str(uuid.uuid4())
    now = time.time()
    doc: dict[str, Any] = {"ARN": arn, "Name": name, "Description": params.get("Description") or "",
                           "VersionId": version, "CreatedDate": now, "LastChangedDate": now,
                           "_tags": list(params.get("Tags") or [])}
    doc.update(_seal(services, arn, params.get("KmsKeyId") or "", params.get("SecretString")))
    try:
        services.meta.create(KIND, name, arn, "Active", doc)
    except ResourceInUse:
        raise SecretExists(f"The operation failed because the secret {name} already exists.") from None
    return {"ARN": arn, "Name": name, "VersionId": version}


def put_value(services: Services, params: dict) -> dict:
    r = get(services, params["SecretId"])
    version = params.get("ClientRequestToken") or str(uuid.uuid4())
    changes = {"VersionId": version, "LastChangedDate": time.time(), "SecretString": None}
    changes.update(_seal(services, r.arn, r.doc.get("KmsKeyId") or "", params.get("SecretString")))
    services.meta.update(KIND, r.name, changes)
    return {"ARN": r.arn, "Name": r.name, "VersionId": version, "VersionStages": ["AWSCURRENT"]}


def value(services: Services, secret_id: str) -> dict:
    r = get(services, secret_id)
    return {"ARN": r.arn, "Name": r.name, "VersionId": r.doc["VersionId"], "SecretString": _open(services, r),
            "VersionStages": ["AWSCURRENT"], "CreatedDate": r.doc["CreatedDate"]}


def describe(services: Services, secret_id: str) -> dict:
    r = get(services, secret_id)
    out = {k: v for k, v in r.doc.items()
           if not k.startswith("_") and k not in ("SecretString", "VersionId") and v is not None}
    out["VersionIdsToStages"] = {r.doc["VersionId"]: ["AWSCURRENT"]}
    out["Tags"] = r.doc.get("_tags") or []
    return out


def delete(services: Services, secret_id: str) -> dict:
    r = get(services, secret_id)
    services.meta.delete(KIND, r.name)
    return {"ARN": r.arn, "Name": r.name, "DeletionDate": time.time()}


def git_credentials(services: Services, secret_arn: str, field: str = "GitConfig.SecretArn") -> tuple[str, str]:
    """The ``(username, password)`` a code repository's secret holds; refused, naming ``field``, when the secret
    is missing or is not the JSON object SageMaker expects."""
    try:
        r = get(services, secret_arn)
    except SecretNotFound:
        raise ValidationError(f"{field} {secret_arn!r} names no secret: create it with Secrets Manager's "
                              "CreateSecret (SecretString {\"username\": ..., \"password\": ...}) first.") from None
    try:
        doc = json.loads(_open(services, r) or "")
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or not isinstance(doc.get("username"), str) or \
            not isinstance(doc.get("password"), str):
        raise ValidationError(f"{field} {secret_arn!r}: the secret's SecretString must be a JSON object with "
                              "\"username\" and \"password\" strings.")
    return doc["username"], doc["password"]
