"""Helpers for processing-job tests against a real server: a script job's request, uploads and waits."""

from __future__ import annotations

import textwrap
import time
import uuid

ROLE = "arn:aws:iam::123456789012:role/ShipyardTest"
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
TERMINAL = {"Completed", "Failed", "Stopped"}
LOG_GROUP = "/aws/sagemaker/ProcessingJobs"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def ensure_bucket(s3, bucket: str) -> None:
    try:
        s3.head_bucket(Bucket=bucket)
    except Exception:  # noqa: BLE001 - missing: create it
        s3.create_bucket(Bucket=bucket)


def script_request(s3, bucket: str, name: str, script: str, *, inputs: dict[str, dict] | None = None,
                   outputs: dict[str, dict] | None = None, count: int = 1, args: list[str] | None = None,
                   environment: dict[str, str] | None = None, max_runtime: int = 120) -> dict:
    """Upload ``script`` as the job's ``code`` input (as the SDK's ScriptProcessor does) and return a
    CreateProcessingJob request running it with ``python3`` by its literal /opt/ml path.

    ``inputs``: name -> S3Input members (LocalPath defaults to /opt/ml/processing/input/<name>);
    ``outputs``: name -> S3Output members (LocalPath /opt/ml/processing/output/<name>, S3Uri under the job)."""
    ensure_bucket(s3, bucket)
    s3.put_object(Bucket=bucket, Key=f"{name}/code/process.py", Body=textwrap.dedent(script).encode())
    processing_inputs = [{"InputName": "code", "S3Input": {
        "S3Uri": f"s3://{bucket}/{name}/code/process.py", "LocalPath": "/opt/ml/processing/input/code",
        "S3DataType": "S3Prefix", "S3InputMode": "File"}}]
    for input_name, s3_input in (inputs or {}).items():
        processing_inputs.append({"InputName": input_name, "S3Input": {
            "LocalPath": f"/opt/ml/processing/input/{input_name}", "S3DataType": "S3Prefix",
            "S3InputMode": "File", **s3_input}})
    request = {
        "ProcessingJobName": name,
        "RoleArn": ROLE,
        "ProcessingInputs": processing_inputs,
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": count, "InstanceType": "ml.m5.large",
                                                  "VolumeSizeInGB": 5}},
        "AppSpecification": {"ImageUri": SKLEARN_IMAGE,
                             "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/process.py"]},
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime},
    }
    if args:
        request["AppSpecification"]["ContainerArguments"] = args
    if environment:
        request["Environment"] = environment
    if outputs is not None:
        request["ProcessingOutputConfig"] = {"Outputs": [
            {"OutputName": out_name, "S3Output": {"S3Uri": f"s3://{bucket}/{name}/output/{out_name}",
                                                  "LocalPath": f"/opt/ml/processing/output/{out_name}",
                                                  "S3UploadMode": "EndOfJob", **s3_output}}
            for out_name, s3_output in outputs.items()]}
    return request


def wait_status(sm, name: str, statuses=TERMINAL, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        desc = sm.describe_processing_job(ProcessingJobName=name)
        if desc["ProcessingJobStatus"] in statuses:
            return desc
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} still {desc['ProcessingJobStatus']} after {timeout} s")
        time.sleep(0.1)


def wait_started(sm, name: str, timeout: float = 30.0) -> dict:
    """The job's description once its program runs (``ProcessingStartTime`` shows): its hosts hold their share."""
    deadline = time.monotonic() + timeout
    while True:
        desc = sm.describe_processing_job(ProcessingJobName=name)
        if desc.get("ProcessingStartTime"):
            return desc
        if desc["ProcessingJobStatus"] in TERMINAL or time.monotonic() > deadline:
            raise AssertionError(f"{name} did not start processing ({desc['ProcessingJobStatus']}): "
                                 f"{desc.get('FailureReason')}")
        time.sleep(0.05)


def read_output(s3, bucket: str, prefix: str) -> dict[str, bytes]:
    """Every object under ``prefix``: relative key -> body."""
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents") or []:
            out[obj["Key"][len(prefix):].lstrip("/")] = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    return out


def log_messages(logs, name: str) -> dict[str, list[str]]:
    """Stream name -> messages, for every log stream of the job."""
    streams = logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix=f"{name}/")["logStreams"]
    out = {}
    for stream in streams:
        events = logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=stream["logStreamName"],
                                     startFromHead=True)["events"]
        out[stream["logStreamName"]] = [e["message"] for e in events]
    return out


def executor_pid(status_file, phase: str, timeout: float = 30.0) -> int:
    """The executor's pid once its ``status.json`` says it reached ``phase`` (a job that is really running)."""
    import json

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data = json.loads(status_file.read_text())
        except (OSError, ValueError):
            data = {}
        if data.get("secondary") == phase and data.get("executor_pid"):
            return int(data["executor_pid"])
        time.sleep(0.05)
    raise AssertionError(f"{status_file.parent} did not reach {phase} in {timeout} s")
