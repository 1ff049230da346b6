"""Orchestrate jobs to train and evaluate models with Amazon SageMaker Pipelines (abalone), as a script.

Source notebook: aws/amazon-sagemaker-examples,
sagemaker-pipelines/tabular/abalone_build_train_deploy/sagemaker-pipelines-preprocess-train-evaluate-batch-transform.ipynb

A pipeline of: an SKLearnProcessor preprocessing step, a built-in XGBoost (1.0-1) training step, a
ScriptProcessor evaluation step writing a property file, a condition on the evaluation's MSE that either
registers the model in a model package group, creates a SageMaker model and runs a batch transform, or fails
the execution with a FailStep. Run with the defaults, then again with parameters (approval status), then with a
threshold the model cannot meet (the execution fails in its FailStep). Adaptations are marked ``# SHIPYARD:``.
"""

import json
from pathlib import Path

import boto3
import numpy as np
import sagemaker
from sagemaker.estimator import Estimator
from sagemaker.inputs import TrainingInput, TransformInput
from sagemaker.model import Model
from sagemaker.model_metrics import MetricsSource, ModelMetrics
from sagemaker.processing import ProcessingInput, ProcessingOutput, ScriptProcessor
from sagemaker.sklearn.processing import SKLearnProcessor
from sagemaker.transformer import Transformer
from sagemaker.workflow.condition_step import ConditionStep
from sagemaker.workflow.conditions import ConditionLessThanOrEqualTo
from sagemaker.workflow.fail_step import FailStep
from sagemaker.workflow.functions import Join, JsonGet
from sagemaker.workflow.model_step import ModelStep
from sagemaker.workflow.parameters import ParameterFloat, ParameterInteger, ParameterString
from sagemaker.workflow.pipeline import Pipeline
from sagemaker.workflow.pipeline_context import PipelineSession
from sagemaker.workflow.properties import PropertyFile
from sagemaker.workflow.steps import ProcessingStep, TrainingStep, TransformStep

region = boto3.Session().region_name
sagemaker_session = sagemaker.session.Session()
# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
role = "arn:aws:iam::123456789012:role/Shipyard"
default_bucket = sagemaker_session.default_bucket()
pipeline_session = PipelineSession()
model_package_group_name = "AbaloneModelPackageGroupName"

# SHIPYARD: the code files sit in pipelines_abalone/ beside this script (the notebook writes them with %%writefile).
CODE = Path(__file__).resolve().parent / "pipelines_abalone"


# SHIPYARD: the notebook copies abalone-dataset.csv and abalone-dataset-batch from the sagemaker-sample-files
# bucket. No downloads here: a generated set of the same schema (sex, 7 measurements, rings), headerless CSV.
def generate_abalone(n, seed):
    rng = np.random.default_rng(seed)
    sex = rng.choice(["M", "F", "I"], size=n)
    length = rng.uniform(0.1, 0.8, size=n)
    diameter = length * rng.uniform(0.7, 0.85, size=n)
    height = length * rng.uniform(0.2, 0.4, size=n)
    whole = 4 * length ** 3 * rng.uniform(0.8, 1.2, size=n)
    shucked, viscera, shell = whole * 0.43, whole * 0.22, whole * 0.29
    rings = np.clip(np.round(3 + 15 * shell + 8 * length + rng.normal(0, 1.0, size=n)), 1, 29)
    return sex, np.column_stack([length, diameter, height, whole, shucked, viscera, shell]), rings


sex, measures, rings = generate_abalone(1000, 1)
Path("data").mkdir(exist_ok=True)
local_path = "data/abalone-dataset.csv"
with open(local_path, "w") as f:
    for s, row, r in zip(sex, measures, rings):
        f.write(",".join([s] + [f"{v:.4f}" for v in row] + [f"{int(r)}"]) + "\n")
base_uri = f"s3://{default_bucket}/abalone"
input_data_uri = sagemaker.s3.S3Uploader.upload(local_path=local_path, desired_s3_uri=base_uri)
print(input_data_uri)

# The batch data: the notebook's abalone-dataset-batch holds the preprocessed features without the label.
batch_sex, batch_measures, _ = generate_abalone(100, 2)
onehot = np.stack([(batch_sex == c).astype(float) for c in ("F", "I", "M")], axis=1)
scaled = (batch_measures - measures.mean(axis=0)) / measures.std(axis=0)
np.savetxt("data/abalone-dataset-batch", np.hstack([scaled, onehot]), delimiter=",", fmt="%.6f")
batch_data_uri = sagemaker.s3.S3Uploader.upload(local_path="data/abalone-dataset-batch", desired_s3_uri=base_uri)
print(batch_data_uri)

processing_instance_count = ParameterInteger(name="ProcessingInstanceCount", default_value=1)
instance_type = ParameterString(name="TrainingInstanceType", default_value="ml.m5.xlarge")
model_approval_status = ParameterString(name="ModelApprovalStatus", default_value="PendingManualApproval")
input_data = ParameterString(name="InputData", default_value=input_data_uri)
batch_data = ParameterString(name="BatchData", default_value=batch_data_uri)
mse_threshold = ParameterFloat(name="MseThreshold", default_value=6.0)

framework_version = "1.2-1"  # SHIPYARD: the notebook has "0.23-1"; both resolve to the same environment here

sklearn_processor = SKLearnProcessor(
    framework_version=framework_version,
    instance_type="ml.m5.xlarge",
    instance_count=processing_instance_count,
    base_job_name="sklearn-abalone-process",
    role=role,
    sagemaker_session=pipeline_session,
)

processor_args = sklearn_processor.run(
    inputs=[ProcessingInput(source=input_data, destination="/opt/ml/processing/input")],
    outputs=[
        ProcessingOutput(output_name="train", source="/opt/ml/processing/train"),
        ProcessingOutput(output_name="validation", source="/opt/ml/processing/validation"),
        ProcessingOutput(output_name="test", source="/opt/ml/processing/test"),
    ],
    code=str(CODE / "preprocessing.py"),
)

step_process = ProcessingStep(name="AbaloneProcess", step_args=processor_args)

model_path = f"s3://{default_bucket}/AbaloneTrain"
image_uri = sagemaker.image_uris.retrieve(
    framework="xgboost",
    region=region,
    version="1.0-1",
    py_version="py3",
    instance_type="ml.m5.xlarge",
)
xgb_train = Estimator(
    image_uri=image_uri,
    instance_type=instance_type,
    instance_count=1,
    output_path=model_path,
    role=role,
    sagemaker_session=pipeline_session,
)
xgb_train.set_hyperparameters(
    objective="reg:linear",
    num_round=50,
    max_depth=5,
    eta=0.2,
    gamma=4,
    min_child_weight=6,
    subsample=0.7,
)

train_args = xgb_train.fit(
    inputs={
        "train": TrainingInput(
            s3_data=step_process.properties.ProcessingOutputConfig.Outputs["train"].S3Output.S3Uri,
            content_type="text/csv",
        ),
        "validation": TrainingInput(
            s3_data=step_process.properties.ProcessingOutputConfig.Outputs["validation"].S3Output.S3Uri,
            content_type="text/csv",
        ),
    },
)

step_train = TrainingStep(name="AbaloneTrain", step_args=train_args)

script_eval = ScriptProcessor(
    image_uri=image_uri,
    command=["python3"],
    instance_type="ml.m5.xlarge",
    instance_count=1,
    base_job_name="script-abalone-eval",
    role=role,
    sagemaker_session=pipeline_session,
)

eval_args = script_eval.run(
    inputs=[
        ProcessingInput(
            source=step_train.properties.ModelArtifacts.S3ModelArtifacts,
            destination="/opt/ml/processing/model",
        ),
        ProcessingInput(
            source=step_process.properties.ProcessingOutputConfig.Outputs["test"].S3Output.S3Uri,
            destination="/opt/ml/processing/test",
        ),
    ],
    outputs=[ProcessingOutput(output_name="evaluation", source="/opt/ml/processing/evaluation")],
    code=str(CODE / "evaluation.py"),
)

evaluation_report = PropertyFile(name="EvaluationReport", output_name="evaluation", path="evaluation.json")
step_eval = ProcessingStep(name="AbaloneEval", step_args=eval_args, property_files=[evaluation_report])

model = Model(
    image_uri=image_uri,
    model_data=step_train.properties.ModelArtifacts.S3ModelArtifacts,
    sagemaker_session=pipeline_session,
    role=role,
)

step_create_model = ModelStep(
    name="AbaloneCreateModel",
    step_args=model.create(instance_type="ml.m5.large", accelerator_type="ml.eia1.medium"),
)

transformer = Transformer(
    model_name=step_create_model.properties.ModelName,
    instance_type="ml.m5.xlarge",
    instance_count=1,
    output_path=f"s3://{default_bucket}/AbaloneTransform",
)

step_transform = TransformStep(name="AbaloneTransform", transformer=transformer, inputs=TransformInput(data=batch_data))

model_metrics = ModelMetrics(
    model_statistics=MetricsSource(
        s3_uri="{}/evaluation.json".format(
            step_eval.arguments["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
        ),
        content_type="application/json",
    )
)

register_args = model.register(
    content_types=["text/csv"],
    response_types=["text/csv"],
    inference_instances=["ml.t2.medium", "ml.m5.xlarge"],
    transform_instances=["ml.m5.xlarge"],
    model_package_group_name=model_package_group_name,
    approval_status=model_approval_status,
    model_metrics=model_metrics,
)
step_register = ModelStep(name="AbaloneRegisterModel", step_args=register_args)

step_fail = FailStep(
    name="AbaloneMSEFail",
    error_message=Join(on=" ", values=["Execution failed due to MSE >", mse_threshold]),
)

cond_lte = ConditionLessThanOrEqualTo(
    left=JsonGet(
        step_name=step_eval.name,
        property_file=evaluation_report,
        json_path="regression_metrics.mse.value",
    ),
    right=mse_threshold,
)

step_cond = ConditionStep(
    name="AbaloneMSECond",
    conditions=[cond_lte],
    if_steps=[step_register, step_create_model, step_transform],
    else_steps=[step_fail],
)

pipeline_name = "AbalonePipeline"
pipeline = Pipeline(
    name=pipeline_name,
    parameters=[
        processing_instance_count,
        instance_type,
        model_approval_status,
        input_data,
        batch_data,
        mse_threshold,
    ],
    steps=[step_process, step_train, step_eval, step_cond],
)

definition = json.loads(pipeline.definition())
print(json.dumps(definition, indent=2)[:2000])

pipeline.upsert(role_arn=role)

execution = pipeline.start()
print(execution.describe())
execution.wait(delay=2, max_attempts=300)  # SHIPYARD: the notebook waits with the SDK's defaults (30 s polls)
steps = execution.list_steps()
print(json.dumps(steps, indent=2, default=str)[:3000])
statuses = {s["StepName"]: s["StepStatus"] for s in steps}
assert statuses.get("AbaloneTransform") == "Succeeded", statuses  # SHIPYARD: sanity check
assert statuses.get("AbaloneRegisterModel-RegisterModel", statuses.get("AbaloneRegisterModel")) == "Succeeded", statuses

# Examining the evaluation: the notebook reads evaluation.json of the evaluation step's output.
evaluation_json = sagemaker.s3.S3Downloader.read_file(
    "{}/evaluation.json".format(step_eval.arguments["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"])
)
print(json.loads(evaluation_json))
assert json.loads(evaluation_json)["regression_metrics"]["mse"]["value"] <= 6.0  # SHIPYARD: sanity check

# Parametrized executions: approve the model this time.
execution = pipeline.start(parameters=dict(ModelApprovalStatus="Approved"))
execution.wait(delay=2, max_attempts=300)
print(execution.list_steps()[0])
packages = boto3.client("sagemaker").list_model_packages(ModelPackageGroupName=model_package_group_name)
print([(p["ModelPackageVersion"], p["ModelApprovalStatus"]) for p in packages["ModelPackageSummaryList"]])
assert {"Approved", "PendingManualApproval"} <= {p["ModelApprovalStatus"] for p in packages["ModelPackageSummaryList"]}

# A threshold no model meets: the execution ends in the FailStep.
execution = pipeline.start(parameters=dict(MseThreshold=0.0))
try:
    execution.wait(delay=2, max_attempts=300)
except Exception as error:
    print(error)
description = execution.describe()
print(description["PipelineExecutionStatus"], description.get("FailureReason"))
assert description["PipelineExecutionStatus"] == "Failed", description  # SHIPYARD: sanity check
fail = [s for s in execution.list_steps() if s["StepName"] == "AbaloneMSEFail"]
assert fail and fail[0]["StepStatus"] == "Failed", fail

pipeline.delete()
