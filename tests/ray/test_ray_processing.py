"""Processing jobs on the Ray runner (a real 2-node Ray cluster on loopback): a one-host and a two-host job run
their script and upload their outputs to S3; a two-host job that takes the whole cluster holds it, so a
training job created meanwhile waits (Pending) and starts after it: processing jobs go through the same
admission control (placement-group reservations) as training jobs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE / "processing"))
sys.path.insert(0, str(HERE / "training"))
from processing_helpers import read_output, script_request, wait_started  # noqa: E402
from processing_helpers import unique as unique_name  # noqa: E402
from processing_helpers import wait_status as wait_processing  # noqa: E402
from training_helpers import script_job  # noqa: E402
from training_helpers import wait_status as wait_training  # noqa: E402

pytestmark = pytest.mark.integration

BUCKET = "ray-processing"
TYPES = {"ml.m5.large": {"cpus": 1, "memory_gib": 0.25}, "ml.m5.xlarge": {"cpus": 2, "memory_gib": 0.25}}
SCRIPT = """
    import json, os, time
    time.sleep(float(os.environ.get("NAP", "0")))
    config = json.load(open("/opt/ml/config/resourceconfig.json"))
    rows = open("/opt/ml/processing/input/data/data.csv").read().splitlines()
    os.makedirs("/opt/ml/processing/output/out", exist_ok=True)
    with open(f"/opt/ml/processing/output/out/{config['current_host']}.txt", "w") as f:
        f.write(f"{len(rows)} rows of {len(config['hosts'])} hosts")
"""


@pytest.fixture(scope="module")
def ray_server(ray_cluster, tmp_path_factory, shipyard_on_ray):
    with shipyard_on_ray(ray_cluster, tmp_path_factory.mktemp("ray-processing-home"), TYPES) as proc:
        s3 = proc.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="data/data.csv", Body=b"1,2\n3,4\n5,6\n")
        yield proc


def _request(s3, name: str, count: int, instance_type: str = "ml.m5.large", nap: float = 0) -> dict:
    request = script_request(s3, BUCKET, name, SCRIPT, count=count, environment={"NAP": str(nap)},
                             inputs={"data": {"S3Uri": f"s3://{BUCKET}/data"}}, outputs={"out": {}})
    request["ProcessingResources"]["ClusterConfig"]["InstanceType"] = instance_type
    return request


@pytest.mark.parametrize("count", [1, 2])
def test_processing_job_completes_on_ray_with_its_outputs_in_s3(ray_server, count):
    sm, s3 = ray_server.client("sagemaker"), ray_server.client("s3")
    name = unique_name(f"ray-proc-{count}")
    sm.create_processing_job(**_request(s3, name, count))
    desc = wait_processing(sm, name, timeout=90)
    assert desc["ProcessingJobStatus"] == "Completed", desc.get("FailureReason")
    outputs = read_output(s3, BUCKET, f"{name}/output/out")
    assert outputs == {f"algo-{i + 1}.txt": f"3 rows of {count} hosts".encode() for i in range(count)}


def test_a_two_host_processing_job_holds_the_cluster_and_a_training_job_waits_for_it(ray_server):
    sm, s3 = ray_server.client("sagemaker"), ray_server.client("s3")
    proc_name, train_name = unique_name("ray-proc-big"), unique_name("ray-train-after")
    sm.create_processing_job(**_request(s3, proc_name, 2, instance_type="ml.m5.xlarge", nap=4))  # 2 x 2 CPUs
    wait_started(sm, proc_name)  # its hosts are placed: the reservation is held
    sm.create_training_job(**script_job(s3, BUCKET, train_name, "print('after the processing job')"))
    pending = wait_training(sm, train_name, statuses={"InProgress"}, secondary="Pending", timeout=15)
    assert "CPU" in pending["SecondaryStatusTransitions"][-1]["StatusMessage"]
    processed = wait_processing(sm, proc_name, timeout=90)
    trained = wait_training(sm, train_name, timeout=90)
    assert (processed["ProcessingJobStatus"], trained["TrainingJobStatus"]) == ("Completed", "Completed"), (
        processed.get("FailureReason"), trained.get("FailureReason"))
    started = next(t for t in trained["SecondaryStatusTransitions"] if t["Status"] == "Training")
    assert started["StartTime"] >= processed["ProcessingStartTime"]
