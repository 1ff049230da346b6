"""Debugger rules through the SageMaker Python SDK, unmodified: a broken script stopped by its rule, a healthy
one left alone; the tensors read back from S3 and the rule's processing job visible as on AWS."""

from __future__ import annotations

import pytest

from shipyard.testing.sdk import sdk_environment

pytestmark = [pytest.mark.timeout(300)]

ROLE = "arn:aws:iam::123456789012:role/Shipyard"
BUCKET = "shipyard-debugger-sdk"

# Saves its loss every step through the Debugger hook; BROKEN makes the loss climb (a learning rate gone bad).
SCRIPT = """
import os, sys, time
from shipyard.debugger.hook import Hook

broken = os.environ.get("BROKEN") == "1"
steps = int(os.environ.get("STEPS", "40"))
hook = Hook.create_from_json_file()
for step in range(steps):
    loss = 1.0 + 0.5 * step if broken else 1.0 / (step + 1)
    hook.save_scalar("loss", loss, step=step, collection="losses")
    time.sleep(float(os.environ.get("PAUSE", "0.02")))
hook.close()
print("finished all steps", flush=True)
"""


@pytest.fixture
def sdk_env(server, tmp_path, quick_sagemaker_sdk):
    s3 = server.client("s3")
    if BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=BUCKET)
    with sdk_environment(server, tmp_path, bucket=BUCKET):
        yield server


def _estimator(tmp_path, environment: dict, rules: list, name: str):
    from sagemaker.debugger import CollectionConfig, DebuggerHookConfig
    from sagemaker.sklearn import SKLearn

    import boto3
    import sagemaker

    src = tmp_path / name
    src.mkdir()
    (src / "train.py").write_text(SCRIPT)
    boto_session = boto3.Session(region_name="us-east-1")  # the SDK's own defaults (its source upload: SSE aws:kms)
    session = sagemaker.Session(boto_session=boto_session, sagemaker_client=boto_session.client("sagemaker"))
    hook = DebuggerHookConfig(collection_configs=[CollectionConfig("losses", parameters={"save_interval": "1"})])
    return SKLearn(entry_point="train.py", source_dir=str(src), framework_version="1.2-1", py_version="py3",
                   role=ROLE, instance_count=1, instance_type="ml.m5.large", sagemaker_session=session,
                   environment=environment, rules=rules, debugger_hook_config=hook,
                   output_path=f"s3://{BUCKET}/out")


def _loss_rule(stop: bool):
    from sagemaker.debugger import CollectionConfig, Rule, rule_configs

    kwargs = {"actions": rule_configs.ActionList(rule_configs.StopTraining())} if stop else {}
    return Rule.sagemaker(rule_configs.loss_not_decreasing(), rule_parameters={"num_steps": "3"},
                          collections_to_save=[CollectionConfig("losses", parameters={"save_interval": "1"})],
                          **kwargs)


def test_broken_script_is_stopped_by_loss_not_decreasing(sdk_env, tmp_path):
    # 600 steps of 0.2 s: two minutes unless the rule stops it
    est = _estimator(tmp_path, {"BROKEN": "1", "STEPS": "600", "PAUSE": "0.2"}, [_loss_rule(stop=True)], "broken")
    # with its logs (the default) fit() waits through Stopping; without, the SDK takes Stopping for an end
    est.fit(wait=True)
    sm = sdk_env.client("sagemaker")
    desc = sm.describe_training_job(TrainingJobName=est.latest_training_job.name)
    assert desc["TrainingJobStatus"] == "Stopped", desc.get("FailureReason")
    [status] = desc["DebugRuleEvaluationStatuses"]
    assert status["RuleConfigurationName"] == "LossNotDecreasing"
    assert status["RuleEvaluationStatus"] == "IssuesFound"
    assert status["StatusDetails"].startswith("RuleEvaluationConditionMet: Evaluation of the rule LossNotDecreasing")
    assert desc["TrainingTimeInSeconds"] < 100  # stopped by the rule, not run to the end
    # the rule ran as a processing job named as AWS names it, reading the tensors the hook saved
    [job] = [j["ProcessingJobName"] for j in sm.list_processing_jobs()["ProcessingJobSummaries"]
             if j["ProcessingJobArn"] == status["RuleEvaluationJobArn"]]
    assert job.startswith(est.latest_training_job.name[:20]) and "-LossNotDecreasing-" in job
    pj = sm.describe_processing_job(ProcessingJobName=job)
    assert pj["ProcessingJobStatus"] == "Completed"
    assert pj["ExitMessage"] == status["StatusDetails"]
    # the tensors are where the SDK says, in smdebug's layout, readable as a trial
    from shipyard.debugger.trial import S3Source, Trial

    path = est.latest_job_debugger_artifacts_path()
    assert path == f"s3://{BUCKET}/out/{est.latest_training_job.name}/debug-output"
    trial = Trial(S3Source(sdk_env.client("s3"), path))
    trial.refresh()
    assert trial.ended()
    series = trial.series("loss")
    assert len(series) >= 4 and series[1][1] > series[0][1]
    assert trial.collections()["losses"] == ["loss"]


def test_healthy_script_has_no_issues_and_completes(sdk_env, tmp_path):
    est = _estimator(tmp_path, {"STEPS": "30"}, [_loss_rule(stop=True)], "healthy")
    est.fit(wait=True, logs=False)
    sm = sdk_env.client("sagemaker")
    name = est.latest_training_job.name
    import time

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        desc = sm.describe_training_job(TrainingJobName=name)
        [status] = desc["DebugRuleEvaluationStatuses"]
        if status["RuleEvaluationStatus"] != "InProgress":
            break
        time.sleep(0.5)
    assert desc["TrainingJobStatus"] == "Completed"
    assert status["RuleEvaluationStatus"] == "NoIssuesFound", status
