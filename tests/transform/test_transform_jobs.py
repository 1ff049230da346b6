"""Batch transform end to end: a real server, real model-server processes, boto3, outputs checked against
in-process predictions of the same XGBoost model."""

from __future__ import annotations

import io
import tarfile
import time
import uuid

import numpy as np
import pytest
import xgboost as xgb
from botocore.exceptions import ClientError

XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


@pytest.fixture(scope="module")
def model_setup(server):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 4)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.float32)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3}, xgb.DMatrix(X, label=y), 10)
    raw = booster.save_raw("ubj")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    s3 = server.client("s3")
    bucket = f"transform-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="model/model.tar.gz", Body=buf.getvalue())
    sm = server.client("sagemaker")
    model = f"xgb-{uuid.uuid4().hex[:8]}"
    sm.create_model(ModelName=model, ExecutionRoleArn="arn:aws:iam::123456789012:role/Shipyard",
                    PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": f"s3://{bucket}/model/model.tar.gz"})
    return {"bucket": bucket, "model": model, "booster": booster, "X": X, "s3": s3, "sm": sm}


def _wait(sm, name: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        d = sm.describe_transform_job(TransformJobName=name)
        if d["TransformJobStatus"] in ("Completed", "Failed", "Stopped"):
            return d
        time.sleep(0.3)
    raise AssertionError(f"transform job {name} did not finish in {timeout}s")


def _job(setup, name, prefix, **kw) -> dict:
    req = dict(TransformJobName=name, ModelName=setup["model"],
               TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                               "S3Uri": f"s3://{setup['bucket']}/{prefix}"}},
                               "ContentType": "text/csv", "SplitType": "Line"},
               TransformOutput={"S3OutputPath": f"s3://{setup['bucket']}/out/{name}", "AssembleWith": "Line"},
               TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1})
    for key, value in kw.items():
        if isinstance(value, dict) and key in req:
            req[key] = {**req[key], **value}
        else:
            req[key] = value
    return req


def test_multi_record_transform_matches_in_process_predict(model_setup):
    s, X = model_setup, model_setup["X"]
    body_a = "\n".join(",".join(f"{v:.6f}" for v in row) for row in X[:300]) + "\n"
    body_b = "\n".join(",".join(f"{v:.6f}" for v in row) for row in X[300:]) + "\n"
    s["s3"].put_object(Bucket=s["bucket"], Key="in1/a.csv", Body=body_a.encode())
    s["s3"].put_object(Bucket=s["bucket"], Key="in1/part/b.csv", Body=body_b.encode())
    name = f"tj-{uuid.uuid4().hex[:8]}"
    arn = s["sm"].create_transform_job(**_job(s, name, "in1/", BatchStrategy="MultiRecord", MaxPayloadInMB=1,
                                              MaxConcurrentTransforms=2,
                                              Tags=[{"Key": "team", "Value": "ml"}]))["TransformJobArn"]
    assert s["sm"].list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ml"}]  # the request's tags
    d = _wait(s["sm"], name)
    assert d["TransformJobStatus"] == "Completed", d.get("FailureReason")
    expected = s["booster"].predict(xgb.DMatrix(np.loadtxt(io.StringIO(body_a + body_b), delimiter=",")))
    got_a = s["s3"].get_object(Bucket=s["bucket"], Key=f"out/{name}/a.csv.out")["Body"].read().decode().split()
    got_b = s["s3"].get_object(Bucket=s["bucket"], Key=f"out/{name}/part/b.csv.out")["Body"].read().decode().split()
    np.testing.assert_allclose(np.array(got_a + got_b, dtype=float), expected, rtol=1e-4)
    listed = s["sm"].list_transform_jobs(NameContains=name)["TransformJobSummaries"]
    assert [j["TransformJobName"] for j in listed] == [name]


def test_join_and_filters_keep_ids(model_setup):
    s, X = model_setup, model_setup["X"]
    rows = [f"id{i}," + ",".join(f"{v:.6f}" for v in X[i]) for i in range(20)]
    s["s3"].put_object(Bucket=s["bucket"], Key="in2/x.csv", Body=("\n".join(rows) + "\n").encode())
    name = f"tj-{uuid.uuid4().hex[:8]}"
    s["sm"].create_transform_job(**_job(s, name, "in2/", BatchStrategy="SingleRecord",
                                        DataProcessing={"InputFilter": "$[1:]", "JoinSource": "Input",
                                                        "OutputFilter": "$[0,-1]"}))
    d = _wait(s["sm"], name)
    assert d["TransformJobStatus"] == "Completed", d.get("FailureReason")
    lines = s["s3"].get_object(Bucket=s["bucket"], Key=f"out/{name}/x.csv.out")["Body"].read().decode().split()
    expected = s["booster"].predict(xgb.DMatrix(X[:20]))
    assert [ln.split(",")[0] for ln in lines] == [f"id{i}" for i in range(20)]
    np.testing.assert_allclose([float(ln.split(",")[1]) for ln in lines], expected, rtol=1e-4)


def test_bad_record_fails_the_job_naming_object_and_record(model_setup):
    s = model_setup
    s["s3"].put_object(Bucket=s["bucket"], Key="in3/bad.csv", Body=b"1,2,3,4\n1,2,oops,4\n")
    name = f"tj-{uuid.uuid4().hex[:8]}"
    s["sm"].create_transform_job(**_job(s, name, "in3/", BatchStrategy="SingleRecord"))
    d = _wait(s["sm"], name)
    assert d["TransformJobStatus"] == "Failed"
    assert "in3/bad.csv" in d["FailureReason"] and "records 1-1" in d["FailureReason"]
    listed = s["s3"].list_objects_v2(Bucket=s["bucket"], Prefix=f"out/{name}/")
    assert listed.get("KeyCount", 0) == 0


def test_validation_errors(model_setup):
    s = model_setup
    sm = s["sm"]
    with pytest.raises(ClientError) as e:
        sm.create_transform_job(**_job(s, "tj-nomodel", "in1/", ModelName="no-such-model"))
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert "Could not find model" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        sm.create_transform_job(**_job(s, "tj-bad", "in1/", BatchStrategy="MultiRecord",
                                       TransformInput={"SplitType": "None"}))
    assert "SplitType" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        sm.create_transform_job(**_job(s, "tj-big", "in1/", MaxPayloadInMB=60, MaxConcurrentTransforms=2))
    assert "100 MB" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        sm.describe_transform_job(TransformJobName="never-was")
    assert e.value.response["Error"]["Code"] == "ValidationException"
