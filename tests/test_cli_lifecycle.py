"""The server's life cycle from the command line, as a new user meets it: `shipyard server`, `env`, `status`,
`stop`, one server per home, and client commands that find the local server without AWS_ENDPOINT_URL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
import yaml

from shipyard.procs import alive, processes_under
from shipyard.testing.server import free_port, kill_processes_under

from test_cli import _one_clean_line, _tiny_xgboost_job, _wait_job, run_cli


def _start_server(home, port, wait=True):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SHIPYARD_"))}
    proc = subprocess.Popen([sys.executable, "-m", "shipyard.cli", "server", "--home", str(home), "--port",
                             str(port)], env=base, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    if not wait:
        return proc
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"server exited during start-up: {proc.stderr.read()}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/shipyard/health", timeout=1) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    pytest.fail("server not healthy within 30 s")


@pytest.fixture
def cli_server(tmp_path):
    home, port = tmp_path / "home", free_port()
    proc = _start_server(home, port)
    try:
        yield home, port, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        kill_processes_under(home)


def test_version():
    r = run_cli("--version")
    assert r.returncode == 0
    from shipyard import __version__

    assert r.stdout.strip() == f"shipyard {__version__}"


def test_lifecycle_env_status_lock_stop(cli_server):
    home, port, proc = cli_server
    info = json.loads((home / "server.json").read_text())
    assert (info["pid"], info["host"], info["port"]) == (proc.pid, "127.0.0.1", port)

    # a second server on the same home refuses to start and names the first one's pid
    r = run_cli("server", "--home", str(home), "--port", str(free_port()), timeout=30)
    assert r.returncode == 1
    line = _one_clean_line(r.stderr)
    assert f"pid {proc.pid}" in line and str(home) in line
    assert proc.poll() is None and json.loads((home / "server.json").read_text())["pid"] == proc.pid

    # env finds the port in server.json (no --port) and writes the SageMaker SDK's config file
    r = run_cli("env", "--home", str(home))
    assert r.returncode == 0, r.stderr
    env = dict(line.removeprefix("export ").split("=", 1) for line in r.stdout.splitlines())
    assert env["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{port}"
    config = yaml.safe_load(open(env["SAGEMAKER_USER_CONFIG_OVERRIDE"]))
    assert config["SchemaVersion"] == "1.0"
    modules = config["SageMaker"]["PythonSDK"]["Modules"]
    assert modules["TelemetryOptOut"] is True and modules["Session"]["DefaultS3Bucket"] == "sagemaker-shipyard"
    r = run_cli("endpoints", "list", "--json", env=env)
    assert r.returncode == 0 and json.loads(r.stdout) == []

    # client commands without AWS_ENDPOINT_URL talk to the home's server with the home's keys
    r = run_cli("jobs", "list", "--json", "--home", str(home))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == []
    # an explicit --home wins over AWS_ENDPOINT_URL (here: nothing listens there); --endpoint-url over both
    r = run_cli("jobs", "list", "--home", str(home), env={"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"})
    assert r.returncode == 0, r.stderr
    r = run_cli("jobs", "list", "--home", str(home), "--endpoint-url", f"http://127.0.0.1:{free_port()}",
                env={"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"})
    assert r.returncode == 2 and "cannot reach the server" in r.stderr
    r = run_cli("models", "list", env={"SHIPYARD_HOME": str(home)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["NAME", "CREATED"]

    r = run_cli("status", "--home", str(home))
    assert r.returncode == 0, r.stderr
    assert f"running, pid {proc.pid}" in r.stdout and f"http://127.0.0.1:{port}" in r.stdout
    r = run_cli("status", "--home", str(home), "--json")
    status = json.loads(r.stdout)
    assert status["running"] and status["pid"] == proc.pid and status["training_jobs"] == {}

    # stop: the server exits cleanly and removes server.json; then nothing answers, and the CLI says so
    r = run_cli("stop", "--home", str(home))
    assert r.returncode == 0, r.stderr
    assert f"pid {proc.pid}" in r.stdout
    assert proc.wait(5) == 0
    assert not (home / "server.json").exists()
    r = run_cli("status", "--home", str(home))
    assert r.returncode == 1 and "not running" in r.stdout
    r = run_cli("jobs", "list", "--home", str(home))
    assert r.returncode == 2
    assert "no Shipyard server is running" in _one_clean_line(r.stderr)

    # a new server may take the home now
    port2 = free_port()
    proc2 = _start_server(home, port2)
    try:
        assert json.loads((home / "server.json").read_text())["port"] == port2
    finally:
        proc2.send_signal(signal.SIGTERM)
        assert proc2.wait(15) == 0


def test_status_and_env_wait_for_a_starting_server(tmp_path):
    """`shipyard server &` then at once `shipyard status` / `shipyard env`, as the README does."""
    home, port = tmp_path / "home", free_port()
    proc = _start_server(home, port, wait=False)
    try:
        deadline = time.monotonic() + 10
        while not (home / "server.lock").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not (home / "server.json").exists()  # still starting
        r = run_cli("status", "--home", str(home))
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"running, pid {proc.pid}" in r.stdout
        r = run_cli("env", "--home", str(home))
        assert f"export AWS_ENDPOINT_URL=http://127.0.0.1:{port}" in r.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0


def test_stale_server_json_is_ignored(tmp_path):
    """A crashed server leaves server.json behind; its dead pid must not be taken for a running server."""
    home = tmp_path / "home"
    home.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (home / "server.json").write_text(json.dumps({"pid": dead.pid, "host": "127.0.0.1", "port": 9,
                                                  "endpoint_url": "http://127.0.0.1:9"}))
    r = run_cli("jobs", "list", "--home", str(home))
    assert r.returncode == 2 and "no Shipyard server is running" in r.stderr
    r = run_cli("env", "--home", str(home))
    assert "export AWS_ENDPOINT_URL=http://127.0.0.1:7070" in r.stdout


def test_status_counts_and_stop_all_ends_jobs(cli_server):
    home, port, proc = cli_server
    r = run_cli("env", "--home", str(home))
    env = dict(line.removeprefix("export ").split("=", 1) for line in r.stdout.splitlines())

    class Server:  # enough of ShipyardProcess for the helpers in test_cli
        def client(self, name):
            import boto3
            from botocore.config import Config

            return boto3.client(name, endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                                aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                                aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                                config=Config(s3={"addressing_style": "path"}))

    _tiny_xgboost_job(Server(), "done-job")
    assert _wait_job(Server().client("sagemaker"), "done-job")["TrainingJobStatus"] == "Completed"
    _tiny_xgboost_job(Server(), "long-job", rounds=1000000)
    sm = Server().client("sagemaker")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = json.loads(run_cli("status", "--home", str(home), "--json").stdout)
        if status["processes"]["training"] >= 1:
            break
        time.sleep(0.5)
    assert status["training_jobs"] == {"Completed": 1, "InProgress": 1}, status
    assert status["processes"]["training"] == 1, status
    r = run_cli("status", "--home", str(home))
    assert "Training jobs    2 (1 Completed, 1 InProgress)" in r.stdout, r.stdout
    assert sm.describe_training_job(TrainingJobName="long-job")["TrainingJobStatus"] == "InProgress"

    # a person's process that merely names the home (tail -f on its log) is not the server's to end
    bystander = subprocess.Popen([sys.executable, "-c", "import sys, time; time.sleep(120)", str(home / "server.log")],
                                 cwd=home)
    try:
        r = run_cli("stop", "--home", str(home), "--all")
        assert r.returncode == 0, r.stderr
        assert proc.wait(5) == 0
        left = [p for p in processes_under(home, environ=False) if alive(p) and p != bystander.pid]
        assert left == [], left
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_port_in_use_is_one_clear_line(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = run_cli("server", "--home", str(tmp_path / "home"), "--port", str(port), timeout=60)
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last == f"shipyard: could not listen on 127.0.0.1:{port} (is the port in use? --port picks another)"
    assert not (tmp_path / "home" / "server.json").exists()
