"""A bring-your-own image trained under the Ray runner: the executor runs on the node Ray placed the job on, in
that node's own folder; the container runs on that node's engine with that folder mounted at ``/opt/ml``, and
the model the container wrote reaches S3 as ``model.tar.gz`` (the executor uploads it; ``status.json`` comes
back to the server through ``sync_back``).

The image is ``tests/containers/byo/`` (nearest centroids over the locally built base image), tagged as the
container tests tag it, so either suite builds it once for both. Skips, saying why, only where no Docker daemon
can be started.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from shipyard.containers.base_image import BASE_IMAGE, ensure_base_image
from shipyard.containers.daemon import EngineUnavailable, ensure_installed, provide_engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
from training_helpers import ROLE, ensure_bucket, log_messages, unique, untar, wait_status  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

BUCKET = "ray-byo"
BYO_CONTEXT = Path(__file__).resolve().parents[1] / "containers" / "byo"
TYPES = {"ml.m5.large": {"cpus": 1, "memory_gib": 0.5}}


@pytest.fixture(scope="module")
def byo_image():
    try:
        provided = provide_engine(os.environ.get("SHIPYARD_CONTAINER_ENGINE", ""))
        ensure_installed("debootstrap", "debootstrap")
    except EngineUnavailable as e:
        pytest.skip(f"no container engine can be started here: {e}")
    engine = provided.engine
    try:
        ensure_base_image(engine, BASE_IMAGE)
        digest = hashlib.sha256()
        for path in sorted(BYO_CONTEXT.iterdir()):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
        ref = f"shipyard-test/byo-sklearn:{digest.hexdigest()[:12]}"
        if not engine.has_image(ref):
            done = subprocess.run(engine.command("build", "-q", "-t", ref, str(BYO_CONTEXT)), capture_output=True,
                                  env={**os.environ, "DOCKER_BUILDKIT": "0"}, timeout=300)
            assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
        yield ref
    finally:
        provided.stop()


@pytest.fixture(scope="module")
def ray_server(ray_cluster, tmp_path_factory, shipyard_on_ray, byo_image):
    with shipyard_on_ray(ray_cluster, tmp_path_factory.mktemp("ray-byo-home"), TYPES) as proc:
        yield proc


def test_a_byo_training_job_runs_on_its_ray_node_and_its_model_lands_in_s3(ray_server, byo_image):
    sm, s3, logs = ray_server.client("sagemaker"), ray_server.client("s3"), ray_server.client("logs")
    ensure_bucket(s3, BUCKET)
    name = unique("ray-byo")
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, size=40)
    x = rng.normal(size=(40, 3)) + labels[:, None] * 3.0
    buf = io.BytesIO()
    np.savetxt(buf, np.column_stack([labels, x]), delimiter=",", fmt=["%d"] + ["%.6f"] * 3)
    s3.put_object(Bucket=BUCKET, Key=f"{name}/training/train.csv", Body=buf.getvalue())
    sm.create_training_job(
        TrainingJobName=name, RoleArn=ROLE, HyperParameters={},
        AlgorithmSpecification={"TrainingImage": byo_image, "TrainingInputMode": "File"},
        InputDataConfig=[{"ChannelName": "training", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/{name}/training",
            "S3DataDistributionType": "FullyReplicated"}}}],
        OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/output"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 300})
    desc = wait_status(sm, name, timeout=240)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    artifact = desc["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifact == f"s3://{BUCKET}/output/{name}/output/model.tar.gz"
    files = untar(s3.get_object(Bucket=BUCKET, Key=f"output/{name}/output/model.tar.gz")["Body"].read())
    centroids = json.loads(files["centroids.json"])
    assert sorted(centroids) == ["0", "1"]
    for k in (0, 1):
        assert np.allclose(centroids[str(k)], x[labels == k].mean(axis=0), atol=1e-5)
    messages = " ".join(log_messages(logs, name))
    assert "train started" in messages and "trained on 40 rows: 2 centroids" in messages
    # The container saw the node's folder at /opt/ml (the SM_* paths name /opt/ml, not a server path).
    assert "channel dir /opt/ml/input/data/training" in messages
