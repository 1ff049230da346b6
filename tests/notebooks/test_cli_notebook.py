"""`shipyard notebook`: JupyterLab starts, answers with its token, and a kernel in it reaches the server.

One JupyterLab per module (it takes seconds to start on two cores). The kernel is started through JupyterLab's
own REST API and driven over its websocket, so the test sees exactly what a notebook user's kernel sees: the
environment JupyterLab was started with, nothing from this test process.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from shipyard.testing.server import free_port

pytest.importorskip("jupyterlab", reason="JupyterLab is not installed (pip install 'shipyard[notebook]')")
websocket = pytest.importorskip("websocket", reason="websocket-client (a JupyterLab dependency) is not installed")

pytestmark = pytest.mark.integration

START_TIMEOUT_S = 90.0
EXECUTE_TIMEOUT_S = 90.0


class Lab:
    """A running `shipyard notebook`: its process, URL and token."""

    def __init__(self, proc: subprocess.Popen, base: str, token: str, log: Path):
        self.proc, self.base, self.token, self.log = proc, base, token, log

    def get(self, path: str) -> dict:
        req = urllib.request.Request(f"{self.base}{path}", headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def post(self, path: str, body: dict) -> dict:
        req = urllib.request.Request(f"{self.base}{path}", data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": f"token {self.token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def execute(self, kernel_id: str, code: str) -> tuple[str, dict]:
        """Run ``code`` in the kernel; (its stdout, its execute_reply content)."""
        ws_url = self.base.replace("http://", "ws://") + f"/api/kernels/{kernel_id}/channels"
        ws = websocket.create_connection(ws_url, header=[f"Authorization: token {self.token}"], timeout=10)
        try:
            msg_id = uuid.uuid4().hex
            ws.send(json.dumps({
                "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test",
                           "session": uuid.uuid4().hex, "version": "5.3"},
                "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                            "allow_stdin": False, "stop_on_error": True},
            }))
            out: list[str] = []
            deadline = time.monotonic() + EXECUTE_TIMEOUT_S
            while time.monotonic() < deadline:
                try:
                    msg = json.loads(ws.recv())
                except websocket.WebSocketTimeoutException:
                    continue
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = msg["header"]["msg_type"]
                if kind == "stream":
                    out.append(msg["content"]["text"])
                elif kind == "error":
                    out.append("\n".join(msg["content"]["traceback"]))
                elif kind == "execute_reply":
                    return "".join(out), msg["content"]
            raise AssertionError(f"no execute_reply in {EXECUTE_TIMEOUT_S:.0f} s; output so far: {''.join(out)}")
        finally:
            ws.close()


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the command (it ends its JupyterLab), then its process group if anything is left."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # kernels JupyterLab may have left, all in this one group
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def lab(server, tmp_path_factory):
    notebooks = tmp_path_factory.mktemp("notebooks")
    log = notebooks.parent / "lab.log"
    port = free_port()
    # Nothing of this process's AWS or Shipyard settings: the command alone must point the kernel at the server.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SHIPYARD_"))}
    env["PYTHONUNBUFFERED"] = "1"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "shipyard.cli_notebook", "--home", str(server.home),
                                 "--dir", str(notebooks), "--port", str(port)],
                                env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        match = None
        while time.monotonic() < deadline and match is None:
            assert proc.poll() is None, f"`shipyard notebook` exited with {proc.returncode}:\n{log.read_text()}"
            match = re.search(r"JupyterLab: (http://127\.0\.0\.1:(\d+))/lab\?token=(\w+)", log.read_text())
            time.sleep(0.1)
        assert match, f"no URL printed in {START_TIMEOUT_S:.0f} s:\n{log.read_text()}"
        assert int(match.group(2)) == port
        lab = Lab(proc, match.group(1), match.group(3), log)
        while time.monotonic() < deadline:
            try:
                lab.get("/api/status")
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                assert proc.poll() is None, f"JupyterLab exited with {proc.returncode}:\n{log.read_text()}"
                time.sleep(0.2)
        else:
            raise AssertionError(f"JupyterLab not answering after {START_TIMEOUT_S:.0f} s:\n{log.read_text()}")
        yield lab
    finally:
        _stop(proc)


def test_lab_answers_with_its_token_and_refuses_without(lab):
    assert "version" in lab.get("/api")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{lab.base}/api/contents", timeout=10)
    assert e.value.code == 403


def test_a_kernel_reaches_the_server_with_boto3_and_the_sdk(lab, server):
    sm = server.client("sagemaker")
    seen = sm.list_training_jobs()["TrainingJobSummaries"]
    kernel = lab.post("/api/kernels", {"name": "python3"})
    code = (
        "import os, json, boto3, sagemaker\n"
        "sm = boto3.client('sagemaker')\n"
        "names = [j['TrainingJobName'] for j in sm.list_training_jobs()['TrainingJobSummaries']]\n"
        "s = sagemaker.Session()\n"
        "print(json.dumps({'endpoint': os.environ['AWS_ENDPOINT_URL'], 'jobs': names,\n"
        "                  'bucket': s.default_bucket(), 'region': s.boto_region_name}))\n"
    )
    out, reply = lab.execute(kernel["id"], code)
    assert reply["status"] == "ok", out
    result = json.loads(out.strip().splitlines()[-1])
    assert result["endpoint"] == server.url
    after = sm.list_training_jobs()["TrainingJobSummaries"]  # the shared server may have started one meanwhile
    assert result["jobs"] in ([j["TrainingJobName"] for j in seen], [j["TrainingJobName"] for j in after])
    assert result["bucket"] == "sagemaker-shipyard"  # from the SDK config file, not the real STS
    assert result["region"] == server.region
    # And the call went to this server: a wrong key or URL would have failed above; a bucket the kernel makes
    # is one this test then sees.
    out, reply = lab.execute(kernel["id"], "boto3.client('s3').create_bucket(Bucket='made-in-a-notebook')")
    assert reply["status"] == "ok", out
    assert "made-in-a-notebook" in [b["Name"] for b in server.client("s3").list_buckets()["Buckets"]]


def test_notebook_refuses_a_missing_folder(server, tmp_path):
    r = subprocess.run([sys.executable, "-m", "shipyard.cli_notebook", "--home", str(server.home),
                        "--dir", str(tmp_path / "nope"), "--port", str(free_port())],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "is not a folder" in r.stderr
