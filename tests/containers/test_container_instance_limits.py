"""A bring-your-own model instance with its instance type's limits and ``EnableNetworkIsolation``
(``python -m shipyard.serving.container_instance --limit ... --network-isolation``): the container gets the
memory and CPU limits, sits alone on an internal network of its own with nothing published, still answers
through the front, and its network goes with it."""

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


def _inspect(engine, *args: str) -> list:
    done = subprocess.run(engine.command(*args), capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return json.loads(done.stdout)


def _labelled(engine, kind: str, label: str) -> list[str]:
    args = ("ps", "-aq") if kind == "container" else ("network", "ls", "-q")
    out = subprocess.run(engine.command(*args, "--filter", f"label={label}"), capture_output=True, timeout=30)
    return out.stdout.decode().split()


def test_an_isolated_instance_with_limits_answers_through_its_front(docker_engine, byo_sklearn_image, tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "centroids.json").write_text(json.dumps({"0": [0.0, 0.0], "5": [10.0, 10.0]}))
    token = uuid.uuid4().hex
    ready = tmp_path / "port"
    endpoint = f"isolated-{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "shipyard.serving.container_instance", "--engine", docker_engine.cli,
         "--image", byo_sklearn_image, "--model-dir", str(model), "--port", "0", "--ready-file", str(ready),
         "--token-file", write_token_file(tmp_path / ".token", token), "--limit", "instance_type=ml.m5.large",
         "--limit", "memory_mb=256", "--limit", "cpus=1", "--network-isolation"],
        env={**os.environ, "SAGEMAKER_ENDPOINT_NAME": endpoint}, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (ready.exists() and ready.read_text().strip()):
            assert proc.poll() is None, f"the instance exited with {proc.returncode}"
            assert time.monotonic() < deadline, "the instance never became ready"
            time.sleep(0.05)
        conn = http.client.HTTPConnection("127.0.0.1", int(ready.read_text()), timeout=30)
        conn.request("POST", "/invocations", body=b"1,1\n9,9\n",
                     headers={"Content-Type": "text/csv", TOKEN_HEADER: token})
        resp = conn.getresponse()
        assert (resp.status, resp.read()) == (200, b"0\n5\n")
        conn.close()
        [container] = _labelled(docker_engine, "container", f"shipyard.endpoint={endpoint}")
        [info] = _inspect(docker_engine, "inspect", container)
        host = info["HostConfig"]
        assert host["Memory"] == 256 * 1024 * 1024 and host["MemorySwap"] == 256 * 1024 * 1024
        assert host["NanoCpus"] == 1_000_000_000
        assert not host.get("PortBindings") and not info["NetworkSettings"]["Ports"], "nothing published"
        [network] = list(info["NetworkSettings"]["Networks"])
        [net] = _inspect(docker_engine, "network", "inspect", network)
        assert net["Internal"] is True and list(net["Containers"]) == [info["Id"]], "alone, no route out"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    assert proc.returncode == 0
    assert _labelled(docker_engine, "container", f"shipyard.endpoint={endpoint}") == [], "container removed"
    networks = subprocess.run(docker_engine.command("network", "ls", "--format", "{{.Name}}"), capture_output=True,
                              text=True, timeout=30).stdout.split()
    assert network not in networks, "its network went with it"
