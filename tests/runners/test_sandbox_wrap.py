"""The job sandbox through the local runner (issue 14): a command-scope sandbox shows the work's folder at the
real ``/opt/ml``, gives it a private ``/tmp``, hides the home, cuts the network when asked, and limits memory
where cgroups are writable; a program-scope one is handed to the command in ``SHIPYARD_SANDBOX``."""

from __future__ import annotations

import json
import os
import socket
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from shipyard.runners import sandbox
from shipyard.runners.base import JobSpec
from shipyard.runners.local import LocalRunner

pytestmark = pytest.mark.integration  # starts subprocesses
needs_namespaces = pytest.mark.skipif(not sandbox.available(), reason="no mount namespace on this host")


def _run(tmp_path: Path, code: str, sb: sandbox.Sandbox | None, name: str = "w", timeout: float = 30.0,
         home: Path | None = None):
    home = home or tmp_path / "home"
    workdir = home / "runs" / "training" / name
    workdir.mkdir(parents=True, exist_ok=True)
    runner = LocalRunner(str(tmp_path / "state"))
    spec = JobSpec(name=f"test/{name}/{uuid.uuid4().hex[:6]}", command=[sys.executable, "-c", textwrap.dedent(code)],
                   env={}, workdir=str(workdir), log_path=str(workdir / "out.log"), sandbox=sb)
    handle = runner.start(spec)
    deadline = time.monotonic() + timeout
    while handle.poll() is None:
        assert time.monotonic() < deadline, "the work did not end"
        time.sleep(0.05)
    return handle.poll(), (workdir / "out.log").read_text(), workdir


@needs_namespaces
def test_opt_ml_is_the_work_folder_and_tmp_is_private(tmp_path):
    home = tmp_path / "home"
    (home / "runs" / "training" / "other").mkdir(parents=True)
    (home / "credentials.json").write_text("secret")
    marker = f"shipyard-sandbox-test-{uuid.uuid4().hex}"
    host_opt_ml = sorted(os.listdir("/opt/ml")) if os.path.isdir("/opt/ml") else None
    code = f"""
        import json, os
        os.makedirs('/opt/ml/model', exist_ok=True)
        open('/opt/ml/model/x', 'w').write('written by path')
        open('/tmp/{marker}', 'w').write('mine')
        print(json.dumps({{"tmp": os.listdir('/tmp') == ['{marker}'] or sorted(os.listdir('/tmp')),
                          "home": sorted(os.listdir({str(home)!r})) if os.path.isdir({str(home)!r}) else None,
                          "credentials": os.path.exists({str(home / "credentials.json")!r})}}))
    """
    sb = sandbox.Sandbox(opt_ml="{workdir}", hide=[str(home)])
    rc, log, workdir = _run(tmp_path, code, sb, home=home)
    assert rc == 0, log
    report = json.loads(log.strip().splitlines()[-1])
    assert report["credentials"] is False
    assert report["home"] == ["runs"]  # only the path down to its own folder
    assert (workdir / "model" / "x").read_text() == "written by path"
    assert not os.path.exists(f"/tmp/{marker}")  # the host's /tmp never saw it
    assert (sorted(os.listdir("/opt/ml")) if os.path.isdir("/opt/ml") else None) == host_opt_ml


@needs_namespaces
def test_no_network_means_no_connection_to_a_listening_port(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    code = f"""
        import socket
        try:
            socket.create_connection(('127.0.0.1', {port}), timeout=3).close()
            print('connected')
        except OSError as e:
            print('refused', type(e).__name__)
    """
    try:
        rc, log, _ = _run(tmp_path, code, sandbox.Sandbox(opt_ml="{workdir}", network=False), name="net")
        assert rc == 0, log
        assert "refused" in log and "connected" not in log, log
        rc, log, _ = _run(tmp_path, code, sandbox.Sandbox(opt_ml="{workdir}", network=True), name="net2")
        assert rc == 0 and "connected" in log, log  # the same code reaches it with the network on
    finally:
        listener.close()


@pytest.mark.skipif(not sandbox.limits_available(), reason="no writable cgroup for this process here")
def test_memory_hog_is_killed_at_its_limit(tmp_path):
    sb = sandbox.Sandbox(opt_ml="{workdir}", memory_mb=96)
    launch = sandbox.wrap([sys.executable, "-c", "b = bytearray(400 * 1024 * 1024); print('survived')"],
                          sb.placed(str(tmp_path)), tmp_path)
    import subprocess

    out = subprocess.run(launch.command, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "survived" not in out.stdout
    cgroup_dirs = list(launch.cgroup.dirs)
    assert launch.finish() is True  # the kernel's OOM kill, counted in the job's cgroup
    assert not any(d.exists() for d in cgroup_dirs)  # and the cgroup is gone with it


def test_program_scope_sandbox_is_handed_to_the_command(tmp_path):
    code = "import os; print(os.environ.get('SHIPYARD_SANDBOX', 'none'))"
    sb = sandbox.Sandbox(opt_ml="{workdir}", network=False, memory_mb=512, applies_to="program")
    rc, log, workdir = _run(tmp_path, code, sb, name="prog")
    assert rc == 0, log
    given = sandbox.Sandbox.from_json(log.strip().splitlines()[-1])
    assert given.opt_ml == str(workdir) and given.network is False and given.memory_mb == 512


def test_fallback_runs_the_command_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("SHIPYARD_SANDBOX_NAMESPACES", "off")  # as on a host without namespaces
    rc, log, _ = _run(tmp_path, "print('ran')", sandbox.Sandbox(opt_ml="{workdir}"), name="fallback")
    assert rc == 0
    assert "ran" in log and "without a sandbox" in log


@pytest.fixture
def operator_home():
    """A stand-in for the server user's home outside /tmp (the sandbox gives jobs a private /tmp)."""
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="shipyard-operator-", dir="/var/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@needs_namespaces
def test_the_server_users_credential_folders_are_hidden_too(tmp_path, monkeypatch, operator_home):
    user_home = operator_home
    (user_home / ".aws").mkdir(parents=True)
    (user_home / ".aws" / "credentials").write_text("[default]\naws_secret_access_key=operator-secret\n")
    (user_home / ".ssh").mkdir()
    (user_home / ".ssh" / "id_ed25519").write_text("key")
    (user_home / "notes.txt").write_text("not a credential: stays visible")
    monkeypatch.setenv("HOME", str(user_home))
    code = f"""
        import json, os
        h = {str(user_home)!r}
        print(json.dumps({{"aws": os.listdir(h + '/.aws'), "ssh": os.listdir(h + '/.ssh'),
                          "notes": open(h + '/notes.txt').read()}}))
    """
    rc, log, _ = _run(tmp_path, code, sandbox.Sandbox(opt_ml="{workdir}", hide=[str(tmp_path / "home")]))
    assert rc == 0, log
    seen = json.loads(log.strip().splitlines()[-1])
    assert seen == {"aws": [], "ssh": [], "notes": "not a credential: stays visible"}
    assert (user_home / ".aws" / "credentials").read_text().endswith("operator-secret\n")  # the host's untouched
