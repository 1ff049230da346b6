"""A real local multi-node Ray cluster (head + one worker), on loopback, token auth on, small object stores."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

# Token auth must be configured before Ray is imported: Ray reads it once per process.
os.environ["RAY_AUTH_MODE"] = "token"
os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(16))
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
# Keep every Ray process on loopback: without this Ray swaps 127.0.0.1 for the machine's address.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
# A node whose raylet is killed is declared dead after `failure_threshold` failed health checks, one every
# `period_ms`: by default 5 x 3 s, so each lost node (test_node_loss removes five) cost ~15 s of waiting before
# Ray, and so Shipyard, saw it. 3 x 1 s here; a check still waits `timeout_ms` (10 s) for a busy raylet, so a
# node is only declared dead after ~30 s without an answer, never for being slow on a loaded machine.
os.environ.setdefault("RAY_health_check_period_ms", "1000")
os.environ.setdefault("RAY_health_check_failure_threshold", "3")

ray = pytest.importorskip("ray", reason="Ray is in the test extra; install with pip install -e '.[test]'")


@pytest.fixture(scope="session")
def ray_cluster():
    from ray.cluster_utils import Cluster

    node = {"num_cpus": 2, "object_store_memory": 80 * 1024 * 1024, "node_ip_address": "127.0.0.1",
            "include_dashboard": False}
    cluster = Cluster(initialize_head=True, head_node_args=dict(node, resources={"head": 1}))
    worker = cluster.add_node(num_cpus=2, object_store_memory=80 * 1024 * 1024, node_ip_address="127.0.0.1",
                              resources={"worker": 1})
    # Cluster reports the machine's address; everything here listens on loopback only.
    cluster.loopback_address = "127.0.0.1:" + cluster.address.rsplit(":", 1)[1]
    ray.init(address=cluster.loopback_address, namespace="shipyard", log_to_driver=False)
    cluster.wait_for_nodes()
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


@contextlib.contextmanager
def _shipyard_on_ray(cluster, home: Path, instance_types: dict, env: dict[str, str] | None = None):
    """A Shipyard server whose runner is the Ray cluster ``cluster`` (anything with a ``loopback_address``),
    with the given instance types and extra ``env``; stopped (with every process it started) on exit."""
    from shipyard.testing.server import ShipyardProcess

    types = home / "types.json"
    types.write_text(json.dumps(instance_types))
    env = {"SHIPYARD_RUNNER": "ray", "RAY_ADDRESS": cluster.loopback_address,
           "RAY_AUTH_MODE": os.environ["RAY_AUTH_MODE"], "RAY_AUTH_TOKEN": os.environ["RAY_AUTH_TOKEN"],
           "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "SHIPYARD_INSTANCE_TYPES": str(types), **(env or {})}
    proc = ShipyardProcess(home / "server", env=env).start()
    try:
        yield proc
    finally:
        proc.stop(kill_children=True)


@pytest.fixture(scope="session")
def shipyard_on_ray():
    """`with shipyard_on_ray(cluster, home, instance_types) as server:` - see _shipyard_on_ray."""
    return _shipyard_on_ray


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def moto_s3():
    """An external S3 server (moto) on loopback: the object store a cluster's nodes reach by URL."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("moto server did not start")
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
