"""Fixtures for the pure pipelines package: a definition the installed SageMaker SDK emits (built offline, once)
and a resolver that plays the engine's part from plain dicts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from shipyard.errors import ValidationError

ROLE = "arn:aws:iam::123456789012:role/pipelines"
BUCKET = "pipelines-bucket"


def _build_sdk_definition() -> dict:
    """Prep (processing, property file, cache, retries) -> Check (every condition operator) -> Train / Model /
    Transform / Notify (lambda) in the If branch, Stop (fail) in the Else branch; Report after Notify."""
    import boto3
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput
    from sagemaker.lambda_helper import Lambda
    from sagemaker.model import Model
    from sagemaker.processing import ProcessingInput, ProcessingOutput, ScriptProcessor
    from sagemaker.transformer import Transformer
    from sagemaker.workflow.condition_step import ConditionStep
    from sagemaker.workflow.conditions import (
        ConditionEquals,
        ConditionGreaterThanOrEqualTo,
        ConditionIn,
        ConditionNot,
        ConditionOr,
    )
    from sagemaker.workflow.execution_variables import ExecutionVariables
    from sagemaker.workflow.fail_step import FailStep
    from sagemaker.workflow.functions import Join, JsonGet
    from sagemaker.workflow.lambda_step import LambdaOutput, LambdaOutputTypeEnum, LambdaStep
    from sagemaker.workflow.model_step import ModelStep
    from sagemaker.workflow.parameters import ParameterBoolean, ParameterFloat, ParameterInteger, ParameterString
    from sagemaker.workflow.pipeline import Pipeline
    from sagemaker.workflow.pipeline_context import PipelineSession
    from sagemaker.workflow.properties import PropertyFile
    from sagemaker.workflow.retry import (
        SageMakerJobExceptionTypeEnum,
        SageMakerJobStepRetryPolicy,
        StepExceptionTypeEnum,
        StepRetryPolicy,
    )
    from sagemaker.workflow.steps import CacheConfig, ProcessingStep, TrainingStep, TransformStep

    # Keys and a loopback endpoint nobody listens on: building a definition must not call anything. The SDK
    # config (telemetry off, so no call out) is validated once, here, by the session.
    boto = boto3.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name="us-east-1")
    config = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}
    session = PipelineSession(boto_session=boto, default_bucket=BUCKET, sagemaker_config=config,
                              sagemaker_client=boto.client("sagemaker", endpoint_url="http://127.0.0.1:9"))
    session._default_bucket = BUCKET  # as if already checked: default_bucket() would otherwise ask S3
    threshold = ParameterFloat(name="Threshold", default_value=0.7)
    instance = ParameterString(name="InstanceType", default_value="ml.m5.large",
                               enum_values=["ml.m5.large", "ml.m5.xlarge"])
    count = ParameterInteger(name="Count", default_value=1)
    flag = ParameterBoolean(name="Flag", default_value=True)
    data = ParameterString(name="InputData")  # no default: a start must give it

    processor = ScriptProcessor(image_uri="img/prep:1", command=["python3"], role=ROLE, instance_count=count,
                                instance_type=instance, sagemaker_session=session)
    evaluation = PropertyFile(name="Eval", output_name="evaluation", path="evaluation.json")
    prep = ProcessingStep(
        name="Prep",
        step_args=processor.run(
            code=f"s3://{BUCKET}/code/prep.py",
            inputs=[ProcessingInput(source=data, destination="/opt/ml/processing/input")],
            outputs=[ProcessingOutput(output_name="train", source="/opt/ml/processing/train"),
                     ProcessingOutput(output_name="evaluation", source="/opt/ml/processing/evaluation")]),
        property_files=[evaluation], cache_config=CacheConfig(enable_caching=True, expire_after="PT1H"),
        retry_policies=[
            StepRetryPolicy(exception_types=[StepExceptionTypeEnum.SERVICE_FAULT], interval_seconds=2,
                            max_attempts=3),
            SageMakerJobStepRetryPolicy(exception_types=[SageMakerJobExceptionTypeEnum.CAPACITY_ERROR],
                                        expire_after_mins=10)])
    estimator = Estimator(image_uri="img/train:1", role=ROLE, instance_count=1, instance_type="ml.m5.large",
                          sagemaker_session=session, hyperparameters={"eta": 0.1},
                          output_path=Join(on="/", values=[f"s3://{BUCKET}",
                                                           ExecutionVariables.PIPELINE_EXECUTION_ID, "model"]))
    train = TrainingStep(name="Train", step_args=estimator.fit(
        {"train": TrainingInput(prep.properties.ProcessingOutputConfig.Outputs["train"].S3Output.S3Uri)}))
    model = Model(image_uri="img/serve:1", model_data=train.properties.ModelArtifacts.S3ModelArtifacts, role=ROLE,
                  sagemaker_session=session)
    create = ModelStep(name="Model", step_args=model.create(instance_type="ml.m5.large"))
    transformer = Transformer(model_name=create.properties.ModelName, instance_count=1,
                              instance_type="ml.m5.large", output_path=f"s3://{BUCKET}/scores",
                              sagemaker_session=session)
    transform = TransformStep(name="Score", step_args=transformer.transform(
        data=prep.properties.ProcessingOutputConfig.Outputs["train"].S3Output.S3Uri))
    notify = LambdaStep(
        name="Notify", lambda_func=Lambda(function_arn="arn:aws:lambda:us-east-1:123456789012:function:notify",
                                          session=session),
        inputs={"model": train.properties.ModelArtifacts.S3ModelArtifacts},
        outputs=[LambdaOutput(output_name="status", output_type=LambdaOutputTypeEnum.String)])
    report = FailStep(name="Report",
                      error_message=Join(on=" ", values=["notified:", notify.properties.Outputs["status"]]))
    stop = FailStep(name="Stop", error_message=Join(on=" ", values=["AUC below", threshold]))
    check = ConditionStep(
        name="Check",
        conditions=[
            ConditionGreaterThanOrEqualTo(
                left=JsonGet(step_name=prep.name, property_file=evaluation, json_path="metrics.auc.value"),
                right=threshold),
            ConditionOr(conditions=[ConditionIn(value=instance, in_values=["ml.m5.large", "ml.c5.large"]),
                                    ConditionNot(expression=ConditionEquals(left=flag, right=False))])],
        if_steps=[train, create, transform, notify], else_steps=[stop], depends_on=[prep])
    pipeline = Pipeline(name="sdk-pipeline", parameters=[threshold, instance, count, flag, data],
                        steps=[prep, check, report], sagemaker_session=session)
    return json.loads(pipeline.definition())


@pytest.fixture(scope="session")
def sdk_definition() -> dict:
    """The SDK's definition JSON (tests that mutate it work on deep copies).

    The SDK re-validates its config against its JSON schema on every config look-up (about 60 while building
    this pipeline, near a second each on a loaded machine); the session validated it once at construction, so
    the repeats are skipped here to keep the suite fast. Nothing else is patched."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
        import sagemaker.utils

        patch.setattr(sagemaker.utils, "validate_sagemaker_config", lambda config: None)
        return _build_sdk_definition()


@dataclass
class FakeResolver:
    """The engine's side of expressions, from plain dicts; records every S3 read."""

    parameters: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, dict] = field(default_factory=dict)
    documents: dict[str, Any] = field(default_factory=dict)
    reads: list[str] = field(default_factory=list)

    def parameter(self, name: str) -> Any:
        return self.parameters[name]

    def execution_variable(self, name: str) -> Any:
        return self.variables[name]

    def step_properties(self, step: str) -> dict:
        if step not in self.properties:
            raise ValidationError(f"step '{step}' has not run")
        return self.properties[step]

    def read_json(self, s3_uri: str) -> Any:
        self.reads.append(s3_uri)
        return self.documents[s3_uri]
