"""Training jobs across server crashes: work keeps running while the server is down, and is followed again.

Two cases the design must get right: the server is killed with SIGKILL mid-training and restarted (the job
completes, keeps its artifacts and the log lines written meanwhile); the executor itself is killed while the
server is down (the restarted server fails the job with a reason instead of waiting forever).
"""

from __future__ import annotations

import json
import os
import signal
import time

from training_helpers import log_messages, script_job, unique, untar, wait_status

BUCKET = "restart-tests"

SLOW = """
    import os, time
    print("before the crash", flush=True)
    time.sleep(float(os.environ.get("NAP", "3")))
    print("while the server was down", flush=True)
    open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write("survived")
"""


def _executor_pid(server, name: str, timeout: float = 20.0) -> int:
    status_file = server.home / "runs" / "training" / name / "status.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data = json.loads(status_file.read_text())
        except (OSError, ValueError):
            data = {}
        if data.get("secondary") == "Training" and data.get("executor_pid"):
            return int(data["executor_pid"])
        time.sleep(0.05)
    raise AssertionError(f"{name} did not reach Training")


def test_server_killed_mid_training_then_restarted_job_completes(server_factory):
    server = server_factory()
    sm, s3 = server.client("sagemaker"), server.client("s3")
    name = unique("crash")
    params = script_job(s3, BUCKET, name, SLOW)
    params["Environment"] = {"NAP": "3"}
    sm.create_training_job(**params)
    _executor_pid(server, name)
    server.kill9()
    time.sleep(3.5)  # the job finishes while nobody is watching
    server.start()
    sm, s3, logs = server.client("sagemaker"), server.client("s3"), server.client("logs")
    desc = wait_status(sm, name, timeout=60)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    body = s3.get_object(Bucket=BUCKET, Key=f"output/{name}/output/model.tar.gz")["Body"].read()
    assert untar(body) == {"model.txt": b"survived"}
    messages = log_messages(logs, name)
    assert messages.count("before the crash") == 1 and messages.count("while the server was down") == 1


def test_server_killed_then_restarted_follows_a_running_job(server_factory):
    server = server_factory()
    sm, s3 = server.client("sagemaker"), server.client("s3")
    name = unique("resume")
    params = script_job(s3, BUCKET, name, SLOW)
    params["Environment"] = {"NAP": "6"}
    sm.create_training_job(**params)
    pid = _executor_pid(server, name)
    server.kill9()
    server.start()
    sm = server.client("sagemaker")
    desc = sm.describe_training_job(TrainingJobName=name)
    assert desc["TrainingJobStatus"] == "InProgress" and os.path.exists(f"/proc/{pid}")
    assert wait_status(sm, name, timeout=60)["TrainingJobStatus"] == "Completed"


def test_executor_killed_while_server_down_fails_with_reason(server_factory):
    server = server_factory()
    sm, s3 = server.client("sagemaker"), server.client("s3")
    name = unique("lost")
    params = script_job(s3, BUCKET, name, SLOW)
    params["Environment"] = {"NAP": "60"}
    sm.create_training_job(**params)
    pid = _executor_pid(server, name)
    server.kill9()
    os.kill(pid, signal.SIGKILL)
    server.start()
    sm = server.client("sagemaker")
    desc = wait_status(sm, name, timeout=30)
    assert desc["TrainingJobStatus"] == "Failed" and desc["SecondaryStatus"] == "Failed"
    assert "lost" in desc["FailureReason"] and "signal 9" in desc["FailureReason"]
    assert desc["SecondaryStatusTransitions"][-1]["Status"] == "Failed"
