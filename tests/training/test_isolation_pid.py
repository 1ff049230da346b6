"""A wrapped program lives in a PID namespace of its own (issue 13): it cannot read another process's
``/proc/<pid>/environ`` (the server's secrets) nor see other processes at all, and the runner's contract still
holds through the wrapper: one SIGTERM reaches the program, its exit code or signal comes back unchanged, and a
SIGKILL to the wrapper's process group ends everything the program started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from shipyard.training import isolation

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not isolation.hides_processes(),
                                 reason="no PID namespace with a fresh /proc on this host")]

SECRET = "SHIPYARD_SECRET_ACCESS_KEY"


def _layout(tmp_path: Path) -> tuple[Path, Path]:
    home = tmp_path / "home"
    job = home / "runs" / "training" / "j1"
    job.mkdir(parents=True)
    return home, job


def _start(tmp_path: Path, code: str, **popen) -> tuple[subprocess.Popen, Path]:
    home, job = _layout(tmp_path)
    script = job / "program.py"
    script.write_text(textwrap.dedent(code))
    cmd = isolation.wrap([sys.executable, str(script)], home, job, job, None)
    assert cmd is not None
    proc = subprocess.Popen(cmd, cwd=job, process_group=0, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **popen)
    return proc, job


def _wait_for(path: Path, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def test_program_cannot_see_other_processes(tmp_path):
    marker = uuid.uuid4().hex
    env = dict(os.environ, **{SECRET: marker})  # what the server's /proc/<pid>/environ would show
    code = f"""
        import os
        outside = {os.getpid()}
        try:
            open(f"/proc/{{outside}}/environ", "rb").read()
            print("environ", "read")
        except OSError as e:
            print("environ", type(e).__name__)
        print("pids", sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
        print("me", os.getpid(), os.getppid())
    """
    proc, _ = _start(tmp_path, code, env={k: v for k, v in env.items() if k != SECRET})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    lines = dict(line.split(" ", 1) for line in out.splitlines())
    assert lines["environ"] == "FileNotFoundError"
    assert lines["pids"] == "[1, 2]"  # its init and itself: no server, executor or other job
    assert lines["me"] == "2 1"
    assert marker not in out


def test_exit_codes_and_signals_come_back(tmp_path):
    proc, _ = _start(tmp_path / "a", "import sys; sys.exit(7)")
    proc.communicate(timeout=60)
    assert proc.returncode == 7
    proc, _ = _start(tmp_path / "b", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGSEGV


def test_one_sigterm_reaches_the_program(tmp_path):
    code = """
        import os, signal, sys, time
        def on_term(*_):
            with open("terms", "a") as f:
                f.write("TERM\\n")
            time.sleep(0.5)  # a second SIGTERM, if one came, would land now
            sys.exit(3)
        signal.signal(signal.SIGTERM, on_term)
        open("ready", "w").write("yes")
        time.sleep(60)
    """
    proc, job = _start(tmp_path, code)
    _wait_for(job / "ready")
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == 3
    assert (job / "terms").read_text() == "TERM\n"


def test_unhandled_sigterm_ends_the_program_as_killed(tmp_path):
    """No handler: the program (not PID 1) dies of SIGTERM, and the wrapper reports that signal."""
    proc, job = _start(tmp_path, "import time; open('ready', 'w').write('yes'); time.sleep(60)")
    _wait_for(job / "ready")
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGTERM
    assert time.monotonic() - t0 < 10


def test_group_sigkill_leaves_nothing_behind(tmp_path):
    token = uuid.uuid4().hex
    code = f"""
        import subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "{token}"], start_new_session=True)
        open("ready", "w").write("yes")
        time.sleep(120)
    """
    proc, job = _start(tmp_path, code)
    _wait_for(job / "ready")
    assert _with_token(token), "the grandchild should be running"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    deadline = time.monotonic() + 10
    while _with_token(token) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _with_token(token), "a process of the job outlived its SIGKILL"


def _with_token(token: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if token.encode() in cmdline and b"-c" in cmdline:
            try:
                state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if state not in ("Z", "X"):
                found.append(int(entry))
    return found
