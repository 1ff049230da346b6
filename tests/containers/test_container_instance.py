"""The front of a bring-your-own model instance on its own (``python -m shipyard.serving.container_instance``):
it answers only requests with the instance's token, forwards them to the image's ``serve`` (whose port is
published on loopback only), and SIGTERM takes the container down with it."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from shipyard.serving.deploy import write_token_file
from shipyard.serving.httpserver import TOKEN_HEADER

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def _labelled(engine, label: str) -> list[str]:
    out = subprocess.run(engine.command("ps", "-q", "--filter", f"label={label}"), capture_output=True, timeout=30)
    return out.stdout.decode().split()


def _post(port: int, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_the_front_checks_the_token_forwards_and_stops_the_container(docker_engine, byo_sklearn_image, tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "centroids.json").write_text(json.dumps({"0": [0.0, 0.0], "5": [10.0, 10.0]}))
    token = uuid.uuid4().hex
    ready = tmp_path / "port"
    endpoint = f"front-{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "shipyard.serving.container_instance", "--engine", docker_engine.cli,
         "--image", byo_sklearn_image, "--model-dir", str(model), "--port", "0", "--ready-file", str(ready),
         "--token-file", write_token_file(tmp_path / ".token", token)],
        env={**os.environ, "SAGEMAKER_ENDPOINT_NAME": endpoint}, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (ready.exists() and ready.read_text().strip()):
            assert proc.poll() is None, f"the instance exited with {proc.returncode}"
            assert time.monotonic() < deadline, "the instance never became ready"
            time.sleep(0.05)
        port = int(ready.read_text())
        assert not (tmp_path / ".token").exists()  # read, then removed
        csv = {"Content-Type": "text/csv"}
        assert _post(port, "/invocations", b"1,1\n9,9\n", csv)[0] == 403
        assert _post(port, "/invocations", b"1,1\n", {**csv, TOKEN_HEADER: "wrong"})[0] == 403
        status, body = _post(port, "/invocations", b"1,1\n9,9\n", {**csv, TOKEN_HEADER: token})
        assert (status, body) == (200, b"0\n5\n")
        # the container's own answers come back as they are (here its 415 for a type it does not take)
        status, body = _post(port, "/invocations", b"{}", {"Content-Type": "application/json", TOKEN_HEADER: token})
        assert status == 415 and b"only supports CSV" in body
        containers = _labelled(docker_engine, f"shipyard.endpoint={endpoint}")
        assert len(containers) == 1
        published = subprocess.run(docker_engine.command("port", containers[0], "8080/tcp"), capture_output=True,
                                   text=True, timeout=30).stdout.split()
        assert published and all(p.startswith("127.0.0.1:") for p in published)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    deadline = time.monotonic() + 30
    while _labelled(docker_engine, f"shipyard.endpoint={endpoint}"):
        assert time.monotonic() < deadline, "the container outlived its instance"
        time.sleep(0.2)
