"""Admission control on the local runner: a capacity in CPUs (SHIPYARD_LOCAL_CPUS), whole jobs, FIFO.

A job that does not fit now waits in SecondaryStatus Pending with a StatusMessage saying what for, and starts
when an earlier job ends. By default an instance type is a label on the local runner: a job asks for at most
the machine, so every job runs (alone if need be). In strict mode (SHIPYARD_STRICT_INSTANCE_TYPES=1) a job that
could never fit is refused at CreateTrainingJob with a clear message.
"""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError

from training_helpers import script_job, unique, wait_status

BUCKET = "admission"
NAP = """
    import os, time
    time.sleep(float(os.environ.get("NAP", "0")))
"""


def _start_time(desc: dict) -> float:
    return next(t["StartTime"] for t in desc["SecondaryStatusTransitions"] if t["Status"] == "Training").timestamp()


def test_jobs_wait_in_fifo_order_and_impossible_ones_are_refused_in_strict_mode(server_factory, tmp_path):
    types = tmp_path / "types.json"
    types.write_text(json.dumps({"ml.m5.large": {"cpus": 2}, "ml.m5.xlarge": {"cpus": 4}}))
    server = server_factory(env={"SHIPYARD_LOCAL_CPUS": "4", "SHIPYARD_LOCAL_GPUS": "0",
                                 "SHIPYARD_INSTANCE_TYPES": str(types), "SHIPYARD_STRICT_INSTANCE_TYPES": "1"})
    sm, s3 = server.client("sagemaker"), server.client("s3")

    big = unique("big")  # 2 x 2 CPUs: the whole capacity
    params = script_job(s3, BUCKET, big, NAP)
    params["ResourceConfig"] = {"InstanceType": "ml.m5.large", "InstanceCount": 2, "VolumeSizeInGB": 1}
    params["Environment"] = {"NAP": "3"}
    sm.create_training_job(**params)
    wait_status(sm, big, statuses={"InProgress"}, secondary="Training", timeout=30)

    second, third = unique("second"), unique("third")
    sm.create_training_job(**script_job(s3, BUCKET, second, NAP))
    sm.create_training_job(**script_job(s3, BUCKET, third, NAP))
    desc = wait_status(sm, second, statuses={"InProgress"}, secondary="Pending", timeout=10)
    pending = desc["SecondaryStatusTransitions"][-1]
    assert pending["Status"] == "Pending"
    assert pending["StatusMessage"] == "Waiting for 2 CPUs: the cluster has 0 free", pending
    third_desc = wait_status(sm, third, statuses={"InProgress"}, secondary="Pending", timeout=10)
    assert third_desc["SecondaryStatusTransitions"][-1]["StatusMessage"].startswith(
        "Waiting for earlier training jobs to be placed first")

    done = {name: wait_status(sm, name, timeout=60) for name in (big, second, third)}
    assert all(d["TrainingJobStatus"] == "Completed" for d in done.values()), done
    assert _start_time(done[second]) >= done[big]["TrainingEndTime"].timestamp() - 0.5
    statuses = [t["Status"] for t in done[second]["SecondaryStatusTransitions"]]
    assert statuses[:2] == ["Starting", "Pending"] and statuses[-1] == "Completed", statuses

    for instance_type, count, words in (("ml.m5.xlarge", 2, "needs 8 CPUs; the cluster has 4 in all"),
                                        ("ml.g5.xlarge", 1, "needs 1 GPU; the cluster has 0 in all")):
        params = script_job(s3, BUCKET, unique("never"), NAP)
        params["ResourceConfig"] = {"InstanceType": instance_type, "InstanceCount": count, "VolumeSizeInGB": 1}
        with pytest.raises(ClientError) as info:
            sm.create_training_job(**params)
        assert info.value.response["Error"]["Code"] == "ResourceLimitExceeded"
        assert words in info.value.response["Error"]["Message"], info.value.response["Error"]["Message"]


def test_stopping_a_pending_job(server_factory):
    server = server_factory(env={"SHIPYARD_LOCAL_CPUS": "2"})
    sm, s3 = server.client("sagemaker"), server.client("s3")
    first, waiting = unique("first"), unique("waiting")
    params = script_job(s3, BUCKET, first, NAP)
    params["Environment"] = {"NAP": "20"}
    sm.create_training_job(**params)
    sm.create_training_job(**script_job(s3, BUCKET, waiting, NAP))
    wait_status(sm, waiting, statuses={"InProgress"}, secondary="Pending", timeout=20)
    sm.stop_training_job(TrainingJobName=waiting)
    assert wait_status(sm, waiting, timeout=10)["TrainingJobStatus"] == "Stopped"
    sm.stop_training_job(TrainingJobName=first)
    assert wait_status(sm, first, timeout=30)["TrainingJobStatus"] == "Stopped"


def test_instance_types_are_labels_on_the_local_runner(server_factory):
    """Types far bigger than the machine (48 vCPUs; 3 x 8 vCPUs; a GPU type without a GPU) are accepted and
    complete; each asks for the whole machine, so they run one after another, in creation order."""
    server = server_factory(env={"SHIPYARD_LOCAL_CPUS": "4", "SHIPYARD_LOCAL_GPUS": "0"})
    sm, s3 = server.client("sagemaker"), server.client("s3")
    jobs = [(unique("m5-12xl"), "ml.m5.12xlarge", 1, "3"), (unique("m5-2xl-x3"), "ml.m5.2xlarge", 3, "0"),
            (unique("g5"), "ml.g5.xlarge", 1, "0")]
    for name, instance_type, count, nap in jobs:
        params = script_job(s3, BUCKET, name, NAP)
        params["ResourceConfig"] = {"InstanceType": instance_type, "InstanceCount": count, "VolumeSizeInGB": 1}
        params["Environment"] = {"NAP": nap}
        sm.create_training_job(**params)  # no ResourceLimitExceeded
        if nap != "0":
            wait_status(sm, name, statuses={"InProgress"}, secondary="Training", timeout=30)

    waiting = wait_status(sm, jobs[1][0], statuses={"InProgress"}, secondary="Pending", timeout=10)
    assert waiting["SecondaryStatusTransitions"][-1]["StatusMessage"] == (
        "Waiting for 4 CPUs: the cluster has 0 free"), waiting["SecondaryStatusTransitions"]

    done = [wait_status(sm, name, timeout=90) for name, *_ in jobs]
    assert [d["TrainingJobStatus"] for d in done] == ["Completed"] * 3, [d.get("FailureReason") for d in done]
    assert done[1]["ResourceConfig"] == {"InstanceType": "ml.m5.2xlarge", "InstanceCount": 3, "VolumeSizeInGB": 1}
    assert _start_time(done[1]) >= done[0]["TrainingEndTime"].timestamp() - 0.5
    assert _start_time(done[2]) >= done[1]["TrainingEndTime"].timestamp() - 0.5


def test_strict_mode_refuses_types_bigger_than_the_machine(server_factory):
    server = server_factory(env={"SHIPYARD_LOCAL_CPUS": "4", "SHIPYARD_LOCAL_GPUS": "0",
                                 "SHIPYARD_STRICT_INSTANCE_TYPES": "1"})
    sm, s3 = server.client("sagemaker"), server.client("s3")
    for instance_type, count, words in (("ml.m5.12xlarge", 1, "needs 48 CPUs; the cluster has 4 in all"),
                                        ("ml.m5.2xlarge", 3, "needs 24 CPUs; the cluster has 4 in all")):
        params = script_job(s3, BUCKET, unique("strict"), NAP)
        params["ResourceConfig"] = {"InstanceType": instance_type, "InstanceCount": count, "VolumeSizeInGB": 1}
        with pytest.raises(ClientError) as info:
            sm.create_training_job(**params)
        assert info.value.response["Error"]["Code"] == "ResourceLimitExceeded"
        assert words in info.value.response["Error"]["Message"], info.value.response["Error"]["Message"]
