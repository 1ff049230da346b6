"""Making a Docker daemon available on a fresh Debian machine: for CI and the test fixtures, never the server.

:func:`provide_engine` is the one entry point: it installs Debian's ``docker.io`` when no client is installed
(``apt-get update`` once, then ``apt-get install -y docker.io``), starts ``dockerd`` in the background when no
daemon answers, and waits for it with a bounded poll. It returns a :class:`Provided` whose ``stop()`` ends
only a daemon that some ``provide_engine`` started, and only once its last user stopped (a daemon that was
already running is left alone). Why users are counted across processes: the test workers of one session
(pytest-xdist) each ask for the engine; when the first to finish stopped the daemon it had started, another
worker's build or job lost its daemon midway, and two workers starting one each at the same moment made the
second ``dockerd`` fail on the first one's pid file. A file lock in the state folder serialises the check and
the start, and ``engine-users.json`` there names the daemon that was started and the processes using it (a
process that died without stopping no longer counts). ``apt-get`` runs under a file lock too: two installs
at once fail on dpkg's lock. Where no daemon can be had
(not root, no apt, a daemon that will not start) it raises :class:`EngineUnavailable` with the reason, which
the tests turn into a skip.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .engine import Engine, find_engine

DEFAULT_WAIT = 60.0  # seconds for a fresh dockerd to answer (about 1-2 s on a warm machine)


class EngineUnavailable(RuntimeError):
    """No container engine can be made available here; the message says why (and what would fix it)."""


def _state_dir() -> Path:
    return Path.home() / ".cache" / "shipyard"


@contextlib.contextmanager
def _locked(name: str, state_dir: Path) -> Iterator[None]:
    """An exclusive lock shared by every process on this machine (released when the process dies)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / name, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a child that exited but was not reaped yet is a zombie: it no longer counts
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _started(pid: int) -> int:
    """When ``pid`` started (clock ticks since boot), to tell it from a later process given the same pid."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return -1


class _Users:
    """``engine-users.json``: the daemon a ``provide_engine`` started (its pid and start time, or None) and the
    pids using it (one entry per ``provide_engine`` call); read and written under ``engine.lock`` only. The
    start time keeps a stale entry from naming an unrelated process that was given the daemon's old pid."""

    def __init__(self, state_dir: Path):
        self.path = state_dir / "engine-users.json"
        try:
            state = json.loads(self.path.read_text())
        except (OSError, ValueError):
            state = {}
        daemon = state.get("daemon")
        self.daemon: list[int] | None = None
        if isinstance(daemon, list) and len(daemon) == 2 and all(isinstance(v, int) for v in daemon) \
                and _alive(daemon[0]) and _started(daemon[0]) == daemon[1]:
            self.daemon = daemon
        self.users: list[int] = [p for p in state.get("users", []) if isinstance(p, int) and _alive(p)]

    def started(self, pid: int) -> None:
        self.daemon = [pid, _started(pid)]

    def save(self) -> None:
        self.path.write_text(json.dumps({"daemon": self.daemon, "users": self.users}))


def _terminate(pid: int, grace: float) -> None:
    """SIGTERM ``pid``, then SIGKILL after ``grace`` seconds; reaps it when it is this process's child."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        if not _alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


@dataclass
class Provided:
    """The engine that answers, and the daemon a ``provide_engine`` started for it (None if it was running).

    ``state_dir`` is where the users are counted (None: this caller did not count itself, nothing to stop)."""

    engine: Engine
    daemon: subprocess.Popen | None = None
    log_path: Path | None = None
    state_dir: Path | None = None

    def stop(self, grace: float = 20.0) -> None:
        """Leave the engine: the last user of a daemon that ``provide_engine`` started stops it (SIGTERM,
        then SIGKILL after ``grace`` seconds); a daemon that was running before is never stopped."""
        state_dir, self.state_dir, self.daemon = self.state_dir, None, None
        if state_dir is None:
            return
        with _locked("engine.lock", state_dir):
            users = _Users(state_dir)
            if os.getpid() in users.users:
                users.users.remove(os.getpid())
            if not users.users and users.daemon is not None:
                _terminate(users.daemon[0], grace)
                users.daemon = None
            users.save()


def _log(message: str) -> None:
    print(f"[shipyard containers] {message}", flush=True)


_apt_updated = False


def apt_install(*packages: str, timeout: float = 900.0) -> None:
    """``apt-get install -y packages`` (after one ``apt-get update`` per process), as root only, one process
    at a time."""
    what = " ".join(packages)
    if os.geteuid() != 0:
        raise EngineUnavailable(f"{what} is not installed and installing it needs root (apt-get install -y {what})")
    if shutil.which("apt-get") is None:
        raise EngineUnavailable(f"{what} is not installed and this machine has no apt-get to install it")
    with _locked("apt.lock", _state_dir()):
        _apt_install(packages, timeout)


def _apt_install(packages: tuple[str, ...], timeout: float) -> None:
    global _apt_updated
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    steps = [] if _apt_updated else [["apt-get", "update", "-q"]]
    for cmd in [*steps, ["apt-get", "install", "-y", "-q", *packages]]:
        _log(" ".join(cmd))
        try:
            done = subprocess.run(cmd, env=env, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise EngineUnavailable(f"{' '.join(cmd)} did not finish within {timeout:.0f} s") from None
        if done.returncode != 0:
            tail = done.stderr.decode(errors="replace").strip()[-1500:]
            raise EngineUnavailable(f"{' '.join(cmd)} failed ({done.returncode}): {tail}")
        if cmd[1] == "update":
            _apt_updated = True


def ensure_installed(program: str, package: str) -> str:
    """The path of ``program``, installing Debian's ``package`` first when it is missing."""
    path = shutil.which(program)
    if path is None:
        apt_install(package)
        path = shutil.which(program)
    if path is None:
        raise EngineUnavailable(f"{package} was installed but {program} is not on PATH")
    return path


def start_dockerd(engine: Engine, log_dir: Path, wait: float = DEFAULT_WAIT) -> Provided:
    """Start ``dockerd`` in the background (its own session, output to ``log_dir/dockerd.log``) and poll until
    the client gets an answer, for at most ``wait`` seconds."""
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise EngineUnavailable("no Docker daemon answers and dockerd is not installed (apt-get install docker.io)")
    if os.geteuid() != 0:
        raise EngineUnavailable("no Docker daemon answers, and starting dockerd needs root; start it as root "
                                "(dockerd &) or give this user access to a running one")
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / "dockerd.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([dockerd], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    provided = Provided(engine, proc, log_path)
    deadline = time.monotonic() + wait
    delay = 0.05
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EngineUnavailable(f"dockerd exited with {proc.returncode} at start-up; see {log_path}: "
                                    f"{_tail(log_path)}")
        if engine.answers(timeout=5):
            _log(f"started dockerd (pid {proc.pid}); log: {log_path}")
            return provided
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
    _terminate(proc.pid, 20.0)
    raise EngineUnavailable(f"dockerd did not answer within {wait:.0f} s; see {log_path}: {_tail(log_path)}")


def _tail(path: Path, size: int = 800) -> str:
    try:
        return path.read_bytes()[-size:].decode(errors="replace").strip()
    except OSError:
        return ""


def provide_engine(preferred: str = "", log_dir: Path | None = None, install: bool = True,
                   wait: float = DEFAULT_WAIT) -> Provided:
    """An engine that answers: the running one, or one this call installs and/or starts (see the module doc).
    Every call counts as one user until its ``Provided.stop()``."""
    state_dir = log_dir or _state_dir()
    with _locked("engine.lock", state_dir):
        users = _Users(state_dir)
        provided = _provide(preferred, state_dir, install, wait)
        if provided.daemon is not None:
            users.started(provided.daemon.pid)
        users.users.append(os.getpid())
        users.save()
    provided.state_dir = state_dir
    return provided


def _provide(preferred: str, log_dir: Path, install: bool, wait: float) -> Provided:
    engine = find_engine(preferred)
    if engine is not None and engine.answers():
        return Provided(engine)
    if engine is None or (engine.name == "docker" and shutil.which("dockerd") is None):
        if not install:
            raise EngineUnavailable("no container engine is installed (apt-get install -y docker.io)")
        apt_install("docker.io")
        engine = find_engine(preferred)
        if engine is None:
            raise EngineUnavailable("docker.io was installed but no docker client is on PATH")
    if engine.name != "docker":
        raise EngineUnavailable(f"{engine.cli} does not answer (`{engine.name} version` fails)")
    return start_dockerd(engine, log_dir, wait)
