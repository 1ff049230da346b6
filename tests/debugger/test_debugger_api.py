"""Debugger and profiler through boto3: bad configurations refused naming the field; the built-in XGBoost's
tensors (metrics, feature importance, SHAP, trees) read back; TreeDepth and the profiler rules over a real job;
the console's chart data."""

from __future__ import annotations

import io
import json
import time
import uuid

import numpy as np
import pytest
from botocore.exceptions import ClientError

pytestmark = [pytest.mark.timeout(240)]

ROLE = "arn:aws:iam::123456789012:role/Shipyard"
BUCKET = "debugger-api-tests"
XGB = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
RULE_IMAGE = "503895931360.dkr.ecr.us-east-1.amazonaws.com/sagemaker-debugger-rules:latest"


@pytest.fixture(scope="module")
def clients(server):
    sm, s3 = server.client("sagemaker"), server.client("s3")
    if BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=BUCKET)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    for channel, rows in (("train", slice(0, 240)), ("validation", slice(240, 300))):
        buf = io.StringIO()
        np.savetxt(buf, np.column_stack([y[rows], x[rows]]), delimiter=",", fmt="%.6g")
        s3.put_object(Bucket=BUCKET, Key=f"data/{channel}/data.csv", Body=buf.getvalue().encode())
    return sm, s3


def _xgb_job(name: str, **extra) -> dict:
    channels = [{"ChannelName": c, "ContentType": "text/csv", "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/data/{c}/"}}} for c in ("train", "validation")]
    return {"TrainingJobName": name, "RoleArn": ROLE,
            "AlgorithmSpecification": {"TrainingImage": XGB, "TrainingInputMode": "File"},
            "HyperParameters": {"num_round": "12", "max_depth": "3", "objective": "binary:logistic",
                                "eval_metric": "logloss"},
            "InputDataConfig": channels, "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/out"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
            "StoppingCondition": {"MaxRuntimeInSeconds": 600}, **extra}


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _refused(sm, params: dict) -> str:
    with pytest.raises(ClientError) as err:
        sm.create_training_job(**params)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    return err.value.response["Error"]["Message"]


def _rule(name: str, rule: str, **params) -> dict:
    return {"RuleConfigurationName": name, "RuleEvaluatorImage": RULE_IMAGE,
            "RuleParameters": {"rule_to_invoke": rule, **params}}


HOOK = {"S3OutputPath": f"s3://{BUCKET}/debug"}


def test_bad_configurations_are_refused_naming_the_field(clients):
    sm, _ = clients
    name = _unique("bad")
    cases = [
        ({"DebugHookConfig": {"S3OutputPath": "https://example.com/x"}}, "DebugHookConfig.S3OutputPath"),
        ({"DebugHookConfig": dict(HOOK, LocalPath="/tmp/tensors")}, "DebugHookConfig.LocalPath"),
        ({"DebugHookConfig": dict(HOOK, CollectionConfigurations=[
            {"CollectionName": "losses", "CollectionParameters": {"save_interval": "often"}}])},
         "DebugHookConfig.CollectionConfigurations[0].CollectionParameters.save_interval"),
        ({"DebugRuleConfigurations": [_rule("L", "LossNotDecreasing")]}, "DebugHookConfig"),
        ({"DebugHookConfig": HOOK, "DebugRuleConfigurations": [_rule("L", "NoSuchRule")]},
         "DebugRuleConfigurations[0].RuleParameters.rule_to_invoke"),
        ({"DebugHookConfig": HOOK, "DebugRuleConfigurations": [_rule("L", "LossNotDecreasing", num_stepz="3")]},
         "num_stepz"),
        ({"DebugHookConfig": HOOK, "DebugRuleConfigurations": [_rule("L", "LossNotDecreasing", num_steps="x")]},
         "num_steps"),
        ({"DebugHookConfig": HOOK, "DebugRuleConfigurations": [_rule("L", "CPUBottleneck")]},
         "ProfilerRuleConfigurations"),
        ({"DebugHookConfig": HOOK, "DebugRuleConfigurations": [_rule("L", "Overfit"), _rule("L", "Overfit")]},
         "DebugRuleConfigurations[1].RuleConfigurationName"),
        ({"DebugHookConfig": HOOK, "DebugRuleConfigurations": [
            dict(_rule("L", "Overfit"), RuleEvaluatorImage="example.com/my-rule:1")]},
         "DebugRuleConfigurations[0].RuleEvaluatorImage"),
        ({"DebugHookConfig": HOOK, "DebugRuleConfigurations": [
            _rule("L", "LossNotDecreasing", action_json="stop it")]}, "action_json"),
        ({"ProfilerConfig": {"S3OutputPath": f"s3://{BUCKET}/p", "ProfilingIntervalInMilliseconds": 123}},
         "ProfilerConfig.ProfilingIntervalInMilliseconds"),
        ({"ProfilerRuleConfigurations": [_rule("P", "ProfilerReport")]}, "ProfilerConfig"),
    ]
    for extra, field in cases:
        message = _refused(sm, _xgb_job(name, **extra))
        assert field in message, (extra, message)
    assert not sm.list_training_jobs(NameContains=name)["TrainingJobSummaries"], "refused jobs are not stored"


def _wait(sm, name: str, timeout: float = 150.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        desc = sm.describe_training_job(TrainingJobName=name)
        statuses = desc.get("DebugRuleEvaluationStatuses", []) + desc.get("ProfilerRuleEvaluationStatuses", [])
        if desc["TrainingJobStatus"] in ("Completed", "Failed", "Stopped") and all(
                s["RuleEvaluationStatus"] != "InProgress" for s in statuses):
            return desc
        time.sleep(0.5)
    raise AssertionError(f"{name} did not finish: {desc}")


def test_builtin_xgboost_saves_tensors_and_rules_and_profiler_run(clients, server):
    sm, s3 = clients
    name = _unique("xgb-debug")
    hook = dict(HOOK, CollectionConfigurations=[
        {"CollectionName": c, "CollectionParameters": {"save_interval": "2"}}
        for c in ("metrics", "feature_importance", "average_shap", "trees", "labels", "predictions")])
    sm.create_training_job(**_xgb_job(
        name, DebugHookConfig=hook,
        DebugRuleConfigurations=[_rule("TreeDepth", "TreeDepth", depth="10"),
                                 _rule("ExplodingTensor", "ExplodingTensor")],
        ProfilerConfig={"S3OutputPath": f"s3://{BUCKET}/profiler", "ProfilingIntervalInMilliseconds": 100},
        ProfilerRuleConfigurations=[_rule("ProfilerReport", "ProfilerReport")]))
    desc = sm.describe_training_job(TrainingJobName=name)
    assert [s["RuleEvaluationStatus"] for s in desc["DebugRuleEvaluationStatuses"]] == ["InProgress"] * 2
    desc = _wait(sm, name)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    rules = {s["RuleConfigurationName"]: s for s in desc["DebugRuleEvaluationStatuses"]}
    # max_depth=3 trees are shallower than depth=10: TreeDepth fires; nothing is NaN or infinite
    assert rules["TreeDepth"]["RuleEvaluationStatus"] == "IssuesFound", rules
    assert "TreeDepth" in rules["TreeDepth"]["StatusDetails"]
    assert rules["ExplodingTensor"]["RuleEvaluationStatus"] == "NoIssuesFound", rules
    [report] = desc["ProfilerRuleEvaluationStatuses"]
    assert report["RuleEvaluationStatus"] == "NoIssuesFound", report

    from shipyard.debugger.trial import S3Source, Trial

    trial = Trial(S3Source(s3, f"s3://{BUCKET}/debug/{name}/debug-output"))
    trial.refresh()
    assert trial.ended()
    names = trial.tensor_names()
    assert {"train-logloss", "validation-logloss"} <= set(names)
    assert trial.steps("train-logloss") == [0, 2, 4, 6, 8, 10, 11]  # every save_interval, and the last round
    losses = [v for _, v in trial.series("train-logloss")]
    assert losses[-1] < losses[0]
    assert "feature_importance/weight/f0" in names and "average_shap/f0" in names
    # feature 0 drives the label most: the most total gain; features 2 and 3 are noise
    gain = {f: float(trial.value(f"feature_importance/total_gain/f{f}", 11))
            for f in range(4) if f"feature_importance/total_gain/f{f}" in names}
    assert max(gain, key=gain.get) == 0, gain
    shap = [float(trial.value(f"average_shap/f{f}", 11)) for f in range(4)]
    assert all(np.isfinite(shap)) and any(shap)
    assert trial.value("labels", 11).shape == (60,) and trial.value("predictions", 11).shape == (60,)
    assert float(trial.value("trees/Node", 11).max()) >= 1
    assert set(trial.collections()) >= {"metrics", "feature_importance", "average_shap", "trees"}

    # the profiler's system metrics, where AWS puts them, and the ProfilerReport's report
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=f"profiler/{name}/profiler-output/")
            .get("Contents", [])]
    metric_files = [k for k in keys if "/system/incremental/" in k and k.endswith(".algo-1.json")]
    assert metric_files, keys
    row = json.loads(s3.get_object(Bucket=BUCKET, Key=metric_files[0])["Body"].read().decode().splitlines()[0])
    assert {"Name", "Type", "Dimension", "Timestamp", "Value"} <= set(row)
    report_keys = [o["Key"] for o in s3.list_objects_v2(
        Bucket=BUCKET, Prefix=f"profiler/{name}/rule-output/ProfilerReport/").get("Contents", [])]
    assert any(k.endswith("profiler-output/profiler-report.html") for k in report_keys), report_keys

    # the console page of the job charts the tensors and the system metrics
    import httpx

    env = server.env()
    with httpx.Client(base_url=server.url, timeout=30, follow_redirects=False) as web:
        signin = web.post("/studio/signin", data={"access_key_id": env["AWS_ACCESS_KEY_ID"],
                                                  "secret_access_key": env["AWS_SECRET_ACCESS_KEY"]})
        assert signin.status_code == 303
        assert "debugger-link" in web.get(f"/studio/training-jobs/{name}").text
        page = web.get(f"/studio/training-jobs/{name}/debugger")
        assert page.status_code == 200 and "debugger.js" in page.text and "TreeDepth" in page.text
        data = web.get(f"/studio/training-jobs/{name}/debugger/data").json()
    series = {s["name"]: s for s in data["tensors"]}
    assert series["train-logloss"]["steps"] == [0, 2, 4, 6, 8, 10, 11]
    assert series["train-logloss"]["values"] == pytest.approx(losses)
    assert any(k.startswith("cpu0/") for k in data["system"]), list(data["system"])
    assert data["live"] is False
