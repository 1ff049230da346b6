"""job.json as dataclasses: written and read back unchanged, and a file from an older server still reads."""

from __future__ import annotations

import json
import stat

import pytest

from shipyard.domain.job_file import FILE_NAME, TrainingJobFile, TransformJobFile, write_private

# What controllers/training.py wrote before job.json was typed (a single-host job, the server's store named).
OLD_TRAINING = {"request": {"TrainingJobName": "j"}, "arn": "arn:aws:sagemaker:us-east-1:1:training-job/j",
                "program": {"kind": "builtin", "algorithm": "xgboost", "module": "shipyard.algorithms.xgboost"},
                "object_store_url": "file:///home/objects", "region": "eu-west-1", "stop_grace": 5,
                "host_count": 2, "host_index": 1}


def test_a_training_file_from_an_older_server_reads_with_the_defaults_the_executor_used():
    job = TrainingJobFile.from_dict(OLD_TRAINING)
    assert job.host_names() == ["algo-1", "algo-2"] and job.host_index == 1
    assert (job.stop_grace, job.region, job.object_store_url) == (5, "eu-west-1", "file:///home/objects")
    assert (job.aws_env, job.isolate, job.archive_caps, job.attempt, job.master_port) == ({}, False, None, 0, None)
    assert job.program["kind"] == "builtin"
    assert {k: job.to_dict()[k] for k in OLD_TRAINING} == OLD_TRAINING  # every key written back as it was


def test_training_file_round_trips_with_the_keys_it_always_had():
    job = TrainingJobFile(request={"TrainingJobName": "j"}, arn="arn", hosts=["algo-1", "algo-2"],
                          program={"kind": "container", "image": "repo:tag", "entrypoint": ["train"]},
                          aws_env={"AWS_ACCESS_KEY_ID": "ASIA1"}, isolate=True,
                          archive_caps={"max_bytes": 10, "max_members": 2}, host_addresses={"algo-1": "10.0.0.1"},
                          master_port=29501, attempt=2)
    data = json.loads(job.to_json())
    assert set(data) == {"request", "arn", "program", "region", "aws_env", "hosts", "isolate", "archive_caps",
                         "host_index", "host_addresses", "master_port", "attempt"}
    assert data["program"] == {"kind": "container", "image": "repo:tag", "entrypoint": ["train"]}
    assert TrainingJobFile.from_dict(data) == job


def test_keys_a_newer_server_adds_are_kept_not_refused():
    job = TrainingJobFile.from_dict({**OLD_TRAINING, "sandbox": {"network": "none"}})
    assert job.extra == {"sandbox": {"network": "none"}}
    assert job.to_dict()["sandbox"] == {"network": "none"}


def test_a_file_without_its_request_is_refused_saying_what_is_missing():
    with pytest.raises(ValueError, match="request"):
        TransformJobFile.from_dict({"model": {}})


def test_transform_file_is_written_private_and_read_back(tmp_path):
    job = TransformJobFile(request={"TransformJobName": "t"}, model={"ModelName": "m"},
                           aws_env={"AWS_SECRET_ACCESS_KEY": "s"}, archive_caps={"max_bytes": 1, "max_members": 1})
    write_private(tmp_path, job.to_json())
    assert stat.S_IMODE((tmp_path / FILE_NAME).stat().st_mode) == 0o600
    assert TransformJobFile.read(tmp_path) == job
    assert not list(tmp_path.glob("*.tmp"))


def test_a_transform_file_from_an_older_server_names_its_store():
    job = TransformJobFile.from_dict({"request": {}, "model": {}, "object_store_url": "file:///o"})
    assert (job.object_store_url, job.aws_env) == ("file:///o", {})
