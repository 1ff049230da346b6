"""Debugger's costs, side by side with going without it:

1. the built-in XGBoost through a real server, CreateTrainingJob -> Completed, with a ``DebugHookConfig``
   (metrics and feature importance every round), a rule (``LossNotDecreasing``) and the profiler (100 ms) vs
   the same job without them; and how long after the job the rule's status is final;
2. saving tensors from a training loop: :class:`shipyard.debugger.hook.Hook` (smdebug's layout, readable as a
   trial while it grows) vs ``numpy.savez`` of the same arrays, one file per step (what a script does without
   a hook).

    .venv/bin/python bench/bench_debugger.py [--repeat 2] [--steps 500]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from shipyard.testing.server import ShipyardProcess  # noqa: E402

XGB = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
RULE_IMAGE = "503895931360.dkr.ecr.us-east-1.amazonaws.com/sagemaker-debugger-rules:latest"


def _job(name: str, debug: bool) -> dict:
    params = {"TrainingJobName": name, "RoleArn": "arn:aws:iam::123456789012:role/Bench",
              "AlgorithmSpecification": {"TrainingImage": XGB, "TrainingInputMode": "File"},
              "HyperParameters": {"num_round": "50", "max_depth": "4", "objective": "binary:logistic",
                                  "eval_metric": "logloss"},
              "InputDataConfig": [{"ChannelName": "train", "ContentType": "text/csv", "DataSource": {
                  "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bench/data/"}}}],
              "OutputDataConfig": {"S3OutputPath": "s3://bench/out"},
              "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
              "StoppingCondition": {"MaxRuntimeInSeconds": 600}}
    if debug:
        params["DebugHookConfig"] = {"S3OutputPath": "s3://bench/debug", "CollectionConfigurations": [
            {"CollectionName": c, "CollectionParameters": {"save_interval": "1"}}
            for c in ("metrics", "feature_importance")]}
        params["DebugRuleConfigurations"] = [{"RuleConfigurationName": "LossNotDecreasing",
                                              "RuleEvaluatorImage": RULE_IMAGE,
                                              "RuleParameters": {"rule_to_invoke": "LossNotDecreasing"}}]
        params["ProfilerConfig"] = {"S3OutputPath": "s3://bench/profiler", "ProfilingIntervalInMilliseconds": 100}
    return params


def jobs(repeat: int, tmp: Path) -> dict[str, list[float]]:
    server = ShipyardProcess(tmp / "home", log_level="warning").start()
    out: dict[str, list[float]] = {"plain": [], "debugger": [], "rule after job": []}
    try:
        sm, s3 = server.client("sagemaker"), server.client("s3")
        s3.create_bucket(Bucket="bench")
        rng = np.random.default_rng(0)
        x = rng.normal(size=(20000, 10))
        buf = io.StringIO()
        np.savetxt(buf, np.column_stack([(x[:, 0] > 0).astype(int), x]), delimiter=",", fmt="%.5g")
        s3.put_object(Bucket="bench", Key="data/train.csv", Body=buf.getvalue().encode())
        for i in range(repeat):
            for debug in (False, True):
                name = f"bench-debugger-{int(debug)}-{i}-{int(time.time())}"
                t0 = time.perf_counter()
                sm.create_training_job(**_job(name, debug))
                ended = None
                for _ in range(6000):
                    d = sm.describe_training_job(TrainingJobName=name)
                    if ended is None and d["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
                        ended = time.perf_counter()
                    rules = d.get("DebugRuleEvaluationStatuses") or []
                    if ended is not None and all(r["RuleEvaluationStatus"] != "InProgress" for r in rules):
                        break
                    time.sleep(0.05)
                out["debugger" if debug else "plain"].append(ended - t0)
                if debug:
                    out["rule after job"].append(time.perf_counter() - ended)
    finally:
        server.stop()
    return out


def saving(steps: int, tmp: Path) -> tuple[float, float]:
    from shipyard.debugger.hook import Hook

    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=1000).astype(np.float32) for _ in range(4)]
    hook = Hook(str(tmp / "hook"), save_interval=1)
    t0 = time.perf_counter()
    for step in range(steps):
        hook.save_scalar("loss", 1.0 / (step + 1), step, "losses")
        for k, a in enumerate(arrays):
            hook.save_tensor(f"gradients/layer{k}", a, step, "gradients")
    hook.close()
    t_hook = time.perf_counter() - t0
    folder = tmp / "npz"
    folder.mkdir()
    t0 = time.perf_counter()
    for step in range(steps):
        np.savez(folder / f"step-{step:06d}.npz", loss=np.float64(1.0 / (step + 1)),
                 **{f"layer{k}": a for k, a in enumerate(arrays)})
    t_npz = time.perf_counter() - t0
    return t_hook, t_npz


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--steps", type=int, default=500)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-debugger-") as d:
        tmp = Path(d)
        t_hook, t_npz = saving(args.steps, tmp)
        print(f"saving {args.steps} steps (1 scalar + 4 x 1000 float32): hook {t_hook * 1000:.0f} ms "
              f"({t_hook / args.steps * 1e6:.0f} us/step), numpy.savez {t_npz * 1000:.0f} ms; "
              f"ratio hook/savez {t_hook / t_npz:.2f}x")
        times = jobs(args.repeat, tmp)
    plain, debug = statistics.median(times["plain"]), statistics.median(times["debugger"])
    print(f"XGBoost job, CreateTrainingJob -> Completed (median of {args.repeat}): plain {plain:.2f} s, with "
          f"hook + rule + profiler {debug:.2f} s; ratio {debug / plain:.2f}x")
    print(f"rule status final {statistics.median(times['rule after job']):.2f} s after the job (median)")


if __name__ == "__main__":
    main()
