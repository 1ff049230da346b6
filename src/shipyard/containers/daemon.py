"""Making a Docker daemon available on a fresh Debian machine: for CI and the test fixtures, never the server.

:func:`provide_engine` is the one entry point: it installs Debian's ``docker.io`` when no client is installed
(``apt-get update`` once, then ``apt-get install -y docker.io``), starts ``dockerd`` in the background when no
daemon answers, and waits for it with a bounded poll. It returns a :class:`Provided` whose ``stop()`` ends
only what this call started (a daemon that was already running is left alone). Where no daemon can be had
(not root, no apt, a daemon that will not start) it raises :class:`EngineUnavailable` with the reason, which
the tests turn into a skip.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .engine import Engine, find_engine

DEFAULT_WAIT = 60.0  # seconds for a fresh dockerd to answer (about 1-2 s on a warm machine)


class EngineUnavailable(RuntimeError):
    """No container engine can be made available here; the message says why (and what would fix it)."""


@dataclass
class Provided:
    """The engine that answers, and the daemon process this module started for it (None if it was running)."""

    engine: Engine
    daemon: subprocess.Popen | None = None
    log_path: Path | None = None

    def stop(self, grace: float = 20.0) -> None:
        """Stop the daemon we started (SIGTERM, then SIGKILL after ``grace`` seconds); no-op otherwise."""
        proc, self.daemon = self.daemon, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _log(message: str) -> None:
    print(f"[shipyard containers] {message}", flush=True)


_apt_updated = False


def apt_install(*packages: str, timeout: float = 900.0) -> None:
    """``apt-get install -y packages`` (after one ``apt-get update`` per process), as root only."""
    global _apt_updated
    what = " ".join(packages)
    if os.geteuid() != 0:
        raise EngineUnavailable(f"{what} is not installed and installing it needs root (apt-get install -y {what})")
    if shutil.which("apt-get") is None:
        raise EngineUnavailable(f"{what} is not installed and this machine has no apt-get to install it")
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
    provided.stop()
    raise EngineUnavailable(f"dockerd did not answer within {wait:.0f} s; see {log_path}: {_tail(log_path)}")


def _tail(path: Path, size: int = 800) -> str:
    try:
        return path.read_bytes()[-size:].decode(errors="replace").strip()
    except OSError:
        return ""


def provide_engine(preferred: str = "", log_dir: Path | None = None, install: bool = True,
                   wait: float = DEFAULT_WAIT) -> Provided:
    """An engine that answers: the running one, or one this call installs and/or starts (see the module doc)."""
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
    return start_dockerd(engine, log_dir or Path.home() / ".cache" / "shipyard", wait)
