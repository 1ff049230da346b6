"""MXNet images are refused by name, saying why and what to use instead: Apache MXNet is retired upstream (moved
to the Apache Attic in 2023), so Shipyard runs no MXNet training or serving. CreateTrainingJob (what
``sagemaker.mxnet.MXNet.fit`` calls), CreateModel (``MXNetModel.deploy``) and CreateHyperParameterTuningJob answer
a ValidationException before anything is created."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

ROLE = "arn:aws:iam::123456789012:role/Shipyard"
ECR = "763104351884.dkr.ecr.us-east-1.amazonaws.com"
TRAINING_IMAGES = [f"{ECR}/mxnet-training:1.9.0-cpu-py38", f"{ECR}/mxnet-training:1.9.0-gpu-py38",
                   "520713654638.dkr.ecr.us-east-1.amazonaws.com/sagemaker-mxnet:1.4.1-cpu-py3"]


def _assert_refused(err: pytest.ExceptionInfo) -> None:
    error = err.value.response["Error"]
    assert error["Code"] == "ValidationException", error
    message = error["Message"]
    assert "MXNet images are not supported" in message, message
    assert "retired" in message and "sagemaker.pytorch.PyTorch" in message, message


def _training_params(name: str, image: str) -> dict:
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "HyperParameters": {"sagemaker_program": '"train.py"',
                            "sagemaker_submit_directory": '"s3://mxnet-refused/source/sourcedir.tar.gz"'},
        "RoleArn": ROLE,
        "OutputDataConfig": {"S3OutputPath": "s3://mxnet-refused/output"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
    }


@pytest.mark.parametrize("image", TRAINING_IMAGES)
def test_create_training_job_refuses_mxnet(server, image):
    sm = server.client("sagemaker")
    name = f"mxnet-refused-{time.monotonic_ns() % 10**9}"
    with pytest.raises(ClientError) as err:
        sm.create_training_job(**_training_params(name, image))
    _assert_refused(err)
    with pytest.raises(ClientError) as missing:  # nothing was created
        sm.describe_training_job(TrainingJobName=name)
    assert missing.value.response["Error"]["Code"] == "ValidationException"


def test_create_model_refuses_mxnet_inference(server):
    sm = server.client("sagemaker")
    name = f"mxnet-model-{time.monotonic_ns() % 10**9}"
    with pytest.raises(ClientError) as err:
        sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={
            "Image": f"{ECR}/mxnet-inference:1.9.0-cpu-py38",
            "ModelDataUrl": "s3://mxnet-refused/model.tar.gz",
            "Environment": {"SAGEMAKER_PROGRAM": "inference.py"}})
    _assert_refused(err)
    with pytest.raises(ClientError):
        sm.describe_model(ModelName=name)


def test_tuning_job_refuses_mxnet(server):
    sm = server.client("sagemaker")
    training = _training_params("unused", TRAINING_IMAGES[0])
    definition = {
        "AlgorithmSpecification": {**training["AlgorithmSpecification"],
                                   "MetricDefinitions": [{"Name": "acc", "Regex": "acc=([0-9.]+)"}]},
        "StaticHyperParameters": training["HyperParameters"], "RoleArn": ROLE,
        "OutputDataConfig": training["OutputDataConfig"], "ResourceConfig": training["ResourceConfig"],
        "StoppingCondition": training["StoppingCondition"]}
    with pytest.raises(ClientError) as err:
        sm.create_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=f"mxnet-hpo-{time.monotonic_ns() % 10**8}",
            HyperParameterTuningJobConfig={
                "Strategy": "Random",
                "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "acc"},
                "ResourceLimits": {"MaxNumberOfTrainingJobs": 1, "MaxParallelTrainingJobs": 1},
                "ParameterRanges": {"ContinuousParameterRanges": [
                    {"Name": "lr", "MinValue": "0.01", "MaxValue": "0.1"}]}},
            TrainingJobDefinition=definition)
    _assert_refused(err)


def test_sdk_mxnet_estimator_fit_is_refused(server, tmp_path, quick_sagemaker_sdk):
    """``sagemaker.mxnet.MXNet(...).fit()``, unmodified: the refusal reaches the user as the SDK's ClientError."""
    from shipyard.testing.sdk import sdk_environment, sdk_session

    (tmp_path / "train.py").write_text("print('never runs')\n")
    with sdk_environment(server, tmp_path / "config", bucket="mxnet-refused-sdk"):
        from sagemaker.mxnet import MXNet

        estimator = MXNet(entry_point="train.py", source_dir=str(tmp_path), framework_version="1.9.0",
                          py_version="py38", role=ROLE, instance_count=1, instance_type="ml.m5.large",
                          sagemaker_session=sdk_session("us-east-1"))
        with pytest.raises(ClientError) as err:
            estimator.fit(wait=False)
    _assert_refused(err)
