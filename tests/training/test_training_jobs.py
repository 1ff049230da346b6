"""Training jobs through boto3 against a real server: the whole path from CreateTrainingJob to S3 and logs."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from training_helpers import ROLE, SKLEARN_IMAGE, log_messages, script_job, unique, untar, wait_status

BUCKET = "training-tests"

TRAIN = """
    import argparse, json, os
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int)
    p.add_argument("--lr", type=float)
    a = p.parse_args()
    rows = open(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "data.csv")).read().split()
    for i in range(a.epochs):
        print(f"[{i}]\\ttrain-rmse:{1.0 / (i + 1):.4f}\\tvalidation-rmse:{2.0 / (i + 1):.4f}")
        print(f"epoch {i} loss={0.5 / (i + 1)}")
    with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.json"), "w") as f:
        json.dump({"rows": len(rows), "lr": a.lr}, f)
"""

# A program's boto3 reaches the server with the AWS_* variables the job gets (an instance role on AWS),
# and the server's own settings are not visible to it.
BOTO_SCRIPT = """
    import os, boto3
    s3 = boto3.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=os.environ["BUCKET"], Prefix=os.environ["PREFIX"])["Contents"]]
    print("listed", keys)
    print("shipyard vars", sorted(k for k in os.environ if k.startswith("SHIPYARD_")))
"""

METRICS = [{"Name": "loss", "Regex": r"loss=([0-9.]+)"},
           {"Name": "validation:rmse", "Regex": r".*\[[0-9]+\].*#011validation-rmse:(\S+)"}]


@pytest.fixture(scope="module")
def clients(server):
    return server.client("sagemaker"), server.client("s3"), server.client("logs")


def test_script_job_end_to_end(clients):
    sm, s3, logs = clients
    name = unique("e2e")
    params = script_job(s3, BUCKET, name, TRAIN, hps={"epochs": "3", "lr": "0.25"}, metrics=METRICS,
                        channels={"train": b"1,2\n3,4\n5,6\n"})
    arn = sm.create_training_job(**params)["TrainingJobArn"]
    assert arn == f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}"
    sm.get_waiter("training_job_completed_or_stopped").wait(
        TrainingJobName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    desc = sm.describe_training_job(TrainingJobName=name)
    assert desc["TrainingJobStatus"] == "Completed" and desc["SecondaryStatus"] == "Completed"
    assert desc["TrainingJobArn"] == arn and desc["RoleArn"] == ROLE
    assert desc["AlgorithmSpecification"]["TrainingImage"] == SKLEARN_IMAGE
    assert desc["HyperParameters"]["epochs"] == "3"
    assert desc["StoppingCondition"]["MaxRuntimeInSeconds"] == 120
    assert [t["Status"] for t in desc["SecondaryStatusTransitions"]] == [
        "Starting", "Downloading", "Training", "Uploading", "Completed"]
    assert desc["CreationTime"] <= desc["TrainingStartTime"] <= desc["TrainingEndTime"]
    assert desc["BillableTimeInSeconds"] >= 1 and "FailureReason" not in desc
    assert not any(k.startswith("_") for k in desc)
    artifacts = desc["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifacts == f"s3://{BUCKET}/output/{name}/output/model.tar.gz"
    body = s3.get_object(Bucket=BUCKET, Key=f"output/{name}/output/model.tar.gz")["Body"].read()
    assert untar(body) == {"model.json": b'{"rows": 3, "lr": 0.25}'}
    final = {m["MetricName"]: m["Value"] for m in desc["FinalMetricDataList"]}
    assert final == {"loss": pytest.approx(0.5 / 3), "validation:rmse": pytest.approx(0.6667)}
    messages = log_messages(logs, name)
    assert "[2]#011train-rmse:0.3333#011validation-rmse:0.6667" in messages  # tabs as CloudWatch shows them
    assert "epoch 0 loss=0.5" in messages
    listed = sm.list_training_jobs(NameContains=name)["TrainingJobSummaries"]
    assert [(j["TrainingJobName"], j["TrainingJobStatus"]) for j in listed] == [(name, "Completed")]


def test_program_reaches_the_server_with_boto3(clients):
    sm, s3, logs = clients
    name = unique("boto")
    params = script_job(s3, BUCKET, name, BOTO_SCRIPT, channels={"train": b"1\n"})
    params["Environment"] = {"BUCKET": BUCKET, "PREFIX": f"{name}/data/train/"}  # its key reads its channels
    sm.create_training_job(**params)
    desc = wait_status(sm, name)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    messages = log_messages(logs, name)
    assert f"listed ['{name}/data/train/data.csv']" in messages
    # only the job contract's own variables (where the other hosts are), never the server's settings
    assert "shipyard vars ['SHIPYARD_HOST_ADDRESSES', 'SHIPYARD_HOST_INDEX']" in messages


def test_failures_carry_a_reason(clients):
    sm, s3, _ = clients
    failure_file = """
        import os, sys
        open(os.path.join(os.environ["SM_OUTPUT_DIR"], "failure"), "w").write("ClientError: no label column")
        sys.exit(3)
    """
    traceback = """
        import json
        json.loads("{broken")
    """
    a, b = unique("fail-file"), unique("fail-tb")
    sm.create_training_job(**script_job(s3, BUCKET, a, failure_file))
    sm.create_training_job(**script_job(s3, BUCKET, b, traceback))
    da, db = wait_status(sm, a), wait_status(sm, b)
    assert da["TrainingJobStatus"] == "Failed" and da["SecondaryStatus"] == "Failed"
    assert da["FailureReason"] == "ClientError: no label column"
    assert db["TrainingJobStatus"] == "Failed"
    assert db["FailureReason"].startswith("AlgorithmError: ExecuteUserScriptError")
    assert "json.decoder.JSONDecodeError" in db["FailureReason"] and "exit code: 1" in db["FailureReason"]
    assert "ModelArtifacts" not in da
    with pytest.raises(Exception) as err:  # the boto3 waiter fails on a Failed job, as against AWS
        sm.get_waiter("training_job_completed_or_stopped").wait(
            TrainingJobName=a, WaiterConfig={"Delay": 1, "MaxAttempts": 3})
    assert "Failed" in str(err.value)


SLEEPER = """
    import os, time
    open(os.path.join(os.environ["SM_MODEL_DIR"], "early.txt"), "w").write("saved before the end")
    print("training started", flush=True)
    time.sleep(60)
"""


def test_max_runtime_stops_the_job_and_keeps_the_model(clients):
    sm, s3, _ = clients
    name = unique("maxrt")
    t0 = time.monotonic()
    sm.create_training_job(**script_job(s3, BUCKET, name, SLEEPER, max_runtime=2))
    desc = wait_status(sm, name, timeout=40)
    assert time.monotonic() - t0 < 30
    assert desc["TrainingJobStatus"] == "Stopped" and desc["SecondaryStatus"] == "MaxRuntimeExceeded"
    assert desc["SecondaryStatusTransitions"][-1]["Status"] == "MaxRuntimeExceeded"
    body = s3.get_object(Bucket=BUCKET, Key=f"output/{name}/output/model.tar.gz")["Body"].read()
    assert untar(body) == {"early.txt": b"saved before the end"}


def test_stop_training_job(clients):
    sm, s3, logs = clients
    name = unique("stop")
    sm.create_training_job(**script_job(s3, BUCKET, name, SLEEPER))
    wait_status(sm, name, statuses={"InProgress"}, secondary="Training")
    deadline = time.monotonic() + 20
    while "training started" not in log_messages(logs, name) and time.monotonic() < deadline:
        time.sleep(0.1)
    code, message = _error(sm.delete_training_job, TrainingJobName=name)
    assert code == "ValidationException" and "InProgress" in message
    sm.stop_training_job(TrainingJobName=name)
    desc = sm.describe_training_job(TrainingJobName=name)
    assert desc["TrainingJobStatus"] in ("Stopping", "Stopped")
    sm.stop_training_job(TrainingJobName=name)  # stopping twice is fine
    desc = wait_status(sm, name, timeout=40)
    assert desc["TrainingJobStatus"] == "Stopped" and desc["SecondaryStatus"] == "Stopped"
    assert [t["Status"] for t in desc["SecondaryStatusTransitions"]][-3:] == ["Training", "Stopping", "Stopped"]
    assert desc["ModelArtifacts"]["S3ModelArtifacts"].endswith(f"{name}/output/model.tar.gz")
    with pytest.raises(ClientError) as err:
        sm.stop_training_job(TrainingJobName=name)
    assert err.value.response["Error"]["Code"] == "ValidationException"


def _error(call, **kwargs) -> tuple[str, str]:
    with pytest.raises(ClientError) as err:
        call(**kwargs)
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


def test_validation_errors(clients):
    sm, s3, _ = clients
    name = unique("bad")
    good = script_job(s3, BUCKET, name, "print('ok')", channels={"train": b"1\n"})

    bad_image = dict(good, AlgorithmSpecification={"TrainingImage": "example.com/nope:1",
                                                   "TrainingInputMode": "File"}, HyperParameters={})
    code, message = _error(sm.create_training_job, **bad_image)
    assert code == "ValidationException" and "nope" in message

    builtin_bad = dict(good, AlgorithmSpecification={
        "TrainingImage": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
        "TrainingInputMode": "File"}, HyperParameters={"num_round": "ten"})
    code, message = _error(sm.create_training_job, **builtin_bad)
    assert code == "ValidationException" and "num_round" in message

    bad_regex = dict(good, AlgorithmSpecification=dict(good["AlgorithmSpecification"],
                                                       MetricDefinitions=[{"Name": "m", "Regex": "loss=(["}]))
    code, message = _error(sm.create_training_job, **bad_regex)
    assert code == "ValidationException" and "regex" in message

    channel = dict(good["InputDataConfig"][0])
    channel["DataSource"] = {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "https://example.com/data"}}
    code, message = _error(sm.create_training_job, **dict(good, InputDataConfig=[channel]))
    assert code == "ValidationException" and "s3://" in message

    channel["DataSource"] = {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://no-such-bucket-x/d"}}
    code, message = _error(sm.create_training_job, **dict(good, InputDataConfig=[channel]))
    assert code == "ValidationException" and "no-such-bucket-x" in message

    code, message = _error(sm.create_training_job,
                           **dict(good, OutputDataConfig={"S3OutputPath": "s3://no-such-bucket-y/out"}))
    assert code == "ValidationException" and "no-such-bucket-y" in message

    assert not sm.list_training_jobs(NameContains=name)["TrainingJobSummaries"], "rejected jobs are not stored"
    sm.create_training_job(**good)
    code, message = _error(sm.create_training_job, **good)
    assert code == "ResourceInUse" and "must be unique" in message

    code, message = _error(sm.describe_training_job, TrainingJobName=unique("missing"))
    assert (code, message) == ("ValidationException", "Requested resource not found.")
    wait_status(sm, name)
    sm.delete_training_job(TrainingJobName=name)
    code, _ = _error(sm.describe_training_job, TrainingJobName=name)
    assert code == "ValidationException"


def test_list_filters_sorts_and_pages(clients):
    sm, s3, _ = clients
    tag = unique("lst")
    names = [f"{tag}-{i}" for i in range(3)]
    for n in names:
        sm.create_training_job(**script_job(s3, BUCKET, n, "print('hi')"))
    for n in names:
        wait_status(sm, n)
    asc = sm.list_training_jobs(NameContains=tag, SortBy="Name", SortOrder="Ascending")["TrainingJobSummaries"]
    assert [j["TrainingJobName"] for j in asc] == names
    desc = sm.list_training_jobs(NameContains=tag, SortBy="CreationTime")["TrainingJobSummaries"]
    assert [j["TrainingJobName"] for j in desc] == names[::-1]
    page = sm.list_training_jobs(NameContains=tag, SortBy="Name", SortOrder="Ascending", MaxResults=2)
    assert [j["TrainingJobName"] for j in page["TrainingJobSummaries"]] == names[:2]
    rest = sm.list_training_jobs(NameContains=tag, SortBy="Name", SortOrder="Ascending", MaxResults=2,
                                 NextToken=page["NextToken"])
    assert [j["TrainingJobName"] for j in rest["TrainingJobSummaries"]] == names[2:]
    assert not sm.list_training_jobs(NameContains=tag, StatusEquals="Failed")["TrainingJobSummaries"]
    assert len(sm.list_training_jobs(NameContains=tag, StatusEquals="Completed")["TrainingJobSummaries"]) == 3
    first = sm.describe_training_job(TrainingJobName=names[0])["CreationTime"]
    after = sm.list_training_jobs(NameContains=tag, CreationTimeAfter=first)["TrainingJobSummaries"]
    assert {j["TrainingJobName"] for j in after} <= set(names[1:]) | {names[0]}
    assert all(j["TrainingEndTime"] >= j["CreationTime"] for j in asc)
