"""Start a model server process for tests and stop it by pid."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import xgboost as xgb

XGB_HANDLER = "shipyard.algorithms.xgboost.handler:XGBoostHandler"


def train_tiny_model(model_dir: Path, d: int = 4) -> xgb.Booster:
    rng = np.random.default_rng(0)
    X = rng.random((200, d))
    booster = xgb.train({"max_depth": 3}, xgb.DMatrix(X, X[:, 0] * 2), 10)
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "xgboost-model").write_bytes(bytes(booster.save_raw("ubj")))
    return booster


class ModelServer:
    def __init__(self, model_dir: Path, *args: str, env: dict | None = None):
        self.ready = model_dir.parent / f".port-{os.getpid()}-{time.monotonic_ns()}"
        cmd = [sys.executable, "-m", "shipyard.serving.model_server", "--model-dir", str(model_dir),
               "--port", "0", "--ready-file", str(self.ready), *args]
        self.proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 30
        while not self.ready.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"model server exited {self.proc.returncode}: {self.proc.stdout.read()}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError("model server did not start in 30 s")
            time.sleep(0.05)
        self.port = int(self.ready.read_text())
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode
