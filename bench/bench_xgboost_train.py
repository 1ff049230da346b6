"""Built-in XGBoost training (File and Pipe mode) vs a bare ``xgboost.train`` script on the same CSV.

Every contender is a subprocess with the same thread count, on one generated file (label first, no header):

* bare: a script that parses the CSV with pyarrow, builds a DMatrix and trains (what a user would write);
* File: ``python -m shipyard.algorithms.xgboost.train`` under the /opt/ml contract, the file in its channel;
* Pipe: the same program with the channel in Pipe mode, fed while it trains by the executor's own channel
  code (:class:`shipyard.training.channels.PipeFeeder` streaming the object from a local object store into
  the ``train_0`` FIFO), so the time includes streaming the data through the pipe.

Prints each wall time (best of ``--repeat``, runs interleaved) and the ratios to bare (target <= 1.10).

    python bench/bench_xgboost_train.py [--rows 1000000] [--cols 28] [--rounds 100] [--depth 6] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

BARE = textwrap.dedent("""
    import sys, numpy as np, pyarrow.csv as pacsv, xgboost as xgb
    path, rounds, depth, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    t = pacsv.read_csv(path, read_options=pacsv.ReadOptions(autogenerate_column_names=True))
    cols = [c.to_numpy() for c in t.columns]
    X = np.column_stack(cols[1:]).astype(np.float32)
    d = xgb.DMatrix(X, label=cols[0], nthread=threads)
    xgb.train({"max_depth": depth, "tree_method": "hist", "eta": 0.3, "objective": "reg:squarederror",
               "nthread": threads}, d, rounds, evals=[(d, "train")], verbose_eval=True)
""")


def make_csv(path: Path, rows: int, cols: int) -> None:
    """Label first, then ``cols`` features, written by pyarrow in 200k-row slices (seconds, not minutes)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(0)
    names = ["y"] + [f"x{i}" for i in range(cols)]
    with pacsv.CSVWriter(path, pa.schema([(n, pa.float32()) for n in names]),
                         write_options=pacsv.WriteOptions(include_header=False)) as w:
        for start in range(0, rows, 200_000):
            n = min(200_000, rows - start)
            X = np.round(rng.random((n, cols), dtype=np.float32), 5)
            y = np.round(X[:, 0] * 3 + np.sin(X[:, 1] * 6) + 0.1 * rng.standard_normal(n, dtype=np.float32), 5)
            w.write_table(pa.table([y, *X.T], names=names))


def job_dir(base: Path, name: str, hps: dict, mode: str, csv: Path) -> Path:
    job = base / name
    cfg = job / "input" / "config"
    cfg.mkdir(parents=True)
    (cfg / "hyperparameters.json").write_text(json.dumps(hps))
    (cfg / "inputdataconfig.json").write_text(json.dumps(
        {"train": {"ContentType": "text/csv", "TrainingInputMode": mode}}))
    data = job / "input" / "data"
    data.mkdir(parents=True)
    if mode == "File":
        (data / "train").mkdir()
        os.link(csv, data / "train" / "train.csv")  # the same bytes, no copy
    return job


def run(cmd: list[str], env: dict | None = None, feeder=None) -> float:
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, err = proc.communicate()
    secs = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[:4]} failed: {err[-2000:]}")
    if feeder is not None and feeder.error:
        raise SystemExit(f"pipe feeder failed: {feeder.error}")
    return secs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--cols", type=int, default=28)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--depth", type=int, default=6)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    from shipyard.objectstore.local import LocalObjectStore
    from shipyard.training.channels import ObjectRef, PipeFeeder

    base = Path(tempfile.mkdtemp(prefix="bench-xgb-"))
    try:
        csv = base / "train.csv"
        t = time.perf_counter()
        make_csv(csv, args.rows, args.cols)
        print(f"data: {args.rows} x {args.cols} CSV, {csv.stat().st_size / 1e6:.0f} MB, written in "
              f"{time.perf_counter() - t:.1f}s; {args.rounds} rounds, depth {args.depth}, hist, "
              f"{args.threads} threads")
        store = LocalObjectStore(base / "store")
        store.create_bucket("bench")
        with open(csv, "rb") as f:
            store.put_object("bench", "train/train.csv", f)
        hps = {"num_round": str(args.rounds), "max_depth": str(args.depth), "tree_method": "hist", "eta": "0.3"}
        (base / "bare.py").write_text(BARE)
        times: dict[str, list[float]] = {"bare": [], "File": [], "Pipe": []}
        for i in range(args.repeat):
            times["bare"].append(run([sys.executable, str(base / "bare.py"), str(csv), str(args.rounds),
                                      str(args.depth), str(args.threads)]))
            for mode in ("File", "Pipe"):
                job = job_dir(base, f"{mode}-{i}", hps, mode, csv)
                env = {**os.environ, "SAGEMAKER_BASE_DIR": str(job), "SM_NUM_CPUS": str(args.threads)}
                feeder = None
                if mode == "Pipe":
                    feeder = PipeFeeder(store, [ObjectRef("bench", "train/train.csv", "train.csv")],
                                        job / "input" / "data" / "train", record_io=False, gzipped=False)
                    feeder.start()
                times[mode].append(run([sys.executable, "-m", "shipyard.algorithms.xgboost.train"], env, feeder))
                shutil.rmtree(job)
        bare = min(times["bare"])
        print(f"{'':34}{'wall s (best)':>14}{'ratio to bare':>15}   all runs")
        for name, label in (("bare", "bare xgboost.train script"), ("File", "shipyard built-in, File mode"),
                            ("Pipe", "shipyard built-in, Pipe mode")):
            best = min(times[name])
            runs = " ".join(f"{x:.2f}" for x in times[name])
            print(f"{label:34}{best:>14.2f}{best / bare:>15.3f}   {runs}")
        print("target: each built-in ratio <= 1.10")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
