"""Built-in XGBoost training vs a bare ``xgboost.train`` script on the same CSV.

Both run as subprocesses in one run, on one generated file (label first, no header): the bare script
parses with pyarrow, builds a DMatrix and trains; ours is ``python -m shipyard.algorithms.xgboost.train``
under the /opt/ml contract. Prints both wall times and the ratio (target: <= 1.10).

    python bench/bench_xgboost_train.py [--rows 1000000] [--cols 28] [--rounds 100] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

BARE = textwrap.dedent("""
    import sys, numpy as np, pyarrow.csv as pacsv, xgboost as xgb
    path, rounds, depth = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    t = pacsv.read_csv(path, read_options=pacsv.ReadOptions(autogenerate_column_names=True))
    cols = [c.to_numpy() for c in t.columns]
    X = np.column_stack(cols[1:]).astype(np.float32)
    d = xgb.DMatrix(X, label=cols[0])
    xgb.train({"max_depth": depth, "tree_method": "hist", "eta": 0.3, "objective": "reg:squarederror"}, d,
              rounds, evals=[(d, "train")], verbose_eval=True)
""")


def make_csv(path: Path, rows: int, cols: int) -> None:
    rng = np.random.default_rng(0)
    with open(path, "w") as f:
        for start in range(0, rows, 100_000):
            n = min(100_000, rows - start)
            X = rng.random((n, cols), dtype=np.float32)
            y = X[:, 0] * 3 + np.sin(X[:, 1] * 6) + 0.1 * rng.standard_normal(n, dtype=np.float32)
            np.savetxt(f, np.column_stack([y, X]), delimiter=",", fmt="%.6f")


def timed(cmd: list[str], env: dict | None = None) -> float:
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[:4]} failed: {proc.stderr[-2000:]}")
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--cols", type=int, default=28)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--depth", type=int, default=6)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        data = base / "input" / "data" / "train"
        data.mkdir(parents=True)
        t = time.perf_counter()
        make_csv(data / "train.csv", args.rows, args.cols)
        size = (data / "train.csv").stat().st_size
        print(f"data: {args.rows} x {args.cols} CSV, {size / 1e6:.0f} MB, written in {time.perf_counter() - t:.1f}s")
        cfg = base / "input" / "config"
        cfg.mkdir(parents=True)
        (cfg / "hyperparameters.json").write_text(json.dumps({
            "num_round": str(args.rounds), "max_depth": str(args.depth), "tree_method": "hist", "eta": "0.3"}))
        (cfg / "inputdataconfig.json").write_text(json.dumps({"train": {"ContentType": "text/csv"}}))
        (base / "bare.py").write_text(BARE)
        env = {**os.environ, "SAGEMAKER_BASE_DIR": str(base)}
        bare_times, ours_times = [], []
        for _ in range(args.repeat):
            bare_times.append(timed([sys.executable, str(base / "bare.py"), str(data / "train.csv"),
                                     str(args.rounds), str(args.depth)]))
            ours_times.append(timed([sys.executable, "-m", "shipyard.algorithms.xgboost.train"], env))
        bare, ours = min(bare_times), min(ours_times)
        print(f"{'':28}{'wall s':>10}")
        print(f"{'bare xgboost.train script':28}{bare:>10.2f}")
        print(f"{'shipyard built-in xgboost':28}{ours:>10.2f}")
        print(f"ratio shipyard / bare: {ours / bare:.3f}  (target <= 1.10)")


if __name__ == "__main__":
    main()
