"""A training job's inputs never write outside its folder, and its entry point never reaches a shell as code.

The executor runs as a process on its own (as in test_executor.py): a job folder in, the status out.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import pytest

from shipyard.objectstore import open_objectstore

pytestmark = pytest.mark.integration  # runs the executor as a subprocess
TIMEOUT = 60


def _tar(files: dict[str, bytes], modes: dict[str, int] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), (modes or {}).get(name, 0o644)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def store(tmp_path):
    s = open_objectstore((tmp_path / "objects").as_uri())
    s.create_bucket("bkt")
    return s


def _job(tmp_path, store, files: dict[str, bytes], program: str = "train.py", modes=None, **request) -> Path:
    store.put_object("bkt", "code/sourcedir.tar.gz", _tar(files, modes))
    req = {
        "TrainingJobName": "unsafe-job",
        "HyperParameters": {"sagemaker_program": json.dumps(program),
                            "sagemaker_submit_directory": '"s3://bkt/code/sourcedir.tar.gz"', "epochs": "3"},
        "AlgorithmSpecification": {"TrainingImage": "sagemaker-scikit-learn", "TrainingInputMode": "File"},
        "InputDataConfig": [],
        "OutputDataConfig": {"S3OutputPath": "s3://bkt/out/"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
        **request,
    }
    job_dir = tmp_path / "box" / "job"
    job_dir.mkdir(parents=True)
    job = {"request": req, "arn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/unsafe-job",
           "program": {"kind": "script", "framework": "sklearn"},
           "object_store_url": (tmp_path / "objects").as_uri(), "stop_grace": 5}
    (job_dir / "job.json").write_text(json.dumps(job))
    return job_dir


def _run(job_dir: Path) -> dict:
    with open(job_dir / "output.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "shipyard.training.executor", str(job_dir)],
                                env=dict(os.environ, PYTHONUNBUFFERED="1"), stdout=log, stderr=subprocess.STDOUT)
    try:
        proc.wait(TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return json.loads((job_dir / "status.json").read_text())


def _log(job_dir: Path) -> str:
    return (job_dir / "output.log").read_text(errors="replace")


def test_checkpoint_keys_with_dotdot_are_refused_before_anything_is_written(tmp_path, store):
    store.put_object("bkt", "ckpt/ok.txt", b"fine")
    store.put_object("bkt", "ckpt/../../../evil.txt", b"escaped")
    store.put_object("bkt", "ckpt/x/../../../../config-evil.txt", b"escaped")
    job_dir = _job(tmp_path, store, {"train.py": b"print('trained')\n"},
                   CheckpointConfig={"S3Uri": "s3://bkt/ckpt"})
    status = _run(job_dir)
    assert status["outcome"] == "Failed", _log(job_dir)
    reason = status["failure_reason"]
    assert reason.startswith("ClientError:") and "checkpoint S3 key" in reason and "leaves its folder" in reason
    assert not list(tmp_path.rglob("evil.txt")) and not list(tmp_path.rglob("config-evil.txt"))
    assert not (job_dir / "checkpoints" / "ok.txt").exists()  # refused as a whole, before any download
    assert "trained" not in _log(job_dir)


def test_a_sourcedir_member_that_climbs_out_is_refused(tmp_path, store):
    job_dir = _job(tmp_path, store, {"train.py": b"print('trained')\n", "../../evil.py": b"x = 1\n"})
    status = _run(job_dir)
    assert status["outcome"] == "Failed", _log(job_dir)
    assert status["failure_reason"].startswith("ClientError:")
    assert "sagemaker_submit_directory" in status["failure_reason"]
    assert "leaves its folder" in status["failure_reason"]
    assert not list(tmp_path.rglob("evil.py"))


def test_a_sourcedir_bomb_is_refused(tmp_path, store, monkeypatch):
    # the cap comes from the server's settings in job.json; the executor's own environment cannot raise it
    monkeypatch.setenv("SHIPYARD_MAX_EXTRACT_BYTES", str(1 << 40))
    job_dir = _job(tmp_path, store, {"train.py": b"print('trained')\n", "weights.bin": bytes(4 << 20)})
    job = json.loads((job_dir / "job.json").read_text())
    (job_dir / "job.json").write_text(json.dumps(dict(job, archive_caps={"max_bytes": 1 << 20})))
    status = _run(job_dir)
    assert status["outcome"] == "Failed", _log(job_dir)
    assert "expands to more than 1.0 MiB" in status["failure_reason"]
    assert "SHIPYARD_MAX_EXTRACT_BYTES" in status["failure_reason"]


@pytest.mark.parametrize("template", [
    "run.sh; touch {marker}; echo .sh",  # what reached `/bin/sh -c` before
    "train.py; touch {marker}",
    "$(touch {marker}).sh",
    "`touch {marker}`.py",
])
def test_a_program_name_with_shell_syntax_runs_nothing(tmp_path, store, template):
    marker = Path(f"/tmp/pwned-{uuid.uuid4().hex}")
    files = {"run.sh": b"#!/bin/sh\necho ran-the-script\n", "train.py": b"print('trained')\n"}
    job_dir = _job(tmp_path, store, files, program=template.format(marker=marker), modes={"run.sh": 0o755})
    try:
        status = _run(job_dir)
        assert not marker.exists(), "the program name was run by a shell"
        assert status["outcome"] == "Failed", _log(job_dir)
        assert status["failure_reason"].startswith("ClientError: The entry point"), status["failure_reason"]
        assert "was not found in the code folder" in status["failure_reason"]
    finally:
        marker.unlink(missing_ok=True)


def test_a_program_outside_the_code_folder_is_refused(tmp_path, store):
    (tmp_path / "box" / "elsewhere.py").parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "box" / "elsewhere.py").write_text("print('outside code ran')\n")
    job_dir = _job(tmp_path, store, {"train.py": b"print('trained')\n"}, program="../../elsewhere.py")
    status = _run(job_dir)
    assert status["outcome"] == "Failed", _log(job_dir)
    assert "leaves its folder" in status["failure_reason"]
    assert "outside code ran" not in _log(job_dir)


def test_a_shell_entry_point_still_runs_with_its_arguments_as_values(tmp_path, store):
    script = b'#!/bin/sh\necho "args:$#:$1:$2"\nmkdir -p "$SM_MODEL_DIR" && echo ok > "$SM_MODEL_DIR/m.txt"\n'
    hps = {"sagemaker_program": '"run.sh"', "sagemaker_submit_directory": '"s3://bkt/code/sourcedir.tar.gz"',
           "note": json.dumps("a b; echo injected")}
    job_dir = _job(tmp_path, store, {"run.sh": script}, program="run.sh", HyperParameters=hps)  # mode 0644:
    # the toolkit makes a shell entry point executable, so does Shipyard
    status = _run(job_dir)
    assert status["outcome"] == "Completed", _log(job_dir)
    log = _log(job_dir)
    assert "args:2:--note:a b; echo injected" in log and "\ninjected" not in log


def _channel(name: str, uri: str, data_type: str = "S3Prefix") -> dict:
    return {"ChannelName": name, "DataSource": {"S3DataSource": {"S3DataType": data_type, "S3Uri": uri}}}


@pytest.mark.parametrize("channel", ["..", ".", "../config"])
def test_a_channel_that_names_no_folder_of_its_own_fails_the_job_without_writing(tmp_path, store, channel):
    # CreateTrainingJob refuses these names; the executor refuses them too (a job folder written by hand).
    store.put_object("bkt", "data/config/hyperparameters.json", b'{"evil": "overwritten"}')  # input/data/..
    job_dir = _job(tmp_path, store, {"train.py": b"print('trained')\n"},
                   InputDataConfig=[_channel(channel, "s3://bkt/data/")])
    status = _run(job_dir)
    assert status["outcome"] == "Failed", _log(job_dir)
    assert status["failure_reason"].startswith("ClientError:") and "channel name" in status["failure_reason"]
    assert "overwritten" not in (job_dir / "input" / "config" / "hyperparameters.json").read_text()
    assert not list((job_dir / "input").rglob("*.json.part"))


def test_a_manifest_entry_that_climbs_out_of_its_channel_is_refused(tmp_path, store):
    store.put_object("bkt", "data/a.csv", b"1\n")
    store.put_object("bkt", "manifest", json.dumps([{"prefix": "s3://bkt/data/"}, "a.csv",
                                                    "../../../escaped.csv"]).encode())
    job_dir = _job(tmp_path, store, {"train.py": b"print('trained')\n"},
                   InputDataConfig=[_channel("train", "s3://bkt/manifest", "ManifestFile")])
    status = _run(job_dir)
    assert status["outcome"] == "Failed", _log(job_dir)
    assert "channel S3 key" in status["failure_reason"] and "leaves its folder" in status["failure_reason"]
    assert not list(tmp_path.rglob("escaped.csv"))


def test_a_checkpoint_local_path_outside_opt_ml_never_reaches_the_host(tmp_path, store):
    store.put_object("bkt", "ckpt/state.txt", b"state")
    outside = tmp_path / "host-folder"
    job_dir = _job(tmp_path, store, {"train.py": b"print('trained')\n"},
                   CheckpointConfig={"S3Uri": "s3://bkt/ckpt", "LocalPath": str(outside)})
    status = _run(job_dir)
    assert status["outcome"] == "Failed", _log(job_dir)
    assert "CheckpointConfig.LocalPath" in status["failure_reason"] and "/opt/ml" in status["failure_reason"]
    assert not outside.exists()
