"""What the pipeline API tests share: a tiny script-mode training job, definitions built from it, waits."""

from __future__ import annotations

import json
import time
from typing import Any

ROLE = "arn:aws:iam::123456789012:role/pipelines"

SCRIPT = r'''
import argparse, os, sys, time
p = argparse.ArgumentParser()
p.add_argument("--sleep", type=float, default=0.0)
p.add_argument("--tag", default="")
a, _ = p.parse_known_args()
flag = "/opt/ml/input/data/flag/flag.txt"
if os.path.exists(flag) and open(flag).read().strip() == "fail":
    print("the flag says fail", flush=True)
    sys.exit(3)
time.sleep(a.sleep)
print(f"score: 0.75 tag={a.tag}", flush=True)
with open("/opt/ml/model/model.txt", "w") as f:
    f.write(a.tag)
'''


def training_args(code: str, bucket: str, sleep: float = 0.0, tag: Any = "t", flag: bool = False,
                  instance_type: str = "ml.m5.large") -> dict:
    """The Arguments of a Training step: a CreateTrainingJob request without its name."""
    args: dict[str, Any] = {
        "AlgorithmSpecification": {"TrainingImage": "python:3.11", "TrainingInputMode": "File",
                                   "MetricDefinitions": [{"Name": "score", "Regex": r"score: ([0-9.]+)"}]},
        "HyperParameters": {"sagemaker_program": '"train.py"', "sagemaker_submit_directory": json.dumps(code),
                            "sleep": str(sleep), "tag": tag},
        "RoleArn": ROLE,
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/out"},
        "ResourceConfig": {"InstanceType": instance_type, "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 120},
    }
    if flag:
        args["InputDataConfig"] = [{"ChannelName": "flag", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/flag/", "S3DataDistributionType": "FullyReplicated"}}}]
    return args


def training_step(name: str, args: dict, **extra: Any) -> dict:
    return {"Name": name, "Type": "Training", "Arguments": args, **extra}


def definition(steps: list[dict], parameters: list[dict] | None = None) -> str:
    return json.dumps({"Version": "2020-12-01", "Metadata": {}, "Parameters": parameters or [], "Steps": steps})


def wait_execution(sm, arn: str, statuses=("Succeeded", "Failed", "Stopped"), timeout: float = 90.0) -> dict:
    deadline = time.monotonic() + timeout
    d: dict = {}
    while time.monotonic() < deadline:
        d = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
        if d["PipelineExecutionStatus"] in statuses:
            return d
        time.sleep(0.2)
    raise AssertionError(f"execution {arn} still {d.get('PipelineExecutionStatus')} after {timeout}s")


def steps_of(sm, arn: str) -> dict[str, dict]:
    return {s["StepName"]: s for s in sm.list_pipeline_execution_steps(PipelineExecutionArn=arn)
            ["PipelineExecutionSteps"]}


def wait_step(sm, arn: str, step: str, statuses: tuple[str, ...], timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = steps_of(sm, arn).get(step)
        if s and s["StepStatus"] in statuses:
            return s
        time.sleep(0.2)
    raise AssertionError(f"step {step} of {arn} never reached {statuses}")
