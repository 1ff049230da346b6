"""The SageMaker Python SDK's Pipelines, unmodified, against a real Shipyard server: ``Pipeline(...).upsert();
execution = pipeline.start(); execution.wait(); execution.list_steps()`` on a training -> condition ->
model (with the SDK's hidden repack step) | fail pipeline, and a processing -> training -> evaluation (property
file) -> condition -> fail pipeline."""

from __future__ import annotations

import uuid

import pytest

from shipyard.testing.sdk import sdk_environment

from .helpers import ROLE

# quick_sagemaker_sdk: the SDK without its fixed sleeps and per-call config-schema checks (tests/e2e/sdk_waits.py)
pytestmark = [pytest.mark.timeout(240), pytest.mark.usefixtures("quick_sagemaker_sdk")]

# execution.wait() polls DescribePipelineExecution every POLL s (the SDK's default is 30 s): at most 120 s
POLL, ATTEMPTS = 0.25, 480
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"

TRAIN = """
import argparse, os
p = argparse.ArgumentParser(); p.add_argument("--quality", type=float, default=0.5)
a, _ = p.parse_known_args()
print(f"quality: {a.quality}", flush=True)
open(os.path.join(os.environ.get("SM_MODEL_DIR", "/opt/ml/model"), "model.txt"), "w").write(str(a.quality))
"""


@pytest.fixture(scope="module")
def sdk(server, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pipeline-sdk")
    bucket = f"pipeline-sdk-{uuid.uuid4().hex[:8]}"
    server.client("s3").create_bucket(Bucket=bucket)
    with sdk_environment(server, tmp, bucket=bucket):
        yield tmp, bucket


def test_sdk_pipeline_upsert_start_wait_list_steps_and_the_hidden_repack_step(sdk):
    """Training -> Condition -> (ModelStep | Fail). The ModelStep's model has an ``entry_point`` and the trained
    artifact, so the SDK adds a hidden Training step running its ``_repack_model.py`` on the SKLearn image: it
    must run, and the model must point at the repacked artifact (the trained model plus the inference code)."""
    import io
    import tarfile

    import boto3
    from sagemaker.model import Model
    from sagemaker.workflow.model_step import ModelStep
    from sagemaker.sklearn import SKLearn
    from sagemaker.workflow.condition_step import ConditionStep
    from sagemaker.workflow.conditions import ConditionGreaterThanOrEqualTo
    from sagemaker.workflow.execution_variables import ExecutionVariables
    from sagemaker.workflow.fail_step import FailStep
    from sagemaker.workflow.functions import Join
    from sagemaker.workflow.parameters import ParameterFloat
    from sagemaker.workflow.pipeline import Pipeline
    from sagemaker.workflow.pipeline_context import PipelineSession
    from sagemaker.workflow.steps import TrainingStep
    from botocore.exceptions import WaiterError

    tmp, bucket = sdk
    src = tmp / "src"
    src.mkdir(exist_ok=True)
    (src / "train.py").write_text(TRAIN)
    serve = tmp / "serve"
    serve.mkdir(exist_ok=True)
    (serve / "inference.py").write_text("def model_fn(model_dir):\n    return 1\n")
    boto_session = boto3.Session(region_name="us-east-1")
    session = PipelineSession(boto_session=boto_session, sagemaker_client=boto_session.client("sagemaker"),
                              default_bucket=bucket)
    quality = ParameterFloat(name="Quality", default_value=0.8)
    estimator = SKLearn(entry_point="train.py", source_dir=str(src), framework_version="1.2-1", py_version="py3",
                        role=ROLE, instance_count=1, instance_type="ml.m5.large", sagemaker_session=session,
                        hyperparameters={"quality": quality},
                        metric_definitions=[{"Name": "quality", "Regex": r"quality: ([0-9.]+)"}])
    train = TrainingStep(name="Train", step_args=estimator.fit())
    model = Model(image_uri=SKLEARN_IMAGE, model_data=train.properties.ModelArtifacts.S3ModelArtifacts, role=ROLE,
                  entry_point="inference.py", source_dir=str(serve), sagemaker_session=session)
    model_step = ModelStep(name="Serve", step_args=model.create(instance_type="ml.m5.large"))
    fail = FailStep(name="TooLow", error_message=Join(on=" ", values=[
        "quality below 0.5 in", ExecutionVariables.PIPELINE_EXECUTION_ID]))
    check = ConditionStep(name="Check", conditions=[ConditionGreaterThanOrEqualTo(
        left=train.properties.FinalMetricDataList["quality"].Value, right=0.5)], if_steps=[model_step],
        else_steps=[fail])
    pipeline = Pipeline(name=f"sdk-{uuid.uuid4().hex[:8]}", parameters=[quality], steps=[train, check],
                        sagemaker_session=session)
    pipeline.upsert(role_arn=ROLE)
    pipeline.upsert(role_arn=ROLE)  # the second is an UpdatePipeline (the SDK reads "already exists")
    assert pipeline.describe()["PipelineArn"].endswith(pipeline.name.lower())

    good = pipeline.start()
    bad = pipeline.start(parameters={"Quality": 0.1})  # both run at once: the test waits for the longer only
    good.wait(delay=POLL, max_attempts=ATTEMPTS)
    steps = {s["StepName"]: s for s in good.list_steps()}
    assert steps["Train"]["StepStatus"] == "Succeeded"
    assert steps["Check"]["Metadata"]["Condition"]["Outcome"] == "True"
    job = steps["Train"]["Metadata"]["TrainingJob"]["Arn"].rsplit("/", 1)[1]
    assert session.sagemaker_client.describe_training_job(TrainingJobName=job)["TrainingJobStatus"] == "Completed"
    repack = next(s for n, s in steps.items() if "RepackModel" in n)
    create = next(s for n, s in steps.items() if "CreateModel" in n)
    assert repack["StepStatus"] == create["StepStatus"] == "Succeeded"
    model_name = create["Metadata"]["Model"]["Arn"].rsplit("/", 1)[1]
    url = session.sagemaker_client.describe_model(ModelName=model_name)["PrimaryContainer"]["ModelDataUrl"]
    repack_job = repack["Metadata"]["TrainingJob"]["Arn"].rsplit("/", 1)[1]
    artifacts = session.sagemaker_client.describe_training_job(TrainingJobName=repack_job)["ModelArtifacts"]
    assert url == artifacts["S3ModelArtifacts"]
    body = boto_session.client("s3").get_object(Bucket=url.split("/")[2], Key=url.split("/", 3)[3])["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        names = tar.getnames()
    assert any(n.endswith("model.txt") for n in names) and any(n.endswith("inference.py") for n in names), names

    with pytest.raises(WaiterError):
        bad.wait(delay=POLL, max_attempts=ATTEMPTS)
    d = bad.describe()
    assert d["PipelineExecutionStatus"] == "Failed"
    assert d["FailureReason"] == f"quality below 0.5 in {bad.arn.rsplit('/', 1)[1]}"
    assert {s["StepName"]: s["StepStatus"] for s in bad.list_steps()}["TooLow"] == "Failed"


PREP = """
import os
os.makedirs("/opt/ml/processing/train", exist_ok=True)
rows = open("/opt/ml/processing/input/data/data.csv").read().splitlines()
open("/opt/ml/processing/train/train.csv", "w").write("\\n".join(rows[1:]) + "\\n")
print("prepared", len(rows) - 1, "rows")
"""

FIT = """
import os
rows = open("/opt/ml/input/data/train/train.csv").read().split()
mean = sum(float(r) for r in rows) / len(rows)
open("/opt/ml/model/mean.txt", "w").write(str(mean))
print("mean", mean)
"""

EVALUATE = """
import json, os, tarfile
with tarfile.open("/opt/ml/processing/model/model.tar.gz") as t:
    t.extractall("/tmp/model")
mean = float(open("/tmp/model/mean.txt").read())
os.makedirs("/opt/ml/processing/evaluation", exist_ok=True)
json.dump({"metrics": {"mean": {"value": mean}}}, open("/opt/ml/processing/evaluation/evaluation.json", "w"))
"""

def test_sdk_processing_training_evaluation_condition_pipeline(sdk):
    import boto3
    from sagemaker.inputs import TrainingInput
    from sagemaker.processing import ProcessingInput, ProcessingOutput, ScriptProcessor
    from sagemaker.sklearn import SKLearn
    from sagemaker.workflow.condition_step import ConditionStep
    from sagemaker.workflow.conditions import ConditionGreaterThanOrEqualTo
    from sagemaker.workflow.fail_step import FailStep
    from sagemaker.workflow.functions import JsonGet
    from sagemaker.workflow.parameters import ParameterFloat
    from sagemaker.workflow.pipeline import Pipeline
    from sagemaker.workflow.pipeline_context import PipelineSession
    from sagemaker.workflow.properties import PropertyFile
    from sagemaker.workflow.steps import ProcessingStep, TrainingStep

    tmp, bucket = sdk
    for name, text in (("prep.py", PREP), ("fit.py", FIT), ("evaluate.py", EVALUATE)):
        (tmp / name).write_text(text)
    boto_session = boto3.Session(region_name="us-east-1")
    session = PipelineSession(boto_session=boto_session, sagemaker_client=boto_session.client("sagemaker"),
                              default_bucket=bucket)
    boto_session.client("s3").put_object(Bucket=bucket, Key="raw/data.csv", Body=b"x\n1\n2\n3\n")
    minimum = ParameterFloat(name="MinimumMean", default_value=1.5)
    processor = ScriptProcessor(command=["python3"], image_uri=SKLEARN_IMAGE, role=ROLE, instance_count=1,
                                instance_type="ml.m5.large", sagemaker_session=session)
    prep = ProcessingStep(name="Prep", step_args=processor.run(
        code=str(tmp / "prep.py"),
        inputs=[ProcessingInput(source=f"s3://{bucket}/raw/", destination="/opt/ml/processing/input/data")],
        outputs=[ProcessingOutput(output_name="train", source="/opt/ml/processing/train")]))
    estimator = SKLearn(entry_point="fit.py", source_dir=str(tmp), framework_version="1.2-1", py_version="py3",
                        role=ROLE, instance_count=1, instance_type="ml.m5.large", sagemaker_session=session)
    train = TrainingStep(name="Fit", step_args=estimator.fit(inputs={"train": TrainingInput(
        s3_data=prep.properties.ProcessingOutputConfig.Outputs["train"].S3Output.S3Uri)}))
    report = PropertyFile(name="Report", output_name="evaluation", path="evaluation.json")
    evaluate = ProcessingStep(name="Evaluate", property_files=[report], step_args=processor.run(
        code=str(tmp / "evaluate.py"),
        inputs=[ProcessingInput(source=train.properties.ModelArtifacts.S3ModelArtifacts,
                                destination="/opt/ml/processing/model")],
        outputs=[ProcessingOutput(output_name="evaluation", source="/opt/ml/processing/evaluation")]))
    check = ConditionStep(name="GoodEnough", conditions=[ConditionGreaterThanOrEqualTo(
        left=JsonGet(step_name=evaluate.name, property_file=report, json_path="metrics.mean.value"),
        right=minimum)], if_steps=[], else_steps=[FailStep(name="Reject", error_message="mean too low")])
    pipeline = Pipeline(name=f"sdk-full-{uuid.uuid4().hex[:8]}", parameters=[minimum],
                        steps=[prep, train, evaluate, check], sagemaker_session=session)
    pipeline.upsert(role_arn=ROLE)
    execution = pipeline.start()
    execution.wait(delay=POLL, max_attempts=ATTEMPTS)
    steps = {s["StepName"]: s for s in execution.list_steps()}
    assert [steps[n]["StepStatus"] for n in ("Prep", "Fit", "Evaluate", "GoodEnough")] == ["Succeeded"] * 4
    assert steps["GoodEnough"]["Metadata"]["Condition"]["Outcome"] == "True"  # mean 2.0 >= 1.5
    assert "Reject" not in steps
    assert set(steps["Prep"]["Metadata"]) == {"ProcessingJob"}
    fit_job = steps["Fit"]["Metadata"]["TrainingJob"]["Arn"].rsplit("/", 1)[1]
    channel = session.sagemaker_client.describe_training_job(TrainingJobName=fit_job)["InputDataConfig"][0]
    prep_job = steps["Prep"]["Metadata"]["ProcessingJob"]["Arn"].rsplit("/", 1)[1]
    prep_out = session.sagemaker_client.describe_processing_job(ProcessingJobName=prep_job)[
        "ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    assert channel["DataSource"]["S3DataSource"]["S3Uri"] == prep_out




def test_sdk_step_decorated_function_is_refused_at_create_naming_the_step(sdk):
    """``@step`` functions run as training jobs that bootstrap the SDK's remote-function runtime in the image:
    not supported yet, so CreatePipeline refuses the step by name rather than failing at run time."""
    import boto3
    from botocore.exceptions import ClientError
    from sagemaker.workflow.function_step import step
    from sagemaker.workflow.pipeline import Pipeline
    from sagemaker.workflow.pipeline_context import PipelineSession

    tmp, bucket = sdk
    boto_session = boto3.Session(region_name="us-east-1")
    session = PipelineSession(boto_session=boto_session, sagemaker_client=boto_session.client("sagemaker"),
                              default_bucket=bucket)

    @step(name="AddOne", image_uri=SKLEARN_IMAGE, role=ROLE, instance_type="ml.m5.large",
          keep_alive_period_in_seconds=0)
    def add_one(x: int) -> int:
        return x + 1

    pipeline = Pipeline(name=f"sdk-step-{uuid.uuid4().hex[:8]}", steps=[add_one(1)], sagemaker_session=session)
    with pytest.raises(ClientError) as e:
        pipeline.create(role_arn=ROLE)
    error = e.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert "'AddOne'" in error["Message"] and "@step" in error["Message"]
