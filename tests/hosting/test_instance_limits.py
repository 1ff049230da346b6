"""A model server gets its instance type's memory and CPU share (issue 14), as a training job does: on an
instance type made small here (``SHIPYARD_INSTANCE_TYPES``: 256 MiB), a model server that allocates 1 GiB is
killed by the kernel, the endpoint's FailureReason and log say it ran out of memory and which instance type
to pick, and the instance is replaced; a transform worker that does the same fails its job saying so."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
from hosting_helpers import model_server_pids, tarball, upload, wait_in_service, wait_until

from shipyard.runners import sandbox
from shipyard.testing.server import ShipyardProcess

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not sandbox.limits_available(),
                                 reason="cgroups are not writable here: memory is not limited")]

SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
SMALL = "ml.m5.large"  # 256 MiB here (valid for endpoints and transforms alike)
BUCKET = "limits"

HOG = b'''
import json, uuid

def model_fn(model_dir):
    return uuid.uuid4().hex  # tells one model-server process from its replacement

def input_fn(body, content_type):
    return json.loads(body) if content_type == "application/json" else {"hog_mb": int(body.strip() or 0)}

def predict_fn(data, model):
    chunks = []
    for _ in range(int(data.get("hog_mb", 0)) // 32):
        chunks.append(b"\\1" * (32 * 1024 * 1024))  # written, so the pages are really used
    return {"allocated_mb": 32 * len(chunks), "server": model}

def output_fn(prediction, accept):
    return json.dumps(prediction)
'''


@pytest.fixture(scope="module")
def small_server(tmp_path_factory):
    home = tmp_path_factory.mktemp("limits-home")
    types = home.parent / "instance-types.json"
    types.write_text(json.dumps({SMALL: {"cpus": 1, "memory_gib": 0.25}}))
    proc = ShipyardProcess(home, env={"SHIPYARD_INSTANCE_TYPES": str(types)})
    proc.start()
    try:
        yield proc
    finally:
        proc.stop(kill_children=True)


@pytest.fixture(scope="module")
def hog_model(small_server):
    sm, s3 = small_server.client("sagemaker"), small_server.client("s3")
    url = upload(s3, BUCKET, "hog/model.tar.gz", tarball({"code/inference.py": HOG}))
    name = f"hog-{uuid.uuid4().hex[:6]}"
    sm.create_model(ModelName=name, ExecutionRoleArn="arn:aws:iam::123456789012:role/Shipyard",
                    PrimaryContainer={"Image": SKLEARN_IMAGE, "ModelDataUrl": url,
                                      "Environment": {"SAGEMAKER_PROGRAM": "inference.py"}})
    return name


def _invoke(rt, endpoint: str, hog_mb: int) -> dict:
    out = rt.invoke_endpoint(EndpointName=endpoint, Body=json.dumps({"hog_mb": hog_mb}),
                             ContentType="application/json")
    return json.loads(out["Body"].read())


def _memory_limit_mb(pid: int) -> int:
    """The memory limit of ``pid``'s cgroup (v1 or v2), in MiB."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for mount, name in (("/sys/fs/cgroup/memory", "memory.limit_in_bytes"), ("/sys/fs/cgroup", "memory.max")):
            if (controllers == "memory" and name.endswith("bytes")) or (controllers == "" and name == "memory.max"):
                f = Path(mount + path) / name
                if f.exists() and f.read_text().strip() != "max":
                    return int(f.read_text()) // (1024 * 1024)
    return 0


def test_model_server_out_of_memory_is_said_and_the_instance_replaced(small_server, hog_model):
    sm, rt = small_server.client("sagemaker"), small_server.client("sagemaker-runtime")
    name = f"hog-{uuid.uuid4().hex[:6]}"
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
        {"VariantName": "main", "ModelName": hog_model, "InitialInstanceCount": 1, "InstanceType": SMALL}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    wait_in_service(sm, name)
    first = _invoke(rt, name, 32)  # room for a little
    assert first["allocated_mb"] == 32
    pids = model_server_pids(small_server.home, name)
    assert len(pids) == 1 and _memory_limit_mb(pids[0]) == 256  # the instance type's memory, in its own cgroup
    with pytest.raises(rt.exceptions.ClientError):  # the kernel kills it mid-request
        _invoke(rt, name, 1024)

    def reason():
        return sm.describe_endpoint(EndpointName=name).get("FailureReason")

    text = wait_until(reason, 30, 0.3, "the endpoint's FailureReason")
    assert "OutOfMemoryError" in text and SMALL in text and "256 MiB" in text and "ml.m5.xlarge" in text, text
    assert sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"

    def answers():  # the controller replaced the instance
        try:
            return _invoke(rt, name, 0)
        except rt.exceptions.ClientError:
            return None

    assert wait_until(answers, 60, 0.3, "a replacement instance")["server"] != first["server"]
    logs = small_server.client("logs")

    def logged():
        group = "/aws/sagemaker/Endpoints/" + name
        for stream in logs.describe_log_streams(logGroupName=group)["logStreams"]:
            events = logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"])["events"]
            if any(e["message"].startswith("OutOfMemoryError") for e in events):
                return True
        return False

    wait_until(logged, 30, 0.5, "the out-of-memory line in the endpoint's log")
    sm.delete_endpoint(EndpointName=name)


def test_transform_worker_out_of_memory_fails_the_job_saying_so(small_server, hog_model):
    sm, s3 = small_server.client("sagemaker"), small_server.client("s3")
    s3.put_object(Bucket=BUCKET, Key="hog-input/rows.txt", Body=b"1024\n")
    name = f"hog-{uuid.uuid4().hex[:6]}"
    sm.create_transform_job(
        TransformJobName=name, ModelName=hog_model,
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                        "S3Uri": f"s3://{BUCKET}/hog-input/"}},
                        "ContentType": "text/plain", "SplitType": "Line"},
        TransformOutput={"S3OutputPath": f"s3://{BUCKET}/hog-output/"},
        TransformResources={"InstanceType": SMALL, "InstanceCount": 1})
    deadline = time.monotonic() + 90
    while True:
        desc = sm.describe_transform_job(TransformJobName=name)
        if desc["TransformJobStatus"] in ("Completed", "Failed", "Stopped"):
            break
        assert time.monotonic() < deadline, "the transform job did not end"
        time.sleep(0.3)
    assert desc["TransformJobStatus"] == "Failed"
    text = desc["FailureReason"]
    assert "OutOfMemoryError" in text and SMALL in text and "256 MiB" in text and "ml.m5.xlarge" in text, text
