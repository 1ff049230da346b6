"""The runner interface: a plain job spec in, a handle out.

Nothing above the runner knows where work runs. A spec is a command with its environment, working folder
and resource request; the runner starts it and returns a handle whose ``id`` is a string the caller stores
in the metadata store, so that after a server restart :meth:`Runner.attach` finds the same work again.

Contract (checked by ``shipyard.testing.runner.RunnerConformance``):
- ``start`` returns once the work is launched; output (stdout and stderr, interleaved) goes to
  ``spec.log_path`` line by line as it is produced.
- ``poll`` is cheap and never blocks: ``None`` while running, else the exit code (negative: killed by a
  signal). A process whose exit code is unknown (it vanished while the server was down) reports ``-9``.
- ``stop(grace)`` sends SIGTERM to the whole process group, then SIGKILL after ``grace`` seconds; it
  returns at once (the handle's ``poll`` tells when it has ended).
- ``attach(id)`` returns a handle for work started earlier, by this or a previous server process, or
  ``None`` if nothing is known about it.
- Thread safety: handles and the runner may be used from any thread.
"""

from __future__ import annotations

import abc
import os
import re
from dataclasses import dataclass, field

from .sandbox import Sandbox

# Server settings that are secrets (or may carry one): never inherited by work a runner starts.
_SECRET_SETTING = re.compile(
    r"^SHIPYARD_.*(SECRET|ACCESS_KEY|TOKEN|PASSWORD|CREDENTIAL|DATABASE_URL|OBJECT_STORE_URL|MASTER_KEY)")


def inherited_environment() -> dict[str, str]:
    """The server's environment as work started by a runner inherits it: without the server's secrets
    (``SHIPYARD_SECRET_ACCESS_KEY`` and the like) and without any ``AWS_*`` variable (the host's credentials,
    profile, credentials and config files, endpoint: what the server may use for an external object store).
    What the work needs comes in its spec or its job file: work that calls AWS gets a key of its own there
    (:mod:`shipyard.domain.job_keys`), never the server's."""
    return {k: v for k, v in os.environ.items() if not (k.startswith("AWS_") or _SECRET_SETTING.match(k))}


@dataclass
class JobSpec:
    """What to run, and everything it may read: a runner on another machine sees only this.

    ``command``, ``env`` values and ``files`` texts may say ``{workdir}``: the runner puts the folder the work
    runs in there (the local runner: ``workdir`` itself; the Ray runner: a node-local folder of its own). So a
    spec never names a path of the server's that a node could not see, except ``workdir``/``log_path`` (where
    the server keeps the work's output) and the sources of ``inputs`` (which the runner delivers). ``{host}``
    in ``command`` and ``env`` is the address the work's host is reached at (what :meth:`JobHandle.address`
    answers): a service binds there, so the server can connect to it from another machine.
    """

    name: str                      # unique among running work, e.g. "training-job/my-job"
    command: list[str]
    env: dict[str, str]
    workdir: str                   # the server's folder for the work: output and ``sync_back`` files land here
    log_path: str
    cpus: float = 1.0
    gpus: float = 0.0
    memory_mb: int = 0
    service: bool = False          # long-running (a model server) rather than run-to-completion
    # relative path in the work's folder -> text, written before the command starts (mode 0600: they may
    # hold credentials or a token); a file already there is kept (the local runner's workdir may hold it)
    files: dict[str, str] = field(default_factory=dict)
    # relative path in the work's folder -> a file or folder on the server, delivered before the command
    # starts (local runner: a symlink, or nothing when it is that path already; Ray: through the object store)
    inputs: dict[str, str] = field(default_factory=dict)
    # files (relative paths) the runner copies back into ``workdir`` while the work runs and once it ends
    sync_back: list[str] = field(default_factory=list)
    # one slot of a gang reservation: (reservation name, slot index), see :meth:`Runner.reserve_group`
    group: tuple[str, int] | None = None
    # work with the same non-empty key runs on different hosts where the runner can (a variant's instances:
    # losing one host never takes every instance down)
    spread: str = ""
    # what the work may see and use (its /opt/ml, the home hidden, network, memory/CPU, volume), enforced by
    # the runner where the host allows (see .sandbox); None: a plain process, as before
    sandbox: Sandbox | None = None


class JobHandle(abc.ABC):
    """Follows one piece of work. ``lost_reason`` says why work ended without an exit code of its own (its
    host was lost, the runner forgot it); empty when unknown or not lost."""

    id: str
    lost_reason: str = ""

    @abc.abstractmethod
    def poll(self) -> int | None: ...

    @abc.abstractmethod
    def stop(self, grace: float = 10.0) -> None: ...

    def address(self) -> str:
        """Host name where the work runs (for services: where to connect)."""
        return "127.0.0.1"


class Runner(abc.ABC):
    name: str = "abstract"

    @abc.abstractmethod
    def start(self, spec: JobSpec) -> JobHandle: ...

    @abc.abstractmethod
    def attach(self, handle_id: str) -> JobHandle | None: ...

    def close(self) -> None:
        """Forget handles; never stops running work (it must survive a server restart)."""

    # --- gangs and capacity: multi-instance jobs and admission control (optional; defaults = one machine) ---
    def resources(self) -> dict | None:
        """``{"total": {...}, "free": {...} | None, "largest_host": {...}}``, each ``{"CPU", "GPU", "memory"
        (MiB)}``; ``free`` None means the runner does not track use (the caller accounts); None if unknown."""
        return None

    def reserve_group(self, name: str, bundles: list[dict]) -> list[str] | None:
        """Reserve one slot per bundle (``{"CPU", "GPU", "memory" (MiB)}``), spread over hosts, all or nothing.

        Returns each slot's host address once every slot is placed, None while the runner waits for room.
        Idempotent by ``name``: a restarted server finds its reservation again. Work runs in slot ``i`` with
        ``spec.group = (name, i)``."""
        return ["127.0.0.1"] * len(bundles)

    def release_group(self, name: str) -> None:
        """Give a reservation's slots back (once all its work has ended). Unknown names are ignored."""
