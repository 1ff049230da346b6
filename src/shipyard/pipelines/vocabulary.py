"""The names a pipeline definition may use: step types, parameter types, execution variables, retryable
failure types, and the properties each step type exposes to ``Get Steps.<step>.<property>``.

Kept apart from the parser so the lists (which grow with the SDK and botocore's model) can be read and updated
without wading through the checks that use them.
"""

from __future__ import annotations

# Every step type the SDK's StepTypeEnum can emit, plus EMRServerless. The engine decides which it can run;
# a type outside this set is a typo or a newer SDK, rejected here.
STEP_TYPES = frozenset({
    "Processing", "Training", "Tuning", "Transform", "Model", "CreateModel", "RegisterModel", "Condition", "Fail",
    "Callback", "Lambda", "QualityCheck", "ClarifyCheck", "EMR", "EMRServerless", "AutoML", "EndpointConfig",
    "Endpoint", "InferenceComponent", "Lineage", "BedrockCustomModel", "BedrockCustomModelDeployment",
    "BedrockModelImport", "BedrockProvisionedModelThroughput",
})

PARAMETER_TYPES = ("String", "Integer", "Float", "Boolean")

EXECUTION_VARIABLES = frozenset({
    "PipelineName", "PipelineArn", "PipelineExecutionId", "PipelineExecutionArn", "StartDateTime",
    "CurrentDateTime", "TrainingJobName", "ProcessingJobName",
})

RETRY_EXCEPTION_TYPES = frozenset({
    "Step.SERVICE_FAULT", "Step.THROTTLING", "SageMaker.JOB_INTERNAL_ERROR", "SageMaker.CAPACITY_ERROR",
    "SageMaker.RESOURCE_LIMIT",
})

# The first member of a property path, per step type: the top-level members of the step's Describe* output
# (botocore's sagemaker model). Types not listed are not checked (their properties are the engine's business).
_DESCRIBE_TRAINING = frozenset({
    "AlgorithmSpecification", "AutoMLJobArn", "BillableTimeInSeconds", "BillableTokenCount", "CheckpointConfig",
    "CreationTime", "DebugHookConfig", "DebugRuleConfigurations", "DebugRuleEvaluationStatuses",
    "EnableInterContainerTrafficEncryption", "EnableManagedSpotTraining", "EnableNetworkIsolation", "Environment",
    "ExperimentConfig", "FailureReason", "FinalMetricDataList", "HyperParameters", "InfraCheckConfig",
    "InputDataConfig", "LabelingJobArn", "LastModifiedTime", "MlflowConfig", "MlflowDetails", "ModelArtifacts",
    "ModelPackageConfig", "OutputDataConfig", "OutputModelPackageArn", "ProfilerConfig",
    "ProfilerRuleConfigurations", "ProfilerRuleEvaluationStatuses", "ProfilingStatus", "ProgressInfo",
    "RemoteDebugConfig", "ResourceConfig", "RetryStrategy", "RoleArn", "SecondaryStatus",
    "SecondaryStatusTransitions", "ServerlessJobConfig", "StoppingCondition", "TensorBoardOutputConfig",
    "TrainingEndTime", "TrainingJobArn", "TrainingJobName", "TrainingJobStatus", "TrainingStartTime",
    "TrainingTimeInSeconds", "TuningJobArn", "VpcConfig", "WarmPoolStatus",
})
_DESCRIBE_PROCESSING = frozenset({
    "AppSpecification", "AutoMLJobArn", "CreationTime", "Environment", "ExitMessage", "ExperimentConfig",
    "FailureReason", "LastModifiedTime", "MonitoringScheduleArn", "NetworkConfig", "ProcessingEndTime",
    "ProcessingInputs", "ProcessingJobArn", "ProcessingJobName", "ProcessingJobStatus", "ProcessingOutputConfig",
    "ProcessingResources", "ProcessingStartTime", "RoleArn", "StoppingCondition", "TrainingJobArn",
})
_DESCRIBE_TRANSFORM = frozenset({
    "AutoMLJobArn", "BatchStrategy", "CreationTime", "DataCaptureConfig", "DataProcessing", "Environment",
    "ExperimentConfig", "FailureReason", "LabelingJobArn", "MaxConcurrentTransforms", "MaxPayloadInMB",
    "ModelClientConfig", "ModelName", "TransformEndTime", "TransformInput", "TransformJobArn", "TransformJobName",
    "TransformJobStatus", "TransformOutput", "TransformResources", "TransformStartTime",
})
_DESCRIBE_MODEL = frozenset({
    "Containers", "CreationTime", "DeploymentRecommendation", "EnableNetworkIsolation", "ExecutionRoleArn",
    "InferenceExecutionConfig", "ModelArn", "ModelName", "PrimaryContainer", "VpcConfig",
})
_DESCRIBE_MODEL_PACKAGE = frozenset({
    "AdditionalInferenceSpecifications", "ApprovalDescription", "CertifyForMarketplace", "CreatedBy",
    "CreationTime", "CustomerMetadataProperties", "Domain", "DriftCheckBaselines", "InferenceSpecification",
    "LastModifiedBy", "LastModifiedTime", "ManagedStorageType", "MetadataProperties", "ModelApprovalStatus",
    "ModelCard", "ModelLifeCycle", "ModelMetrics", "ModelPackageArn", "ModelPackageDescription",
    "ModelPackageGroupName", "ModelPackageName", "ModelPackageRegistrationType", "ModelPackageStatus",
    "ModelPackageStatusDetails", "ModelPackageVersion", "SamplePayloadUrl", "SecurityConfig",
    "SkipModelValidation", "SourceAlgorithmSpecification", "SourceUri", "Task", "ValidationSpecification",
})
_DESCRIBE_TUNING = frozenset({
    "Autotune", "BestTrainingJob", "ConsumedResources", "CreationTime", "FailureReason",
    "HyperParameterTuningEndTime", "HyperParameterTuningJobArn", "HyperParameterTuningJobConfig",
    "HyperParameterTuningJobName", "HyperParameterTuningJobStatus", "LastModifiedTime", "ObjectiveStatusCounters",
    "OverallBestTrainingJob", "TrainingJobDefinition", "TrainingJobDefinitions", "TrainingJobStatusCounters",
    "TuningJobCompletionDetails", "WarmStartConfig", "TrainingJobSummaries",
})
PROPERTY_ROOTS: dict[str, frozenset[str]] = {
    "Training": _DESCRIBE_TRAINING,
    "Processing": _DESCRIBE_PROCESSING,
    "Transform": _DESCRIBE_TRANSFORM,
    "Model": _DESCRIBE_MODEL,
    "CreateModel": _DESCRIBE_MODEL,
    "RegisterModel": _DESCRIBE_MODEL_PACKAGE,
    "Tuning": _DESCRIBE_TUNING,
    # the S3 URIs of its baselines (shipyard.pipelines.quality_check.PROPERTIES)
    "QualityCheck": frozenset({"CalculatedBaselineStatistics", "CalculatedBaselineConstraints",
                               "BaselineUsedForDriftCheckStatistics", "BaselineUsedForDriftCheckConstraints"}),
    "Condition": frozenset({"Outcome"}),
    "Callback": frozenset({"OutputParameters"}),
    "Lambda": frozenset({"OutputParameters"}),
    "Fail": frozenset(),
}
