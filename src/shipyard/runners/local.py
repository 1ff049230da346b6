"""The local runner: each piece of work is a subprocess in its own session, findable after a server restart.

Why the pieces look as they do:

- The command runs under :mod:`._launch`, which writes the exit code to a file when the command ends. The
  server that started the work may be gone by then (restarted, crashed); a new one reads the file.
- A handle id is ``local:<pid>:<start-ticks>`` where start-ticks is the process's start time from
  ``/proc/<pid>/stat``: a pid the kernel recycled for something else does not match and is not mistaken for
  our work.
- ``start_new_session=True`` makes the launcher a process-group leader, so ``stop`` signals the whole tree
  (launcher, command, whatever the command started) with one ``killpg``. The server's own SIGTERM/SIGINT do
  not reach the group: work survives a server restart.
- Escalation to SIGKILL after ``grace`` runs on a timer thread; the deadline is also written to the state
  file, so a server restarted in between still escalates on the next ``poll``.

State lives in ``<state_dir>/local/``: ``<pid>-<ticks>.json`` (the record) and ``<pid>-<ticks>.exit``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from ..domain.paths import safe_join
from . import sandbox
from .base import JobHandle, JobSpec, Runner, inherited_environment

LOST_EXIT_CODE = -9  # the contract's code for "ended, exit code unknown"


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) of a live process, or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = text.rsplit(")", 1)[1].split()
    try:
        return fields[0], int(fields[19])
    except (IndexError, ValueError):
        return None


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}-{threading.get_ident()}")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def _substitute(value: str, workdir: str) -> str:
    """``{workdir}`` and ``{host}`` in a command or env value: portable specs (the Ray runner chooses its own
    folder and node). Work here is reached on loopback, as :meth:`JobHandle.address` says."""
    return value.replace("{workdir}", workdir).replace("{host}", "127.0.0.1")


def _deliver(source: Path, dest: Path) -> None:
    """An input on this machine: nothing to do when the spec names it where it already is (a model server's
    folder is its variant's), else a symlink; what the work writes through it lands in the source."""
    if not source.exists():
        raise FileNotFoundError(f"job input {source} does not exist")
    if dest.resolve() == source.resolve():
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_symlink() or dest.is_file():
        dest.unlink()
    elif dest.exists():
        raise FileExistsError(f"job input {dest} is in the way (a folder of the work's)")
    dest.symlink_to(source.resolve())


def _sandboxed(spec: JobSpec, program: list[str], env: dict[str, str], workdir: str) -> sandbox.Launch:
    """The work's command inside its sandbox. A ``"program"`` sandbox is the command's to apply (an executor
    wraps the user's program it starts): it gets the sandbox in ``SHIPYARD_SANDBOX``, placed at ``workdir``."""
    if spec.sandbox is None:
        return sandbox.Launch(program)
    sandbox.announce()  # once per process, in the server's log: what the sandbox cannot do on this host
    placed = spec.sandbox.placed(workdir)
    if placed.applies_to == "program":
        env[sandbox.ENV_VAR] = placed.to_json()
        return sandbox.Launch(program)
    return sandbox.wrap(program, placed, workdir)


class LocalHandle(JobHandle):
    def __init__(self, runner: "LocalRunner", pid: int, ticks: int, record: dict,
                 popen: subprocess.Popen | None = None):
        self.runner = runner
        self.pid = pid
        self.ticks = ticks
        self.id = f"local:{pid}:{ticks}"
        self.record = record
        self._popen = popen
        self._lock = threading.Lock()
        self._code: int | None = None
        self._timer: threading.Timer | None = None

    # --- state ---
    @property
    def exit_file(self) -> Path:
        return Path(self.record["exit_file"])

    def _read_exit(self) -> int | None:
        try:
            text = self.exit_file.read_text().strip()
        except OSError:
            return None
        try:
            return int(text)
        except ValueError:
            return None

    def _alive(self) -> bool:
        st = _proc_stat(self.pid)
        return st is not None and st[1] == self.ticks and st[0] not in ("Z", "X")

    def poll(self) -> int | None:
        with self._lock:
            if self._code is not None:
                return self._code
            launcher_rc = self._popen.poll() if self._popen is not None else None  # reaps our own child
            code = self._read_exit()
            if code is None:
                if launcher_rc is None and self._alive():
                    self._maybe_escalate()
                    return None
                code = self._read_exit()  # the launcher may have written it just now
                if code is None:
                    code = launcher_rc if launcher_rc is not None else LOST_EXIT_CODE
            self._code = code
            if self._timer is not None:
                self._timer.cancel()
            if self.record.get("cgroups"):  # the work's limits go with it (one try: poll never blocks)
                sandbox.Cgroup([Path(d) for d in self.record["cgroups"]], 0).remove(timeout=0.0)
            if launcher_rc is not None:  # we reaped it just now: its group id cannot be reused yet
                self._kill_group(signal.SIGKILL)  # stragglers the command left behind in its group
            return code

    # --- stopping ---
    def _kill_group(self, sig: int) -> None:
        if not self._alive() and sig == signal.SIGTERM:
            return
        try:
            os.killpg(self.pid, sig)  # the launcher leads its own group (start_new_session)
        except (ProcessLookupError, PermissionError):
            pass

    def _maybe_escalate(self) -> None:
        kill_at = self.record.get("kill_at")
        if kill_at and time.time() >= kill_at and self._alive():
            self._kill_group(signal.SIGKILL)

    def stop(self, grace: float = 10.0) -> None:
        if self.poll() is not None:
            return
        self.record["kill_at"] = time.time() + grace
        self.runner._save(self)
        self._kill_group(signal.SIGTERM)
        if self._timer is not None:
            self._timer.cancel()

        def escalate():
            if self._alive():
                self._kill_group(signal.SIGKILL)
            self.poll()

        self._timer = threading.Timer(grace, escalate)
        self._timer.daemon = True
        self._timer.start()


class LocalRunner(Runner):
    name = "local"

    def __init__(self, state_dir: str, strict_instance_types: bool = False):
        self.strict_instance_types = strict_instance_types  # Settings.strict_instance_types
        self.state_dir = Path(state_dir) / "local"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._handles: dict[str, LocalHandle] = {}
        self._lock = threading.Lock()

    def _record_path(self, pid: int, ticks: int) -> Path:
        return self.state_dir / f"{pid}-{ticks}.json"

    def _save(self, handle: LocalHandle) -> None:
        _write_json(self._record_path(handle.pid, handle.ticks), handle.record)

    def start(self, spec: JobSpec) -> LocalHandle:
        workdir = spec.workdir
        Path(workdir).mkdir(parents=True, exist_ok=True)
        for rel, text in spec.files.items():  # same spec shape as the Ray runner
            path = safe_join(workdir, rel, what="job file")
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # may hold a credential
                with os.fdopen(fd, "w") as f:
                    f.write(_substitute(text, workdir))
        for rel, source in spec.inputs.items():
            _deliver(Path(source), safe_join(workdir, rel, what="job input"))
        log_path = Path(_substitute(spec.log_path, workdir))
        log_path.parent.mkdir(parents=True, exist_ok=True)
        exit_file = self.state_dir / f"exit-{uuid.uuid4().hex}"
        env = inherited_environment()  # never the server's secrets
        env.update({k: _substitute(v, workdir) for k, v in spec.env.items()})
        env["PYTHONUNBUFFERED"] = "1"
        program = [_substitute(a, workdir) for a in spec.command]
        launch = _sandboxed(spec, program, env, workdir)
        command = [sys.executable, "-m", "shipyard.runners._launch", str(exit_file), "--", *launch.command]
        with open(log_path, "ab", buffering=0) as log:
            for note in launch.notes:  # what the sandbox cannot enforce here, in the work's own log
                log.write(f"{note}\n".encode())
            popen = subprocess.Popen(command, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True, close_fds=True)
        st = _proc_stat(popen.pid)
        ticks = st[1] if st else 0
        record = {"name": spec.name, "pid": popen.pid, "ticks": ticks, "exit_file": str(exit_file),
                  "log_path": str(log_path), "workdir": workdir, "started": time.time(),
                  "cgroups": [str(d) for d in launch.cgroup.dirs] if launch.cgroup else []}
        handle = LocalHandle(self, popen.pid, ticks, record, popen)
        self._save(handle)
        with self._lock:
            self._handles[handle.id] = handle
        return handle

    def attach(self, handle_id: str) -> LocalHandle | None:
        with self._lock:
            known = self._handles.get(handle_id)
        if known is not None:
            return known
        parts = handle_id.split(":")
        if len(parts) != 3 or parts[0] != "local":
            return None
        try:
            pid, ticks = int(parts[1]), int(parts[2])
        except ValueError:
            return None
        try:
            record = json.loads(self._record_path(pid, ticks).read_text())
        except (OSError, ValueError):
            return None
        handle = LocalHandle(self, pid, ticks, record)
        with self._lock:
            return self._handles.setdefault(handle_id, handle)

    def resources(self) -> dict:
        """This machine as a one-host cluster. Local processes share cores rather than own them, so by default
        ``SHIPYARD_LOCAL_CPUS`` = 4 x the cores (instance-type vCPUs that may run at once); GPUs are the
        visible ones (``SHIPYARD_LOCAL_GPUS`` overrides). Memory is not limited. The caller does the
        accounting (``free`` is None): the runner does not know which work is a training instance.

        ``instance_types`` is ``"labels"`` by default: an instance type names what a job would get on AWS, not
        a reason to refuse it here; admission caps each job at this machine, so a 48-vCPU ml.m5.12xlarge (or
        three ml.m5.2xlarge) runs alone, and jobs wait only for each other. ``"strict"``
        (``SHIPYARD_STRICT_INSTANCE_TYPES=1``) counts the type's figures in full and refuses what never fits."""
        from .contract import detect_gpus

        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        total = {"CPU": float(os.environ.get("SHIPYARD_LOCAL_CPUS") or 4 * cores),
                 "GPU": float(os.environ.get("SHIPYARD_LOCAL_GPUS") or detect_gpus())}
        return {"total": total, "free": None, "largest_host": total,
                "instance_types": "strict" if self.strict_instance_types else "labels"}

    def close(self) -> None:
        with self._lock:
            for h in self._handles.values():
                if h._timer is not None:
                    h._timer.cancel()
            self._handles.clear()
