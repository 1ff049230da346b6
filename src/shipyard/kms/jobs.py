"""SageMaker's ``KmsKeyId`` fields: checked when a job or endpoint config is created, and honoured by encrypting
what is written under the output folders they govern.

Each ``Create*`` call hands its request here (one line in the resource's ``create``). A key that does not exist,
is disabled or is pending deletion is refused with ValidationException naming the field, as SageMaker does. An
output key becomes a folder rule of the encrypting object store (:meth:`EncryptionRuleBook.encrypt_folder`):
everything written under the folder is SSE-KMS under that key, whoever writes it (the job through its own key,
the server for it), so the jobs themselves need no KMS permission and never see key material.

``VolumeKmsKeyId`` (ResourceConfig, ProcessingResources.ClusterConfig, TransformResources) is checked the same
way and accepted: Shipyard's "ML storage volume" is the job's folder under the server's home, which Shipyard does
not encrypt itself; operators who need it encrypted at rest keep ``SHIPYARD_HOME`` on an encrypted file system
(docs/kms.md says so).
"""

from __future__ import annotations

from typing import Any

from ..domain.s3_uri import parse_s3_uri
from ..errors import KmsError, ValidationError
from ..objectstore.encrypted import KMS, Encryption


def _kms(services):
    return getattr(services, "kms", None)


def check_key(services, key_ref: str | None, field: str) -> Encryption | None:
    """The resolved key a request's ``field`` names (None when empty); ValidationException when unusable."""
    if not key_ref:
        return None
    kms = _kms(services)
    if kms is None:
        raise ValidationError(f"{field}: this server has no key service, so {key_ref!r} cannot be used.")
    try:
        key = kms.keys.resolve(key_ref)
        kms.keys.require_usable(key)
    except KmsError as e:
        raise ValidationError(f"{field} {key_ref!r} cannot be used: {e.message}") from None
    except ValidationError as e:
        raise ValidationError(f"{field}: {e.message}") from None
    return Encryption(KMS, key.arn)


def _encrypt(services, uri: str, encryption: Encryption | None) -> None:
    if encryption is None or not uri:
        return
    bucket, prefix = parse_s3_uri(uri)
    _kms(services).rules.encrypt_folder(f"{bucket}/{prefix}" if prefix else bucket, encryption)


def training_job(services, params: dict[str, Any]) -> None:
    """CreateTrainingJob: ``OutputDataConfig.KmsKeyId`` encrypts ``<S3OutputPath>/<job>/``."""
    output = params.get("OutputDataConfig") or {}
    encryption = check_key(services, output.get("KmsKeyId"), "OutputDataConfig.KmsKeyId")
    check_key(services, (params.get("ResourceConfig") or {}).get("VolumeKmsKeyId"), "ResourceConfig.VolumeKmsKeyId")
    if encryption is not None and output.get("S3OutputPath"):
        _encrypt(services, f"{output['S3OutputPath'].rstrip('/')}/{params['TrainingJobName']}/", encryption)


def processing_job(services, params: dict[str, Any]) -> None:
    """CreateProcessingJob: ``ProcessingOutputConfig.KmsKeyId`` encrypts every output's S3Uri."""
    config = params.get("ProcessingOutputConfig") or {}
    encryption = check_key(services, config.get("KmsKeyId"), "ProcessingOutputConfig.KmsKeyId")
    cluster = (params.get("ProcessingResources") or {}).get("ClusterConfig") or {}
    check_key(services, cluster.get("VolumeKmsKeyId"), "ProcessingResources.ClusterConfig.VolumeKmsKeyId")
    for output in config.get("Outputs") or []:
        _encrypt(services, ((output.get("S3Output") or {}).get("S3Uri") or ""), encryption)


def transform_job(services, params: dict[str, Any]) -> None:
    """CreateTransformJob: ``TransformOutput.KmsKeyId`` encrypts S3OutputPath; ``DataCaptureConfig.KmsKeyId``
    its capture destination."""
    out = params.get("TransformOutput") or {}
    _encrypt(services, out.get("S3OutputPath") or "", check_key(services, out.get("KmsKeyId"),
                                                               "TransformOutput.KmsKeyId"))
    check_key(services, (params.get("TransformResources") or {}).get("VolumeKmsKeyId"),
              "TransformResources.VolumeKmsKeyId")
    capture = params.get("DataCaptureConfig") or {}
    _encrypt(services, capture.get("DestinationS3Uri") or "",
             check_key(services, capture.get("KmsKeyId"), "DataCaptureConfig.KmsKeyId"))


def endpoint_config(services, params: dict[str, Any]) -> None:
    """CreateEndpointConfig: ``KmsKeyId`` (the instances' storage: checked), ``DataCaptureConfig.KmsKeyId`` and
    ``AsyncInferenceConfig.OutputConfig.KmsKeyId`` (their S3 destinations are encrypted)."""
    check_key(services, params.get("KmsKeyId"), "KmsKeyId")
    capture = params.get("DataCaptureConfig") or {}
    _encrypt(services, capture.get("DestinationS3Uri") or "",
             check_key(services, capture.get("KmsKeyId"), "DataCaptureConfig.KmsKeyId"))
    output = (params.get("AsyncInferenceConfig") or {}).get("OutputConfig") or {}
    encryption = check_key(services, output.get("KmsKeyId"), "AsyncInferenceConfig.OutputConfig.KmsKeyId")
    for field in ("S3OutputPath", "S3FailurePath"):
        _encrypt(services, output.get(field) or "", encryption)
