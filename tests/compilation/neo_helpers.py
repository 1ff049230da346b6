"""Shared by the compilation tests: a tiny XGBoost model artifact, a server running a chosen compiler, waits."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
import xgboost as xgb

from shipyard.testing.archives import tarball

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
STANDIN = Path(__file__).with_name("standin_compiler.py")


def standin_env(sleep: float = 0.0) -> dict[str, str]:
    """Server environment running the stand-in compiler (sleeping ``sleep`` s first)."""
    return {"SHIPYARD_NEO_COMPILER": f"{sys.executable} {STANDIN}", "STANDIN_SLEEP": str(sleep)}


def compiler_env() -> dict[str, str]:
    """The real compiler (shipyard.compile.job) when it exists, else the stand-in (``NEO_TEST_STANDIN=1``
    forces the stand-in: to tell the controller's and the handler's faults from the compiler's)."""
    import os

    if os.environ.get("NEO_TEST_STANDIN") == "1" or not importlib.util.find_spec("shipyard.compile.job"):
        return standin_env()
    return {}


def xgb_artifact(objective: str = "binary:logistic", rounds: int = 20, features: int = 6) -> tuple[bytes, np.ndarray]:
    """A model.tar.gz of a built-in XGBoost model (``xgboost-model``) and some rows to ask it about."""
    rng = np.random.default_rng(0)
    X = rng.random((300, features)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 1.0).astype(np.float32)
    params = {"objective": objective, "max_depth": 3}
    if objective.startswith("multi:"):
        y = np.floor(X[:, 0] * 3).astype(np.float32)
        params["num_class"] = 3
    booster = xgb.train(params, xgb.DMatrix(X, y), rounds)
    return tarball({"xgboost-model": bytes(booster.save_raw("json"))}), X[:8]


def upload(s3, bucket: str, key: str, data: bytes) -> str:
    try:
        s3.create_bucket(Bucket=bucket)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    s3.put_object(Bucket=bucket, Key=key, Body=data)
    return f"s3://{bucket}/{key}"


def job_request(name: str, model_uri: str, output: str, framework: str = "XGBOOST", **extra) -> dict:
    req = {"CompilationJobName": name, "RoleArn": ROLE,
           "InputConfig": {"S3Uri": model_uri, "DataInputConfig": '{"data": [1, 6]}', "Framework": framework},
           "OutputConfig": {"S3OutputLocation": output, "TargetDevice": "ml_c5"},
           "StoppingCondition": {"MaxRuntimeInSeconds": 300}}
    req.update(extra)
    return req


def wait_job(sm, name: str, statuses=("COMPLETED", "FAILED", "STOPPED"), timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        d = sm.describe_compilation_job(CompilationJobName=name)
        if d["CompilationJobStatus"] in statuses:
            return d
        if time.monotonic() > deadline:
            raise AssertionError(f"compilation job {name} still {d['CompilationJobStatus']} after {timeout:g} s")
        time.sleep(0.2)


def wait_in_service(sm, name: str, timeout: float = 90.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        d = sm.describe_endpoint(EndpointName=name)
        if d["EndpointStatus"] == "Failed":
            raise AssertionError(f"endpoint failed: {d.get('FailureReason')}")
        if d["EndpointStatus"] == "InService":
            return d
        if time.monotonic() > deadline:
            raise AssertionError(f"endpoint {name} not InService after {timeout:g} s")
        time.sleep(0.3)
