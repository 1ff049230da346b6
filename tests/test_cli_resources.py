"""`shipyard jobs describe` (compact and --full), `shipyard models ...` and `shipyard transform ...` against a
real server."""

from __future__ import annotations

import json
import time

from test_cli import _one_clean_line, _tiny_xgboost_job, _wait_job, run_cli

METRICS = [{"Name": "train:auc", "Regex": r".*\[[0-9]+\].*#011train-auc:([-+]?[0-9]*\.?[0-9]+)"}]


def test_jobs_describe_hides_metric_definitions_unless_full(server):
    env = server.env()
    sm = server.client("sagemaker")
    _tiny_xgboost_job(server, "res-job")
    desc = _wait_job(sm, "res-job")
    assert desc["TrainingJobStatus"] == "Completed"
    # the job above has no MetricDefinitions of its own; make one that has, as the SDK does for built-ins
    sm.create_training_job(**{**{k: desc[k] for k in ("RoleArn", "InputDataConfig", "OutputDataConfig",
                                                      "ResourceConfig", "StoppingCondition", "HyperParameters")},
                              "TrainingJobName": "res-job-m",
                              "AlgorithmSpecification": {"TrainingImage": "xgboost", "TrainingInputMode": "File",
                                                         "MetricDefinitions": METRICS}})
    r = run_cli("jobs", "describe", "res-job-m", env=env)
    assert r.returncode == 0, r.stderr
    assert "MetricDefinitions" not in r.stdout and "#011" not in r.stdout
    spec = next(line for line in r.stdout.splitlines() if line.startswith("AlgorithmSpecification"))
    assert '"TrainingImage": "xgboost"' in spec
    r = run_cli("jobs", "describe", "res-job-m", "--full", env=env)
    assert "MetricDefinitions" in r.stdout and "train-auc" in r.stdout
    r = run_cli("jobs", "describe", "res-job-m", "--json", "--full", env=env)
    assert json.loads(r.stdout)["AlgorithmSpecification"]["MetricDefinitions"] == METRICS
    r = run_cli("jobs", "describe", "res-job-m", "--json", env=env)
    assert "MetricDefinitions" not in json.loads(r.stdout)["AlgorithmSpecification"]
    _wait_job(sm, "res-job-m")


def test_models_and_transform_commands(server):
    env = server.env()
    sm = server.client("sagemaker")
    s3 = server.client("s3")
    _tiny_xgboost_job(server, "res-tr-job")
    artifacts = _wait_job(sm, "res-tr-job")["ModelArtifacts"]["S3ModelArtifacts"]
    sm.create_model(ModelName="res-model", ExecutionRoleArn="arn:aws:iam::123456789012:role/Shipyard",
                    PrimaryContainer={"Image": "xgboost", "ModelDataUrl": artifacts})

    r = run_cli("models", "list", env=env)
    assert r.returncode == 0, r.stderr
    header, *rows = r.stdout.splitlines()
    assert header.split() == ["NAME", "CREATED"]
    assert any(row.split()[0] == "res-model" for row in rows)
    r = run_cli("models", "describe", "res-model", "--json", env=env)
    assert json.loads(r.stdout)["PrimaryContainer"]["ModelDataUrl"] == artifacts
    r = run_cli("models", "describe", "res-model", env=env)
    assert any(line.split()[:2] == ["ModelName", "res-model"] for line in r.stdout.splitlines())

    s3.put_object(Bucket="cli-tests", Key="batch/in.csv", Body=b"1.1,3\n0.2,4\n")
    sm.create_transform_job(
        TransformJobName="res-transform", ModelName="res-model",
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://cli-tests/batch/"}},
                        "ContentType": "text/csv", "SplitType": "Line"},
        TransformOutput={"S3OutputPath": "s3://cli-tests/batch-out/"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = sm.describe_transform_job(TransformJobName="res-transform")["TransformJobStatus"]
        if status in ("Completed", "Failed", "Stopped"):
            break
        time.sleep(0.5)
    assert status == "Completed"
    r = run_cli("transform", "list", env=env)
    assert r.returncode == 0, r.stderr
    header, *rows = r.stdout.splitlines()
    assert header.split() == ["NAME", "STATUS", "CREATED", "DURATION"]
    assert any(row.split()[:2] == ["res-transform", "Completed"] for row in rows)
    r = run_cli("transform", "list", "--json", env=env)
    assert any(j["TransformJobName"] == "res-transform" for j in json.loads(r.stdout))
    r = run_cli("transform", "describe", "res-transform", env=env)
    assert any(line.split()[:2] == ["TransformJobStatus", "Completed"] for line in r.stdout.splitlines())
    # stopping a finished job: the server's refusal, as one line
    r = run_cli("transform", "stop", "res-transform", env=env)
    assert r.returncode == 1
    _one_clean_line(r.stderr)

    r = run_cli("models", "delete", "res-model", env=env)
    assert r.returncode == 0, r.stderr
    assert "res-model" not in [m["ModelName"] for m in sm.list_models()["Models"]]
    r = run_cli("models", "describe", "res-model", env=env)
    assert r.returncode == 1
    assert "Could not find model 'res-model'" in _one_clean_line(r.stderr)
