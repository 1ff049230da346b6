"""Tuning benchmark: jobs-to-regret per strategy, and the server's overhead for a 20-job tuning job.

Part 1 (in-process, fast): each strategy drives the objective through the same suggest/observe loop the
controller uses (``parallel`` jobs outstanding); we count jobs until the best value is within the regret
target of the global minimum (Branin 0.01, Hartmann-6 0.05), capped at 200, median over 5 seeds.
"Optuna TPE (direct)" is Optuna's own ``study.optimize`` with TPESampler(multivariate=True), the peer tool.
Hyperband gets a synthetic fidelity: at resource r of R the objective is f(x) + (1 - r/R) * |f(x)|·0.5
(a biased early estimate), and a job counts as r/R of a full job ("full-job equivalents").

Part 2 (``--server``): a 20-job Random tuning job of a trivial script through a real Shipyard server vs
20 bare runs of the same script as subprocesses, wall time side by side.

    .venv/bin/python bench/bench_tuning.py [--seeds 5] [--cap 200] [--parallel 1] [--server]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from shipyard.tuning.strategy import make_strategy  # noqa: E402
from shipyard.tuning.testfunctions import objective_of  # noqa: E402

TARGETS = {"branin": 0.01, "hartmann6": 0.05}


def jobs_to_regret(values, fmin, target, cost=None):
    best, spent = float("inf"), 0.0
    for i, v in enumerate(values):
        spent += 1.0 if cost is None else cost[i]
        best = min(best, v)
        if best - fmin <= target:
            return spent
    return None


def run_strategy(name, fn, ranges, fmin, target, seed, cap, parallel):
    if name == "Optuna TPE (direct)":
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed, multivariate=True))
        values = []

        def objective(trial):
            p = {r["Name"]: str(trial.suggest_float(r["Name"], float(r["MinValue"]), float(r["MaxValue"])))
                 for r in ranges["ContinuousParameterRanges"]}
            v = fn(p)
            values.append(v)
            return v

        study.optimize(objective, n_trials=cap,
                       callbacks=[lambda s, t: s.stop() if min(values) - fmin <= target else None])
        return values, None
    if name == "Hyperband":
        s = make_strategy("Hyperband", ranges, seed=seed, resource_name="epochs", min_resource=1, max_resource=27)
        values, costs, full = [], [], []
        running = []
        spent = 0.0
        while spent < cap:
            for p in s.suggest(parallel - len(running)):
                running.append(p)
            p = running.pop(0)
            r = int(p["epochs"])
            f = fn(p)
            v = f + (1 - r / 27) * abs(f) * 0.5
            s.observe(None, p, v, "Completed")
            spent += r / 27
            values.append(f if r == 27 else float("inf"))  # only a full-resource job counts as a result
            costs.append(r / 27)
        return values, costs
    engine = {"Bayesian (TPE)": "tpe"}.get(name)
    strategy = make_strategy("Bayesian" if engine else name, ranges, seed=seed, **({"engine": engine} if engine else {}))
    from shipyard.tuning.testfunctions import run_loop

    return run_loop(strategy, fn, cap, parallel=parallel, stop_at=fmin + target), None


def regret_after(values, costs, fmin, budget):
    """Best regret within the first ``budget`` jobs (full-job equivalents for Hyperband)."""
    spent, best = 0.0, float("inf")
    for i, v in enumerate(values):
        spent += 1.0 if costs is None else costs[i]
        if spent > budget:
            break
        best = min(best, v)
    return best - fmin


def part1(seeds, cap, parallel, names):
    print(f"jobs to regret (median of {seeds} seeds, cap {cap}, {parallel} parallel; '>cap' = not reached; "
          "(k/n) = seeds that reached it) and median best regret after 50 jobs")
    print(f"{'strategy':22s} {'branin<=0.01':>14s} {'@50':>8s} {'hartmann6<=0.05':>16s} {'@50':>8s} {'seconds':>8s}")
    for name in names:
        cells = []
        t0 = time.perf_counter()
        for fname in ("branin", "hartmann6"):
            fn, ranges, fmin = objective_of(fname)
            runs = [run_strategy(name, fn, ranges, fmin, TARGETS[fname], seed, cap, parallel) for seed in range(seeds)]
            got = [jobs_to_regret(v, fmin, TARGETS[fname], c) for v, c in runs]
            reached = [g for g in got if g is not None]
            med = statistics.median([g if g is not None else float("inf") for g in got])
            cells.append(f"{med:.0f} ({len(reached)}/{seeds})" if med != float("inf") else f">{cap} ({len(reached)}/{seeds})")
            cells.append(f"{statistics.median(regret_after(v, c, fmin, 50) for v, c in runs):.3f}")
        print(f"{name:22s} {cells[0]:>14s} {cells[1]:>8s} {cells[2]:>16s} {cells[3]:>8s} "
              f"{time.perf_counter() - t0:8.1f}", flush=True)


TRIVIAL = """
import argparse
p = argparse.ArgumentParser(); p.add_argument("--x1", type=float); p.add_argument("--x2", type=float)
a, _ = p.parse_known_args()
print(f"objective: {(a.x1 - 1) ** 2 + (a.x2 - 2) ** 2:.6f}")
"""


def part2(jobs: int) -> None:
    """A ``jobs``-job Random tuning job of a trivial script through the server vs the same runs bare."""
    import subprocess
    import tempfile
    from pathlib import Path

    from shipyard.testing.server import ShipyardProcess

    with tempfile.TemporaryDirectory() as tmp:
        code = Path(tmp) / "code"
        code.mkdir()
        (code / "train.py").write_text(TRIVIAL)
        srv = ShipyardProcess(Path(tmp) / "home", log_level="warning").start()
        try:
            srv.client("s3").create_bucket(Bucket="bench")
            sm = srv.client("sagemaker")
            for parallel in (1, 2):
                name = f"bench-p{parallel}"
                t0 = time.perf_counter()
                definition = {
                    "StaticHyperParameters": {"sagemaker_program": '"train.py"',
                                              "sagemaker_submit_directory": f'"{code}"'},
                    "AlgorithmSpecification": {"TrainingImage": "python:3.11", "TrainingInputMode": "File",
                                               "MetricDefinitions": [{"Name": "objective",
                                                                      "Regex": r"objective: ([-0-9.eE+]+)"}]},
                    "RoleArn": "arn:aws:iam::123456789012:role/bench",
                    "OutputDataConfig": {"S3OutputPath": "s3://bench/out"},
                    "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
                    "StoppingCondition": {"MaxRuntimeInSeconds": 300}}
                sm.create_hyper_parameter_tuning_job(
                    HyperParameterTuningJobName=name,
                    HyperParameterTuningJobConfig={
                        "Strategy": "Random", "RandomSeed": 1,
                        "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "objective"},
                        "ResourceLimits": {"MaxNumberOfTrainingJobs": jobs, "MaxParallelTrainingJobs": parallel},
                        "ParameterRanges": {"ContinuousParameterRanges": [
                            {"Name": "x1", "MinValue": "-5", "MaxValue": "5"},
                            {"Name": "x2", "MinValue": "-5", "MaxValue": "5"}]}},
                    TrainingJobDefinition=definition)
                deadline = time.monotonic() + 600
                while time.monotonic() < deadline:
                    d = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
                    if d["HyperParameterTuningJobStatus"] in ("Completed", "Failed", "Stopped"):
                        break
                    time.sleep(0.1)
                tuned = time.perf_counter() - t0
                rows = sm.list_training_jobs_for_hyper_parameter_tuning_job(
                    HyperParameterTuningJobName=name, MaxResults=100)["TrainingJobSummaries"]
                params = [r["TunedHyperParameters"] for r in rows]
                # bare: the same script and hyperparameters as plain subprocesses, `parallel` at a time
                t0 = time.perf_counter()
                for i in range(0, len(params), parallel):
                    procs = [subprocess.Popen([sys.executable, str(code / "train.py"), "--x1", p["x1"],
                                               "--x2", p["x2"]], stdout=subprocess.DEVNULL)
                             for p in params[i:i + parallel]]
                    for pr in procs:
                        pr.wait()
                bare = time.perf_counter() - t0
                # the same runs as plain CreateTrainingJob calls through the server, `parallel` at a time
                t0 = time.perf_counter()
                for i in range(0, len(params), parallel):
                    names = []
                    for j, p in enumerate(params[i:i + parallel]):
                        names.append(f"{name}-plain-{i + j}")
                        sm.create_training_job(
                            TrainingJobName=names[-1], HyperParameters={**definition["StaticHyperParameters"], **p},
                            **{k: v for k, v in definition.items() if k != "StaticHyperParameters"})
                    for n in names:
                        while sm.describe_training_job(TrainingJobName=n)["TrainingJobStatus"] in (
                                "InProgress", "Stopping") and time.monotonic() < deadline:
                            time.sleep(0.05)
                plain = time.perf_counter() - t0
                print(f"{jobs} jobs, {parallel} parallel: tuning job {tuned:6.2f} s "
                      f"({d['TrainingJobStatusCounters']['Completed']} completed) | plain training jobs "
                      f"{plain:6.2f} s | bare subprocesses {bare:6.2f} s || tuning vs bare "
                      f"+{(tuned - bare) / jobs:4.2f} s/job ({tuned / bare:4.1f}x); tuning vs plain training jobs "
                      f"+{(tuned - plain) / jobs:5.2f} s/job ({tuned / plain:4.2f}x)", flush=True)
        finally:
            srv.stop(kill_children=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--cap", type=int, default=200)
    ap.add_argument("--parallel", type=int, default=1)
    ap.add_argument("--server", action="store_true", help="also measure a 20-job tuning job through the server")
    ap.add_argument("--jobs", type=int, default=20)
    ap.add_argument("--strategies", default="Random,Bayesian,Bayesian (TPE),Hyperband,Optuna TPE (direct)")
    args = ap.parse_args()
    part1(args.seeds, args.cap, args.parallel, args.strategies.split(","))
    if args.server:
        part2(args.jobs)


if __name__ == "__main__":
    main()
