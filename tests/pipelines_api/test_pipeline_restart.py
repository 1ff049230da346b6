"""Pipelines on servers of their own: retries of a step whose job the server refuses, and a kill -9 of the
server mid-execution after which the execution still finishes (its running job is watched, not relaunched)."""

from __future__ import annotations

import time
import uuid

import pytest

from .helpers import ROLE, SCRIPT, definition, steps_of, training_args, training_step, wait_execution, wait_step

pytestmark = [pytest.mark.timeout(180)]


def setup(proc, tmp_path):
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "train.py").write_text(SCRIPT)
    bucket = f"restart-{uuid.uuid4().hex[:8]}"
    proc.client("s3").create_bucket(Bucket=bucket)
    return proc.client("sagemaker"), str(code), bucket


def test_a_refused_instance_type_is_retried_as_resource_limit(server_factory, tmp_path):
    proc = server_factory(env={"SHIPYARD_STRICT_INSTANCE_TYPES": "1"})
    sm, code, bucket = setup(proc, tmp_path)
    policy = {"ExceptionType": ["SageMaker.RESOURCE_LIMIT"], "IntervalSeconds": 1, "BackoffRate": 1.0,
              "MaxAttempts": 2}
    huge = training_args(code, bucket, instance_type="ml.p4d.24xlarge")
    name = f"retry-{uuid.uuid4().hex[:8]}"
    sm.create_pipeline(PipelineName=name, RoleArn=ROLE, PipelineDefinition=definition([
        training_step("Huge", huge, RetryPolicies=[policy]),
        training_step("NoPolicy", huge)]))
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    started = time.monotonic()
    d = wait_execution(sm, arn, timeout=60)
    assert d["PipelineExecutionStatus"] == "Failed"
    s = steps_of(sm, arn)
    # MaxAttempts counts retries: the first try and two more, a second apart
    assert s["Huge"]["StepStatus"] == "Failed" and s["Huge"]["AttemptCount"] == 3
    assert "ml.p4d.24xlarge" in s["Huge"]["FailureReason"]
    assert s["NoPolicy"]["AttemptCount"] == 1
    assert time.monotonic() - started >= 2.0


def test_kill_9_mid_execution_then_the_execution_finishes(server_factory, tmp_path):
    proc = server_factory()
    sm, code, bucket = setup(proc, tmp_path)
    name = f"crash-{uuid.uuid4().hex[:8]}"
    sm.create_pipeline(PipelineName=name, RoleArn=ROLE, PipelineDefinition=definition([
        training_step("Long", training_args(code, bucket, sleep=4)),
        training_step("Next", training_args(code, bucket, tag={"Get": "Steps.Long.TrainingJobName"}))]))
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    running = wait_step(sm, arn, "Long", ("Executing",))
    job = next(iter(running["Metadata"].values()))["Arn"].rsplit("/", 1)[1]
    proc.kill9()
    proc.start()
    sm = proc.client("sagemaker")
    d = wait_execution(sm, arn, timeout=90)
    assert d["PipelineExecutionStatus"] == "Succeeded", d
    s = steps_of(sm, arn)
    assert next(iter(s["Long"]["Metadata"].values()))["Arn"].endswith(job)  # watched again, not relaunched
    assert s["Long"]["AttemptCount"] == 1
    jobs = [j["TrainingJobName"] for j in sm.list_training_jobs(MaxResults=100)["TrainingJobSummaries"]]
    assert len(jobs) == 2
    nxt = next(iter(s["Next"]["Metadata"].values()))["Arn"].rsplit("/", 1)[1]
    assert sm.describe_training_job(TrainingJobName=nxt)["HyperParameters"]["tag"] == job
