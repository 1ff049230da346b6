"""The job sandbox: what a job may see and use, and the one wrapper that enforces it (part of the runner contract).

A :class:`Sandbox` travels in a :class:`~.base.JobSpec`. Where the host allows a mount namespace (root, or an
unprivileged user namespace), the wrapped program starts in one where

- the job's folder is bind-mounted at ``/opt/ml`` (SageMaker's real path) and stays at its own path too, so the
  ``SM_*`` variables (which name the folder's own path) work inside and in the fallback alike; the host's
  ``/opt/ml``, if any, is covered, never written;
- ``/tmp`` is a private ``tmpfs`` (two jobs never share it);
- the server's home (credentials, database, objects, other jobs' folders) is an empty ``tmpfs``, with only
  the job's folder and the environments (read-only) bound back at their paths;
- the host's Python installation is visible read-only (a bind remount: cheap, and what matters to a job);
- ``network=False`` (``EnableNetworkIsolation``) gives a private network namespace: loopback only;
- processes are hidden where a PID namespace with a fresh ``/proc`` works (the launcher is its init).

Limits (memory, CPU share) go through a cgroup of the job's own, a child of the server's cgroup (v2, or the v1
``memory``/``cpu`` hierarchies), where the machine lets this process create one; an OOM kill is counted there
so the caller can say why the job died. Where namespaces or cgroups are unavailable, the program runs as
before and :func:`describe` says what is missing (the runner logs it once at start-up, the job in its log).

The launcher (``_sandbox_init.py``, run by path in front of the program) does the namespaces and mounts with
system calls in one short-lived process, and is the PID namespace's init; see its docstring for signals and
exit codes. This module builds its setup, creates the cgroup, and probes the host for the start-up note.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ENV_VAR = "SHIPYARD_SANDBOX"  # a program-scope sandbox, as JSON, for the command that starts the program


@dataclass
class Sandbox:
    """What a job may see and use. Paths may say ``{workdir}`` (the runner's folder for the work).

    ``applies_to`` says who wraps: ``"command"`` (the runner wraps ``spec.command``: a model server) or
    ``"program"`` (the command is an executor that downloads and uploads outside the sandbox and wraps the
    user's program it starts; the runner hands it the sandbox in ``SHIPYARD_SANDBOX``)."""

    opt_ml: str = ""                                        # the job's folder, shown at /opt/ml
    hide: list[str] = field(default_factory=list)           # folders covered by an empty tmpfs (the home)
    read_only: list[str] = field(default_factory=list)      # folders in hidden ones shown again, read-only
    network: bool = True                                    # False: loopback only (EnableNetworkIsolation)
    memory_mb: int = 0                                      # 0: no limit
    cpus: float = 0.0                                       # CPU share (a weight, not a cap); 0: none
    volume_gb: int = 0                                      # watched size limit of the job's folder; 0: none
    instance_type: str = ""                                 # for the messages that cite a limit
    applies_to: str = "command"

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "Sandbox":
        data = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def placed(self, workdir: str) -> "Sandbox":
        """This sandbox with ``{workdir}`` replaced in its paths."""
        def sub(p: str) -> str:
            return p.replace("{workdir}", workdir)

        return dataclasses.replace(self, opt_ml=sub(self.opt_ml), hide=[sub(p) for p in self.hide],
                                   read_only=[sub(p) for p in self.read_only])


# --- what the host allows (probed once per process, for the start-up note and tests; jobs never wait on it) ---
_LAUNCHER = str(Path(__file__).resolve().with_name("_sandbox_init.py"))


def _setup_words(setup: dict) -> list[str]:
    """The launcher's setup as ``key=value`` words (parsed by ``_sandbox_init.parse``)."""
    words = [f"ns={int(setup.get('namespaces', True))}", f"net={int(setup.get('network', True))}",
             f"pid={int(setup.get('pid', True))}", f"opt_ml={setup.get('opt_ml', '')}", f"cwd={setup.get('cwd', '')}"]
    words += [f"hide={p}" for p in setup.get("hide") or []]
    words += [f"{'keep_ro' if ro else 'keep'}={p}" for p, ro in setup.get("keep") or []]
    words += [f"ro={p}" for p in setup.get("read_only") or []]
    words += [f"procs={p}" for p in setup.get("cgroup_procs") or []]
    if setup.get("joined"):
        words.append(f"joined={setup['joined']}")
    return words


def _launcher(setup: dict, cmd: list[str]) -> list[str]:
    return [sys.executable, "-I", "-S", _LAUNCHER, *_setup_words(setup), "--", *cmd]


def _probe(setup: dict, check: str) -> bool:
    cmd = _launcher({"cwd": "/", **setup}, [sys.executable, "-I", "-S", "-c", check])
    try:
        out = subprocess.run(cmd, capture_output=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and b"shipyard sandbox:" not in out.stderr


@functools.lru_cache(maxsize=1)
def available() -> bool:
    """Whether programs can run in a mount namespace of their own here (a private, empty /tmp)."""
    return _namespaces_enabled() and _probe(
        {"pid": False}, "import os, sys; sys.exit(0 if os.listdir('/tmp') == [] else 5)")


@functools.lru_cache(maxsize=1)
def _network_isolation() -> bool:
    return available() and _probe(
        {"pid": False, "network": False},
        "import socket, sys; sys.exit(0 if [n for _, n in socket.if_nameindex()] == ['lo'] else 5)")


def network_isolation_available() -> bool:
    """Whether ``network=False`` is enforced here (a private network namespace: loopback only); probed once."""
    return _network_isolation()


@functools.lru_cache(maxsize=1)
def hides_processes() -> bool:
    """Whether a wrapped program also gets a PID namespace and a fresh ``/proc`` here."""
    return available() and _probe(
        {}, "import os, sys; sys.exit(0 if os.getpid() == 2 and os.readlink('/proc/self') == '2' else 3)")


def _namespaces_enabled() -> bool:
    """``SHIPYARD_SANDBOX_NAMESPACES=off`` makes this host behave as one without namespaces (the fallback)."""
    return (os.environ.get("SHIPYARD_SANDBOX_NAMESPACES") or "on").strip().lower() not in ("0", "off", "false", "no")


# --- cgroups: memory and CPU limits ------------------------------------------------------------------------------
def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, fs type, super options) of the cgroup file systems."""
    out: list[tuple[str, str, set[str]]] = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        left, _, right = line.partition(" - ")
        parts, rparts = left.split(), right.split()
        if len(parts) > 4 and len(rparts) > 2 and rparts[0] in ("cgroup", "cgroup2"):
            out.append((parts[4], rparts[0], set(rparts[2].split(","))))
    return out


def _own_paths() -> dict[str, str]:
    """Controller (``""`` for v2) -> this process's cgroup path, from ``/proc/self/cgroup``."""
    out: dict[str, str] = {}
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for c in (controllers.split(",") if controllers else [""]):
                out[c] = path
    except (OSError, ValueError):
        pass
    return out


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


@dataclass
class Cgroup:
    """The job's own cgroup(s): one folder on v2, the ``memory`` and ``cpu`` ones on v1."""

    dirs: list[Path]
    version: int
    memory_mb: int = 0

    @property
    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs]

    def oom_kills(self) -> int:
        """How many processes of the job the kernel killed for want of memory under its limit."""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        for d in self.dirs:
            try:
                for line in (d / name).read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
            except (OSError, ValueError):
                continue
        return 0

    def remove(self, timeout: float = 5.0) -> None:
        """Remove the folders once the job's processes are gone (they may take a moment to be reaped)."""
        deadline = time.monotonic() + timeout
        for d in self.dirs:
            while True:
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() >= deadline:
                        break
                    time.sleep(0.05)


def _v2_parent() -> Path | None:
    mount = next((m for m, fs, _ in _mounts() if fs == "cgroup2"), None)
    own = _own_paths().get("")
    if mount is None or own is None:
        return None
    parent = Path(mount) / own.lstrip("/")
    try:
        if "memory" not in (parent / "cgroup.controllers").read_text().split():
            return None
        enabled = (parent / "cgroup.subtree_control").read_text().split()
        if "memory" not in enabled:
            _write(parent / "cgroup.subtree_control", "+memory +cpu" if "cpu" not in enabled else "+memory")
    except OSError:
        return None
    return parent


def _v1_parent(controller: str) -> Path | None:
    mount = next((m for m, fs, opts in _mounts() if fs == "cgroup" and controller in opts), None)
    own = _own_paths().get(controller)
    if mount is None or own is None:
        return None
    parent = Path(mount) / own.lstrip("/")
    return parent if os.access(parent, os.W_OK) else None


STALE_CGROUP_AGE = 120.0  # seconds: a job joins its cgroup within moments of its creation


def _sweep(parent: Path) -> None:
    """Remove ``shipyard-*`` cgroups left empty by jobs whose executor was killed before it could (a cgroup
    with processes, or one created in the last two minutes and perhaps not joined yet, is kept)."""
    try:
        entries = [e for e in os.scandir(parent) if e.name.startswith("shipyard-") and e.is_dir()]
    except OSError:
        return
    now = time.time()
    for e in entries:
        try:
            if now - e.stat().st_mtime < STALE_CGROUP_AGE or Path(e.path, "cgroup.procs").read_text().strip():
                continue
            os.rmdir(e.path)
        except OSError:
            continue


def create_cgroup(memory_mb: int, cpus: float) -> Cgroup | None:
    """A new cgroup for one job, limited to ``memory_mb`` and weighted by ``cpus``; None where not writable."""
    if not memory_mb and not cpus:
        return None
    name = f"shipyard-{uuid.uuid4().hex[:12]}"
    parent = _v2_parent()
    try:
        if parent is not None:
            _sweep(parent)
            d = parent / name
            d.mkdir()
            cg = Cgroup([d], 2, memory_mb)
            if memory_mb:
                _write(d / "memory.max", str(memory_mb * 1024 * 1024))
                if (d / "memory.swap.max").exists():
                    _write(d / "memory.swap.max", "0")
            if cpus and (d / "cpu.weight").exists():
                _write(d / "cpu.weight", str(max(1, min(10000, int(100 * cpus)))))
            return cg
        dirs = []
        mem, cpu = _v1_parent("memory"), _v1_parent("cpu")
        for hierarchy in (mem, cpu):
            if hierarchy is not None:
                _sweep(hierarchy)
        if memory_mb:
            if mem is None:
                return None
            d = mem / name
            d.mkdir()
            dirs.append(d)
            _write(d / "memory.limit_in_bytes", str(memory_mb * 1024 * 1024))
            if (d / "memory.memsw.limit_in_bytes").exists():
                try:
                    _write(d / "memory.memsw.limit_in_bytes", str(memory_mb * 1024 * 1024))
                except OSError:
                    pass
        if cpus and cpu is not None:
            d = cpu / name
            d.mkdir()
            dirs.append(d)
            _write(d / "cpu.shares", str(max(2, int(1024 * cpus))))
        return Cgroup(dirs, 1, memory_mb) if dirs else None
    except OSError:
        return None


@functools.lru_cache(maxsize=1)
def limits_available() -> bool:
    """Whether this process may create a cgroup with a memory limit (probed once)."""
    cg = create_cgroup(64, 0)
    if cg is None:
        return False
    cg.remove()
    return True


def describe() -> list[str]:
    """What the sandbox cannot do on this host, in words (empty when everything works): for the log."""
    notes = []
    if not available():
        notes.append("jobs run without a sandbox: no mount namespace is available here (needs root or "
                     "unprivileged user namespaces); /opt/ml is a folder stand-in, /tmp and the network are shared")
    elif not _network_isolation():
        notes.append("EnableNetworkIsolation cannot be enforced: no network namespace is available here")
    if not limits_available():
        notes.append("memory and CPU limits are not enforced: no writable cgroup (v2 with the memory controller, "
                     "or v1 memory) for this process under /sys/fs/cgroup")
    return notes


@functools.lru_cache(maxsize=1)
def announce(logger_name: str = "shipyard.runners") -> None:
    """Say once per process (at start-up) what the sandbox cannot do here."""
    import logging

    for note in describe():
        logging.getLogger(logger_name).warning("sandbox: %s", note)


# --- the wrapper --------------------------------------------------------------------------------------------------
@dataclass
class Launch:
    """A wrapped command, its cgroup (to read OOM kills from and remove afterwards) and notes for the job's log."""

    command: list[str]
    cgroup: Cgroup | None = None
    notes: list[str] = field(default_factory=list)
    # wrap(attach=True): the read end the launcher waits on (pass it with ``pass_fds``), and our write end
    pass_fds: tuple[int, ...] = ()
    _release: int | None = None

    def started(self, pid: int | None) -> None:
        """After ``Popen`` of a ``wrap(attach=True)`` command: put ``pid`` (the launcher) in the job's cgroup
        and let it go on. Overlaps the cgroup move with the launcher's start-up."""
        if self._release is None:
            return
        try:
            if self.cgroup is not None and pid:
                for procs in self.cgroup.procs_files:
                    try:
                        with open(procs, "w") as f:
                            f.write(str(pid))
                    except OSError as e:
                        self.notes.append(f"note: cannot put the program in its cgroup ({e}): limits not enforced")
        finally:
            for fd in (self._release, *self.pass_fds):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self._release, self.pass_fds = None, ()

    def finish(self) -> bool:
        """After the program ended: whether it was OOM-killed; its cgroup is removed."""
        if self.cgroup is None:
            return False
        oom = self.cgroup.oom_kills() > 0
        self.cgroup.remove()
        return oom


def _python_roots() -> list[str]:
    """The host's Python installation and Shipyard's own code, shown read-only (the interpreter, its libraries,
    and the folder ``shipyard`` is imported from, which an editable install keeps outside site-packages)."""
    roots = []
    for p in {sys.prefix, sys.base_prefix, str(Path(__file__).resolve().parents[2])}:
        real = os.path.realpath(p)
        if real != "/" and os.path.isdir(real):
            roots.append(real)
    return sorted(roots)


# The server user's own credential folders (cloud CLIs, SSH, container and cluster logins): covered in every
# sandbox that hides the Shipyard home, so a job never reads the operator's keys (an S3 backend's ~/.aws, say).
# Only these, not the whole user home: the interpreter (pyenv) and caches a job may use often live there too.
CREDENTIAL_FOLDERS = (".aws", ".ssh", ".docker", ".kube", ".azure", ".config/gcloud", ".gnupg")


def credential_folders() -> list[str]:
    """The server user's credential folders that exist on this host (real paths)."""
    home = os.path.expanduser("~")
    if not home or home == "/":
        return []
    found = [os.path.realpath(os.path.join(home, name)) for name in CREDENTIAL_FOLDERS]
    return [p for p in found if os.path.isdir(p)]


def _inside(path: str, folders: list[str]) -> bool:
    return any(path == f or path.startswith(f.rstrip("/") + "/") for f in folders)


def isolation_enabled(setting: object = None) -> bool:
    """Whether work is sandboxed: the server's ``job_isolation`` setting, else ``SHIPYARD_JOB_ISOLATION``
    (on unless it says 0/off/false/no). One reading for training jobs, transforms and model servers."""
    value = str(setting or os.environ.get("SHIPYARD_JOB_ISOLATION") or "on").strip().lower()
    return value not in ("0", "off", "false", "no")


FALLBACK_NOTE = ("note: the program runs without a sandbox (no mount namespace available here): /opt/ml is not "
                 "its folder, /tmp and the network are shared, the Shipyard home is visible")


def wrap(cmd: list[str], sb: Sandbox, cwd: str | os.PathLike, attach: bool = False) -> Launch:
    """``cmd`` run inside ``sb`` (paths already placed), as far as this host allows.

    No probing here (a job's start must stay short): the launcher (``_sandbox_init.py``) tries each step and
    says on stderr, in the job's log, what the host refused. The cgroup (if any) is created here; the caller
    reads :meth:`Launch.finish` once the program has ended. ``attach=True``: the caller starts the command
    itself with ``pass_fds=launch.pass_fds`` and then calls :meth:`Launch.started` with its pid (the cgroup
    move overlaps the launcher's start-up); otherwise the launcher joins the cgroup itself."""
    notes: list[str] = []
    namespaces = _namespaces_enabled()
    if not namespaces:
        notes.append(FALLBACK_NOTE)
    job = os.path.realpath(sb.opt_ml) if sb.opt_ml else ""
    hide = [os.path.realpath(p) for p in sb.hide]
    if hide:  # hiding the Shipyard home: the operator's own credential folders too
        hide += [p for p in credential_folders() if not _inside(p, hide)]
    keep: list[list] = [[job, False]] if job else []  # [path, read-only], bound back after the hiding
    keep += [[os.path.realpath(p), True] for p in sb.read_only if os.path.isdir(p)]
    roots = [r for r in _python_roots() if not _inside(r, hide) and not (job and _inside(job, [r]))]
    # A root under /tmp (a checkout or venv there) would vanish under the private /tmp: bind it back instead.
    python = [r for r in roots if not _inside(r, ["/tmp"])]
    keep += [[r, True] for r in roots if _inside(r, ["/tmp"]) and not any(_inside(r, [str(k[0])]) for k in keep)]
    setup: dict = {"namespaces": namespaces, "network": bool(sb.network), "opt_ml": job, "hide": hide,
                   "keep": keep, "read_only": python, "cwd": os.path.realpath(cwd)}
    cgroup = None
    if sb.memory_mb or sb.cpus:
        cgroup = create_cgroup(sb.memory_mb, sb.cpus)
        if cgroup is None:
            notes.append("note: memory and CPU limits are not enforced (no writable cgroup here)")
        elif not attach:
            setup["cgroup_procs"] = cgroup.procs_files
    if not namespaces and cgroup is None:
        return Launch(list(cmd), None, notes)
    if cgroup is not None and attach:
        read_end, write_end = os.pipe()
        setup["joined"] = str(read_end)
        return Launch(_launcher(setup, list(cmd)), cgroup, notes, (read_end,), write_end)
    return Launch(_launcher(setup, list(cmd)), cgroup, notes)


def out_of_memory_reason(sb: Sandbox, what: str = "training program") -> str:
    """The FailureReason of a job the kernel killed at its memory limit."""
    kind = f" of instance type {sb.instance_type}" if sb.instance_type else ""
    return (f"OutOfMemoryError: the {what} ran out of memory: it was killed at the {sb.memory_mb} MiB memory "
            f"limit{kind}. Use an instance type with more memory, or reduce the data processed per instance.")


# --- a supervisor for long-running work (a model server) -------------------------------------------------------
SUPERVISOR = "import sys; from shipyard.runners.sandbox import supervise; sys.exit(supervise(sys.argv[1:]))"


def supervisor_command(python: str, cmd: list[str], reason_file: str, oom_message: str) -> list[str]:
    """``cmd`` under :func:`supervise` (run by ``python -c``: a model server's own command line stays the only
    one that names its module)."""
    return [python, "-c", SUPERVISOR, "--reason-file", reason_file, "--oom-message", oom_message, "--", *cmd]


def supervise(argv: list[str]) -> int:
    """``--reason-file F --oom-message M -- cmd...``: run ``cmd`` inside the sandbox the runner handed over
    (``SHIPYARD_SANDBOX``, an ``applies_to="program"`` one), passing SIGTERM/SIGINT on; the exit code is the
    command's (128+n for a signal). When the kernel killed it at the memory limit, ``M`` goes last into the log
    and into ``F``: the runner removes a cgroup as soon as its work ends, before anyone could ask it why."""
    import signal

    split = argv.index("--") if "--" in argv else len(argv)
    opts, cmd = dict(zip(argv[:split:2], argv[1:split:2])), argv[split + 1:]
    given = os.environ.pop(ENV_VAR, "")
    if not given:  # nothing to enforce: become the command
        os.execvp(cmd[0], cmd)
    sb = Sandbox.from_json(given)
    launch = wrap(cmd, sb, os.getcwd(), attach=True)
    for note in launch.notes:
        print(note, flush=True)
    started: list[subprocess.Popen] = []
    pending: list[int] = []  # a signal that came before the command started

    def forward(sig, _frame) -> None:
        if not started:
            pending.append(sig)
        elif started[0].poll() is None:
            started[0].send_signal(sig)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward)
    proc = subprocess.Popen(launch.command, pass_fds=launch.pass_fds)
    launch.started(proc.pid)  # into its cgroup, then the launcher goes on
    started.append(proc)
    for early in pending:
        proc.send_signal(early)
    rc = proc.wait()
    if launch.finish():
        message = opts.get("--oom-message") or out_of_memory_reason(sb, "program")
        print(message, flush=True)
        if opts.get("--reason-file"):
            try:
                with open(opts["--reason-file"], "w") as f:
                    f.write(message)
            except OSError:
                pass
    return 128 - rc if rc < 0 else rc
