"""Helpers for training-job tests against a real server: a script-mode job's code, request and waits."""

from __future__ import annotations

import textwrap
import time
import uuid

from shipyard.testing.archives import tarball, untar  # noqa: F401 (untar re-exported)

ROLE = "arn:aws:iam::123456789012:role/ShipyardTest"
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
TERMINAL = {"Completed", "Failed", "Stopped"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def sourcedir(script: str) -> bytes:
    """A ``sourcedir.tar.gz`` holding ``script`` (dedented) as ``train.py``."""
    return tarball({"train.py": textwrap.dedent(script).encode()})


def ensure_bucket(s3, bucket: str) -> None:
    try:
        s3.head_bucket(Bucket=bucket)
    except Exception:  # noqa: BLE001 - missing: create it
        s3.create_bucket(Bucket=bucket)


def script_job(s3, bucket: str, name: str, script: str, hps: dict | None = None, metrics=None,
               max_runtime: int = 120, channels: dict[str, bytes] | None = None) -> dict:
    """Upload the code (and channel data) and return CreateTrainingJob parameters for it."""
    ensure_bucket(s3, bucket)
    s3.put_object(Bucket=bucket, Key=f"{name}/code/sourcedir.tar.gz", Body=sourcedir(script))
    input_config = []
    for channel, body in (channels or {}).items():
        s3.put_object(Bucket=bucket, Key=f"{name}/data/{channel}/data.csv", Body=body)
        input_config.append({"ChannelName": channel, "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/{name}/data/{channel}",
            "S3DataDistributionType": "FullyReplicated"}}, "ContentType": "text/csv"})
    params = {
        "TrainingJobName": name,
        "RoleArn": ROLE,
        "AlgorithmSpecification": {"TrainingImage": SKLEARN_IMAGE, "TrainingInputMode": "File",
                                   "MetricDefinitions": metrics or []},
        "HyperParameters": {"sagemaker_program": '"train.py"',
                            "sagemaker_submit_directory": f'"s3://{bucket}/{name}/code/sourcedir.tar.gz"',
                            **(hps or {})},
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/output"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime},
    }
    if input_config:
        params["InputDataConfig"] = input_config
    return params


def wait_status(sm, name: str, statuses=TERMINAL, timeout: float = 60.0, secondary: str | None = None) -> dict:
    deadline = time.monotonic() + timeout
    desc = {}
    while time.monotonic() < deadline:
        desc = sm.describe_training_job(TrainingJobName=name)
        if desc["TrainingJobStatus"] in statuses and (secondary is None or desc["SecondaryStatus"] == secondary):
            return desc
        time.sleep(0.1)
    raise AssertionError(f"job {name} not in {statuses}/{secondary} after {timeout} s: "
                         f"{desc.get('TrainingJobStatus')}/{desc.get('SecondaryStatus')} "
                         f"{desc.get('FailureReason', '')}")


def log_messages(logs, name: str) -> list[str]:
    streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs",
                                        logStreamNamePrefix=name + "/")["logStreams"]
    out = []
    for stream in streams:
        events = logs.get_log_events(logGroupName="/aws/sagemaker/TrainingJobs",
                                     logStreamName=stream["logStreamName"], startFromHead=True)["events"]
        out.extend(e["message"] for e in events)
    return out
