"""Tuning built-in XGBoost through a real Shipyard server: best validation AUC after 10/20/30 jobs per strategy.

A synthetic binary data set (``--rows`` rows, 80 % train / 20 % validation, CSV) is uploaded once; then one
tuning job per strategy tunes eta, max_depth, min_child_weight, subsample, alpha and lambda of the built-in
XGBoost algorithm (``num_round`` fixed, except for Hyperband, which uses it as the resource up to the same
maximum), with ``MaxParallelTrainingJobs=2`` and a fixed seed. Jobs are counted in launch order; Hyperband's
early jobs are cheap (few rounds), so its "rounds" column says how much boosting each row really paid for.

The peer is Optuna's TPE driving ``xgboost.train`` in-process on the same data and ranges (2 trials at a
time, 1 thread each: the same 2 cores), which pays no per-job start-up, data copy or parse.

On data like this the strategies land close together: the figures are reported, not tuned for.

    .venv/bin/python bench/bench_tuning_xgboost.py [--rows 200000] [--jobs 30] [--rounds 40]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

import numpy as np  # noqa: E402

from shipyard.testing.server import ShipyardProcess  # noqa: E402

BUCKET = "bench-tuning-xgb"
CHECKPOINTS = (10, 20, 30)
RANGES = {
    "ContinuousParameterRanges": [
        {"Name": "eta", "MinValue": "0.01", "MaxValue": "0.5", "ScalingType": "Logarithmic"},
        {"Name": "min_child_weight", "MinValue": "1", "MaxValue": "50", "ScalingType": "Logarithmic"},
        {"Name": "subsample", "MinValue": "0.5", "MaxValue": "1", "ScalingType": "Linear"},
        {"Name": "alpha", "MinValue": "0.001", "MaxValue": "10", "ScalingType": "Logarithmic"},
        {"Name": "lambda", "MinValue": "0.001", "MaxValue": "10", "ScalingType": "Logarithmic"}],
    "IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "2", "MaxValue": "10", "ScalingType": "Linear"}],
}


def make_data(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Label first, 20 features: 8 informative with interactions, 4 redundant, 8 noise, 8 % label noise."""
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=rows, n_features=20, n_informative=8, n_redundant=4, n_clusters_per_class=3,
                               flip_y=0.08, class_sep=0.7, random_state=seed)
    data = np.column_stack([y, x]).astype(np.float32)
    cut = int(rows * 0.8)
    return data[:cut], data[cut:]


def to_csv(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savetxt(buf, a, delimiter=",", fmt="%.5g")
    return buf.getvalue()


def tuning_request(name: str, strategy: str, jobs: int, rounds: int, seed: int) -> dict:
    static = {"objective": "binary:logistic", "num_round": str(rounds), "tree_method": "hist"}
    config = {"Strategy": strategy, "RandomSeed": seed,
              "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:auc"},
              "ResourceLimits": {"MaxNumberOfTrainingJobs": jobs, "MaxParallelTrainingJobs": 2},
              "ParameterRanges": RANGES}
    if strategy == "Hyperband":
        config["StrategyConfig"] = {"HyperbandStrategyConfig": {"MinResource": max(1, rounds // 9),
                                                                "MaxResource": rounds}}
    channels = [{"ChannelName": ch, "ContentType": "text/csv", "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/{ch}/", "S3DataDistributionType": "FullyReplicated"}}}
        for ch in ("train", "validation")]
    return {"HyperParameterTuningJobName": name, "HyperParameterTuningJobConfig": config,
            "TrainingJobDefinition": {
                "StaticHyperParameters": static,
                "AlgorithmSpecification": {"TrainingImage": "xgboost:1.7-1", "TrainingInputMode": "File"},
                "RoleArn": "arn:aws:iam::123456789012:role/bench", "InputDataConfig": channels,
                "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/out"},
                "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
                "StoppingCondition": {"MaxRuntimeInSeconds": 1800}}}


def best_after(values: list[float | None], n: int) -> float | None:
    seen = [v for v in values[:n] if v is not None]
    return max(seen) if seen else None


def run_strategy(sm, strategy: str, jobs: int, rounds: int, seed: int, timeout: float) -> dict:
    name = f"xgb-{strategy.lower()}-{int(time.time()) % 100000}"
    t0 = time.perf_counter()
    sm.create_hyper_parameter_tuning_job(**tuning_request(name, strategy, jobs, rounds, seed))
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        d = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        c = d["TrainingJobStatusCounters"]
        line = f"{c['Completed']} done, {c['InProgress']} running, {c['NonRetryableError']} failed"
        if line != last:
            print(f"  {strategy:9s} {time.perf_counter() - t0:6.1f}s {line}", file=sys.stderr, flush=True)
            last = line
        if d["HyperParameterTuningJobStatus"] in ("Completed", "Failed", "Stopped"):
            break
        if time.monotonic() > deadline:
            sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
            raise SystemExit(f"{name} did not finish within {timeout:.0f} s")
        time.sleep(1.0)
    wall = time.perf_counter() - t0
    rows = []
    kwargs = {"HyperParameterTuningJobName": name, "SortBy": "CreationTime", "SortOrder": "Ascending",
              "MaxResults": 100}
    for _ in range(100):
        page = sm.list_training_jobs_for_hyper_parameter_tuning_job(**kwargs)
        rows += page["TrainingJobSummaries"]
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    values = [(r.get("FinalHyperParameterTuningJobObjectiveMetric") or {}).get("Value") for r in rows]
    spent = [int(r["TunedHyperParameters"].get("num_round", rounds)) for r in rows]
    train_s = [(r["TrainingEndTime"] - r["TrainingStartTime"]).total_seconds() for r in rows
               if r.get("TrainingStartTime") and r.get("TrainingEndTime")]
    return {"strategy": strategy, "status": d["HyperParameterTuningJobStatus"], "jobs": len(rows),
            "failed": sum(1 for r in rows if r["TrainingJobStatus"] == "Failed"), "wall": wall,
            "best": {n: best_after(values, n) for n in CHECKPOINTS},
            "rounds": {n: sum(spent[:n]) for n in CHECKPOINTS},
            "job_s": float(np.median(train_s)) if train_s else float("nan")}


def run_peer(train: np.ndarray, valid: np.ndarray, jobs: int, rounds: int, seed: int) -> dict:
    """Optuna TPE over the same ranges, xgboost.train in-process, 2 trials at a time with 1 thread each."""
    import optuna
    import xgboost as xgb
    from sklearn.metrics import roc_auc_score

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dtrain = xgb.QuantileDMatrix(train[:, 1:], label=train[:, 0], nthread=2)
    dvalid = xgb.DMatrix(valid[:, 1:], label=valid[:, 0], nthread=2)
    values: list[float] = []

    def objective(trial: optuna.Trial) -> float:
        params = {"objective": "binary:logistic", "tree_method": "hist", "nthread": 1,
                  "max_depth": trial.suggest_int("max_depth", 2, 10)}
        for r in RANGES["ContinuousParameterRanges"]:
            params[r["Name"]] = trial.suggest_float(r["Name"], float(r["MinValue"]), float(r["MaxValue"]),
                                                    log=r["ScalingType"] == "Logarithmic")
        booster = xgb.train(params, dtrain, num_boost_round=rounds)
        auc = float(roc_auc_score(valid[:, 0], booster.predict(dvalid)))
        values.append(auc)
        return auc

    t0 = time.perf_counter()
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=jobs, n_jobs=2)
    return {"strategy": "Optuna TPE (in-process)", "status": "Completed", "jobs": len(values), "failed": 0,
            "wall": time.perf_counter() - t0, "best": {n: best_after(values, n) for n in CHECKPOINTS},
            "rounds": {n: rounds * min(n, len(values)) for n in CHECKPOINTS}, "job_s": float("nan")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--jobs", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=40, help="num_round (Hyperband: its MaxResource)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--strategies", default="Random,Bayesian,Hyperband")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per tuning job")
    args = ap.parse_args()

    t0 = time.perf_counter()
    train, valid = make_data(args.rows, args.seed)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        srv = ShipyardProcess(Path(tmp) / "home", log_level="warning").start()
        try:
            s3 = srv.client("s3")
            s3.create_bucket(Bucket=BUCKET)
            s3.put_object(Bucket=BUCKET, Key="train/train.csv", Body=to_csv(train))
            s3.put_object(Bucket=BUCKET, Key="validation/validation.csv", Body=to_csv(valid))
            print(f"data: {len(train)} train + {len(valid)} validation rows x 20 features "
                  f"({time.perf_counter() - t0:.1f}s to make and upload)", file=sys.stderr, flush=True)
            sm = srv.client("sagemaker")
            for strategy in args.strategies.split(","):
                results.append(run_strategy(sm, strategy, args.jobs, args.rounds, args.seed, args.timeout))
        finally:
            srv.stop(kill_children=True)
    if not args.no_peer:
        results.append(run_peer(train, valid, args.jobs, args.rounds, args.seed))

    def fmt(v):
        return "   -   " if v is None else f"{v:.5f}"

    print(f"\nBuilt-in XGBoost, {args.rows} rows, num_round {args.rounds}, 6 hyperparameters, "
          f"MaxParallelTrainingJobs=2, seed {args.seed}; best validation AUC after N jobs (launch order)")
    print(f"{'strategy':26s} " + " ".join(f"{'@' + str(n):>8s}" for n in CHECKPOINTS)
          + f" {'rounds@' + str(CHECKPOINTS[-1]):>10s} {'wall s':>7s} {'s/job':>6s} {'job s':>6s} failed")
    for r in results:
        print(f"{r['strategy']:26s} " + " ".join(f"{fmt(r['best'][n]):>8s}" for n in CHECKPOINTS)
              + f" {r['rounds'][CHECKPOINTS[-1]]:>10d} {r['wall']:7.1f} {r['wall'] / max(1, r['jobs']):6.2f} "
              f"{r['job_s']:6.2f} {r['failed']:>6d}")
    ref = next((r for r in results if r["strategy"] == "Random"), None)
    if ref and ref["best"][CHECKPOINTS[-1]]:
        print("AUC@30 minus Random's: " + ", ".join(
            f"{r['strategy']} {r['best'][CHECKPOINTS[-1]] - ref['best'][CHECKPOINTS[-1]]:+.5f}"
            for r in results if r is not ref and r["best"][CHECKPOINTS[-1]] is not None))
    print(f"(total {time.perf_counter() - t0:.0f} s; 'job s' = median TrainingEndTime - TrainingStartTime)")


if __name__ == "__main__":
    main()
