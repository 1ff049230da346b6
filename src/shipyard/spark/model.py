"""``SageMakerModel``: a pyspark.ml Model whose transform() sends rows to a SageMaker endpoint.

The endpoint is made (CreateModel, CreateEndpointConfig, CreateEndpoint) when the policy says: as the model is
constructed, on the first transform(), or never (an existing endpoint). transform() is lazy, like any Spark
transformation: each partition, in its executor, sends its rows in batches of ``requestBatchSize`` through a
boto3 ``sagemaker-runtime`` client and appends the deserializer's columns to each row (over Arrow record
batches, :mod:`.arrow`).
"""

from __future__ import annotations

import time
from typing import Any

from pyspark.ml import Model

from ..errors import ShipyardError, ValidationError
from .arrow import partition_fn
from .clients import ClientSpec
from .policies import CreatedResources, EndpointCreationPolicy, NamePolicy, RandomNamePolicy, S3DataPath, parse_s3
from .serializers import RequestRowSerializer, ResponseRowDeserializer

ENDPOINT_TIMEOUT_S = 1800.0


class SageMakerSparkError(ShipyardError):
    """A training job or endpoint that the stage waited on ended in failure."""

    code = "SageMakerSparkFailure"


def wait_for(describe: Any, status_key: str, done: str, what: str, timeout_s: float) -> dict:
    """Poll ``describe()`` until ``status_key`` is ``done``; raise with the failure reason if it ends otherwise."""
    deadline, pause = time.monotonic() + timeout_s, 0.1
    while True:
        doc = describe()
        status = doc[status_key]
        if status == done:
            return doc
        if status in ("Failed", "Stopped", "OutOfService", "Deleting"):
            raise SageMakerSparkError(f"{what} is {status}: {doc.get('FailureReason', 'no reason given')}")
        if time.monotonic() > deadline:
            raise SageMakerSparkError(f"{what} is still {status} after {timeout_s:.0f} s.")
        time.sleep(pause)
        pause = min(pause * 1.5, 2.0)


def _check_serdes(serializer: Any, deserializer: Any) -> None:
    if not isinstance(serializer, RequestRowSerializer):
        raise ValidationError(f"requestRowSerializer must be a RequestRowSerializer "
                              f"(e.g. LibSVMRequestRowSerializer()), not {serializer!r}.")
    if not isinstance(deserializer, ResponseRowDeserializer):
        raise ValidationError(f"responseRowDeserializer must be a ResponseRowDeserializer "
                              f"(e.g. XGBoostCSVRowDeserializer()), not {deserializer!r}.")


def _default_client() -> Any:
    import boto3

    return boto3.client("sagemaker")


class SageMakerModel(Model):
    """A model hosted (or to be hosted) on a SageMaker endpoint, as a Spark ``Model`` stage."""

    def __init__(self, endpointInstanceType: str | None = None, endpointInitialInstanceCount: int | None = None,
                 requestRowSerializer: RequestRowSerializer | None = None,
                 responseRowDeserializer: ResponseRowDeserializer | None = None,
                 existingEndpointName: str | None = None, modelImage: str | None = None,
                 modelPath: S3DataPath | str | None = None, modelEnvironmentVariables: dict | None = None,
                 modelExecutionRoleARN: str | None = None,
                 endpointCreationPolicy: str = EndpointCreationPolicy.CREATE_ON_CONSTRUCT,
                 sagemakerClient: Any = None, prependResultRows: bool = True,
                 namePolicy: NamePolicy | None = None, uid: str | None = None,
                 requestBatchSize: int = 1000, trainingJobName: str | None = None,
                 predictionsSchema: Any = None, requestConcurrency: int = 2) -> None:
        super().__init__()
        if uid is not None:
            self.uid = uid
        _check_serdes(requestRowSerializer, responseRowDeserializer)
        if endpointCreationPolicy not in EndpointCreationPolicy.ALL:
            raise ValidationError(f"endpointCreationPolicy must be one of {EndpointCreationPolicy.ALL}, "
                                  f"not {endpointCreationPolicy!r}.")
        if existingEndpointName is None and endpointCreationPolicy != EndpointCreationPolicy.DO_NOT_CREATE:
            missing = [n for n, v in (("modelImage", modelImage), ("modelPath", modelPath),
                                      ("modelExecutionRoleARN", modelExecutionRoleARN),
                                      ("endpointInstanceType", endpointInstanceType)) if not v]
            if missing:
                raise ValidationError(f"To create an endpoint the model needs {', '.join(missing)}.")
        if int(requestBatchSize) < 1:
            raise ValidationError(f"requestBatchSize must be at least 1, not {requestBatchSize}.")
        self.endpointInstanceType = endpointInstanceType
        self.endpointInitialInstanceCount = int(endpointInitialInstanceCount or 1)
        self.requestRowSerializer = requestRowSerializer
        self.responseRowDeserializer = responseRowDeserializer
        self.existingEndpointName = existingEndpointName
        self.modelImage = modelImage
        # an S3DataPath, as sagemaker_pyspark's models expose it (modelPath.bucket, modelPath.objectPath)
        path = parse_s3(modelPath, "modelPath") if modelPath else None
        if path is not None and not isinstance(path, S3DataPath):
            raise ValidationError("modelPath must name the model's artifacts: an S3DataPath or an s3:// URI.")
        self.modelPath = path
        self.modelEnvironmentVariables = dict(modelEnvironmentVariables or {})
        self.modelExecutionRoleARN = modelExecutionRoleARN
        self.endpointCreationPolicy = endpointCreationPolicy
        self.sagemakerClient = sagemakerClient if sagemakerClient is not None else _default_client()
        self.prependResultRows = prependResultRows
        self.namePolicy = namePolicy or RandomNamePolicy()
        self.requestBatchSize = int(requestBatchSize)
        self.requestConcurrency = max(1, int(requestConcurrency))
        self.endpointName = existingEndpointName
        self.resources = CreatedResources(trainingJobName=trainingJobName)
        if existingEndpointName is None and endpointCreationPolicy == EndpointCreationPolicy.CREATE_ON_CONSTRUCT:
            self._create_endpoint()

    # -- constructors of sagemaker_pyspark -------------------------------------------------------------------
    @classmethod
    def fromEndpoint(cls, endpointName: str, requestRowSerializer: RequestRowSerializer,
                     responseRowDeserializer: ResponseRowDeserializer, sagemakerClient: Any = None,
                     prependResultRows: bool = True, **kwargs: Any) -> SageMakerModel:
        """A model over an existing endpoint (checked to exist); nothing is created or deleted."""
        _check_serdes(requestRowSerializer, responseRowDeserializer)
        client = sagemakerClient if sagemakerClient is not None else _default_client()
        client.describe_endpoint(EndpointName=endpointName)  # ValidationException when there is none
        return cls(requestRowSerializer=requestRowSerializer, responseRowDeserializer=responseRowDeserializer,
                   existingEndpointName=endpointName, endpointCreationPolicy=EndpointCreationPolicy.DO_NOT_CREATE,
                   sagemakerClient=client, prependResultRows=prependResultRows, **kwargs)

    @classmethod
    def fromTrainingJob(cls, trainingJobName: str, modelImage: str, modelExecutionRoleARN: str,
                        endpointInstanceType: str, endpointInitialInstanceCount: int,
                        requestRowSerializer: RequestRowSerializer, responseRowDeserializer: ResponseRowDeserializer,
                        sagemakerClient: Any = None, **kwargs: Any) -> SageMakerModel:
        """A model of a completed training job's artifacts."""
        client = sagemakerClient if sagemakerClient is not None else _default_client()
        job = client.describe_training_job(TrainingJobName=trainingJobName)
        if job["TrainingJobStatus"] != "Completed":
            raise ValidationError(f"Training job {trainingJobName} is {job['TrainingJobStatus']}, not Completed: "
                                  "it has no model artifacts to host yet.")
        return cls.fromModelS3Path(job["ModelArtifacts"]["S3ModelArtifacts"], modelImage, modelExecutionRoleARN,
                                   endpointInstanceType, endpointInitialInstanceCount, requestRowSerializer,
                                   responseRowDeserializer, sagemakerClient=client, **kwargs)

    @classmethod
    def fromModelS3Path(cls, modelPath: S3DataPath | str, modelImage: str, modelExecutionRoleARN: str,
                        endpointInstanceType: str, endpointInitialInstanceCount: int,
                        requestRowSerializer: RequestRowSerializer, responseRowDeserializer: ResponseRowDeserializer,
                        **kwargs: Any) -> SageMakerModel:
        """A model of artifacts at ``modelPath`` (a model.tar.gz), hosted per ``endpointCreationPolicy``."""
        return cls(endpointInstanceType=endpointInstanceType,
                   endpointInitialInstanceCount=endpointInitialInstanceCount,
                   requestRowSerializer=requestRowSerializer, responseRowDeserializer=responseRowDeserializer,
                   modelImage=modelImage, modelPath=modelPath, modelExecutionRoleARN=modelExecutionRoleARN,
                   **kwargs)

    # -- hosting ---------------------------------------------------------------------------------------------
    def getCreatedResources(self) -> CreatedResources:
        return self.resources

    def _create_endpoint(self) -> None:
        c, names = self.sagemakerClient, self.namePolicy
        assert isinstance(self.modelPath, S3DataPath)
        container = {"Image": self.modelImage, "ModelDataUrl": self.modelPath.uri(),
                     "Environment": {str(k): str(v) for k, v in self.modelEnvironmentVariables.items()}}
        c.create_model(ModelName=names.modelName, PrimaryContainer=container,
                       ExecutionRoleArn=self.modelExecutionRoleARN)
        self.resources.modelName = names.modelName
        c.create_endpoint_config(EndpointConfigName=names.endpointConfigName, ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": names.modelName, "InitialInstanceCount":
                self.endpointInitialInstanceCount, "InstanceType": self.endpointInstanceType}])
        self.resources.endpointConfigName = names.endpointConfigName
        c.create_endpoint(EndpointName=names.endpointName, EndpointConfigName=names.endpointConfigName)
        self.resources.endpointName = self.endpointName = names.endpointName
        self._wait_in_service()

    def _wait_in_service(self) -> None:
        name = self.endpointName
        wait_for(lambda: self.sagemakerClient.describe_endpoint(EndpointName=name), "EndpointStatus",
                 "InService", f"Endpoint {name}", ENDPOINT_TIMEOUT_S)

    def _ensure_endpoint(self) -> str:
        if self.endpointName is None:
            if self.endpointCreationPolicy == EndpointCreationPolicy.DO_NOT_CREATE:
                raise ValidationError("This model has no endpoint and its endpointCreationPolicy is DO_NOT_CREATE: "
                                      "create one, or use SageMakerModel.fromEndpoint(endpointName, ...).")
            self._create_endpoint()
        assert self.endpointName is not None
        return self.endpointName

    # -- transform -------------------------------------------------------------------------------------------
    def _transform(self, dataset: Any) -> Any:
        from pyspark.ml.linalg import VectorUDT
        from pyspark.sql.types import DoubleType, StructField, StructType

        features = self.requestRowSerializer.featuresColumnName  # type: ignore[union-attr]
        if features not in dataset.columns:
            raise ValidationError(f"The DataFrame has no {features!r} column (it has {dataset.columns}): the "
                                  "serializer reads the features from it; set featuresColumnName to another "
                                  "Vector column or make one with pyspark.ml.feature.VectorAssembler.")
        endpoint = self._ensure_endpoint()
        deser = self.responseRowDeserializer
        assert deser is not None
        new = [StructField(name, VectorUDT() if kind == "vector" else DoubleType(), True)
               for name, kind in deser.fields()]
        clash = [f.name for f in new if f.name in dataset.columns] if self.prependResultRows else []
        if clash:
            raise ValidationError(f"The DataFrame already has a {clash[0]!r} column, which the predictions would "
                                  "duplicate: drop or rename it, or name the prediction columns differently in the "
                                  "responseRowDeserializer.")
        schema = StructType((list(dataset.schema.fields) if self.prependResultRows else []) + new)
        fn = partition_fn(ClientSpec.of(self.sagemakerClient), endpoint, self.requestRowSerializer, deser,
                          self.requestBatchSize, self.prependResultRows, self.requestConcurrency, features,
                          SageMakerSparkError)
        return dataset.mapInArrow(fn, schema)
