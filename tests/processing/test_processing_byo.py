"""A bring-your-own processing image: ``AppSpecification.ImageUri`` names an image of the local container
engine (built here over the cached test base image), run with ``ContainerEntrypoint``/``ContainerArguments``,
the job folder mounted at ``/opt/ml``; inputs, outputs and the exit message work as for framework images.
Skipped, saying why, where no container engine can be started."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
from processing_helpers import ROLE, ensure_bucket, read_output, unique, wait_status

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

BUCKET = "processing-byo"
CONTEXT = Path(__file__).parent / "byo"


@pytest.fixture(scope="module")
def byo_image():
    from shipyard.containers.base_image import BASE_IMAGE, ensure_base_image
    from shipyard.containers.daemon import EngineUnavailable, ensure_installed, provide_engine

    try:
        provided = provide_engine(os.environ.get("SHIPYARD_CONTAINER_ENGINE", ""))
    except EngineUnavailable as e:
        pytest.skip(f"no container engine can be started here: {e}")
    engine = provided.engine
    try:
        ensure_installed("debootstrap", "debootstrap")
        ensure_base_image(engine, BASE_IMAGE)
        digest = hashlib.sha256()
        for path in sorted(CONTEXT.iterdir()):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
        ref = f"shipyard-test/byo-processing:{digest.hexdigest()[:12]}"
        if not engine.has_image(ref):
            done = subprocess.run(engine.command("build", "-q", "-t", ref, str(CONTEXT)), capture_output=True,
                                  timeout=600, env={**os.environ, "DOCKER_BUILDKIT": "0"})
            assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
        yield ref
    finally:
        provided.stop()


def _request(s3, name: str, image: str, app: dict) -> dict:
    ensure_bucket(s3, BUCKET)
    s3.put_object(Bucket=BUCKET, Key=f"{name}/data/a.csv", Body=b"1,2\n3,4\n")
    s3.put_object(Bucket=BUCKET, Key=f"{name}/data/b.csv", Body=b"5,6\n")
    return {
        "ProcessingJobName": name, "RoleArn": ROLE,
        "ProcessingInputs": [{"InputName": "data", "S3Input": {
            "S3Uri": f"s3://{BUCKET}/{name}/data", "LocalPath": "/opt/ml/processing/input/data",
            "S3DataType": "S3Prefix", "S3InputMode": "File"}}],
        "ProcessingOutputConfig": {"Outputs": [{"OutputName": "sums", "S3Output": {
            "S3Uri": f"s3://{BUCKET}/{name}/sums", "LocalPath": "/opt/ml/processing/output/sums",
            "S3UploadMode": "EndOfJob"}}]},
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                  "VolumeSizeInGB": 5}},
        "AppSpecification": {"ImageUri": image, **app},
        "Environment": {"GREETING": "from-the-request"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 300},
    }


def test_byo_image_runs_its_container_entrypoint(proc_server, byo_image):
    sm, s3 = proc_server.client("sagemaker"), proc_server.client("s3")
    name = unique("byo")
    app = {"ContainerEntrypoint": ["python3", "/opt/program/process.py"], "ContainerArguments": ["--scale", "1"]}
    sm.create_processing_job(**_request(s3, name, byo_image, app))
    desc = wait_status(sm, name, timeout=180)
    assert desc["ProcessingJobStatus"] == "Completed", desc.get("FailureReason")
    assert desc["ExitMessage"] == "summed 3 rows in a container"
    result = json.loads(read_output(s3, BUCKET, f"{name}/sums/")["sums.json"])
    assert result == {"sums": [9.0, 12.0], "args": ["--scale", "1"], "env": "from-the-request", "job": name}


def test_byo_image_without_entrypoint_runs_the_image_entrypoint(proc_server, byo_image):
    sm, s3 = proc_server.client("sagemaker"), proc_server.client("s3")
    name = unique("byo-default")
    sm.create_processing_job(**_request(s3, name, byo_image, {}))
    desc = wait_status(sm, name, timeout=180)
    assert desc["ProcessingJobStatus"] == "Completed", desc.get("FailureReason")
    result = json.loads(read_output(s3, BUCKET, f"{name}/sums/")["sums.json"])
    assert result["args"] == ["--from-the-image-entrypoint"]
