"""Helpers for the XGBoost tests: lay out the /opt/ml contract in a temp folder and run the program."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import xgboost as xgb


def make_regression(n: int = 300, d: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = 2.0 * X[:, 0] - X[:, 1] + 0.1 * rng.normal(size=n)
    return X, y


def write_csv(path: Path, X: np.ndarray, y: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, np.column_stack([y, X]), delimiter=",", fmt="%.6g")


def write_libsvm(path: Path, X: np.ndarray, y: np.ndarray, qid: np.ndarray | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, (row, label) in enumerate(zip(X, y)):
        q = f" qid:{int(qid[i])}" if qid is not None else ""
        lines.append(f"{label:g}{q} " + " ".join(f"{j}:{v:.6g}" for j, v in enumerate(row) if v != 0))
    path.write_text("\n".join(lines) + "\n")


def layout(base: Path, hyperparameters: dict, channels: dict[str, str]) -> Path:
    """Write input/config files; ``channels`` maps name -> ContentType. Returns the base dir."""
    cfg = base / "input" / "config"
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "hyperparameters.json").write_text(json.dumps({k: str(v) for k, v in hyperparameters.items()}))
    (cfg / "inputdataconfig.json").write_text(json.dumps(
        {name: {"ContentType": ct, "TrainingInputMode": "File"} for name, ct in channels.items()}))
    return base


def run_train(base: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SM_")}
    env["SAGEMAKER_BASE_DIR"] = str(base)
    env["SM_NUM_CPUS"] = "2"
    return subprocess.run([sys.executable, "-m", "shipyard.algorithms.xgboost.train"], env=env,
                          capture_output=True, text=True, timeout=timeout)


def load_model(path: Path) -> xgb.Booster:
    booster = xgb.Booster()
    booster.load_model(bytearray(Path(path).read_bytes()))
    return booster
