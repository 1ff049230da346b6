"""Inference pipelines: a scikit-learn preprocessing container (script mode) followed by built-in XGBoost.

The endpoint's answers must equal the same pipeline run in-process (scaler.transform, then booster.predict),
and Direct mode must run only the container named by TargetContainerHostname.
"""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
import xgboost as xgb
from sklearn.preprocessing import StandardScaler

from hosting_helpers import XGB_IMAGE, model_server_pids, tarball, upload, wait_in_service

SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"

INFERENCE = b'''
import io, os, pickle
import numpy as np

def model_fn(model_dir):
    with open(os.path.join(model_dir, "scaler.pkl"), "rb") as f:
        return pickle.load(f)

def input_fn(body, content_type):
    assert content_type == "text/csv", content_type
    return np.loadtxt(io.StringIO(body), delimiter=",", ndmin=2)

def predict_fn(data, scaler):
    return scaler.transform(data)

def output_fn(prediction, accept):
    buf = io.StringIO()
    np.savetxt(buf, prediction, delimiter=",", fmt="%.17g")
    return buf.getvalue(), "text/csv"
'''


@pytest.fixture(scope="module")
def pipeline_models(server):
    rng = np.random.default_rng(1)
    X = rng.normal(50.0, 10.0, (300, 4)) * np.array([1.0, 5.0, 0.1, 2.0])
    scaler = StandardScaler().fit(X)
    Xs = scaler.transform(X)
    booster = xgb.train({"max_depth": 3}, xgb.DMatrix(Xs, Xs[:, 0] * 3 + Xs[:, 1]), 20)
    s3 = server.client("s3")
    sk_url = upload(s3, "pipeline", "sk/model.tar.gz",
                    tarball({"scaler.pkl": pickle.dumps(scaler), "code/inference.py": INFERENCE}))
    xgb_url = upload(s3, "pipeline", "xgb/model.tar.gz", tarball({"xgboost-model": bytes(booster.save_raw("ubj"))}))
    containers = [
        {"ContainerHostname": "preprocess", "Image": SKLEARN_IMAGE, "ModelDataUrl": sk_url,
         "Environment": {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv"}},
        {"ContainerHostname": "xgboost", "Image": XGB_IMAGE, "ModelDataUrl": xgb_url},
    ]
    X_new = rng.normal(50.0, 10.0, (25, 4)) * np.array([1.0, 5.0, 0.1, 2.0])
    expected = booster.inplace_predict(scaler.transform(X_new).astype(np.float32))
    return containers, X_new, scaler, expected


def _deploy(server, name: str, containers: list[dict], mode: str) -> None:
    sm = server.client("sagemaker")
    sm.create_model(ModelName=name, Containers=containers, InferenceExecutionConfig={"Mode": mode})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
        {"VariantName": "main", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    wait_in_service(sm, name)


def _delete(server, name: str) -> None:
    sm = server.client("sagemaker")
    sm.delete_endpoint(EndpointName=name)
    sm.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def _csv(X: np.ndarray) -> bytes:
    return "\n".join(",".join(repr(float(v)) for v in row) for row in X).encode()


def test_serial_pipeline_equals_in_process(server, pipeline_models):
    containers, X_new, _, expected = pipeline_models
    _deploy(server, "pipe-serial", containers, "Serial")
    try:
        assert len(model_server_pids(server.home, "pipe-serial")) == 1  # the whole chain in one process
        rt = server.client("sagemaker-runtime")
        out = rt.invoke_endpoint(EndpointName="pipe-serial", Body=_csv(X_new), ContentType="text/csv")
        assert out["ContentType"].startswith("text/csv")
        got = np.array([float(v) for v in out["Body"].read().decode().split()])
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
        # not what XGBoost alone gives on the raw rows: the scaler really ran first
        raw = rt.invoke_endpoint(EndpointName="pipe-serial", Body=_csv(X_new[:1]), ContentType="text/csv",
                                 TargetContainerHostname="xgboost")
        assert abs(float(raw["Body"].read()) - expected[0]) > 1e-3
    finally:
        _delete(server, "pipe-serial")


def test_direct_mode_targets_one_container(server, pipeline_models):
    containers, X_new, scaler, _ = pipeline_models
    _deploy(server, "pipe-direct", containers, "Direct")
    try:
        rt = server.client("sagemaker-runtime")
        out = rt.invoke_endpoint(EndpointName="pipe-direct", Body=_csv(X_new[:3]), ContentType="text/csv",
                                 TargetContainerHostname="preprocess")
        got = np.loadtxt(io.StringIO(out["Body"].read().decode()), delimiter=",", ndmin=2)
        np.testing.assert_allclose(got, scaler.transform(X_new[:3]), rtol=1e-12)
        with pytest.raises(rt.exceptions.ModelError, match="TargetContainerHostname"):
            rt.invoke_endpoint(EndpointName="pipe-direct", Body=_csv(X_new[:1]), ContentType="text/csv")
        with pytest.raises(rt.exceptions.ModelError, match="nope"):
            rt.invoke_endpoint(EndpointName="pipe-direct", Body=_csv(X_new[:1]), ContentType="text/csv",
                               TargetContainerHostname="nope")
    finally:
        _delete(server, "pipe-direct")
