"""Helpers for the hosting tests: upload a tiny XGBoost model, find model-server processes, wait."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import xgboost as xgb

from shipyard.testing.archives import tarball  # noqa: F401 (re-exported: a model.tar.gz)

XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def model_tarball(scale: float = 2.0, files: dict[str, bytes] | None = None) -> tuple[bytes, xgb.Booster]:
    """A 4-feature XGBoost regressor predicting ``scale * x0`` (x in [0, 1)), tarred as the built-in container
    expects; ``files`` replaces the tarball's content (the booster is still returned)."""
    rng = np.random.default_rng(0)
    X = rng.random((200, 4))
    booster = xgb.train({"max_depth": 3}, xgb.DMatrix(X, X[:, 0] * scale), 10)
    return tarball({"xgboost-model": bytes(booster.save_raw("ubj"))} if files is None else files), booster


def upload(s3, bucket: str, key: str, data: bytes) -> str:
    try:
        s3.create_bucket(Bucket=bucket)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    s3.put_object(Bucket=bucket, Key=key, Body=data)
    return f"s3://{bucket}/{key}"


def model_server_pids(home: Path, endpoint: str | None = None) -> list[int]:
    """Pids of model-server processes (not their launchers) serving endpoints under ``home``."""
    needle = str(Path(home) / "runs" / "endpoints" / (endpoint or ""))
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            args = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if len(args) > 4 and args[1:3] == [b"-m", b"shipyard.serving.model_server"] and \
                any(a.decode(errors="replace").startswith(needle) for a in args):
            pids.append(int(entry))
    return sorted(pids)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def wait_until(predicate, timeout: float = 60.0, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def wait_in_service(sm, name: str, timeout: float = 90.0) -> dict:
    def check():
        d = sm.describe_endpoint(EndpointName=name)
        if d["EndpointStatus"] == "Failed":
            raise AssertionError(f"endpoint failed: {d.get('FailureReason')}")
        return d if d["EndpointStatus"] == "InService" else None

    return wait_until(check, timeout, 0.3, f"endpoint {name} InService")
