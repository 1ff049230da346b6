"""The training executor reaches objects with its job's own key, through the server's S3 API, never the
server's store: a job runs on the default ``file://`` store and on an ``s3://`` store whose credentials the
server has only from the AWS credential chain (``AWS_*`` variables, which jobs never inherit), and its
``job.json`` carries neither a store URL nor any credential of the server's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import pytest

from shipyard.testing.server import free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
from training_helpers import script_job, unique, untar, wait_status  # noqa: E402

MOTO_KEY, MOTO_SECRET = "moto-chain-key", "moto-chain-secret-not-for-jobs"

# Reads an S3Prefix channel and a ManifestFile channel (whose objects live under another prefix than the
# manifest), leaves a checkpoint, and writes what it read into the model.
SCRIPT = """
import os, pathlib
data = pathlib.Path("/opt/ml/input/data")
train = (data / "train" / "data.csv").read_text()
shards = sorted(str(p.relative_to(data / "records")) for p in (data / "records").rglob("*") if p.is_file())
records = "".join((data / "records" / s).read_text() for s in shards)
ckpt = pathlib.Path("/opt/ml/checkpoints")
ckpt.mkdir(parents=True, exist_ok=True)
(ckpt / "step-1").write_text("ckpt")
model = pathlib.Path(os.environ["SM_MODEL_DIR"])
(model / "seen.txt").write_text(train + "|" + ",".join(shards) + "|" + records)
"""


@pytest.fixture(scope="module")
def moto_url():
    """moto's S3 server in its own process (the store an ``s3://`` object-store URL points at)."""
    port = free_port()
    env = dict(os.environ, AWS_ACCESS_KEY_ID=MOTO_KEY, AWS_SECRET_ACCESS_KEY=MOTO_SECRET)
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _manifest_job(s3, bucket: str, name: str) -> dict:
    params = script_job(s3, bucket, name, SCRIPT, channels={"train": b"1,2\n"})
    s3.put_object(Bucket=bucket, Key=f"{name}/shards/a/part-0", Body=b"r0;")
    s3.put_object(Bucket=bucket, Key=f"{name}/shards/b/part-1", Body=b"r1;")
    s3.put_object(Bucket=bucket, Key=f"{name}/shards/c/not-listed", Body=b"no;")
    manifest = [{"prefix": f"s3://{bucket}/{name}/shards/"}, "a/part-0", "b/part-1"]
    s3.put_object(Bucket=bucket, Key=f"{name}/manifests/train.manifest", Body=json.dumps(manifest).encode())
    params["InputDataConfig"].append({"ChannelName": "records", "DataSource": {"S3DataSource": {
        "S3DataType": "ManifestFile", "S3Uri": f"s3://{bucket}/{name}/manifests/train.manifest",
        "S3DataDistributionType": "FullyReplicated"}}})
    params["CheckpointConfig"] = {"S3Uri": f"s3://{bucket}/{name}/checkpoints"}
    return params


def _run_and_check(server, s3_reader) -> None:
    """Run the job through ``server``; check its outcome, its objects (read back with ``s3_reader``, which
    may be the backing store itself) and its job file."""
    sm, s3 = server.client("sagemaker"), server.client("s3")
    bucket, name = unique("store-bkt"), unique("store-job")
    sm.create_training_job(**_manifest_job(s3, bucket, name))
    desc = wait_status(sm, name, timeout=120)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")

    artifacts = desc["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifacts == f"s3://{bucket}/output/{name}/output/model.tar.gz"
    model = untar(s3_reader.get_object(Bucket=bucket, Key=f"output/{name}/output/model.tar.gz")["Body"].read())
    assert model["seen.txt"] == b"1,2\n|a/part-0,b/part-1|r0;r1;"
    ckpts = s3_reader.list_objects_v2(Bucket=bucket, Prefix=f"{name}/checkpoints/").get("Contents", [])
    assert [c["Key"] for c in ckpts] == [f"{name}/checkpoints/step-1"]

    text = (server.home / "runs" / "training" / name / "job.json").read_text()
    job = json.loads(text)
    assert "object_store_url" not in job
    key_id, secret = server.keys()
    for leaked in (key_id, secret, MOTO_KEY, MOTO_SECRET, server.settings.object_store_url):
        assert leaked not in text
    assert job["aws_env"]["AWS_ENDPOINT_URL"] == server.url
    assert job["aws_env"]["AWS_ACCESS_KEY_ID"].startswith("ASIA")


def test_training_on_the_default_file_store(server_factory):
    server = server_factory()
    assert server.settings.object_store_url.startswith("file://")
    _run_and_check(server, server.client("s3"))


def test_training_on_an_s3_store_with_chain_credentials(server_factory, moto_url):
    server = server_factory(env={"SHIPYARD_OBJECT_STORE_URL": f"s3://?endpoint_url={moto_url}&region=us-east-1",
                                 "AWS_ACCESS_KEY_ID": MOTO_KEY, "AWS_SECRET_ACCESS_KEY": MOTO_SECRET})
    moto = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id=MOTO_KEY,
                        aws_secret_access_key=MOTO_SECRET)
    _run_and_check(server, moto)  # the objects are in moto's store: the job went through the server to it
