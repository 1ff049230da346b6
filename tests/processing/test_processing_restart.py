"""A processing job across a server crash: the server is killed with SIGKILL while the job runs, the job's
executor keeps running meanwhile, and the restarted server follows it to Completed with its outputs, its exit
message and every log line exactly once (the log offsets are in the store, not in the dead process)."""

from __future__ import annotations

import os
import time

import pytest
from processing_helpers import executor_pid, log_messages, read_output, script_request, unique, wait_status

pytestmark = [pytest.mark.integration]

BUCKET = "processing-restart"

SLOW = """
    import time
    print("before the crash", flush=True)
    time.sleep(4)
    open("/opt/ml/processing/output/result/done.txt", "w").write("survived")
    open("/opt/ml/output/message", "w").write("finished while the server was down")
    print("while the server was down", flush=True)
"""


def test_server_killed_mid_job_then_restarted_loses_nothing(server_factory):
    server = server_factory()
    sm, s3 = server.client("sagemaker"), server.client("s3")
    name = unique("crash")
    sm.create_processing_job(**script_request(s3, BUCKET, name, SLOW, outputs={"result": {}}))
    pid = executor_pid(server.home / "runs" / "processing" / name / "algo-1" / "status.json", "Processing")
    server.kill9()
    time.sleep(1)
    assert os.path.exists(f"/proc/{pid}")  # the job outlives the server
    server.start()
    sm, s3, logs = server.client("sagemaker"), server.client("s3"), server.client("logs")
    desc = wait_status(sm, name, timeout=90)
    assert desc["ProcessingJobStatus"] == "Completed", desc.get("FailureReason")
    assert desc["ExitMessage"] == "finished while the server was down"
    assert read_output(s3, BUCKET, f"{name}/output/result/") == {"done.txt": b"survived"}
    messages = sum(log_messages(logs, name).values(), [])
    assert messages.count("before the crash") == 1 and messages.count("while the server was down") == 1
