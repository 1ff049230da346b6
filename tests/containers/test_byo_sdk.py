"""A bring-your-own image end to end, as AWS's ``scikit_bring_your_own`` example does it: the image of
``tests/containers/byo/`` (``train`` and ``serve`` over the locally built base image) pushed through the ECR API
to the server's registry, then, with the SageMaker Python SDK unmodified, ``Estimator(image_uri=<ECR URI>)``
``.fit``, ``.deploy`` + ``predict`` and ``.transformer(...).transform``; and through boto3: a stopped container
job ends Stopped (its ``train`` got SIGTERM), a failing ``train`` gives its ``/opt/ml/output/failure`` as the
FailureReason. The model (nearest centroids) is checked against the same computation done here."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from shipyard.testing.sdk import sdk_environment, sdk_session

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
from training_helpers import ROLE, ensure_bucket, log_messages, unique, untar, wait_status  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

REGION = "us-east-1"
BUCKET = "byo-containers"
N_FEATURES = 4


def _dataset(seed: int = 7, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, size=n)
    x = rng.normal(size=(n, N_FEATURES)) + labels[:, None] * 2.0
    return labels, x


def _csv(rows: np.ndarray, fmt) -> bytes:
    buf = io.BytesIO()
    np.savetxt(buf, rows, delimiter=",", fmt=fmt)
    return buf.getvalue()


def _nearest_centroid(labels: np.ndarray, x: np.ndarray, queries: np.ndarray) -> list[int]:
    classes = sorted(set(labels.tolist()))
    centroids = np.vstack([x[labels == k].mean(axis=0) for k in classes])
    d = ((queries[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
    return [classes[i] for i in d.argmin(axis=1)]


@pytest.fixture(scope="module")
def sm_env(server, tmp_path_factory):
    """The SDK's environment: AWS_* at the server, telemetry off, BUCKET the default bucket."""
    with sdk_environment(server, tmp_path_factory.mktemp("sagemaker-config"), bucket=BUCKET, region=REGION):
        yield server


def _containers_labelled(engine, label: str) -> list[str]:
    done = subprocess.run(engine.command("ps", "-q", "--filter", f"label={label}"), capture_output=True,
                          timeout=30)
    return done.stdout.decode().split()


def _wait_no_containers(engine, label: str, timeout: float = 60.0) -> list[str]:
    deadline = time.monotonic() + timeout
    left = _containers_labelled(engine, label)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = _containers_labelled(engine, label)
    return left


def test_estimator_fit_deploy_predict_and_transform(sm_env, pushed_byo_image, docker_engine, capfd):
    from sagemaker.deserializers import CSVDeserializer
    from sagemaker.estimator import Estimator
    from sagemaker.serializers import CSVSerializer

    session = sdk_session(REGION, BUCKET)
    labels, x = _dataset()
    s3 = sm_env.client("s3")
    ensure_bucket(s3, BUCKET)
    prefix = unique("byo")
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/training/train.csv",
                  Body=_csv(np.column_stack([labels, x]), ["%d"] + ["%.6f"] * N_FEATURES))
    estimator = Estimator(image_uri=pushed_byo_image, role=ROLE, instance_count=1, instance_type="ml.m5.large",
                          output_path=f"s3://{BUCKET}/{prefix}/output", environment={"GREETING": "hello-byo"},
                          hyperparameters={"note": "from-the-sdk"}, sagemaker_session=session)
    estimator.fit({"training": f"s3://{BUCKET}/{prefix}/training"}, wait=False)
    job = estimator.latest_training_job.name
    session.logs_for_job(job, wait=True, poll=1)
    desc = estimator.latest_training_job.describe()
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    assert desc["AlgorithmSpecification"]["TrainingImage"] == pushed_byo_image
    printed = capfd.readouterr().out
    assert "channel dir /opt/ml/input/data/training" in printed  # SM_* name /opt/ml paths in the container
    assert "greeting hello-byo" in printed  # the job's Environment
    assert f"trained on {len(labels)} rows: 3 centroids" in printed
    artifacts = desc["ModelArtifacts"]["S3ModelArtifacts"]
    bucket, key = artifacts[5:].split("/", 1)
    assert set(untar(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) == {"centroids.json"}

    queries = np.random.default_rng(11).normal(size=(12, N_FEATURES)) * 2 + 2
    expected = _nearest_centroid(labels, x, queries)
    predictor = estimator.deploy(initial_instance_count=1, instance_type="ml.m5.large", wait=False,
                                 serializer=CSVSerializer(), deserializer=CSVDeserializer())
    endpoint = predictor.endpoint_name
    try:
        status = session.wait_for_endpoint(endpoint, poll=1)
        assert status["EndpointStatus"] == "InService", status.get("FailureReason")
        containers = _containers_labelled(docker_engine, f"shipyard.endpoint={endpoint}")
        assert len(containers) == 1
        published = subprocess.run(docker_engine.command("port", containers[0], "8080/tcp"), capture_output=True,
                                   text=True, timeout=30).stdout.split()
        assert published and all(p.startswith("127.0.0.1:") for p in published)  # loopback only
        rows = predictor.predict(queries)
        assert [int(r[0]) for r in rows if r and r[0].strip()] == expected
        one = predictor.predict(queries[:1])
        assert [int(r[0]) for r in one if r and r[0].strip()] == expected[:1]
    finally:
        predictor.delete_endpoint(delete_endpoint_config=True)
    assert _wait_no_containers(docker_engine, f"shipyard.endpoint={endpoint}") == [], \
        "the endpoint's container outlived DeleteEndpoint"

    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/batch/queries.csv", Body=_csv(queries, "%.6f"))
    transformer = estimator.transformer(instance_count=1, instance_type="ml.m5.large", accept="text/csv",
                                        output_path=f"s3://{BUCKET}/{prefix}/batch-out")
    transformer.transform(f"s3://{BUCKET}/{prefix}/batch", content_type="text/csv", split_type="Line",
                          wait=False)
    name = transformer.latest_transform_job.name
    described = session.wait_for_transform_job(name, poll=1)
    assert described["TransformJobStatus"] == "Completed", described.get("FailureReason")
    out = s3.get_object(Bucket=BUCKET, Key=f"{prefix}/batch-out/queries.csv.out")["Body"].read().decode()
    assert [int(v) for v in out.split()] == expected


def _container_job(name: str, image: str, s3, hps: dict[str, str]) -> dict:
    ensure_bucket(s3, BUCKET)
    labels, x = _dataset(n=30)
    s3.put_object(Bucket=BUCKET, Key=f"{name}/training/train.csv",
                  Body=_csv(np.column_stack([labels, x]), ["%d"] + ["%.6f"] * N_FEATURES))
    return {
        "TrainingJobName": name, "RoleArn": ROLE, "HyperParameters": hps,
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "InputDataConfig": [{"ChannelName": "training", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/{name}/training",
            "S3DataDistributionType": "FullyReplicated"}}}],
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/{name}/output"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 300},
    }


def test_a_stopped_container_job_ends_stopped_and_its_train_got_sigterm(server, pushed_byo_image, docker_engine):
    sm, logs = server.client("sagemaker"), server.client("logs")
    name = unique("byo-stop")
    sm.create_training_job(**_container_job(name, pushed_byo_image, server.client("s3"), {"sleep": "120"}))
    deadline = time.monotonic() + 120
    while not any("train started" in m for m in log_messages(logs, name)):
        assert time.monotonic() < deadline, "train never started"
        assert sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "InProgress"
        time.sleep(0.2)
    assert len(_containers_labelled(docker_engine, f"shipyard.training-job={name}")) == 1
    sm.stop_training_job(TrainingJobName=name)
    desc = wait_status(sm, name, timeout=90)
    assert desc["TrainingJobStatus"] == "Stopped", desc.get("FailureReason")
    assert any("train got SIGTERM" in m for m in log_messages(logs, name))
    assert _wait_no_containers(docker_engine, f"shipyard.training-job={name}") == []


def test_a_failing_train_gives_its_failure_file_as_the_reason(server, pushed_byo_image):
    sm = server.client("sagemaker")
    name = unique("byo-fail")
    sm.create_training_job(**_container_job(name, pushed_byo_image, server.client("s3"), {"fail": "true"}))
    desc = wait_status(sm, name, timeout=120)
    assert desc["TrainingJobStatus"] == "Failed"
    assert desc["FailureReason"] == "AlgorithmError: Exception during training: asked to fail by the 'fail' " \
                                    "hyperparameter"


def test_an_image_of_the_local_engine_runs_by_its_own_name(server, byo_sklearn_image):
    sm = server.client("sagemaker")
    name = unique("byo-local")
    sm.create_training_job(**_container_job(name, byo_sklearn_image, server.client("s3"), {}))
    desc = wait_status(sm, name, timeout=120)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
