"""Framework image tags AWS never published are refused by CreateTrainingJob and CreateModel (through boto3
against a real server), with a ValidationException listing the valid versions; published ones pass."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

ROLE = "arn:aws:iam::123456789012:role/ShipyardTest"
ECR = "683313688378.dkr.ecr.us-east-1.amazonaws.com"


def _training(name: str, image: str, script: bool = True) -> dict:
    hps = {"sagemaker_program": '"train.py"', "sagemaker_submit_directory": '"s3://bad-tags/code.tar.gz"'}
    return {"TrainingJobName": name, "RoleArn": ROLE,
            "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
            "HyperParameters": hps if script else {"num_round": "2", "objective": "reg:squarederror"},
            "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": "s3://bad-tags/train"}}}],
            "OutputDataConfig": {"S3OutputPath": "s3://bad-tags/out"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
            "StoppingCondition": {"MaxRuntimeInSeconds": 60}}


@pytest.mark.parametrize("image,script,listed", [
    (f"{ECR}/sagemaker-xgboost:0.1-bad", True, "1.7-1"),
    (f"{ECR}/sagemaker-xgboost:0.1-bad", False, "1.7-1"),  # built-in mode: no such image either
    (f"{ECR}/sagemaker-scikit-learn:9.9", True, "1.2-1"),
    ("763104351884.dkr.ecr.us-west-2.amazonaws.com/pytorch-training:0.0.1-cpu-py3", True, "2.0.1"),
])
def test_create_training_job_refuses_unpublished_tags(server, image, script, listed):
    sm = server.client("sagemaker")
    with pytest.raises(ClientError) as e:
        sm.create_training_job(**_training(f"bad-tag-{abs(hash((image, script))) % 10**8}", image, script))
    err = e.value.response["Error"]
    assert err["Code"] == "ValidationException"
    assert listed in err["Message"] and image.rsplit(":", 1)[1] in err["Message"]


def test_create_model_refuses_unpublished_tags_and_accepts_published_ones(server):
    sm = server.client("sagemaker")
    with pytest.raises(ClientError) as e:
        sm.create_model(ModelName="bad-tag-model", ExecutionRoleArn=ROLE, PrimaryContainer={
            "Image": f"{ECR}/sagemaker-scikit-learn:9.9", "ModelDataUrl": "s3://bad-tags/model.tar.gz",
            "Environment": {"SAGEMAKER_PROGRAM": "inference.py"}})
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert "1.2-1" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError):  # the model was not created
        sm.describe_model(ModelName="bad-tag-model")
    sm.create_model(ModelName="good-tag-model", ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": f"{ECR}/sagemaker-scikit-learn:1.2-1-cpu-py3", "ModelDataUrl": "s3://bad-tags/model.tar.gz",
        "Environment": {"SAGEMAKER_PROGRAM": "inference.py"}})
    assert sm.describe_model(ModelName="good-tag-model")["PrimaryContainer"]["Image"].endswith("1.2-1-cpu-py3")
