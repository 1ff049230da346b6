"""``SageMakerEstimator``: a pyspark.ml Estimator whose fit() trains on SageMaker and returns a SageMakerModel.

fit(df): check the columns, write the DataFrame to S3 in the algorithm's format with Spark itself
(:mod:`.writers`), CreateTrainingJob, wait for it, then hand the artifacts to a :class:`SageMakerModel`
(which makes the endpoint per ``endpointCreationPolicy``). Typed hyperparameters of the built-in subclasses are
Spark ``Param``s, so ``ParamGridBuilder``/``copy(extra)`` work as on any Spark stage; ``hyperParameters`` (a
plain dict) is merged under them.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError
from pyspark.ml import Estimator

from ..errors import ValidationError
from .clients import ClientSpec
from .model import SageMakerModel, _check_serdes, _default_client, wait_for
from .policies import (
    EndpointCreationPolicy,
    NamePolicyFactory,
    RandomNamePolicyFactory,
    S3AutoCreatePath,
    S3DataPath,
    parse_s3,
)
from .writers import FORMATS, check_columns, write_training_data

TRAINING_TIMEOUT_S = 86400.0


def _hp_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(str(v) for v in value) + "]"
    return str(value)


class SageMakerEstimator(Estimator):
    """Trains any SageMaker training image on a DataFrame (sagemaker_pyspark's constructor and names)."""

    # whether fit() needs the label column (the Amazon unsupervised algorithms do not)
    requiresLabel = False

    def __init__(self, trainingImage: str, modelImage: str, trainingInstanceType: str,
                 trainingInstanceCount: int, endpointInstanceType: str, endpointInitialInstanceCount: int,
                 requestRowSerializer: Any, responseRowDeserializer: Any, hyperParameters: dict | None = None,
                 trainingInputS3DataPath: Any = None, trainingOutputS3DataPath: Any = None,
                 trainingInstanceVolumeSizeInGB: int = 1024, trainingProjectedColumns: list | None = None,
                 trainingChannelName: str = "train", trainingContentType: str | None = None,
                 trainingS3DataDistribution: str = "ShardedByS3Key", trainingSparkDataFormat: str = "csv",
                 trainingSparkDataFormatOptions: dict | None = None, trainingInputMode: str = "File",
                 trainingCompressionCodec: str | None = None, trainingMaxRuntimeInSeconds: int = 24 * 60 * 60,
                 trainingKmsKeyId: str | None = None, modelEnvironmentVariables: dict | None = None,
                 endpointCreationPolicy: str = EndpointCreationPolicy.CREATE_ON_CONSTRUCT,
                 sagemakerClient: Any = None, sagemakerRole: Any = None, s3Client: Any = None,
                 stsClient: Any = None, modelPrependInputRowsToTransformationRows: bool = True,
                 deleteStagingDataAfterTraining: bool = True, namePolicyFactory: NamePolicyFactory | None = None,
                 uid: str | None = None, featuresColumnName: str = "features", labelColumnName: str = "label",
                 requestBatchSize: int = 1000) -> None:
        super().__init__()
        if uid is not None:
            self.uid = uid
        _check_serdes(requestRowSerializer, responseRowDeserializer)
        for what, value in (("trainingImage", trainingImage), ("modelImage", modelImage),
                            ("trainingInstanceType", trainingInstanceType),
                            ("endpointInstanceType", endpointInstanceType)):
            if not value or not isinstance(value, str):
                raise ValidationError(f"{what} is required (a string), not {value!r}.")
        if trainingSparkDataFormat not in FORMATS:
            raise ValidationError(f"trainingSparkDataFormat {trainingSparkDataFormat!r} is not supported; use one "
                                  f"of {sorted(FORMATS)}.")
        if endpointCreationPolicy not in EndpointCreationPolicy.ALL:
            raise ValidationError(f"endpointCreationPolicy must be one of {EndpointCreationPolicy.ALL}, "
                                  f"not {endpointCreationPolicy!r}.")
        role = getattr(sagemakerRole, "role", sagemakerRole)
        if not role:
            raise ValidationError("sagemakerRole is required: an IAM role ARN (or IAMRole(arn)) the training job "
                                  "and the model run as.")
        self.trainingImage, self.modelImage = trainingImage, modelImage
        self.trainingInstanceType, self.trainingInstanceCount = trainingInstanceType, int(trainingInstanceCount)
        self.endpointInstanceType = endpointInstanceType
        self.endpointInitialInstanceCount = int(endpointInitialInstanceCount)
        self.requestRowSerializer, self.responseRowDeserializer = requestRowSerializer, responseRowDeserializer
        self.hyperParameters = dict(hyperParameters or {})
        self.trainingInputS3DataPath = parse_s3(trainingInputS3DataPath or S3AutoCreatePath(),
                                                "trainingInputS3DataPath")
        self.trainingOutputS3DataPath = parse_s3(trainingOutputS3DataPath or S3AutoCreatePath(),
                                                 "trainingOutputS3DataPath")
        self.trainingInstanceVolumeSizeInGB = int(trainingInstanceVolumeSizeInGB)
        self.trainingChannelName = trainingChannelName
        self.trainingSparkDataFormat = trainingSparkDataFormat
        self.trainingContentType = trainingContentType or FORMATS[trainingSparkDataFormat][0]
        self.trainingS3DataDistribution = trainingS3DataDistribution
        self.trainingInputMode = trainingInputMode
        self.trainingMaxRuntimeInSeconds = int(trainingMaxRuntimeInSeconds)
        self.trainingKmsKeyId = trainingKmsKeyId
        self.modelEnvironmentVariables = dict(modelEnvironmentVariables or {})
        self.endpointCreationPolicy = endpointCreationPolicy
        self.sagemakerClient = sagemakerClient if sagemakerClient is not None else _default_client()
        self.sagemakerRole = role
        self.s3Client, self.stsClient = s3Client, stsClient
        self.modelPrependInputRowsToTransformationRows = modelPrependInputRowsToTransformationRows
        self.deleteStagingDataAfterTraining = deleteStagingDataAfterTraining
        self.namePolicyFactory = namePolicyFactory or RandomNamePolicyFactory()
        # sagemaker_pyspark names the training columns in the writer's options; featuresColumnName and
        # labelColumnName are the same thing as arguments
        options = dict(trainingSparkDataFormatOptions or {})
        self.trainingSparkDataFormatOptions = options
        self.featuresColumnName = options.get("featuresColumnName", featuresColumnName)
        self.labelColumnName = options.get("labelColumnName", labelColumnName)
        self.requestBatchSize = requestBatchSize
        self.latestTrainingJob: str | None = None

    # -- hyperparameters -------------------------------------------------------------------------------------
    def _typed_hyperparameters(self) -> dict[str, Any]:
        """The subclasses' Spark Params that are set (or have defaults), by their SageMaker names."""
        out = {}
        for param in self.params:
            if self.isDefined(param):
                out[param.name] = self.getOrDefault(param)
        return out

    def hyperparameters(self) -> dict[str, str]:
        merged = {**self.hyperParameters, **self._typed_hyperparameters()}
        return {str(k): _hp_value(v) for k, v in merged.items() if v is not None}

    # -- S3 --------------------------------------------------------------------------------------------------
    def _spec(self) -> ClientSpec:
        return ClientSpec.of(self.sagemakerClient)

    def _s3(self) -> Any:
        return self.s3Client if self.s3Client is not None else self._spec().client("s3")

    def _resolve(self, path: S3DataPath | S3AutoCreatePath, leaf: str, job: str) -> S3DataPath:
        if isinstance(path, S3DataPath):
            return S3DataPath(path.bucket, f"{path.objectPath.strip('/')}/{job}/{leaf}".lstrip("/"))
        spec = self._spec()
        sts = self.stsClient if self.stsClient is not None else spec.client("sts")
        account = sts.get_caller_identity()["Account"]
        bucket = f"sagemaker-{spec.region or 'us-east-1'}-{account}"
        s3 = self._s3()
        try:
            s3.head_bucket(Bucket=bucket)
        except ClientError:
            s3.create_bucket(Bucket=bucket)
        return S3DataPath(bucket, f"{job}/{leaf}")

    # -- fit -------------------------------------------------------------------------------------------------
    def _fit(self, dataset: Any) -> SageMakerModel:
        label = self.labelColumnName
        check_columns(dataset, self.featuresColumnName, label, self.requiresLabel)
        names = self.namePolicyFactory.createNamePolicy()
        job = names.trainingJobName
        data = self._resolve(self.trainingInputS3DataPath, "training-input", job)
        output = self._resolve(self.trainingOutputS3DataPath, "training-output", job)
        write_training_data(dataset, self._spec(), data.bucket, data.objectPath, self.trainingSparkDataFormat,
                            self.featuresColumnName, label if label in dataset.columns else None)
        request: dict[str, Any] = {
            "TrainingJobName": job,
            "AlgorithmSpecification": {"TrainingImage": self.trainingImage,
                                       "TrainingInputMode": self.trainingInputMode},
            "RoleArn": self.sagemakerRole,
            "HyperParameters": self.hyperparameters(),
            "InputDataConfig": [{"ChannelName": self.trainingChannelName, "ContentType": self.trainingContentType,
                                 "DataSource": {"S3DataSource": {
                                     "S3DataType": "S3Prefix", "S3Uri": data.uri() + "/",
                                     "S3DataDistributionType": self.trainingS3DataDistribution}}}],
            "OutputDataConfig": {"S3OutputPath": output.uri(),
                                 **({"KmsKeyId": self.trainingKmsKeyId} if self.trainingKmsKeyId else {})},
            "ResourceConfig": {"InstanceType": self.trainingInstanceType,
                               "InstanceCount": self.trainingInstanceCount,
                               "VolumeSizeInGB": self.trainingInstanceVolumeSizeInGB},
            "StoppingCondition": {"MaxRuntimeInSeconds": self.trainingMaxRuntimeInSeconds},
        }
        client = self.sagemakerClient
        try:
            client.create_training_job(**request)
            self.latestTrainingJob = job
            done = wait_for(lambda: client.describe_training_job(TrainingJobName=job), "TrainingJobStatus",
                            "Completed", f"Training job {job}", self.trainingMaxRuntimeInSeconds + 600.0)
        finally:
            if self.deleteStagingDataAfterTraining:
                self._delete_prefix(data)
        return SageMakerModel(
            endpointInstanceType=self.endpointInstanceType,
            endpointInitialInstanceCount=self.endpointInitialInstanceCount,
            requestRowSerializer=self.requestRowSerializer, responseRowDeserializer=self.responseRowDeserializer,
            modelImage=self.modelImage, modelPath=done["ModelArtifacts"]["S3ModelArtifacts"],
            modelEnvironmentVariables=self.modelEnvironmentVariables, modelExecutionRoleARN=self.sagemakerRole,
            endpointCreationPolicy=self.endpointCreationPolicy, sagemakerClient=client,
            prependResultRows=self.modelPrependInputRowsToTransformationRows, namePolicy=names,
            requestBatchSize=self.requestBatchSize, trainingJobName=job)

    def _delete_prefix(self, path: S3DataPath) -> None:
        """Remove the staged training data (best effort: a leftover object is not worth failing fit for)."""
        s3 = self._s3()
        try:
            listed = s3.list_objects_v2(Bucket=path.bucket, Prefix=path.objectPath.strip("/") + "/")
            for obj in listed.get("Contents", []):
                s3.delete_object(Bucket=path.bucket, Key=obj["Key"])
        except ClientError:
            pass


class IAMRole:
    """sagemaker_pyspark's role wrapper: ``IAMRole("arn:aws:iam::...:role/...")``."""

    def __init__(self, role: str) -> None:
        self.role = role
