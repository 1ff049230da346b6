"""The small value types of sagemaker_pyspark: S3 paths, name policies, the endpoint-creation policy, and
the record of what a stage created together with its clean-up."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ..errors import ValidationError


@dataclass(frozen=True)
class S3DataPath:
    """``s3://bucket/objectPath``."""

    bucket: str
    objectPath: str

    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.objectPath.strip('/')}"


class S3AutoCreatePath:
    """A path under the account's default bucket (``sagemaker-<region>-<account>``), created when missing."""


def parse_s3(value: Any, what: str) -> S3DataPath | S3AutoCreatePath:
    """An S3DataPath, S3AutoCreatePath or ``s3://bucket/prefix`` string, checked."""
    if isinstance(value, (S3DataPath, S3AutoCreatePath)):
        return value
    if isinstance(value, str) and value.startswith("s3://") and len(value) > 5:
        bucket, _, key = value[5:].partition("/")
        return S3DataPath(bucket, key)
    raise ValidationError(f"{what} must be an S3DataPath, S3AutoCreatePath() or an s3://bucket/prefix URI, "
                          f"not {value!r}.")


class EndpointCreationPolicy:
    """When a model's endpoint is made: as fit() returns, on the first transform(), or never."""

    CREATE_ON_CONSTRUCT = "CREATE_ON_CONSTRUCT"
    CREATE_ON_TRANSFORM = "CREATE_ON_TRANSFORM"
    DO_NOT_CREATE = "DO_NOT_CREATE"
    ALL = (CREATE_ON_CONSTRUCT, CREATE_ON_TRANSFORM, DO_NOT_CREATE)


class NamePolicy:
    """The names of the training job, model, endpoint config and endpoint one fit creates."""

    def __init__(self, trainingJobName: str, modelName: str, endpointConfigName: str, endpointName: str) -> None:
        self.trainingJobName = trainingJobName
        self.modelName = modelName
        self.endpointConfigName = endpointConfigName
        self.endpointName = endpointName


class RandomNamePolicy(NamePolicy):
    """``<prefix>trainingJob-<timestamp>-<random>`` and so on (each at most 63 characters)."""

    def __init__(self, prefix: str = "") -> None:
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:8]
        names = [f"{prefix}{kind}-{stamp}"[-63:].lstrip("-") for kind in
                 ("trainingJob", "model", "endpointConfig", "endpoint")]
        super().__init__(*names)


class NamePolicyFactory:
    def createNamePolicy(self) -> NamePolicy:
        raise NotImplementedError


class RandomNamePolicyFactory(NamePolicyFactory):
    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix

    def createNamePolicy(self) -> NamePolicy:
        return RandomNamePolicy(self.prefix)


class CustomNamePolicyFactory(NamePolicyFactory):
    def __init__(self, trainingJobName: str, modelName: str, endpointConfigName: str, endpointName: str) -> None:
        self.names = (trainingJobName, modelName, endpointConfigName, endpointName)

    def createNamePolicy(self) -> NamePolicy:
        return NamePolicy(*self.names)


@dataclass
class CreatedResources:
    """What a stage created (None for what it did not): what SageMakerResourceCleanup deletes."""

    trainingJobName: str | None = None
    modelName: str | None = None
    endpointConfigName: str | None = None
    endpointName: str | None = None


class SageMakerResourceCleanup:
    """Deletes the endpoint, endpoint config and model a stage created (training jobs are kept, as on AWS)."""

    def __init__(self, sagemakerClient: Any) -> None:
        self.client = sagemakerClient

    def deleteResources(self, createdResources: CreatedResources) -> None:
        r = createdResources
        if r.endpointName:
            self.deleteEndpoint(r.endpointName)
        if r.endpointConfigName:
            self.deleteEndpointConfig(r.endpointConfigName)
        if r.modelName:
            self.deleteModel(r.modelName)

    def _ignore_missing(self, call: Any, **kwargs: Any) -> None:
        try:
            call(**kwargs)
        except ClientError as e:
            if e.response["Error"]["Code"] not in ("ValidationException", "ResourceNotFound"):
                raise

    def deleteEndpoint(self, name: str) -> None:
        self._ignore_missing(self.client.delete_endpoint, EndpointName=name)

    def deleteEndpointConfig(self, name: str) -> None:
        self._ignore_missing(self.client.delete_endpoint_config, EndpointConfigName=name)

    def deleteModel(self, name: str) -> None:
        self._ignore_missing(self.client.delete_model, ModelName=name)
