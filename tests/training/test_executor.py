"""The executor as a process on its own: a job folder in, staged data, a program run, results in the store."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import textwrap
import time
from pathlib import Path

import pytest

from shipyard.objectstore import open_objectstore

TIMEOUT = 60


def sourcedir(script: str, extra: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in {"train.py": textwrap.dedent(script), **(extra or {})}.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def store(tmp_path):
    s = open_objectstore((tmp_path / "objects").as_uri())
    s.create_bucket("bkt")
    return s


def job_dir_for(tmp_path, store, script: str, channels=None, hps=None, max_runtime=60, **job_extra):
    store.put_object("bkt", "code/sourcedir.tar.gz", sourcedir(script))
    req = {
        "TrainingJobName": "exec-job",
        "HyperParameters": {"sagemaker_program": '"train.py"',
                            "sagemaker_submit_directory": '"s3://bkt/code/sourcedir.tar.gz"', **(hps or {})},
        "AlgorithmSpecification": {"TrainingImage": "sagemaker-scikit-learn", "TrainingInputMode": "File"},
        "InputDataConfig": channels or [],
        "OutputDataConfig": {"S3OutputPath": "s3://bkt/out/"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime},
    }
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    job = {"request": req, "arn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/exec-job",
           "program": {"kind": "script", "framework": "sklearn"},
           "object_store_url": (tmp_path / "objects").as_uri(), "stop_grace": 5, **job_extra}
    (job_dir / "job.json").write_text(json.dumps(job))
    return job_dir


def start(job_dir: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "shipyard.training.executor", str(job_dir)], env=env,
                            stdout=open(job_dir / "output.log", "ab"), stderr=subprocess.STDOUT)


def run(job_dir: Path) -> dict:
    proc = start(job_dir)
    try:
        proc.wait(TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return json.loads((job_dir / "status.json").read_text())


def untar(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def s3_channel(name, uri, **kw):
    source = {"S3DataType": kw.pop("data_type", "S3Prefix"), "S3Uri": uri,
              "S3DataDistributionType": kw.pop("distribution", "FullyReplicated")}
    return {"ChannelName": name, "DataSource": {"S3DataSource": source}, **kw}


def test_file_mode_script_job_uploads_model_and_output(tmp_path, store):
    store.put_object("bkt", "data/train/a.csv", b"1,2\n")
    store.put_object("bkt", "data/train/sub/b.csv", b"3,4\n")
    store.put_object("bkt", "data/other.csv", b"not mine\n")
    script = """
        import json, os, sys
        ch = os.environ["SM_CHANNEL_TRAIN"]
        files = sorted(os.path.relpath(os.path.join(d, f), ch) for d, _, fs in os.walk(ch) for f in fs)
        print("args", sys.argv[1:])
        print("cwd", os.getcwd())
        with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.json"), "w") as f:
            json.dump({"files": files, "hps": json.loads(os.environ["SM_HPS"]),
                       "job": os.environ["TRAINING_JOB_NAME"], "custom": os.environ["MY_VAR"]}, f)
        with open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "extra.txt"), "w") as f:
            f.write("side output")
    """
    job_dir = job_dir_for(tmp_path, store, script, channels=[s3_channel("train", "s3://bkt/data/train")],
                          hps={"epochs": "3", "name": '"abc"'})
    req = json.loads((job_dir / "job.json").read_text())
    req["request"]["Environment"] = {"MY_VAR": "from-request"}
    (job_dir / "job.json").write_text(json.dumps(req))
    status = run(job_dir)
    assert status["outcome"] == "Completed", (job_dir / "output.log").read_text()
    assert [t["Status"] for t in status["transitions"]] == ["Starting", "Downloading", "Training", "Uploading",
                                                           "Completed"]
    assert status["model_artifacts"] == "s3://bkt/out/exec-job/output/model.tar.gz"
    model = json.loads(untar(store.get_bytes("bkt", "out/exec-job/output/model.tar.gz"))["model.json"])
    assert model == {"files": ["a.csv", "sub/b.csv"], "hps": {"epochs": 3, "name": "abc"}, "job": "exec-job",
                     "custom": "from-request"}
    assert untar(store.get_bytes("bkt", "out/exec-job/output/output.tar.gz")) == {"extra.txt": b"side output"}
    log = (job_dir / "output.log").read_text()
    assert "args ['--epochs', '3', '--name', 'abc']" in log
    assert f"cwd {job_dir / 'code'}" in log
    assert (job_dir / "output" / "success").exists()


def test_manifest_and_sharding(tmp_path, store):
    for i in range(4):
        store.put_object("bkt", f"shards/part-{i}.csv", f"{i}\n".encode())
    store.put_object("bkt", "manifests/m.json",
                     json.dumps([{"prefix": "s3://bkt/shards/"}, "part-0.csv", "part-3.csv"]).encode())
    script = """
        import os
        for ch in ("sharded", "manifest"):
            print(ch, sorted(os.listdir(os.environ["SM_CHANNEL_" + ch.upper()])))
    """
    channels = [s3_channel("sharded", "s3://bkt/shards/", distribution="ShardedByS3Key"),
                s3_channel("manifest", "s3://bkt/manifests/m.json", data_type="ManifestFile")]
    job_dir = job_dir_for(tmp_path, store, script, channels=channels, host_index=1, host_count=2)
    status = run(job_dir)
    log = (job_dir / "output.log").read_text()
    assert status["outcome"] == "Completed", log
    assert "sharded ['part-1.csv', 'part-3.csv']" in log
    assert "manifest ['part-0.csv', 'part-3.csv']" in log


def test_pipe_mode_streams_recordio_epochs(tmp_path, store):
    store.put_object("bkt", "pipe/x1", b"alpha")
    store.put_object("bkt", "pipe/x2", b"bravo!")
    script = """
        import os, sys
        sys.path.insert(0, os.environ["SHIPYARD_SRC"])
        from shipyard.io.recordio import read_records
        base = os.environ["SM_CHANNEL_TRAIN"]
        for epoch in range(2):
            with open(f"{base}_{epoch}", "rb") as f:
                print("epoch", epoch, [r.decode() for r in read_records(f)], flush=True)
    """
    channels = [s3_channel("train", "s3://bkt/pipe/", InputMode="Pipe", RecordWrapperType="RecordIO")]
    job_dir = job_dir_for(tmp_path, store, script, channels=channels)
    req = json.loads((job_dir / "job.json").read_text())
    import shipyard

    req["request"]["Environment"] = {"SHIPYARD_SRC": str(Path(shipyard.__file__).parent.parent)}
    (job_dir / "job.json").write_text(json.dumps(req))
    status = run(job_dir)
    log = (job_dir / "output.log").read_text()
    assert status["outcome"] == "Completed", log
    assert "epoch 0 ['alpha', 'bravo!']" in log and "epoch 1 ['alpha', 'bravo!']" in log


def test_failure_file_becomes_the_reason(tmp_path, store):
    script = """
        import os, sys
        with open(os.path.join(os.environ["SM_OUTPUT_DIR"], "failure"), "w") as f:
            f.write("ClientError: the label column is missing" + "x" * 2000)
        sys.exit(2)
    """
    status = run(job_dir_for(tmp_path, store, script))
    assert status["outcome"] == "Failed"
    assert status["failure_reason"].startswith("ClientError: the label column is missing")
    assert len(status["failure_reason"]) == 1024
    assert status["transitions"][-1]["Status"] == "Failed"
    assert not list(store.iter_keys("bkt", "out/"))  # nothing uploaded for a failed job


def test_traceback_becomes_the_reason(tmp_path, store):
    script = """
        def load():
            raise ValueError("column 7 is not numeric")
        load()
    """
    status = run(job_dir_for(tmp_path, store, script))
    reason = status["failure_reason"]
    assert status["outcome"] == "Failed"
    assert reason.startswith("AlgorithmError: ExecuteUserScriptError")
    assert "ValueError: column 7 is not numeric" in reason and "exit code: 1" in reason


def test_missing_channel_data_is_a_client_error(tmp_path, store):
    job_dir = job_dir_for(tmp_path, store, "print('never')", channels=[s3_channel("train", "s3://bkt/nothing/")])
    status = run(job_dir)
    assert status["outcome"] == "Failed"
    assert status["failure_reason"].startswith("ClientError: No S3 objects found under S3 URL")
    assert "never" not in (job_dir / "output.log").read_text()


def _wait_for(path: Path, text: str, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in {path}")


def test_sigterm_stops_the_program_and_still_uploads_the_model(tmp_path, store):
    script = """
        import os, signal, sys, time
        def bye(*_):
            open(os.path.join(os.environ["SM_MODEL_DIR"], "partial.txt"), "w").write("saved on SIGTERM")
            sys.exit(0)
        signal.signal(signal.SIGTERM, bye)
        print("training", flush=True)
        time.sleep(60)
    """
    job_dir = job_dir_for(tmp_path, store, script)
    proc = start(job_dir)
    try:
        _wait_for(job_dir / "output.log", "training")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    status = json.loads((job_dir / "status.json").read_text())
    assert status["outcome"] == "Stopped" and status["secondary"] == "Stopped"
    files = untar(store.get_bytes("bkt", "out/exec-job/output/model.tar.gz"))
    assert files == {"partial.txt": b"saved on SIGTERM"}


def test_max_runtime_ends_the_job_as_stopped(tmp_path, store):
    script = """
        import os, time
        open(os.path.join(os.environ["SM_MODEL_DIR"], "m.txt"), "w").write("early model")
        print("sleeping", flush=True)
        time.sleep(60)
    """
    t0 = time.monotonic()
    status = run(job_dir_for(tmp_path, store, script, max_runtime=1))
    assert time.monotonic() - t0 < 20
    assert status["outcome"] == "Stopped" and status["secondary"] == "MaxRuntimeExceeded"
    assert status["stop_reason"] == "MaxRuntimeExceeded"
    assert untar(store.get_bytes("bkt", "out/exec-job/output/model.tar.gz")) == {"m.txt": b"early model"}


def test_checkpoints_are_restored_and_mirrored(tmp_path, store):
    store.put_object("bkt", "ckpt/step-1.txt", b"one")
    script = """
        import os
        d = os.environ["SM_CHECKPOINT_DIR"]
        print("restored", sorted(os.listdir(d)), open(os.path.join(d, "step-1.txt")).read())
        os.remove(os.path.join(d, "step-1.txt"))
        open(os.path.join(d, "step-2.txt"), "w").write("two")
    """
    job_dir = job_dir_for(tmp_path, store, script)
    req = json.loads((job_dir / "job.json").read_text())
    req["request"]["CheckpointConfig"] = {"S3Uri": "s3://bkt/ckpt"}
    (job_dir / "job.json").write_text(json.dumps(req))
    status = run(job_dir)
    assert status["outcome"] == "Completed", (job_dir / "output.log").read_text()
    assert "restored ['step-1.txt'] one" in (job_dir / "output.log").read_text()
    assert [o.key for o in store.iter_keys("bkt", "ckpt/")] == ["ckpt/step-2.txt"]
    assert store.get_bytes("bkt", "ckpt/step-2.txt") == b"two"


def test_stop_through_the_runner_delivers_one_sigterm(tmp_path, store):
    """Runner -> launcher -> executor -> program: the program sees exactly one SIGTERM, then the model is kept."""
    from shipyard.runners.base import JobSpec
    from shipyard.runners.local import LocalRunner
    from shipyard.testing.runner import wait_exit

    script = """
        import os, signal, sys, time
        count = 0
        def term(*_):
            global count
            count += 1
        signal.signal(signal.SIGTERM, term)
        print("training", flush=True)
        deadline = time.time() + 30
        while count == 0 and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # any duplicate would arrive now
        open(os.path.join(os.environ["SM_MODEL_DIR"], "count.txt"), "w").write(str(count))
    """
    job_dir = job_dir_for(tmp_path, store, script)
    runner = LocalRunner(str(tmp_path / "state"))
    handle = runner.start(JobSpec(name="t", command=[sys.executable, "-m", "shipyard.training.executor",
                                                     "{workdir}"], env={}, workdir=str(job_dir),
                                  log_path=str(job_dir / "output.log")))
    _wait_for(job_dir / "output.log", "training")
    handle.stop(grace=30)
    assert wait_exit(handle) == 0
    status = json.loads((job_dir / "status.json").read_text())
    assert status["outcome"] == "Stopped"
    assert untar(store.get_bytes("bkt", "out/exec-job/output/model.tar.gz")) == {"count.txt": b"1"}


def test_killed_executor_takes_its_program_with_it(tmp_path, store):
    script = """
        import os, time
        print("pid", os.getpid(), flush=True)
        time.sleep(60)
    """
    job_dir = job_dir_for(tmp_path, store, script)
    proc = start(job_dir)
    try:
        _wait_for(job_dir / "output.log", "pid ")
        pid = int((job_dir / "output.log").read_text().split("pid ", 1)[1].split()[0])
        proc.kill()
        proc.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.05)
        assert not Path(f"/proc/{pid}").exists(), "the training program outlived its executor"
    finally:
        if proc.poll() is None:
            proc.kill()


def _wheel(name: str, version: str, module_text: str) -> bytes:
    """A minimal pure-Python wheel, built by hand so the test needs no network and no build backend."""
    import base64
    import hashlib
    import zipfile

    files = {
        f"{name}/__init__.py": module_text.encode(),
        f"{name}-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{name}-{version}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                             b"Tag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{name}-{version}.dist-info/RECORD,,")
    files[f"{name}-{version}.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for path, data in files.items():
            z.writestr(path, data)
    return buf.getvalue()


def test_requirements_are_installed_into_the_code_folder(tmp_path, store):
    wheel_name = "shipyardminidep-0.1-py3-none-any.whl"
    script = """
        import shipyardminidep
        print("dependency says", shipyardminidep.GREETING, shipyardminidep.__file__)
    """
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for name, data in {"train.py": textwrap.dedent(script).encode(),
                           "requirements.txt": f"./wheels/{wheel_name}\n".encode(),
                           f"wheels/{wheel_name}": _wheel("shipyardminidep", "0.1", "GREETING = 'hello'\n")}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    job_dir = job_dir_for(tmp_path, store, "print('replaced below')")
    store.put_object("bkt", "code/sourcedir.tar.gz", archive.getvalue())
    status = run(job_dir)
    log = (job_dir / "output.log").read_text()
    assert status["outcome"] == "Completed", log
    assert f"dependency says hello {job_dir / 'code' / '.deps'}" in log


def test_broken_requirements_fail_before_training(tmp_path, store):
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for name, data in {"train.py": b"print('never runs')\n",
                           "requirements.txt": b"./wheels/absent-0.1-py3-none-any.whl\n"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    job_dir = job_dir_for(tmp_path, store, "print('replaced below')")
    store.put_object("bkt", "code/sourcedir.tar.gz", archive.getvalue())
    status = run(job_dir)
    assert status["outcome"] == "Failed"
    assert status["failure_reason"].startswith("ClientError: InstallRequirementsError")
    assert "Training" not in [t["Status"] for t in status["transitions"]]
    assert "never runs" not in (job_dir / "output.log").read_text()
