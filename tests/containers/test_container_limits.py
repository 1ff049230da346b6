"""A bring-your-own training container gets its instance type's memory and vCPUs as real cgroup limits, and one
the kernel OOM-kills at that memory fails with a FailureReason that says so (and leaves no container behind).

The image (``limits_image/``, over the test base image) reports what its cgroup allows into its model; the
server maps ``ml.m5.large`` to 1 vCPU and 256 MiB with ``SHIPYARD_INSTANCE_TYPES``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shipyard.testing.server import ShipyardProcess

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
from training_helpers import ROLE, ensure_bucket, unique, untar, wait_status  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

BUCKET = "container-limits"
CONTEXT = Path(__file__).parent / "limits_image"
TYPES = {"ml.m5.large": {"cpus": 1, "memory_gib": 0.25}}
MEMORY_MB = 256


@pytest.fixture(scope="module")
def limits_image(docker_engine, base_image) -> str:
    digest = hashlib.sha256()
    for path in sorted(CONTEXT.iterdir()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    ref = f"shipyard-test/limits:{digest.hexdigest()[:12]}"
    if not docker_engine.has_image(ref):
        done = subprocess.run(docker_engine.command("build", "-q", "-t", ref, str(CONTEXT)), capture_output=True,
                              env={**os.environ, "DOCKER_BUILDKIT": "0"}, timeout=300)
        assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return ref


@pytest.fixture(scope="module")
def limits_server(tmp_path_factory, docker_engine):
    home = tmp_path_factory.mktemp("limits-home")
    types = home / "types.json"
    types.write_text(json.dumps(TYPES))
    proc = ShipyardProcess(home / "server", env={"SHIPYARD_INSTANCE_TYPES": str(types)}).start()
    try:
        yield proc
    finally:
        proc.stop(kill_children=True)


@dataclass(frozen=True)
class Launched:
    """The names of this module's workloads, all started by the ``launched`` fixture."""

    ok: str  # a training job that reports its cgroup limits
    hog: str  # a training job that asks for three times its memory
    transform: str  # a transform job (and its model) whose model server does the same
    endpoint: str  # an endpoint (config, model) of an isolated model


@pytest.fixture(scope="module")
def launched(limits_server, limits_image) -> Iterator[Launched]:
    """Every workload of the module started at once, each test then waiting for and checking its own: they
    overlap, so the module costs about the longest of them rather than their sum."""
    sm, s3 = limits_server.client("sagemaker"), limits_server.client("s3")
    ensure_bucket(s3, BUCKET)
    names = Launched(ok=unique("limits-ok"), hog=unique("limits-hog"), transform=unique("limits-transform"),
                     endpoint=unique("limits-isolated"))
    sm.create_training_job(**_job(names.ok, limits_image, {}))
    sm.create_training_job(**_job(names.hog, limits_image, {"hog_mb": str(MEMORY_MB * 3)}))
    name = names.transform
    s3.put_object(Bucket=BUCKET, Key=f"{name}/in/ask.txt", Body=str(MEMORY_MB * 3).encode())
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": limits_image})
    sm.create_transform_job(
        TransformJobName=name, ModelName=name,
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                        "S3Uri": f"s3://{BUCKET}/{name}/in"}},
                        "ContentType": "text/plain"},
        TransformOutput={"S3OutputPath": f"s3://{BUCKET}/{name}/out"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1})
    name = names.endpoint
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": limits_image},
                    EnableNetworkIsolation=True)
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "main", "ModelName": name, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    yield names
    try:  # its test deletes it; this is for a test that failed before
        sm.delete_endpoint(EndpointName=name)
    except sm.exceptions.ClientError:
        pass


def _job(name: str, image: str, hps: dict[str, str]) -> dict:
    return {
        "TrainingJobName": name, "RoleArn": ROLE, "HyperParameters": hps,
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/{name}/output"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 300},
    }


def _containers(engine, label: str) -> list[str]:
    done = subprocess.run(engine.command("ps", "-aq", "--filter", f"label={label}"), capture_output=True,
                          timeout=30)
    return done.stdout.decode().split()


def test_memory_and_cpus_reach_the_container_and_an_oom_kill_says_so(limits_server, launched, docker_engine):
    sm, s3 = limits_server.client("sagemaker"), limits_server.client("s3")
    ok, hog = launched.ok, launched.hog

    desc = wait_status(sm, ok, timeout=180)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    key = desc["ModelArtifacts"]["S3ModelArtifacts"].removeprefix(f"s3://{BUCKET}/")
    report = json.loads(untar(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())["limits.json"])
    memory = report["memory_v2"] if report["memory_v2"] else report["memory_v1"]
    assert int(memory) == MEMORY_MB * 1024 * 1024, report
    if report["cpu_max_v2"]:
        quota, period = report["cpu_max_v2"].split()
    else:
        quota, period = report["cpu_quota_v1"], report["cpu_period_v1"]
    assert int(quota) == int(period), f"--cpus 1 is one period of quota per period: {report}"
    assert report["uid"] == os.geteuid(), "a server running as root keeps the image's user (root)"

    desc = wait_status(sm, hog, timeout=180)
    assert desc["TrainingJobStatus"] == "Failed"
    reason = desc["FailureReason"]
    assert reason.startswith("ClientError: OutOfMemoryError: the training program ran out of memory"), reason
    assert f"{MEMORY_MB} MiB memory limit of instance type ml.m5.large" in reason, reason
    deadline = time.monotonic() + 30
    while _containers(docker_engine, f"shipyard.training-job={hog}") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _containers(docker_engine, f"shipyard.training-job={hog}") == [], "the exited container was removed"


def test_a_transform_whose_model_server_is_oom_killed_fails_saying_so(limits_server, launched):
    sm = limits_server.client("sagemaker")
    name = launched.transform
    deadline = time.monotonic() + 180
    desc = sm.describe_transform_job(TransformJobName=name)
    while desc["TransformJobStatus"] not in ("Completed", "Failed", "Stopped"):
        assert time.monotonic() < deadline, f"transform still {desc['TransformJobStatus']}"
        time.sleep(0.2)
        desc = sm.describe_transform_job(TransformJobName=name)
    assert desc["TransformJobStatus"] == "Failed"
    reason = desc["FailureReason"]
    assert "OutOfMemoryError: the model server ran out of memory" in reason, reason
    assert f"{MEMORY_MB} MiB memory limit of instance type ml.m5.large" in reason, reason


def test_an_isolated_byo_endpoint_is_reachable_through_the_router_only(limits_server, launched, docker_engine):
    sm, runtime = limits_server.client("sagemaker"), limits_server.client("sagemaker-runtime")
    name = launched.endpoint
    try:
        deadline = time.monotonic() + 180
        status = sm.describe_endpoint(EndpointName=name)["EndpointStatus"]
        while status != "InService":
            assert status in ("Creating",) and time.monotonic() < deadline, status
            time.sleep(0.2)
            status = sm.describe_endpoint(EndpointName=name)["EndpointStatus"]
        answer = runtime.invoke_endpoint(EndpointName=name, Body=b"1", ContentType="text/plain")
        assert answer["Body"].read() == b"ok 1\n"
        [container] = _containers(docker_engine, f"shipyard.endpoint={name}")
        done = subprocess.run(docker_engine.command("inspect", container), capture_output=True, timeout=30)
        [info] = json.loads(done.stdout)
        assert not info["NetworkSettings"]["Ports"], "an isolated container publishes nothing"
        [network] = list(info["NetworkSettings"]["Networks"])
        done = subprocess.run(docker_engine.command("network", "inspect", network), capture_output=True, timeout=30)
        assert json.loads(done.stdout)[0]["Internal"] is True
    finally:
        sm.delete_endpoint(EndpointName=name)
    deadline = time.monotonic() + 60
    while _containers(docker_engine, f"shipyard.endpoint={name}") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _containers(docker_engine, f"shipyard.endpoint={name}") == []
