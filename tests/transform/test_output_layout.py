"""Batch transform output names, as SageMaker writes them, and S3 https object URLs accepted wherever an
s3:// URI is (CreateModel's ModelDataUrl and ModelDataSource, transform and training inputs).

Outputs: ``<S3OutputPath>/<key relative to the input prefix's folder>.out``: for ``s3://b/in/`` or
``s3://b/in`` (a folder) ``in/a.csv`` -> ``a.csv.out`` and ``in/sub/b.csv`` -> ``sub/b.csv.out``; for a key
prefix ending inside a name, ``s3://b/pre/data`` with ``pre/data1.csv``, relative to ``pre/`` ->
``data1.csv.out``.
"""

from __future__ import annotations

import io
import sys
import tarfile
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from shipyard.transform.engine import output_name

XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ROLE = "arn:aws:iam::123456789012:role/Shipyard"


def https_forms(bucket: str, key: str) -> list[str]:
    return [f"https://{bucket}.s3.us-east-1.amazonaws.com/{key}", f"https://{bucket}.s3-us-east-1.amazonaws.com/{key}",
            f"https://s3.us-east-1.amazonaws.com/{bucket}/{key}", f"https://{bucket}.s3.amazonaws.com/{key}"]


@pytest.fixture(scope="module")
def setup(server):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(60, 4)).astype(np.float32)
    y = (X[:, 0] - X[:, 2] > 0).astype(np.float32)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 2}, xgb.DMatrix(X, label=y), 5)
    raw = booster.save_raw("ubj")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    s3, sm = server.client("s3"), server.client("sagemaker")
    bucket = f"layout-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="model/model.tar.gz", Body=buf.getvalue())
    model = f"xgb-{uuid.uuid4().hex[:8]}"
    sm.create_model(ModelName=model, ExecutionRoleArn=ROLE,  # an https ModelDataUrl serves like s3://
                    PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": https_forms(bucket, "model/model.tar.gz")[0]})
    return {"bucket": bucket, "model": model, "booster": booster, "X": X, "s3": s3, "sm": sm}


def _csv(rows) -> bytes:
    return ("\n".join(",".join(f"{v:.6f}" for v in r) for r in rows) + "\n").encode()


def _predict(booster, rows) -> np.ndarray:
    """The booster's predictions for ``rows`` as the CSV sends them (6 decimals)."""
    return booster.predict(xgb.DMatrix(np.loadtxt(io.BytesIO(_csv(rows)), delimiter=",", ndmin=2)))


def _start(s, input_uri: str, model: str | None = None) -> str:
    name = f"tj-{uuid.uuid4().hex[:8]}"
    s["sm"].create_transform_job(
        TransformJobName=name, ModelName=model or s["model"], BatchStrategy="MultiRecord",
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_uri}},
                        "ContentType": "text/csv", "SplitType": "Line"},
        TransformOutput={"S3OutputPath": f"s3://{s['bucket']}/out/{name}", "AssembleWith": "Line"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1})
    return name


def _transforms(s, jobs: list[tuple[str, str | None]]) -> list[tuple[str, dict]]:
    """Start every (input URI, model) job at once, then wait for each: the jobs are independent, and each
    spends most of its time starting its model server."""
    names = [_start(s, uri, model) for uri, model in jobs]
    return [_wait(s, name) for name in names]


def _wait(s, name: str) -> tuple[str, dict]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        d = s["sm"].describe_transform_job(TransformJobName=name)
        if d["TransformJobStatus"] in ("Completed", "Failed", "Stopped"):
            return name, d
        time.sleep(0.3)
    raise AssertionError(f"transform job {name} did not finish")


def _outputs(s, name: str) -> dict[str, np.ndarray]:
    listed = s["s3"].list_objects_v2(Bucket=s["bucket"], Prefix=f"out/{name}/").get("Contents", [])
    return {o["Key"][len(f"out/{name}/"):]: np.array(
        s["s3"].get_object(Bucket=s["bucket"], Key=o["Key"])["Body"].read().decode().split(), dtype=float)
        for o in listed}


def test_output_name_rules():
    assert output_name("in/", "in/a.csv") == "a.csv"
    assert output_name("in/", "in/sub/b.csv") == "sub/b.csv"
    assert output_name("in", "in/sub/b.csv") == "sub/b.csv"
    assert output_name("x/in", "x/in/a.csv") == "a.csv"
    assert output_name("pre/data", "pre/data1.csv") == "data1.csv"
    assert output_name("pre/data", "pre/data/x.csv") == "x.csv"
    assert output_name("compat/test/test.csv", "compat/test/test.csv") == "test.csv"
    assert output_name("", "a/b.csv") == "a/b.csv"


def test_outputs_are_named_relative_to_the_input_prefix(setup):
    s, X = setup, setup["X"]
    b = s["bucket"]
    for key, rows in (("in/a.csv", X[:20]), ("in/sub/b.csv", X[20:40]), ("pre/data1.csv", X[40:50]),
                      ("pre/data2.csv", X[50:]), ("pre/other.csv", X[:3])):
        s["s3"].put_object(Bucket=b, Key=key, Body=_csv(rows))
    predict = {n: _predict(s["booster"], rows) for n, rows in (
        ("a.csv.out", X[:20]), ("sub/b.csv.out", X[20:40]), ("data1.csv.out", X[40:50]),
        ("data2.csv.out", X[50:]))}
    cases = ((f"s3://{b}/in/", ["a.csv.out", "sub/b.csv.out"]), (f"s3://{b}/in", ["a.csv.out", "sub/b.csv.out"]),
             (f"s3://{b}/pre/data", ["data1.csv.out", "data2.csv.out"]))
    for (uri, expected), (name, d) in zip(cases, _transforms(s, [(uri, None) for uri, _ in cases])):
        assert d["TransformJobStatus"] == "Completed", d.get("FailureReason")
        got = _outputs(s, name)
        assert sorted(got) == expected, (uri, sorted(got))
        for out_name in expected:
            np.testing.assert_allclose(got[out_name], predict[out_name], rtol=1e-4)


def test_https_s3_urls_are_accepted(setup, server):
    s, X = setup, setup["X"]
    b, sm = s["bucket"], s["sm"]
    s["s3"].put_object(Bucket=b, Key="https-in/rows.csv", Body=_csv(X[:10]))
    forms = https_forms(b, "model/model.tar.gz")
    for i, url in enumerate(forms):
        name = f"https-{i}-{uuid.uuid4().hex[:6]}"
        sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": url})
        assert sm.describe_model(ModelName=name)["PrimaryContainer"]["ModelDataUrl"] == url  # kept as given
    source = f"https-src-{uuid.uuid4().hex[:6]}"
    sm.create_model(ModelName=source, ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": XGB_IMAGE, "ModelDataSource": {"S3DataSource": {
            "S3Uri": forms[1], "S3DataType": "S3Object", "CompressionType": "Gzip"}}})
    with pytest.raises(sm.exceptions.ClientError, match="not a valid S3 URI"):
        sm.create_model(ModelName=f"bad-{uuid.uuid4().hex[:6]}", ExecutionRoleArn=ROLE, PrimaryContainer={
            "Image": XGB_IMAGE, "ModelDataUrl": f"https://example.com/{b}/model/model.tar.gz"})

    expected = _predict(s["booster"], X[:10])
    # the model from an https ModelDataUrl (the fixture's) and from an https ModelDataSource; https inputs
    jobs = [(https_forms(b, "https-in/")[2], s["model"]), (https_forms(b, "https-in")[3], source)]
    for name, d in _transforms(s, jobs):
        assert d["TransformJobStatus"] == "Completed", d.get("FailureReason")
        got = _outputs(s, name)
        assert sorted(got) == ["rows.csv.out"], sorted(got)
        np.testing.assert_allclose(got["rows.csv.out"], expected, rtol=1e-4)


def test_https_training_input(setup, server):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "training"))
    from training_helpers import script_job, unique, wait_status

    s = setup
    name = unique("https-train")
    params = script_job(s["s3"], s["bucket"], name, """
        import os
        rows = open(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "data.csv")).read().split()
        print(f"rows={len(rows)}")
        assert len(rows) == 3
    """, channels={"train": b"1,2\n3,4\n5,6\n"})
    uri = params["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"]
    params["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = https_forms(s["bucket"], uri.split("/", 3)[3])[1]
    s["sm"].create_training_job(**params)
    desc = wait_status(s["sm"], name, timeout=60)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
