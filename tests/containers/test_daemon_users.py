"""``provide_engine`` counts its users across processes (``shipyard.containers.daemon``): the daemon one of
them started stops when the last of them stops, a user that died no longer counts, and a daemon that was
running before is never stopped. Real processes throughout: a stand-in ``dockerd`` (a shell script that
records its pid and sleeps) and a ``docker`` client script that answers ``version`` while that process lives,
so no Docker daemon of the machine is touched."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shipyard.containers.daemon import provide_engine

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="provide_engine starts dockerd only as root")

DOCKER = """#!/bin/sh
[ "$1" = version ] || exit 1
pid=$(cat "$(dirname "$0")/fake.pid" 2>/dev/null) || exit 1
kill -0 "$pid" 2>/dev/null || exit 1
grep -q ') Z' "/proc/$pid/stat" 2>/dev/null && exit 1
echo 99.0
"""
DOCKERD = """#!/bin/sh
echo $$ > "$(dirname "$0")/fake.pid"
exec sleep 600
"""
JOINER = """import sys
from pathlib import Path
from shipyard.containers.daemon import provide_engine
provided = provide_engine(sys.argv[1], log_dir=Path(sys.argv[2]))
print("joined", provided.daemon is None, flush=True)
sys.stdin.readline()
provided.stop()
print("left", flush=True)
"""


@pytest.fixture
def fake(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("docker", DOCKER), ("dockerd", DOCKERD)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    yield bin_dir, tmp_path / "state"
    pid_file = bin_dir / "fake.pid"
    if pid_file.exists():  # whatever a failed test left running
        try:
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _gone_within(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _alive(pid)


def _joiner(bin_dir: Path, state: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", JOINER, str(bin_dir / "docker"), str(state)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "joined True"  # it found the daemon running: it started none
    return proc


def _two_users(bin_dir: Path, state: Path):
    """This process starts the daemon, another process joins it: (this one's Provided, daemon pid, the other)."""
    first = provide_engine(str(bin_dir / "docker"), log_dir=state)
    assert first.daemon is not None
    return first, first.daemon.pid, _joiner(bin_dir, state)


def test_the_daemon_stops_when_its_last_user_stops(fake):
    first, daemon, other = _two_users(*fake)
    try:
        first.stop()
        assert _alive(daemon), "the first user stopped the daemon while another process still used it"
        other.communicate("\n", timeout=30)
        assert other.returncode == 0
        assert _gone_within(daemon), "the last user left the daemon running"
    finally:
        other.kill()
        other.wait(timeout=10)


def test_a_user_that_died_no_longer_counts(fake):
    first, daemon, other = _two_users(*fake)
    other.kill()  # never calls stop()
    other.wait(timeout=10)
    first.stop()
    assert _gone_within(daemon)


def test_a_daemon_that_was_running_is_left_alone(fake):
    bin_dir, state = fake
    running = subprocess.Popen([str(bin_dir / "dockerd")], start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while not (bin_dir / "fake.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        provided = provide_engine(str(bin_dir / "docker"), log_dir=state)
        assert provided.daemon is None
        provided.stop()
        time.sleep(0.3)
        assert running.poll() is None
    finally:
        running.kill()
        running.wait(timeout=10)


def test_a_stale_entry_never_names_another_process(fake):
    """The recorded daemon is long gone and its pid now belongs to an unrelated process: the start time recorded
    with the pid tells them apart, so the last user's stop leaves that process alone."""
    bin_dir, state = fake
    running = subprocess.Popen([str(bin_dir / "dockerd")], start_new_session=True)  # the daemon that answers
    unrelated = subprocess.Popen(["sleep", "60"])
    try:
        deadline = time.monotonic() + 10
        while not (bin_dir / "fake.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        state.mkdir(parents=True, exist_ok=True)
        (state / "engine-users.json").write_text(json.dumps({"daemon": [unrelated.pid, 1], "users": []}))
        provide_engine(str(bin_dir / "docker"), log_dir=state).stop(grace=1)
        time.sleep(0.3)
        assert unrelated.poll() is None and running.poll() is None
    finally:
        for proc in (running, unrelated):
            proc.kill()
            proc.wait(timeout=10)
