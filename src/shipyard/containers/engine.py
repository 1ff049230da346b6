"""Finding the container engine: Docker Engine through its ``docker`` CLI, or Podman through the same CLI.

Shipyard drives the engine through its command-line client rather than the socket API, so one code path serves
Docker (the client talks to ``/var/run/docker.sock`` or ``$DOCKER_HOST``) and Podman (daemonless, same verbs).
Finding a client is not enough: :meth:`Engine.answers` asks the daemon, since an installed ``docker`` with no
daemon behind it is the common case on a fresh machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

# Tried in this order when nothing is named: Docker first (the engine CI provisions), then Podman.
CANDIDATES = ("docker", "podman")


@dataclass(frozen=True)
class Engine:
    """A container engine's command-line client (``cli`` is its absolute path, ``name`` docker or podman)."""

    cli: str
    name: str

    def command(self, *args: str) -> list[str]:
        return [self.cli, *args]

    def run(self, *args: str, timeout: float = 120.0, input: bytes | None = None,
            check: bool = True) -> subprocess.CompletedProcess:
        """Run ``<cli> args...`` (never through a shell), capturing output; raise EngineError on failure."""
        try:
            done = subprocess.run(self.command(*args), input=input, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise EngineError(f"{self.name} {args[0] if args else ''} did not finish within {timeout:.0f} s.") \
                from None
        if check and done.returncode != 0:
            detail = (done.stderr or done.stdout).decode(errors="replace").strip()
            raise EngineError(f"{self.name} {' '.join(args[:2])} failed ({done.returncode}): {detail[-2000:]}")
        return done

    def server_version(self, timeout: float = 10.0) -> str | None:
        """The daemon's version, or None when no daemon answers (not running, no permission, timed out)."""
        fmt = "{{.Server.Version}}" if self.name == "docker" else "{{.Version}}"
        try:
            done = self.run("version", "--format", fmt, timeout=timeout, check=False)
        except EngineError:
            return None
        out = done.stdout.decode(errors="replace").strip()
        return out if done.returncode == 0 and out else None

    def answers(self, timeout: float = 10.0) -> bool:
        return self.server_version(timeout) is not None

    def has_image(self, ref: str) -> bool:
        return self.run("image", "inspect", ref, timeout=30, check=False).returncode == 0


class EngineError(RuntimeError):
    """A container engine command failed; the message carries the engine's own words."""


def find_engine(preferred: str = "") -> Engine | None:
    """The engine client to use: ``preferred`` (a name on PATH or a path, e.g. the ``SHIPYARD_CONTAINER_ENGINE``
    setting), else the first of :data:`CANDIDATES` on PATH. None when none is installed.

    The engine's name is read from the client's file name (a ``podman`` installed as ``docker`` by the
    podman-docker package is driven as Docker, which it imitates)."""
    names = (preferred,) if preferred else CANDIDATES
    for name in names:
        path = name if os.sep in name else shutil.which(name)
        if path and os.access(path, os.X_OK):
            kind = "podman" if os.path.basename(path).startswith("podman") else "docker"
            return Engine(cli=os.path.abspath(path), name=kind)
    return None
