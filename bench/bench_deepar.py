"""DeepAR side by side: mean weighted quantile loss and training time on a synthetic seasonal data set,
against a seasonal-naive forecast and, when it is installed, GluonTS's DeepAR (PyTorch) with the same
settings and the same number of gradient steps.

* Shipyard's DeepAR runs as a training job does (``python -m shipyard.algorithms.deepar.train`` under a
  temporary ``/opt/ml``, train and test channels of JSON Lines); its test metrics are read from the job's
  metric lines, its training time from its log (the epochs only, like GluonTS's ``train`` call) and the whole
  job's wall time is shown as well (interpreter, torch import, data reading, evaluation).
* The seasonal-naive forecast repeats each series' last season; a point forecast, so its quantile loss is its
  weighted absolute error.
* GluonTS runs in its own interpreter (``--gluonts-python``, default ``/tmp/gluonts-venv/bin/python`` when it
  exists: GluonTS may want another torch than Shipyard's environment), given the same series; its sample
  paths are scored by the same function. Without it the line says "not installed".

Run: ``python bench/bench_deepar.py [--quick] [--gluonts-python PATH]``. Ratios below 1 mean Shipyard's
DeepAR is better (lower loss) or faster.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from shipyard.algorithms.deepar.sample import seasonal_dataset, seasonal_naive  # noqa: E402
from shipyard.algorithms.deepar.train import quantile_losses  # noqa: E402
from shipyard.testing.algorithm_harness import prepare_job, run_training  # noqa: E402

QUANTILES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
DEFAULT_GLUONTS = "/tmp/gluonts-venv/bin/python"

GLUONTS_RUNNER = r'''
import json, sys, time
import numpy as np
import torch
from gluonts.dataset.common import ListDataset
from gluonts.torch.model.deepar import DeepAREstimator

spec = json.load(open(sys.argv[1]))
torch.manual_seed(0)
np.random.seed(0)
torch.set_num_threads(1)
h = spec["hps"]
est = DeepAREstimator(
    freq=h["freq"], prediction_length=h["prediction_length"], context_length=h["context_length"],
    num_layers=h["num_layers"], hidden_size=h["num_cells"], dropout_rate=h["dropout_rate"], lr=h["learning_rate"],
    batch_size=h["mini_batch_size"], num_batches_per_epoch=h["batches_per_epoch"],
    num_feat_static_cat=1, cardinality=[h["cardinality"]], embedding_dimension=[h["embedding_dimension"]],
    trainer_kwargs={"max_epochs": h["epochs"], "enable_progress_bar": False, "enable_model_summary": False,
                    "logger": False, "accelerator": "cpu"})
def ds(rows):
    return ListDataset([{"start": r["start"], "target": r["target"], "feat_static_cat": r["cat"]} for r in rows],
                       freq=h["freq"])
t = time.perf_counter()
predictor = est.train(ds(spec["train"]))
secs = time.perf_counter() - t
forecasts = list(predictor.predict(ds(spec["history"]), num_samples=h["num_samples"]))
json.dump({"seconds": secs, "samples": [f.samples.tolist() for f in forecasts]}, open(sys.argv[2], "w"))
'''


def run_shipyard(train_rows, test_rows, hps: dict) -> dict:
    base = Path(tempfile.mkdtemp(prefix="bench-deepar-"))
    channels = {name: ({f"{name}.json": "".join(json.dumps(r) + "\n" for r in rows).encode()},
                       "application/jsonlines") for name, rows in (("train", train_rows), ("test", test_rows))}
    prepare_job(base, {k: str(v) for k, v in hps.items()}, channels)
    t = time.perf_counter()
    result = run_training("shipyard.algorithms.deepar.train", base, timeout=900)
    wall = time.perf_counter() - t
    if result.returncode != 0:
        raise SystemExit(f"Shipyard's DeepAR failed:\n{result.output[-3000:]}\n{result.failure}")
    metrics = {m[1]: float(m[2]) for m in re.finditer(r"#test_score \(\S+, (\S+)\): (\S+)", result.output)}
    trained = re.search(r"trained in (\S+)s", result.output)
    return {"metrics": metrics, "train_seconds": float(trained[1]) if trained else math.nan, "job_seconds": wall}


def run_gluonts(python: str, train_rows, history_rows, hps: dict) -> dict | None:
    if not python or not Path(python).exists():
        return None
    work = Path(tempfile.mkdtemp(prefix="bench-gluonts-"))
    (work / "runner.py").write_text(GLUONTS_RUNNER)
    (work / "spec.json").write_text(json.dumps({"hps": hps, "train": train_rows, "history": history_rows}))
    t = time.perf_counter()
    proc = subprocess.run([python, str(work / "runner.py"), str(work / "spec.json"), str(work / "out.json")],
                          capture_output=True, text=True, timeout=1800, cwd=work,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"})
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    out = json.loads((work / "out.json").read_text())
    return {"samples": np.asarray(out["samples"]), "train_seconds": out["seconds"], "job_seconds": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a smaller data set and fewer epochs")
    ap.add_argument("--gluonts-python", default=DEFAULT_GLUONTS,
                    help="an interpreter with gluonts[torch] installed (default %(default)s if it exists)")
    args = ap.parse_args()
    n_series, length, epochs = (40, 140, 10) if args.quick else (200, 365, 30)
    P, C, season = 7, 14, 7
    train_rows, test_rows = seasonal_dataset(n_series=n_series, length=length, prediction_length=P,
                                             season=season, noise=0.25)
    observed = sum(len(r["target"]) for r in train_rows)
    batch = 32
    per_epoch = math.ceil(max(n_series, observed // P) / batch)
    hps = {"time_freq": "D", "context_length": C, "prediction_length": P, "epochs": epochs, "num_cells": 40,
           "num_layers": 2, "mini_batch_size": batch, "learning_rate": 0.003, "dropout_rate": 0.1,
           "num_eval_samples": 100, "likelihood": "student-T", "embedding_dimension": 10}
    truth = np.array([r["target"][-P:] for r in test_rows], dtype=float)

    print(f"data: {n_series} daily series of {length} points (weekly season, 25% noise), forecasting {P} "
          f"points; {epochs} epochs x {per_epoch} batches of {batch}")
    naive = quantile_losses(truth, seasonal_naive(test_rows, P, season)[:, None, :], QUANTILES)
    ours = run_shipyard(train_rows, test_rows, hps)
    m = ours["metrics"]
    rows = [("seasonal naive", naive["mean_wQuantileLoss"], naive["RMSE"], None, None),
            ("shipyard deepar", m["mean_wQuantileLoss"], m["RMSE"], ours["train_seconds"], ours["job_seconds"])]
    history = [{**r, "target": r["target"][:-P]} for r in test_rows]
    glu = run_gluonts(args.gluonts_python, train_rows, history, {
        "freq": "D", "prediction_length": P, "context_length": C, "num_layers": 2, "num_cells": 40,
        "dropout_rate": 0.1, "learning_rate": 0.003, "mini_batch_size": batch, "batches_per_epoch": per_epoch,
        "epochs": epochs, "cardinality": 4, "embedding_dimension": 10, "num_samples": 100})
    if glu is not None and "error" not in glu:
        g = quantile_losses(truth, glu["samples"], QUANTILES)
        rows.append(("gluonts deepar", g["mean_wQuantileLoss"], g["RMSE"], glu["train_seconds"],
                     glu["job_seconds"]))
    print(f"{'':18}{'mean wQL':>10}{'RMSE':>10}{'train s':>10}{'total s':>10}")
    for name, wql, rmse, tr, tot in rows:
        fmt = (lambda v: f"{v:10.2f}" if v is not None else f"{'-':>10}")  # noqa: E731
        print(f"{name:18}{wql:10.4f}{rmse:10.3f}{fmt(tr)}{fmt(tot)}")
    print(f"ratio shipyard/naive  mean wQL: {m['mean_wQuantileLoss'] / naive['mean_wQuantileLoss']:.3f}")
    if glu is not None and "error" in glu:
        print(f"gluonts: failed: {glu['error']}")
    elif glu is None:
        print(f"gluonts: not installed (no interpreter at {args.gluonts_python!r}; make one with "
              "python3 -m venv /tmp/gluonts-venv && /tmp/gluonts-venv/bin/pip install torch 'gluonts[torch]')")
    else:
        g = quantile_losses(truth, glu["samples"], QUANTILES)
        print(f"ratio shipyard/gluonts mean wQL: {m['mean_wQuantileLoss'] / g['mean_wQuantileLoss']:.3f}; "
              f"training time: {ours['train_seconds'] / glu['train_seconds']:.3f}; "
              f"whole run: {ours['job_seconds'] / glu['job_seconds']:.3f}")


if __name__ == "__main__":
    main()
