"""Data-parallel XGBoost: 1 host vs 2 simulated hosts (two processes in one rabit collective), same data.

    .venv/bin/python bench/bench_distributed_xgboost.py [--rows 400000] [--cols 20] [--rounds 50]

Runs exactly what a 2-instance built-in XGBoost job runs (RabitTracker on "algo-1", every worker joins with
CommunicatorContext and trains on its half), without the server, so the figures are the training itself.
Prints rows/s for each and the speed-up. On this 2-core machine both "hosts" share the same 2 cores, so
the speed-up is bounded by the cores, not by the method: one host already uses both cores (nthread=2);
two hosts with nthread=1 each do the same arithmetic plus a histogram all-reduce per tree level. On real
separate nodes each host brings its own cores and the gain approaches the host count for data that does
not fit one host's time budget.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import socket
import time

import numpy as np


def _data(rows: int, cols: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, cols)).astype(np.float32)
    y = ((X[:, 0] - 2 * X[:, 1] + X[:, 2] * X[:, 3]) > 0).astype(np.float32)
    return X, y


def _params(nthread: int) -> dict:
    return {"objective": "binary:logistic", "max_depth": 6, "eta": 0.3, "tree_method": "hist",
            "nthread": nthread, "eval_metric": "auc"}


def _worker(rank: int, world: int, port: int, rows: int, cols: int, rounds: int, nthread: int, out) -> None:
    import xgboost as xgb
    from xgboost import collective

    X, y = _data(rows, cols)
    part = np.array_split(np.arange(rows), world)[rank]
    args = {"dmlc_tracker_uri": "127.0.0.1", "dmlc_tracker_port": port, "dmlc_task_id": f"{rank:05d}"}
    with collective.CommunicatorContext(**args):
        dtrain = xgb.QuantileDMatrix(X[part], y[part], nthread=nthread)
        t0 = time.perf_counter()
        booster = xgb.train(_params(nthread), dtrain, rounds)
        elapsed = time.perf_counter() - t0
    if rank == 0:
        Xt, yt = _data(50000, cols, seed=1)
        from sklearn.metrics import roc_auc_score

        out.put((elapsed, float(roc_auc_score(yt, booster.predict(xgb.DMatrix(Xt))))))


def run_distributed(world: int, rows: int, cols: int, rounds: int, nthread: int) -> tuple[float, float]:
    from xgboost.tracker import RabitTracker

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tracker = RabitTracker(n_workers=world, host_ip="127.0.0.1", port=port, sortby="task")
    tracker.start()
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(r, world, port, rows, cols, rounds, nthread, out))
             for r in range(world)]
    for p in procs:
        p.start()
    result = out.get(timeout=600)
    for p in procs:
        p.join(600)
    tracker.wait_for(60)
    return result


def run_single(rows: int, cols: int, rounds: int, nthread: int) -> tuple[float, float]:
    import xgboost as xgb
    from sklearn.metrics import roc_auc_score

    X, y = _data(rows, cols)
    dtrain = xgb.QuantileDMatrix(X, y, nthread=nthread)
    t0 = time.perf_counter()
    booster = xgb.train(_params(nthread), dtrain, rounds)
    elapsed = time.perf_counter() - t0
    Xt, yt = _data(50000, cols, seed=1)
    return elapsed, float(roc_auc_score(yt, booster.predict(xgb.DMatrix(Xt))))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=400000)
    ap.add_argument("--cols", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=50)
    a = ap.parse_args()
    cores = len(__import__("os").sched_getaffinity(0))
    rows = []
    t1, auc1 = run_single(a.rows, a.cols, a.rounds, nthread=cores)
    rows.append(("1 host, nthread=%d" % cores, t1, auc1))
    t1b, auc1b = run_single(a.rows, a.cols, a.rounds, nthread=1)
    rows.append(("1 host, nthread=1", t1b, auc1b))
    t2, auc2 = run_distributed(2, a.rows, a.cols, a.rounds, nthread=max(1, cores // 2))
    rows.append(("2 hosts (collective), nthread=%d each" % max(1, cores // 2), t2, auc2))
    print(f"data-parallel XGBoost: {a.rows} rows x {a.cols} features, {a.rounds} rounds, {cores} cores here")
    print(f"{'setup':42s} {'train s':>8s} {'rows*rounds/s':>14s} {'test AUC':>9s}")
    for label, t, auc in rows:
        print(f"{label:42s} {t:8.2f} {a.rows * a.rounds / t:14.0f} {auc:9.4f}")
    print(f"speed-up 2 hosts vs 1 host (same {cores} cores): {t1 / t2:.2f}x; vs 1 host on 1 core "
          f"(what each simulated host gets): {t1b / t2:.2f}x. Bound here by the {cores} shared cores.")


if __name__ == "__main__":
    main()
