"""Pipeline step dispatch overhead, and a fully cached re-run.

1. A chain of N no-op processing steps (each DependsOn the previous one), from StartPipelineExecution to
   Succeeded, against the same N processing jobs created back to back by a client script (create, poll
   DescribeProcessingJob until Completed, create the next). The ratio is the pipeline engine's overhead:
   the issue's target is at most 1.2x.
2. A 5-step pipeline with CacheConfig on every step, run once to fill the cache, then again: StartPipeline-
   Execution to Succeeded of the re-run, every step a cache hit (target: under 1 s).

Both sides poll every 50 ms.

    .venv/bin/python bench/bench_pipeline_dispatch.py [--steps 10] [--cached 5]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from shipyard.testing.server import ShipyardProcess  # noqa: E402

ROLE = "arn:aws:iam::123456789012:role/bench"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
POLL = 0.05


def processing_args(i: int) -> dict:
    return {"AppSpecification": {"ImageUri": IMAGE, "ContainerEntrypoint": ["python3", "-c", f"print({i})"]},
            "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                      "VolumeSizeInGB": 1}},
            "RoleArn": ROLE, "StoppingCondition": {"MaxRuntimeInSeconds": 300}}


def chain(n: int, cached: bool = False) -> str:
    steps = []
    for i in range(n):
        step: dict = {"Name": f"S{i}", "Type": "Processing", "Arguments": processing_args(i)}
        if i:
            step["DependsOn"] = [f"S{i - 1}"]
        if cached:
            step["CacheConfig"] = {"Enabled": True, "ExpireAfter": "PT1H"}
        steps.append(step)
    return json.dumps({"Version": "2020-12-01", "Parameters": [], "Steps": steps})


def run_pipeline(sm, definition: str) -> tuple[float, str]:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    sm.create_pipeline(PipelineName=name, RoleArn=ROLE, PipelineDefinition=definition)
    return rerun(sm, name)


def rerun(sm, name: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    while True:
        status = sm.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"]
        if status in ("Succeeded", "Failed", "Stopped"):
            break
        time.sleep(POLL)
    took = time.perf_counter() - t0
    if status != "Succeeded":
        raise RuntimeError(f"pipeline {name} ended {status}")
    return took, name


def client_script(sm, n: int) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        name = f"bench-client-{uuid.uuid4().hex[:8]}"
        sm.create_processing_job(ProcessingJobName=name, **processing_args(i))
        while True:
            status = sm.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"]
            if status in ("Completed", "Failed", "Stopped"):
                break
            time.sleep(POLL)
        if status != "Completed":
            raise RuntimeError(f"processing job {name} ended {status}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--cached", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = ShipyardProcess(Path(tmp) / "home", log_level="warning").start()
        try:
            sm = server.client("sagemaker")
            client_script(sm, 1)  # warm-up: first imports on the server
            client = client_script(sm, args.steps)
            pipeline, _ = run_pipeline(sm, chain(args.steps))
            _, name = run_pipeline(sm, chain(args.cached, cached=True))
            cached, _ = rerun(sm, name)
        finally:
            server.stop(kill_children=True)
    print(f"{args.steps} no-op processing jobs, back to back by a client: {client:.2f}s")
    print(f"the same as a {args.steps}-step pipeline (chain):          {pipeline:.2f}s  "
          f"ratio {pipeline / client:.2f}x (target <= 1.2x)")
    print(f"fully cached re-run of a {args.cached}-step pipeline:            {cached:.2f}s (target < 1 s)")


if __name__ == "__main__":
    main()
