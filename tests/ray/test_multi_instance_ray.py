"""Multi-instance training, admission control and parallel tuning on a real 2-node Ray cluster.

A Shipyard server on the Ray runner (one placement-group bundle per instance, SPREAD): built-in XGBoost
trains data-parallel on 2 instances with ShardedByS3Key; a job that does not fit waits in Pending with the
reason and starts when resources free up (FIFO), one that could never fit is refused; a tuning job with
MaxParallelTrainingJobs=2 really runs two trainings at once. Instance types are mapped to what the test
cluster's nodes have (2 CPUs each) with SHIPYARD_INSTANCE_TYPES.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
from training_helpers import ensure_bucket, log_messages, script_job, unique, wait_status  # noqa: E402
from xgb_cluster_helpers import job, make_data, model_auc, upload_shards  # noqa: E402


BUCKET = "ray-multi"
TYPES = {"ml.m5.large": {"cpus": 1, "memory_gib": 0.25}, "ml.m5.xlarge": {"cpus": 2, "memory_gib": 0.25},
         "ml.m5.2xlarge": {"cpus": 3}}


@pytest.fixture(scope="module")
def ray_server(ray_cluster, tmp_path_factory, shipyard_on_ray):
    with shipyard_on_ray(ray_cluster, tmp_path_factory.mktemp("ray-multi-home"), TYPES) as proc:
        yield proc


def test_xgboost_on_two_ray_instances(ray_server):
    sm, s3, logs = ray_server.client("sagemaker"), ray_server.client("s3"), ray_server.client("logs")
    ensure_bucket(s3, BUCKET)
    X, y = make_data(0)
    Xt, yt = make_data(1, rows=2000)
    prefix = unique("data")
    upload_shards(s3, BUCKET, prefix, X, y, shards=4)
    name = unique("ray-xgb")
    sm.create_training_job(**job(name, BUCKET, prefix, 2, "ShardedByS3Key"))
    desc = wait_status(sm, name, timeout=120)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    auc, files = model_auc(s3, desc["ModelArtifacts"]["S3ModelArtifacts"], Xt, yt)
    assert files == ["xgboost-model"] and auc > 0.85, auc
    messages = log_messages(logs, name)
    assert sum("Loaded 2000 training rows x 8 features" in m for m in messages) == 2
    assert "Joining the XGBoost collective as rank 1 of 2" in " ".join(messages)


NAP = """
    import os, time
    time.sleep(float(os.environ.get("NAP", "0")))
"""


def test_admission_on_the_cluster(ray_server):
    sm, s3 = ray_server.client("sagemaker"), ray_server.client("s3")
    big, small = unique("ray-big"), unique("ray-small")
    params = script_job(s3, BUCKET, big, NAP)  # 2 x 2 CPUs: the whole cluster
    params["ResourceConfig"] = {"InstanceType": "ml.m5.xlarge", "InstanceCount": 2, "VolumeSizeInGB": 1}
    params["Environment"] = {"NAP": "4"}
    sm.create_training_job(**params)
    wait_status(sm, big, statuses={"InProgress"}, secondary="Training", timeout=60)
    sm.create_training_job(**script_job(s3, BUCKET, small, NAP))
    desc = wait_status(sm, small, statuses={"InProgress"}, secondary="Pending", timeout=15)
    assert desc["SecondaryStatusTransitions"][-1]["StatusMessage"] == "Waiting for 1 CPU: the cluster has 0 free"
    done = {n: wait_status(sm, n, timeout=90) for n in (big, small)}
    assert [d["TrainingJobStatus"] for d in done.values()] == ["Completed", "Completed"]
    started = next(t for t in done[small]["SecondaryStatusTransitions"] if t["Status"] == "Training")
    assert started["StartTime"] >= done[big]["TrainingEndTime"]

    never = script_job(s3, BUCKET, unique("ray-never"), NAP)
    never["ResourceConfig"] = {"InstanceType": "ml.m5.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 1}
    with pytest.raises(ClientError) as info:
        sm.create_training_job(**never)
    assert info.value.response["Error"]["Code"] == "ResourceLimitExceeded"
    assert "one instance needs 3 CPUs; the largest host has 2" in info.value.response["Error"]["Message"]


def test_tuning_runs_two_trainings_at_once_on_the_cluster(ray_server):
    sm, s3 = ray_server.client("sagemaker"), ray_server.client("s3")
    name = unique("ray-tune")
    script = """
        import argparse, time
        p = argparse.ArgumentParser(); p.add_argument("-x", type=float); p.add_argument("--nap", type=float)
        a = p.parse_args()
        time.sleep(a.nap)
        print(f"objective={(a.x - 0.3) ** 2}")
    """
    base = script_job(s3, BUCKET, name, script, hps={"nap": "3"})
    definition = {k: base[k] for k in ("RoleArn", "AlgorithmSpecification", "OutputDataConfig",
                                       "ResourceConfig", "StoppingCondition")}
    definition["AlgorithmSpecification"]["MetricDefinitions"] = [{"Name": "objective",
                                                                  "Regex": r"objective=([0-9.eE+-]+)"}]
    definition["StaticHyperParameters"] = base["HyperParameters"]
    sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name, TrainingJobDefinition=definition,
        HyperParameterTuningJobConfig={
            "Strategy": "Random", "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "objective"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {"ContinuousParameterRanges": [{"Name": "x", "MinValue": "0", "MaxValue": "1"}]}})
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        d = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        if d["HyperParameterTuningJobStatus"] in ("Completed", "Failed", "Stopped"):
            break
        time.sleep(0.5)
    assert d["HyperParameterTuningJobStatus"] == "Completed", d.get("FailureReason")
    rows = sm.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)[
        "TrainingJobSummaries"]
    spans = []
    for r in rows:
        desc = sm.describe_training_job(TrainingJobName=r["TrainingJobName"])
        assert desc["TrainingJobStatus"] == "Completed"
        spans.append((desc["TrainingStartTime"], desc["TrainingEndTime"]))
    assert len(spans) == 2
    (s1, e1), (s2, e2) = sorted(spans)
    assert s2 < e1, f"the two trainings overlap in time: {spans}"
