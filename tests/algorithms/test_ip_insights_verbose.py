"""IP Insights ``verbose=True`` responses through a real endpoint, as SageMaker documents them.

An ``ipinsights`` training job runs on the server; its model serves on an endpoint. With ``Accept:
application/json; verbose=True`` (or ``application/jsonlines; verbose=True``, any spacing or case) each
prediction carries ``dot_product``, ``entity_embedding`` and ``ip_embedding``; the embeddings are the trained
model's vectors (read back from the job's model.tar.gz) and their dot product is ``dot_product``. Without
the parameter (or with ``verbose=False``) only ``dot_product`` comes back.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
import uuid
import zlib

import numpy as np
import pytest
from botocore.exceptions import ClientError

IMAGE = "382416733822.dkr.ecr.us-east-1.amazonaws.com/ipinsights:1"
ROLE = "arn:aws:iam::123456789012:role/Shipyard"
N_VECTORS, DIM = 64, 8
PAIRS = [("user_a", "10.0.1.7"), ("user_b", "192.168.4.20"), ("user_a", "172.16.9.1"), ("user_c", "8.8.8.8")]


def _wait(fn, done, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        d = fn()
        if done(d):
            return d
        time.sleep(0.3)
    raise AssertionError(f"{what} did not finish in {timeout}s")


def _training_csv(rng) -> bytes:
    rows = []
    for u in range(12):
        net = f"10.{u}.{rng.integers(0, 256)}"
        for _ in range(30):
            rows.append(f"user_{u},{net}.{rng.integers(1, 255)}")
    rng.shuffle(rows)
    return ("\n".join(rows) + "\n").encode()


@pytest.fixture(scope="module")
def endpoint(server):
    sm, s3, rt = server.client("sagemaker"), server.client("s3"), server.client("sagemaker-runtime")
    tag = uuid.uuid4().hex[:8]
    bucket, job = f"ipi-{tag}", f"ipi-verbose-{tag}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="train/train.csv", Body=_training_csv(np.random.default_rng(3)))
    sm.create_training_job(
        TrainingJobName=job, RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        HyperParameters={"num_entity_vectors": str(N_VECTORS), "vector_dim": str(DIM), "epochs": "5",
                         "mini_batch_size": "64", "learning_rate": "0.05"},
        InputDataConfig=[{"ChannelName": "train", "ContentType": "text/csv", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/train/", "S3DataDistributionType": "FullyReplicated"}}}],
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/output"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 600})
    d = _wait(lambda: sm.describe_training_job(TrainingJobName=job),
              lambda d: d["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"), 240, f"training job {job}")
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    artifact = d["ModelArtifacts"]["S3ModelArtifacts"]

    sm.create_model(ModelName=job, ExecutionRoleArn=ROLE,
                    PrimaryContainer={"Image": IMAGE, "ModelDataUrl": artifact})
    sm.create_endpoint_config(EndpointConfigName=job, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": job, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName=job, EndpointConfigName=job)
    d = _wait(lambda: sm.describe_endpoint(EndpointName=job),
              lambda d: d["EndpointStatus"] in ("InService", "Failed"), 120, f"endpoint {job}")
    assert d["EndpointStatus"] == "InService", d.get("FailureReason")

    # The trained tables, read back from the job's artifact: what the embeddings must be rows of.
    key = artifact.split(f"s3://{bucket}/", 1)[1]
    with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) as tar:
        npz = [m for m in tar.getmembers() if m.isfile() and m.name.rsplit("/", 1)[-1] == "model_algo-1"]
        assert len(npz) == 1, tar.getnames()
        with np.load(io.BytesIO(tar.extractfile(npz[0]).read()), allow_pickle=False) as z:
            tables = {"entities": z["entities"].astype(np.float64), "prefixes": z["prefixes"].astype(np.float64)}

    def invoke(body: str, content_type: str, accept: str) -> tuple[str, str]:
        r = rt.invoke_endpoint(EndpointName=job, Body=body.encode(), ContentType=content_type, Accept=accept)
        return r["Body"].read().decode(), r["ContentType"]

    try:
        yield {"invoke": invoke, "tables": tables}
    finally:
        sm.delete_endpoint(EndpointName=job)


def _csv(pairs) -> str:
    return "".join(f"{e},{ip}\n" for e, ip in pairs)


def _expected_vectors(tables, entity: str, ip: str) -> tuple[np.ndarray, np.ndarray]:
    """The model's entity row and its IP encoding (mean of the /8, /16, /24, /32 prefix rows), computed here
    from the trained tables with the hashing the algorithm documents."""
    from shipyard.algorithms.ip_insights.model import ip_ints, prefix_rows

    assert tables["entities"].shape == (N_VECTORS, DIM)
    ent = tables["entities"][zlib.crc32(entity.encode()) % N_VECTORS]
    rows = prefix_rows(ip_ints([ip]), N_VECTORS)[0]
    return ent, tables["prefixes"][rows].mean(axis=0)


def _check_verbose(preds, pairs, tables):
    assert len(preds) == len(pairs)
    for p, (entity, ip) in zip(preds, pairs):
        assert set(p) == {"dot_product", "entity_embedding", "ip_embedding"}, p
        e, f = np.asarray(p["entity_embedding"]), np.asarray(p["ip_embedding"])
        assert e.shape == f.shape == (DIM,)
        np.testing.assert_allclose(float(e @ f), p["dot_product"], rtol=1e-9, atol=1e-12)
        want_e, want_f = _expected_vectors(tables, entity, ip)
        np.testing.assert_allclose(e, want_e, rtol=1e-12, atol=0)
        np.testing.assert_allclose(f, want_f, rtol=1e-9, atol=1e-12)
    # Trained, not constant: the vectors differ between entities / addresses.
    assert not np.allclose(preds[0]["entity_embedding"], preds[1]["entity_embedding"])
    assert preds[0]["entity_embedding"] == preds[2]["entity_embedding"]   # same entity, same row
    assert not np.allclose(preds[0]["ip_embedding"], preds[2]["ip_embedding"])


@pytest.mark.parametrize("accept", ["application/json; verbose=True", "application/json;verbose=True",
                                    "Application/JSON ;  VERBOSE = true", 'application/json; verbose="True"'])
def test_json_verbose_returns_the_model_embeddings(endpoint, accept):
    body, ctype = endpoint["invoke"](_csv(PAIRS), "text/csv", accept)
    assert ctype.startswith("application/json")
    doc = json.loads(body)
    _check_verbose(doc["predictions"], PAIRS, endpoint["tables"])
    plain = json.loads(endpoint["invoke"](_csv(PAIRS), "text/csv", "application/json")[0])["predictions"]
    assert [p["dot_product"] for p in plain] == [p["dot_product"] for p in doc["predictions"]]


@pytest.mark.parametrize("accept", ["application/jsonlines; verbose=True", "application/jsonlines;Verbose=TRUE"])
def test_jsonlines_verbose_one_object_per_line(endpoint, accept):
    body, ctype = endpoint["invoke"](_csv(PAIRS), "text/csv", accept)
    assert ctype.startswith("application/jsonlines")
    _check_verbose([json.loads(line) for line in body.splitlines() if line.strip()], PAIRS, endpoint["tables"])


def test_verbose_with_json_and_jsonlines_requests(endpoint):
    """The documented request shapes: JSON instances (both forms) and JSON Lines."""
    json_req = json.dumps({"instances": [{"data": {"features": {"values": list(PAIRS[0])}}},
                                         {"features": list(PAIRS[1])}]})
    doc = json.loads(endpoint["invoke"](json_req, "application/json", "application/json; verbose=True")[0])
    jl_req = "".join(json.dumps({"data": {"features": {"values": list(p)}}}) + "\n" for p in PAIRS)
    lines = endpoint["invoke"](jl_req, "application/jsonlines", "application/jsonlines; verbose=True")[0]
    _check_verbose(doc["predictions"] + [json.loads(ln) for ln in lines.splitlines()][2:],
                   PAIRS, endpoint["tables"])


@pytest.mark.parametrize("accept", ["application/json", "application/json; verbose=False",
                                    "application/json; verbose=0"])
def test_without_verbose_only_the_dot_product(endpoint, accept):
    doc = json.loads(endpoint["invoke"](_csv(PAIRS), "text/csv", accept)[0])
    assert [set(p) for p in doc["predictions"]] == [{"dot_product"}] * len(PAIRS)
    lines = endpoint["invoke"](_csv(PAIRS), "text/csv", "application/jsonlines")[0].splitlines()
    assert [set(json.loads(ln)) for ln in lines] == [{"dot_product"}] * len(PAIRS)


def test_a_non_boolean_verbose_is_a_client_error(endpoint):
    with pytest.raises(ClientError) as exc:
        endpoint["invoke"](_csv(PAIRS[:1]), "text/csv", "application/json; verbose=maybe")
    assert exc.value.response["Error"]["Code"] == "ModelError", exc.value.response
    assert "verbose" in str(exc.value)
