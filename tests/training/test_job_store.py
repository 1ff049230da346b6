"""What the training executor opens as its store (the job's key on the server's S3 API; an old job file's
URL), and what a training job's key may read: every object a channel names, manifests included."""

from __future__ import annotations

import json

import pytest

from shipyard.controllers.training import job_scope
from shipyard.domain.job_file import TrainingJobFile
from shipyard.domain.job_keys import manifest_reads
from shipyard.objectstore.local import LocalObjectStore
from shipyard.objectstore.s3 import S3ObjectStore
from shipyard.server.auth import authorize_s3
from shipyard.errors import AuthError
from shipyard.training.executor import open_job_store

AWS = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "ASIAJOBKEY", "AWS_SECRET_ACCESS_KEY": "s",
       "AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1"}


def test_executor_store_is_the_server_api_with_the_job_key(tmp_path):
    # an object_store_url beside the key (never written now) is ignored: the key is what the job may use
    job = TrainingJobFile(request={}, aws_env=AWS, object_store_url=(tmp_path / "objects").as_uri())
    store = open_job_store(job)
    assert isinstance(store, S3ObjectStore)
    assert store.client.meta.endpoint_url == AWS["AWS_ENDPOINT_URL"]
    assert store.client.meta.region_name == "eu-west-1"
    assert store.client.meta.config.retries["total_max_attempts"] > 10  # rides out a server restart
    assert store.client._request_signer._credentials.access_key == "ASIAJOBKEY"


def test_old_job_file_opens_its_store_url(tmp_path):
    job = TrainingJobFile.from_dict({"request": {}, "object_store_url": (tmp_path / "objects").as_uri()})
    assert isinstance(open_job_store(job), LocalObjectStore)


def test_job_file_without_a_store_fails_saying_why():
    with pytest.raises(ValueError, match="aws_env"):
        open_job_store(TrainingJobFile(request={}))


def test_manifest_reads():
    body = json.dumps([{"prefix": "s3://data/shards/"}, "a/0", "b/1"]).encode()
    assert manifest_reads("ManifestFile", body) == ["data/shards/"]
    assert manifest_reads("ManifestFile", b"not json") == []
    assert manifest_reads("ManifestFile", b'["no-prefix-object"]') == []
    lines = b'{"source-ref": "s3://img/a/1.jpg", "label": 1}\n\n{"source-ref": "s3://img/b/2.jpg"}\nbad\n' \
            b'{"source-ref": "s3://img/a/3.jpg", "other": "s3://ann/x.json"}\n'
    assert manifest_reads("AugmentedManifestFile", lines) == ["img/a/", "img/b/", "ann/"]
    assert manifest_reads("S3Prefix", body) == []


def _doc(**extra):
    return {"InputDataConfig": [
        {"ChannelName": "train", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/train"}}},
        {"ChannelName": "rec", "DataSource": {"S3DataSource": {"S3DataType": "ManifestFile",
                                                               "S3Uri": "s3://b/m/train.manifest"}}}],
        "OutputDataConfig": {"S3OutputPath": "s3://b/out"},
        "CheckpointConfig": {"S3Uri": "s3://b/ckpt"}, **extra}


def _allowed(scope, method: str, path: str) -> bool:
    try:
        authorize_s3(scope, method=method, path=path, query={}, headers={})
        return True
    except AuthError:
        return False


def test_job_scope_covers_what_the_executor_touches():
    scope = job_scope("j", _doc(Environment={"SAGEMAKER_SUBMIT_DIRECTORY": "s3://code/src.tar.gz"}),
                      manifest_reads=["data/shards/"])
    for path in ("/b/train/x.csv", "/b/m/train.manifest", "/data/shards/a/0", "/code/src.tar.gz",
                 "/b/ckpt/step-1", "/b/out/j/output/model.tar.gz"):
        assert _allowed(scope, "GET", path), path
    for path in ("/b/ckpt/step-1", "/b/out/j/output/model.tar.gz"):
        assert _allowed(scope, "PUT", path), path
    for method, path in (("GET", "/data/other/x"), ("GET", "/b/out/other-job/x"), ("PUT", "/b/train/x.csv"),
                         ("PUT", "/data/shards/a/0"), ("GET", "/b/checkpoints-of-another/x")):
        assert not _allowed(scope, method, path), (method, path)


def test_job_scope_without_manifest_reads_keeps_only_the_manifest():
    scope = job_scope("j", _doc())
    assert _allowed(scope, "GET", "/b/m/train.manifest")
    assert not _allowed(scope, "GET", "/data/shards/a/0")
