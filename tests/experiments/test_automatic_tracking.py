"""Automatic tracking after real jobs: a training job gets ``<job>-aws-training-job`` (its hyperparameters,
channels, model artifact, status and the metric summaries of its series), placed by its ExperimentConfig in an
experiment and trial created for it; a transform job gets ``<job>-aws-transform-job`` and a processing job
``<job>-aws-processing-job``."""

from __future__ import annotations

import io
import sys
import tarfile
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "training"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "processing"))
from processing_helpers import script_request  # noqa: E402
from processing_helpers import wait_status as wait_processing  # noqa: E402
from training_helpers import ensure_bucket, script_job, wait_status  # noqa: E402

pytestmark = [pytest.mark.timeout(180)]

BUCKET = "exp-auto"
XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ROLE = "arn:aws:iam::123456789012:role/Shipyard"
TRAIN = """
    import os
    for i in range(4):
        print(f"epoch={i} loss={1.0 / (i + 1):.4f}", flush=True)
    open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write("m")
"""


def _tc(sm, name: str) -> dict:
    return sm.describe_trial_component(TrialComponentName=name)


def test_training_job_trial_component(server):
    sm, s3 = server.client("sagemaker"), server.client("s3")
    job = f"auto-{uuid.uuid4().hex[:8]}"
    exp, trial = f"exp-{job}", f"trial-{job}"
    params = script_job(s3, BUCKET, job, TRAIN, hps={"epochs": "4", "optimizer": '"sgd"'},
                        metrics=[{"Name": "train:loss", "Regex": r"loss=([0-9.]+)"}],
                        channels={"train": b"1,2\n3,4\n"})
    params["ExperimentConfig"] = {"ExperimentName": exp, "TrialName": trial, "TrialComponentDisplayName": "first"}
    sm.create_training_job(**params)
    desc = wait_status(sm, job, timeout=90)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    name = f"{job}-aws-training-job"
    deadline = time.monotonic() + 10  # the outcome is recorded as the job's status is saved; allow a tick
    d = _tc(sm, name)
    while d.get("Status", {}).get("PrimaryStatus") != "Completed" and time.monotonic() < deadline:
        time.sleep(0.1)
        d = _tc(sm, name)
    assert d["Source"] == {"SourceArn": desc["TrainingJobArn"], "SourceType": "SageMakerTrainingJob"}
    assert d["DisplayName"] == "first"
    assert d["Status"]["PrimaryStatus"] == "Completed"
    assert d["Parameters"]["epochs"] == {"NumberValue": 4.0}
    assert d["Parameters"]["optimizer"] == {"StringValue": "sgd"}
    assert d["Parameters"]["SageMaker.InstanceType"] == {"StringValue": "ml.m5.large"}
    assert d["InputArtifacts"]["train"] == {"Value": f"s3://{BUCKET}/{job}/data/train", "MediaType": "text/csv"}
    assert d["OutputArtifacts"]["SageMaker.ModelArtifact"]["Value"] == desc["ModelArtifacts"]["S3ModelArtifacts"]
    (loss,) = [m for m in d["Metrics"] if m["MetricName"] == "train:loss"]
    assert (loss["Count"], loss["Max"], loss["Min"], loss["Last"]) == (4, 1.0, 0.25, 0.25)
    assert loss["SourceArn"] == desc["TrainingJobArn"]
    assert sm.describe_trial(TrialName=trial)["ExperimentName"] == exp
    listed = sm.list_trial_components(TrialName=trial)["TrialComponentSummaries"]
    assert [s["TrialComponentName"] for s in listed] == [name]
    by_source = sm.list_trial_components(SourceArn=desc["TrainingJobArn"])["TrialComponentSummaries"]
    assert [s["TrialComponentName"] for s in by_source] == [name]


def _model_tar() -> bytes:
    import xgboost as xgb

    rng = np.random.default_rng(5)
    X = rng.normal(size=(40, 3)).astype(np.float32)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 2},
                        xgb.DMatrix(X, label=(X[:, 0] > 0).astype(np.float32)), 3)
    raw = booster.save_raw("ubj")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    return buf.getvalue()


def test_transform_job_trial_component(server):
    sm, s3 = server.client("sagemaker"), server.client("s3")
    bucket = f"exp-tf-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="model/model.tar.gz", Body=_model_tar())
    s3.put_object(Bucket=bucket, Key="in/data.csv", Body=b"0.1,0.2,0.3\n-1,0,1\n")
    model = f"xgb-{uuid.uuid4().hex[:8]}"
    sm.create_model(ModelName=model, ExecutionRoleArn=ROLE,
                    PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": f"s3://{bucket}/model/model.tar.gz"})
    job = f"tj-{uuid.uuid4().hex[:8]}"
    exp = f"exp-{job}"
    sm.create_transform_job(
        TransformJobName=job, ModelName=model, BatchStrategy="MultiRecord",
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/in/"}},
                        "ContentType": "text/csv", "SplitType": "Line"},
        TransformOutput={"S3OutputPath": f"s3://{bucket}/out", "AssembleWith": "Line"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
        ExperimentConfig={"ExperimentName": exp})
    name = f"{job}-aws-transform-job"
    assert _tc(sm, name)["Status"]["PrimaryStatus"] == "InProgress"
    deadline = time.monotonic() + 90
    d: dict = {}
    while time.monotonic() < deadline:
        d = _tc(sm, name)
        if d["Status"]["PrimaryStatus"] != "InProgress":
            break
        time.sleep(0.3)
    status = sm.describe_transform_job(TransformJobName=job)
    assert status["TransformJobStatus"] == "Completed", status.get("FailureReason")
    assert d["Status"]["PrimaryStatus"] == "Completed"
    assert d["Source"] == {"SourceArn": status["TransformJobArn"], "SourceType": "SageMakerTransformJob"}
    assert d["Parameters"]["SageMaker.ModelName"] == {"StringValue": model}
    assert d["InputArtifacts"]["SageMaker.TransformInput"]["Value"] == f"s3://{bucket}/in/"
    assert d["OutputArtifacts"]["SageMaker.TransformOutput"]["Value"] == f"s3://{bucket}/out"
    # no TrialName: a trial named after the component, in the experiment created for it
    assert [s["TrialComponentName"] for s in sm.list_trial_components(ExperimentName=exp)[
        "TrialComponentSummaries"]] == [name]


def test_processing_job_trial_component(server):
    sm, s3 = server.client("sagemaker"), server.client("s3")
    job = f"pj-{uuid.uuid4().hex[:8]}"
    ensure_bucket(s3, BUCKET)  # not left to an earlier test: tests of a file may run on another worker's server
    s3.put_object(Bucket=BUCKET, Key=f"{job}/data/part-0.csv", Body=b"1,2\n")
    request = script_request(s3, BUCKET, job, "print('ok')\n", inputs={"data": {"S3Uri": f"s3://{BUCKET}/{job}/data"}},
                             outputs={"result": {}})
    request["ExperimentConfig"] = {"ExperimentName": f"exp-{job}", "TrialName": f"trial-{job}"}
    sm.create_processing_job(**request)
    desc = wait_processing(sm, job, timeout=90)
    assert desc["ProcessingJobStatus"] == "Completed", desc.get("FailureReason")
    name = f"{job}-aws-processing-job"
    deadline = time.monotonic() + 10
    d = _tc(sm, name)
    while d["Status"]["PrimaryStatus"] != "Completed" and time.monotonic() < deadline:
        time.sleep(0.1)
        d = _tc(sm, name)
    assert d["Status"]["PrimaryStatus"] == "Completed"
    assert d["Source"] == {"SourceArn": desc["ProcessingJobArn"], "SourceType": "SageMakerProcessingJob"}
    assert d["InputArtifacts"]["data"] == {"Value": f"s3://{BUCKET}/{job}/data"}
    (result,) = [o for o in desc["ProcessingOutputConfig"]["Outputs"] if o["OutputName"] == "result"]
    assert d["OutputArtifacts"]["result"] == {"Value": result["S3Output"]["S3Uri"]}
    assert [s["TrialComponentName"] for s in sm.list_trial_components(TrialName=f"trial-{job}")[
        "TrialComponentSummaries"]] == [name]
