"""``shipyard cleanup`` against a real server: the dry run lists exactly the idle and orphaned resources and
deletes nothing; ``--yes`` then deletes exactly those, and what is in use still works.

The world: an idle endpoint (XGBoost, never invoked) and an in-use one (invoked), an unused model and an unused
config, a stopped notebook instance, two finished training jobs writing to the SageMaker default bucket (one
then deleted: its prefix is orphaned), a user's data file in that bucket, and a log group whose retention has
expired one stream (its events aged the test-only way: appended straight into the server's database).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import xgboost as xgb

from shipyard import cli
from shipyard.cleanup import plan as P
from shipyard.metastore.base import LogEvent
from shipyard.metastore.sql.store import SqlMetaStore
from shipyard.testing.archives import tarball
from shipyard.usage.prices import price_per_hour

ROLE = "arn:aws:iam::123456789012:role/ShipyardTest"
XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
WINDOW = 6  # seconds: --idle 6s
DAY = 86400.0
LOG_GROUP = "/aws/sagemaker/ProcessingJobs"


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def _status(describe, key: str, wanted: str, failed: tuple = ("Failed",)):
    def check():
        d = describe()
        if d[key] in failed and wanted not in failed:
            raise AssertionError(f"{key} became {d[key]}: {d.get('FailureReason')}")
        return d if d[key] == wanted else None
    return check


def _xgb_model() -> bytes:
    rng = np.random.default_rng(0)
    X = rng.random((100, 4))
    booster = xgb.train({"max_depth": 2}, xgb.DMatrix(X, X[:, 0]), 5)
    return tarball({"xgboost-model": bytes(booster.save_raw("ubj"))})


def _training_job(sm, s3, bucket: str, name: str) -> None:
    """A script-mode job laid out as the SageMaker SDK lays it out: <job>/source/, output under <job>/output/."""
    script = textwrap.dedent("""
        import os
        with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w") as f:
            f.write("trained")
    """)
    s3.put_object(Bucket=bucket, Key=f"{name}/source/sourcedir.tar.gz", Body=tarball({"train.py": script.encode()}))
    sm.create_training_job(
        TrainingJobName=name, RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": SKLEARN_IMAGE, "TrainingInputMode": "File"},
        HyperParameters={"sagemaker_program": '"train.py"',
                         "sagemaker_submit_directory": f'"s3://{bucket}/{name}/source/sourcedir.tar.gz"'},
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 120})


def _keys(s3, bucket: str) -> dict[str, int]:
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        out.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
    return out


def _names(sm) -> dict[str, list[str]]:
    return {
        "endpoints": sorted(e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]),
        "configs": sorted(c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]),
        "models": sorted(m["ModelName"] for m in sm.list_models()["Models"]),
        "notebooks": sorted(n["NotebookInstanceName"] for n in sm.list_notebook_instances()["NotebookInstances"]),
    }


def _streams(logs) -> list[str]:
    return sorted(s["logStreamName"] for s in logs.describe_log_streams(logGroupName=LOG_GROUP)["logStreams"])


def test_dry_run_is_exact_and_yes_deletes_exactly_that(server_factory):
    srv = server_factory()
    sm, s3, rt, logs = srv.client("sagemaker"), srv.client("s3"), srv.client("sagemaker-runtime"), srv.client("logs")
    account = srv.client("sts").get_caller_identity()["Account"]
    bucket = f"sagemaker-{srv.region}-{account}"
    s3.create_bucket(Bucket=bucket)
    s3.create_bucket(Bucket="cleanup-models")
    s3.put_object(Bucket="cleanup-models", Key="xgb/model.tar.gz", Body=_xgb_model())
    model_url = "s3://cleanup-models/xgb/model.tar.gz"
    s3.put_object(Bucket=bucket, Key="data/train.csv", Body=b"1,2,3\n")  # a user's upload: never a candidate
    s3.create_bucket(Bucket="my-jobs")  # a job folder in a bucket of the user's: looked at only with --bucket
    s3.put_object(Bucket="my-jobs", Key="old-job/output/model.tar.gz", Body=b"m" * 100)

    # two finished jobs; one deleted, so its prefix is orphaned
    for job in ("live-job", "gone-job"):
        _training_job(sm, s3, bucket, job)
    for job in ("live-job", "gone-job"):
        _wait(_status(lambda job=job: sm.describe_training_job(TrainingJobName=job), "TrainingJobStatus",
                      "Completed"), 90, f"training job {job}")
    sm.delete_training_job(TrainingJobName="gone-job")

    # models, configs, endpoints
    for name in ("idle-model", "busy-model", "loose-model", "spare-model"):
        sm.create_model(ModelName=name, ExecutionRoleArn=ROLE,
                        PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": model_url})
    for cfg, model in (("idle-cfg", "idle-model"), ("busy-cfg", "busy-model"), ("spare-cfg", "spare-model")):
        sm.create_endpoint_config(EndpointConfigName=cfg, ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": model, "InitialInstanceCount": 1,
             "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName="idle-ep", EndpointConfigName="idle-cfg")
    sm.create_endpoint(EndpointName="busy-ep", EndpointConfigName="busy-cfg")

    # a notebook instance, stopped
    sm.create_notebook_instance(NotebookInstanceName="old-notebook", InstanceType="ml.t3.medium", RoleArn=ROLE)
    _wait(_status(lambda: sm.describe_notebook_instance(NotebookInstanceName="old-notebook"),
                  "NotebookInstanceStatus", "InService"), 90, "notebook InService")
    sm.stop_notebook_instance(NotebookInstanceName="old-notebook")
    for ep in ("idle-ep", "busy-ep"):
        _wait(_status(lambda ep=ep: sm.describe_endpoint(EndpointName=ep), "EndpointStatus", "InService"), 90, ep)
    notebook = _wait(_status(lambda: sm.describe_notebook_instance(NotebookInstanceName="old-notebook"),
                             "NotebookInstanceStatus", "Stopped"), 60, "notebook Stopped")

    # logs: a group with a 1-day retention; one stream's events all expired, one stream current
    store = SqlMetaStore(srv.settings.database_url)
    try:
        now = time.time()
        store.append_logs(LOG_GROUP, "old-proc/algo-1", [LogEvent(now - 3 * DAY, "old line")])
        store.append_logs(LOG_GROUP, "new-proc/algo-1", [LogEvent(now - 3 * DAY, "old"), LogEvent(now, "new")])
    finally:
        store.close()
    logs.put_retention_policy(logGroupName=LOG_GROUP, retentionInDays=1)
    _wait(lambda: {s["logStreamName"]: s["storedBytes"] for s in
                   logs.describe_log_streams(logGroupName=LOG_GROUP)["logStreams"]}
          == {"old-proc/algo-1": 0, "new-proc/algo-1": len("new")}, 20, "the retention sweep")

    time.sleep(WINDOW + 1)  # everything above is now older than the window
    before = _names(sm)
    objects_before = _keys(s3, bucket)
    gone_prefix = {k: v for k, v in objects_before.items() if k.startswith("gone-job/")}
    assert set(gone_prefix) == {"gone-job/source/sourcedir.tar.gz", "gone-job/output/model.tar.gz"}
    assert any(k.startswith("live-job/") for k in objects_before)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SHIPYARD_"))}

    def cleanup(*args: str) -> subprocess.CompletedProcess:
        rt.invoke_endpoint(EndpointName="busy-ep", Body=b"0.5,0.1,0.2,0.3", ContentType="text/csv")
        return subprocess.run([sys.executable, "-m", "shipyard.cli", "cleanup", "--home", str(srv.home),
                               "--idle", f"{WINDOW}s", *args], env=env, capture_output=True, text=True,
                              timeout=120, stdin=subprocess.DEVNULL)

    day_cost = round(price_per_hour("ml.m5.large") * 24, 4)
    expected = [
        ["endpoint", "idle-ep", f"InService, no invocations in the last {WINDOW}s", "24", f"{day_cost:.2f}", "-"],
        ["endpoint-config", "idle-cfg", "used only by endpoint idle-ep, deleted by this plan", "-", "-", "-"],
        ["endpoint-config", "spare-cfg", "no endpoint uses it", "-", "-", "-"],
        ["model", "idle-model", "used only by endpoint config idle-cfg, deleted by this plan", "-", "-", "-"],
        ["model", "loose-model", "no endpoint config or running transform job uses it", "-", "-", "-"],
        ["model", "spare-model", "used only by endpoint config spare-cfg, deleted by this plan", "-", "-", "-"],
        ["notebook-instance", "old-notebook",
         "Stopped since " + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(notebook["LastModifiedTime"].timestamp())),
         "-", "-", "-"],
        ["s3-prefix", f"s3://{bucket}/gone-job/", "2 object(s) of job gone-job, which the server no longer knows",
         "-", "-", P.human_bytes(sum(gone_prefix.values()))],
        ["log-stream", f"{LOG_GROUP}:old-proc/algo-1", "last event 3d ago, past the group's retention of 1d",
         "-", "-", "-"],
    ]
    total = (f"total: 9 to delete; saves 24 instance-hours/day (${day_cost:.2f}/day) and "
             f"{P.human_bytes(sum(gone_prefix.values()))} of storage")

    dry = cleanup("--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines() == (cli.table(P.HEADERS, expected) + "\n" + total).splitlines(), dry.stdout

    as_json = cleanup("--dry-run", "--json")
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert [(c["Kind"], c["Name"]) for c in data["Candidates"]] == [(r[0], r[1]) for r in expected]
    s3_entry = data["Candidates"][7]
    assert sorted(s3_entry["Keys"]) == sorted(gone_prefix) and s3_entry["Bytes"] == sum(gone_prefix.values())
    assert data["Bytes"] == sum(gone_prefix.values()) and data["InstanceHoursPerDay"] == 24

    with_bucket = json.loads(cleanup("--dry-run", "--json", "--bucket", "my-jobs").stdout)
    assert [c["Name"] for c in with_bucket["Candidates"] if c["Kind"] == "s3-prefix"] == [
        "s3://my-jobs/old-job/", f"s3://{bucket}/gone-job/"]
    assert with_bucket["Bytes"] == data["Bytes"] + 100

    # the dry runs deleted nothing
    assert _names(sm) == before and _keys(s3, bucket) == objects_before
    assert _streams(logs) == ["new-proc/algo-1", "old-proc/algo-1"]

    # without a terminal and without --yes: refused, nothing deleted
    refused = cleanup()
    assert refused.returncode == 2
    assert "refusing to delete without confirmation" in refused.stderr and "--yes" in refused.stderr
    assert _names(sm) == before

    done = cleanup("--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(dry.stdout)
    for kind, name, *_ in expected:
        assert f"deleted {kind} {name}" in done.stdout

    after = _names(sm)
    assert after["endpoints"] == ["busy-ep"]
    assert after["configs"] == ["busy-cfg"]
    assert after["models"] == ["busy-model"]
    _wait(lambda: "old-notebook" not in _names(sm)["notebooks"], 60, "the notebook deleted")
    objects_after = _keys(s3, bucket)
    assert objects_after == {k: v for k, v in objects_before.items() if not k.startswith("gone-job/")}
    assert _streams(logs) == ["new-proc/algo-1"]
    assert list(_keys(s3, "my-jobs")) == ["old-job/output/model.tar.gz"]

    # what is in use still works
    answer = rt.invoke_endpoint(EndpointName="busy-ep", Body=b"0.5,0.1,0.2,0.3", ContentType="text/csv")
    assert float(answer["Body"].read().decode().strip().strip("[]")) > 0
    assert sm.describe_training_job(TrainingJobName="live-job")["TrainingJobStatus"] == "Completed"

    # nothing left to clean up within the hour (everything left was made inside it)
    again = subprocess.run([sys.executable, "-m", "shipyard.cli", "cleanup", "--home", str(srv.home), "--idle", "1h",
                            "--dry-run"], env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and again.stdout == "nothing to clean up\n", again.stdout + again.stderr
