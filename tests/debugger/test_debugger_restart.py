"""A server killed while a rule runs resumes following it: the rule's status still reaches the job."""

from __future__ import annotations

import textwrap
import time

import pytest

from shipyard.testing.archives import tarball

pytestmark = [pytest.mark.timeout(240)]

BUCKET = "debugger-restart"
SKLEARN = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
RULE_IMAGE = "503895931360.dkr.ecr.us-east-1.amazonaws.com/sagemaker-debugger-rules:latest"
SCRIPT = textwrap.dedent("""
    import time
    from shipyard.debugger.hook import Hook
    hook = Hook.create_from_json_file()
    for step in range(80):
        hook.save_scalar("loss", 1.0 / (step + 1), step=step, collection="losses")
        time.sleep(0.1)
    hook.close()
""")


def _wait(sm, name: str, done, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    desc: dict = {}
    while time.monotonic() < deadline:
        desc = sm.describe_training_job(TrainingJobName=name)
        if done(desc):
            return desc
        time.sleep(0.2)
    raise AssertionError(f"{name}: {desc}")


def test_rule_is_followed_across_a_server_kill(server_factory, tmp_path):
    srv = server_factory()
    sm, s3 = srv.client("sagemaker"), srv.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="code/sourcedir.tar.gz", Body=tarball({"train.py": SCRIPT.encode()}))
    name = "restart-rule"
    sm.create_training_job(
        TrainingJobName=name, RoleArn="arn:aws:iam::123456789012:role/Test",
        AlgorithmSpecification={"TrainingImage": SKLEARN, "TrainingInputMode": "File"},
        HyperParameters={"sagemaker_program": '"train.py"',
                         "sagemaker_submit_directory": f'"s3://{BUCKET}/code/sourcedir.tar.gz"'},
        OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/out"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 300},
        DebugHookConfig={"S3OutputPath": f"s3://{BUCKET}/debug", "CollectionConfigurations": [
            {"CollectionName": "losses", "CollectionParameters": {"save_interval": "1"}}]},
        DebugRuleConfigurations=[{"RuleConfigurationName": "LossNotDecreasing", "RuleEvaluatorImage": RULE_IMAGE,
                                  "RuleParameters": {"rule_to_invoke": "LossNotDecreasing", "num_steps": "5"}}])
    _wait(sm, name, lambda d: d["DebugRuleEvaluationStatuses"][0].get("RuleEvaluationJobArn"), 60)
    srv.kill9()
    srv.start()
    sm = srv.client("sagemaker")
    desc = _wait(sm, name, lambda d: d["TrainingJobStatus"] != "InProgress" and
                 d["DebugRuleEvaluationStatuses"][0]["RuleEvaluationStatus"] != "InProgress", 150)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    assert desc["DebugRuleEvaluationStatuses"][0]["RuleEvaluationStatus"] == "NoIssuesFound", \
        desc["DebugRuleEvaluationStatuses"]
    jobs = [j for j in sm.list_processing_jobs()["ProcessingJobSummaries"]
            if j["ProcessingJobArn"] == desc["DebugRuleEvaluationStatuses"][0]["RuleEvaluationJobArn"]]
    assert len(jobs) == 1  # the rule's job was adopted, not started twice
