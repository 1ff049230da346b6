"""Built-in XGBoost checkpoints: saved every round, and a killed job re-run on the same folder goes on."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import numpy as np

from xgb_helpers import layout, load_model, write_csv

ROUNDS = 150


def _job(base):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20000, 10))
    y = 2 * X[:, 0] + np.sin(3 * X[:, 1]) + 0.1 * rng.normal(size=20000)
    write_csv(base / "input/data/train/t.csv", X, y)
    layout(base, {"num_round": ROUNDS, "max_depth": 8}, {"train": "text/csv"})
    (base / "checkpoints").mkdir()
    (base / "input/config/checkpointconfig.json").write_text('{"LocalPath": "/opt/ml/checkpoints"}')
    env = {k: v for k, v in os.environ.items() if not k.startswith("SM_")}
    env.update(SAGEMAKER_BASE_DIR=str(base), SM_NUM_CPUS="1")
    return [sys.executable, "-m", "shipyard.algorithms.xgboost.train"], env


def _rounds(folder):
    return sorted(int(p.name.rsplit(".", 1)[1]) for p in folder.iterdir() if p.name.startswith("xgboost-checkpoint."))


def test_killed_job_resumes_from_latest_checkpoint(tmp_path):
    cmd, env = _job(tmp_path)
    ckpt = tmp_path / "checkpoints"
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (ckpt / "xgboost-checkpoint.3").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint was written"
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(10)
    saved = _rounds(ckpt)
    assert 3 <= saved[-1] < ROUNDS - 1 and len(saved) <= 5, saved  # killed mid-way; only the newest 5 kept
    assert not (tmp_path / "model" / "xgboost-model").exists()
    assert not [p for p in ckpt.iterdir() if p.name.startswith(".")]  # no torn temporary file left behind

    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"Resuming from checkpoint xgboost-checkpoint.{saved[-1]}: {saved[-1] + 1} of {ROUNDS}" in out.stdout
    numbers = [int(m.group(1)) for m in re.finditer(r"^\[(\d+)\]\t", out.stdout, re.M)]
    assert numbers == list(range(saved[-1] + 1, ROUNDS))  # continues the round numbering, no round twice
    booster = load_model(tmp_path / "model" / "xgboost-model")
    assert booster.num_boosted_rounds() == ROUNDS
    assert _rounds(ckpt)[-1] == ROUNDS - 1

    # a third start finds every round done: it trains nothing and saves the same model
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and not re.search(r"^\[\d+\]\t", again.stdout, re.M)
    assert load_model(tmp_path / "model" / "xgboost-model").num_boosted_rounds() == ROUNDS


def test_no_checkpoint_config_means_no_checkpoints(tmp_path):
    cmd, env = _job(tmp_path)
    (tmp_path / "input/config/checkpointconfig.json").unlink()
    layout(tmp_path, {"num_round": 3}, {"train": "text/csv"})
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert not any((tmp_path / "checkpoints").iterdir())
    assert load_model(tmp_path / "model" / "xgboost-model").num_boosted_rounds() == 3


def test_save_model_on_termination(tmp_path):
    cmd, env = _job(tmp_path)
    (tmp_path / "input/config/checkpointconfig.json").unlink()
    layout(tmp_path, {"num_round": 100000, "max_depth": 8, "save_model_on_termination": "true"},
           {"train": "text/csv"})
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        for line in proc.stdout:
            if line.startswith("[3]"):
                break
            assert time.monotonic() < deadline
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0 and "Received SIGTERM" in rest, rest[-2000:]
    rounds = load_model(tmp_path / "model" / "xgboost-model").num_boosted_rounds()
    assert 4 <= rounds < 100000
