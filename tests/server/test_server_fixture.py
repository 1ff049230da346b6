"""The shared fixture itself: a real server process that answers, restarts on the same home, and dies."""

from __future__ import annotations

import json
import urllib.request

from shipyard.testing.server import processes_under


def test_health_is_open(server):
    with urllib.request.urlopen(f"{server.url}/shipyard/health", timeout=5) as r:
        assert r.status == 200
        assert json.loads(r.read()) == {"status": "ok"}


def test_server_json_and_env(server):
    s = server.settings
    assert s.port == server.port
    assert s.access_key_id == server.env()["AWS_ACCESS_KEY_ID"]
    assert server.env()["AWS_ENDPOINT_URL"] == server.url
    ident = server.client("sts").get_caller_identity()
    assert ident["Account"] == s.account
    assert ident["UserId"] == s.access_key_id
    assert ident["Arn"] == f"arn:aws:iam::{s.account}:user/shipyard"


def test_restart_same_home_keeps_keys_and_port(server_factory):
    proc = server_factory()
    keys = proc.keys()
    pid = proc.pid
    assert pid in processes_under(proc.home)
    proc.stop()
    assert proc.proc.poll() is not None
    proc.start()
    assert proc.pid != pid
    assert proc.keys() == keys
    assert proc.client("sts").get_caller_identity()["UserId"] == keys[0]
    proc.kill9()
    assert proc.proc.returncode == -9
    proc.start()
    assert proc.client("sts").get_caller_identity()["UserId"] == keys[0]


def test_env_overrides_keys(server_factory):
    proc = server_factory(env={"SHIPYARD_ACCESS_KEY_ID": "AKIDTESTTESTTEST0001",
                               "SHIPYARD_SECRET_ACCESS_KEY": "s3cr3t/for+tests"})
    assert proc.client("sts").get_caller_identity()["UserId"] == "AKIDTESTTESTTEST0001"
