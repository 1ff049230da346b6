"""AugmentedManifestFile channels (Pipe mode, as on AWS): each manifest line's attributes reach the program in
``AttributeNames`` order, ``*-ref`` ones as the object they point at, one RecordIO record each; File mode and a
channel without AttributeNames are refused at Create time. End to end: image classification trains on images
referenced by a manifest (the layout Ground Truth writes)."""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError

from shipyard.io.recordio import split_records
from shipyard.objectstore.local import LocalObjectStore
from shipyard.training.channels import stage_channels

ROLE = "arn:aws:iam::123456789012:role/Shipyard"


def _manifest_channel(uri: str, mode: str | None = "Pipe", attributes=("source-ref", "class")) -> dict:
    ch = {"ChannelName": "train", "ContentType": "application/x-recordio", "RecordWrapperType": "RecordIO",
          "DataSource": {"S3DataSource": {"S3DataType": "AugmentedManifestFile", "S3Uri": uri,
                                          "S3DataDistributionType": "FullyReplicated"}}}
    if attributes:
        ch["DataSource"]["S3DataSource"]["AttributeNames"] = list(attributes)
    if mode:
        ch["InputMode"] = mode
    return ch


def test_pipe_gets_one_record_per_attribute_in_order(tmp_path):
    store = LocalObjectStore(tmp_path / "objects")
    store.create_bucket("bkt")
    store.put_object("bkt", "img/a.jpg", b"AAAA")
    store.put_object("bkt", "img/b.jpg", b"BBBBBB")
    lines = [{"source-ref": "s3://bkt/img/a.jpg", "class": 1, "other": "x"},
             {"source-ref": "s3://bkt/img/b.jpg", "class": "0"}]
    store.put_object("bkt", "m/train.manifest", "\n".join(json.dumps(x) for x in lines).encode() + b"\n\n")
    feeders = stage_channels(store, [_manifest_channel("s3://bkt/m/train.manifest")], tmp_path / "data", "File")
    assert len(feeders) == 1
    feeders[0].start()
    with open(tmp_path / "data" / "train_0", "rb") as f:
        records = split_records(f.read())
    assert records == [b"AAAA", b"1", b"BBBBBB", b"0"]
    assert feeders[0].error is None


def test_a_missing_attribute_is_named(tmp_path):
    store = LocalObjectStore(tmp_path / "objects")
    store.create_bucket("bkt")
    store.put_object("bkt", "m.manifest", json.dumps({"source-ref": "s3://bkt/x"}).encode())
    store.put_object("bkt", "x", b"X")
    feeder = stage_channels(store, [_manifest_channel("s3://bkt/m.manifest")], tmp_path / "data", "File")[0]
    feeder.start()
    with open(tmp_path / "data" / "train_0", "rb") as f:
        assert split_records(f.read()) == [b"X"]
    feeder.join(5)
    assert "no attribute 'class'" in str(feeder.error)


def _create(sm, name: str, channel: dict, hps: dict | None = None):
    sm.create_training_job(
        TrainingJobName=name, RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1",
                                "TrainingInputMode": "File"},
        HyperParameters=hps or {"num_classes": "3", "num_training_samples": "60", "image_shape": "3,16,16",
                                "num_layers": "20", "epochs": "1", "mini_batch_size": "16"},
        InputDataConfig=[channel], OutputDataConfig={"S3OutputPath": "s3://aug-manifest/out"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 600})


def test_file_mode_and_missing_attribute_names_are_refused(server):
    sm = server.client("sagemaker")
    server.client("s3").create_bucket(Bucket="aug-manifest")
    for name, channel, words in (
            ("aug-file-mode", _manifest_channel("s3://aug-manifest/m", mode=None), "Pipe input mode"),
            ("aug-no-names", _manifest_channel("s3://aug-manifest/m", attributes=()), "AttributeNames")):
        with pytest.raises(ClientError) as info:
            _create(sm, name, channel)
        assert info.value.response["Error"]["Code"] == "ValidationException"
        assert words in info.value.response["Error"]["Message"]


@pytest.mark.timeout(300)
def test_image_classification_trains_on_an_augmented_manifest(server):
    pytest.importorskip("torch")
    pytest.importorskip("PIL")
    from shipyard.algorithms.image_classification import synthetic

    s3, sm = server.client("s3"), server.client("sagemaker")
    s3.create_bucket(Bucket="aug-manifest-e2e")
    lines = []
    for i, (img, label) in enumerate(synthetic.images(60, 3, 16, seed=4)):
        key = f"images/{i}.jpg"
        s3.put_object(Bucket="aug-manifest-e2e", Key=key, Body=synthetic.encode(img))
        lines.append(json.dumps({"source-ref": f"s3://aug-manifest-e2e/{key}", "class": label,
                                 "class-metadata": {"human-annotated": "yes"}}))
    s3.put_object(Bucket="aug-manifest-e2e", Key="train.manifest", Body="\n".join(lines).encode())
    sm_channel = _manifest_channel("s3://aug-manifest-e2e/train.manifest")
    server.client("s3").create_bucket(Bucket="aug-manifest")
    _create(sm, "aug-manifest-ic", sm_channel)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        desc = sm.describe_training_job(TrainingJobName="aug-manifest-ic")
        if desc["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
            break
        time.sleep(1)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    metrics = {m["MetricName"]: m["Value"] for m in desc.get("FinalMetricDataList", [])}
    assert "train:accuracy" in metrics, metrics
