"""One server for the lineage tests and one real training job on it (package scope: every module here shares
them)."""

from __future__ import annotations

import time
import uuid

import pytest

from shipyard.testing.archives import tarball
from shipyard.testing.server import ShipyardProcess

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
SCRIPT = b"""
import os
rows = open(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "data.csv")).read().splitlines()
open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write(str(len(rows)))
"""


def _wait(sm, name: str, timeout: float = 90.0) -> dict:
    deadline = time.monotonic() + timeout
    desc: dict = {}
    while time.monotonic() < deadline:
        desc = sm.describe_training_job(TrainingJobName=name)
        if desc["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
            return desc
        time.sleep(0.2)
    raise AssertionError(f"{name} still {desc.get('TrainingJobStatus')} after {timeout} s")


@pytest.fixture(scope="package")
def trained(server, sm):
    """One real script-mode training job (a channel, an image, code): (name, data URI, model URI)."""
    s3 = server.client("s3")
    bucket, name = f"lineage-{uuid.uuid4().hex[:8]}", f"lin-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="code/sourcedir.tar.gz", Body=tarball({"train.py": SCRIPT}))
    s3.put_object(Bucket=bucket, Key="data/train/data.csv", Body=b"1,2\n3,4\n")
    data_uri = f"s3://{bucket}/data/train"
    sm.create_training_job(
        TrainingJobName=name, RoleArn="arn:aws:iam::123456789012:role/ShipyardTest",
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        HyperParameters={"sagemaker_program": '"train.py"',
                         "sagemaker_submit_directory": f'"s3://{bucket}/code/sourcedir.tar.gz"'},
        InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": data_uri, "S3DataDistributionType": "FullyReplicated"}}}],
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/output"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 60})
    desc = _wait(sm, name)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    return name, data_uri, desc["ModelArtifacts"]["S3ModelArtifacts"]


@pytest.fixture(scope="package")
def server(tmp_path_factory):
    proc = ShipyardProcess(tmp_path_factory.mktemp("lineage-home"))
    proc.start()
    try:
        yield proc
    finally:
        proc.stop(kill_children=True)


@pytest.fixture(scope="package")
def sm(server):
    return server.client("sagemaker")
