"""The shared fixture itself: a real server process that answers, restarts on the same home, and dies."""

from __future__ import annotations

import json
import time
import urllib.request

from shipyard.testing.server import processes_under


def test_health_is_open(server):
    with urllib.request.urlopen(f"{server.url}/shipyard/health", timeout=5) as r:
        assert r.status == 200
        body = json.loads(r.read())
    assert body["status"] == "ok" and set(body) == {"status", "started"}
    assert 0 < time.time() - body["started"] < 3600  # this session's server; `shipyard cleanup` reads it


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


def test_kill_processes_under_home_only(tmp_path):
    import os
    import subprocess
    import sys

    from shipyard.testing.server import kill_processes_under

    home = tmp_path / "home"
    sibling = tmp_path / "home0"
    (home / "runs" / "job").mkdir(parents=True)
    sibling.mkdir()
    sleep = [sys.executable, "-c", "import time; time.sleep(60)"]
    by_env = subprocess.Popen(sleep, env={**os.environ, "SAGEMAKER_BASE_DIR": str(home / "runs" / "job")})
    by_cwd = subprocess.Popen(sleep, cwd=home / "runs" / "job")
    by_arg = subprocess.Popen(sleep + [str(home / "model")])
    other = subprocess.Popen(sleep, env={**os.environ, "SAGEMAKER_BASE_DIR": str(sibling)}, cwd=sibling)
    try:
        killed = kill_processes_under(home)
        assert {by_env.pid, by_cwd.pid, by_arg.pid} <= set(killed)
        assert other.pid not in killed
        for p in (by_env, by_cwd, by_arg):
            assert p.wait(5) is not None
        assert other.poll() is None
    finally:
        for p in (by_env, by_cwd, by_arg, other):
            if p.poll() is None:
                p.kill()
                p.wait(5)


def test_a_broken_operation_module_degrades_but_does_not_stop_the_app(tmp_path, monkeypatch):
    """A family whose module fails to import is reported by /shipyard/health; the others keep working."""
    import asyncio

    from shipyard.api import registry
    from shipyard.config import load_settings
    from shipyard.context import Services
    from shipyard.metastore import open_metastore
    from shipyard.server.app import create_app

    (tmp_path / "shipyard_half_written_ops.py").write_text("raise RuntimeError('half-written module')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "OPERATION_MODULES", registry.OPERATION_MODULES + ["shipyard_half_written_ops"])
    settings = load_settings(tmp_path / "home", port=1)
    meta = open_metastore(settings.database_url)
    try:
        app = create_app(Services(settings=settings, meta=meta, objects=None, runner=None))
        sent = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "GET", "path": "/shipyard/health", "headers": [], "query_string": b""}
        asyncio.run(app(scope, receive, send))
    finally:
        meta.close()
    assert sent[0]["status"] == 200
    doc = json.loads(sent[1]["body"])
    assert doc["status"] == "ok"
    assert doc["degraded"] == {"shipyard_half_written_ops": "RuntimeError: half-written module"}
    assert registry.lookup("sts", "GetCallerIdentity") is not None
