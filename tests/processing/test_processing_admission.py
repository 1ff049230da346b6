"""Processing and training jobs share the machine through one admission control: on a server whose local runner
offers 2 CPUs, a running processing job makes a training job wait (Pending, saying for what) and a running
training job makes a two-host processing job wait; each starts once the other has ended."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from processing_helpers import script_request, unique, wait_started, wait_status
from shipyard.testing.server import ShipyardProcess

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
from training_helpers import script_job  # noqa: E402
from training_helpers import wait_status as wait_training  # noqa: E402

pytestmark = pytest.mark.integration

BUCKET = "admission"
NAP = """
    import os, time
    time.sleep(float(os.environ.get("NAP", "0")))
"""


@pytest.fixture(scope="module")
def small_server(tmp_path_factory):
    proc = ShipyardProcess(tmp_path_factory.mktemp("admission-home"), env={"SHIPYARD_LOCAL_CPUS": "2"})
    proc.start()
    try:
        yield proc
    finally:
        proc.stop(kill_children=True)


def _processing(s3, name: str, count: int, nap: float) -> dict:
    return script_request(s3, BUCKET, name, NAP, count=count, environment={"NAP": str(nap)})


def test_a_training_job_waits_for_a_running_processing_job(small_server):
    sm, s3 = small_server.client("sagemaker"), small_server.client("s3")
    proc_name, train_name = unique("adm-proc"), unique("adm-train")
    sm.create_processing_job(**_processing(s3, proc_name, 1, nap=3))  # ml.m5.large: 2 vCPUs, the whole machine
    wait_started(sm, proc_name)  # its host holds the machine
    sm.create_training_job(**script_job(s3, BUCKET, train_name, "print('ran')"))
    pending = wait_training(sm, train_name, statuses={"InProgress"}, secondary="Pending", timeout=15)
    assert "CPU" in pending["SecondaryStatusTransitions"][-1]["StatusMessage"]
    processed = wait_status(sm, proc_name, timeout=60)
    trained = wait_training(sm, train_name, timeout=60)
    assert (processed["ProcessingJobStatus"], trained["TrainingJobStatus"]) == ("Completed", "Completed")
    started = next(t for t in trained["SecondaryStatusTransitions"] if t["Status"] == "Training")
    assert started["StartTime"] >= processed["ProcessingEndTime"]


def test_a_two_host_processing_job_waits_for_a_running_training_job(small_server):
    sm, s3 = small_server.client("sagemaker"), small_server.client("s3")
    train_name, proc_name = unique("adm-train"), unique("adm-proc2")
    sm.create_training_job(**script_job(s3, BUCKET, train_name, "import time; time.sleep(3)"))
    wait_training(sm, train_name, statuses={"InProgress"}, secondary="Training", timeout=30)
    sm.create_processing_job(**_processing(s3, proc_name, 2, nap=0))
    time.sleep(1.0)  # several controller ticks: it must still be waiting
    waiting = sm.describe_processing_job(ProcessingJobName=proc_name)
    assert waiting["ProcessingJobStatus"] == "InProgress" and "ProcessingStartTime" not in waiting
    assert not (small_server.home / "runs" / "processing" / proc_name).exists()
    trained = wait_training(sm, train_name, timeout=60)
    processed = wait_status(sm, proc_name, timeout=60)
    assert (trained["TrainingJobStatus"], processed["ProcessingJobStatus"]) == ("Completed", "Completed"), (
        processed.get("FailureReason"))
    assert processed["ProcessingStartTime"] >= trained["TrainingEndTime"]
