"""Build, find and reuse environment venvs: ``<root>/<key>-py<ver>-<digest>/`` with a ``ready.json`` marker.

:func:`ensure` is what jobs call: it returns the interpreter to run the user's code with, building the venv on
first use (logging "preparing environment sklearn-1.2-1 ... (first use)" through ``log``, which is the job's
own log). Creation happens under an exclusive ``flock`` on ``<folder>.lock``, so two jobs that need the same
environment at once build it once: the second waits, then finds it ready.

The venv is clean (no ``--system-site-packages``): the framework at the image's version must win over the
server's own, as in the container. It is made with ``uv`` where installed (much faster), else ``python -m
venv`` and pip. Our ``sagemaker_xgboost_container`` shim is copied into its site-packages, plus a ``.pth`` that
restores the ``collections`` aliases the old ``sagemaker-containers`` toolkit needs on Python >= 3.10.

A build goes down a ladder (:func:`run_ladder`, each step logged as ``[n/4]``): 1. the image's framework
version, from wheels only (fails in seconds where there is no build for this Python, rather than compiling);
2. the closest later version that has one (a bounded number of ``pip install --dry-run --only-binary=:all:``
probes), with a WARNING naming both versions; 3. the toolkits and shims only, on top of the server's packages;
``ready.json`` records the rung, so later jobs reuse it (and repeat its WARNING). Where none works (offline, pip
fails) or ``SHIPYARD_ENVIRONMENTS=server``, the job runs on the server's own Python (rung 4) with a warning in
its log; ``SHIPYARD_ENVIRONMENTS=strict`` fails the job instead. A failed build
is not retried for ``RETRY_AFTER`` seconds (its log stays in ``<folder>.failed.log``).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .spec import EnvSpec

READY = "ready.json"
RETRY_AFTER = 600.0
BUILD_TIMEOUT = float(os.environ.get("SHIPYARD_ENVIRONMENTS_BUILD_TIMEOUT", "1800"))
SHIM_DIR = Path(__file__).with_name("shim")
COMPAT = "_shipyard_compat"  # a module in shim/, imported at start-up by a .pth file
# Set for a process on an environment (os.pathsep-separated folders), the shim adds these site-packages after the
# venv's own at start-up: an inference pipeline's built-in algorithm stages use the server's packages from there.
SERVER_SITE_ENV = "SHIPYARD_SERVER_SITE"


class EnvironmentError_(RuntimeError):
    """An environment could not be built (strict mode turns this into a job failure)."""


@dataclass
class Prepared:
    python: str            # the interpreter to run user code with
    spec: EnvSpec | None
    path: Path | None      # the venv, None when falling back to the server's Python
    built: bool = False    # True when this call built it
    rung: int = 1          # the ladder's rung: 1 exact, 2 closest version, 3 toolkits only, 4 server's Python
    note: str = ""         # rungs 2-3: what differs from the image (logged as a WARNING by every job using it)

    @property
    def fallback(self) -> bool:
        return self.path is None

    def __post_init__(self):
        if self.path is None and self.spec is not None:
            self.rung = 4


def mode() -> str:
    """``auto`` (build, fall back on failure), ``server`` (never build) or ``strict`` (build or fail)."""
    value = (os.environ.get("SHIPYARD_ENVIRONMENTS") or "auto").strip().lower()
    return value if value in ("auto", "server", "strict") else "auto"


def root_for(home: str | Path | None) -> Path:
    """Where environments live: ``SHIPYARD_ENVIRONMENTS_CACHE`` if set, else ``<home>/environments``."""
    cache = os.environ.get("SHIPYARD_ENVIRONMENTS_CACHE")
    if cache:
        return Path(cache).expanduser()
    if home is None:
        from ..config import default_home

        home = default_home()
    return Path(home) / "environments"


def venv_python(path: Path) -> Path:
    return path / "bin" / "python"


def site_packages(path: Path) -> Path:
    found = sorted((path / "lib").glob("python*/site-packages"))
    if not found:
        raise EnvironmentError_(f"no site-packages in {path}")
    return found[0]


def is_ready(path: Path) -> bool:
    return (path / READY).exists() and venv_python(path).exists()


def _die_with_parent():
    """A pre-exec hook: SIGKILL the build step when the process that started it (a job) dies, so a killed job
    leaves no pip writing into a folder the next job will rebuild."""
    try:
        import ctypes
        import signal

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _run(cmd: list[str], timeout: float) -> None:
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
                          env=_pip_env(), preexec_fn=_die_with_parent())
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-15:])
        raise EnvironmentError_(f"{' '.join(cmd[:4])} ... failed with exit code {proc.returncode}:\n{tail}")


# --- the fallback ladder ------------------------------------------------------------------------------------
# 1. the framework at the image's version; 2. the closest later version with a build (wheel) for this Python;
# 3. no framework of its own: the toolkits and shims on top of the server's packages; 4. (in ensure) the
# server's own Python. The framework and its companions (numpy, pandas, ...) are installed from wheels only,
# so a version without a build for this interpreter fails in seconds instead of compiling for minutes.
MAX_TRIES = int(os.environ.get("SHIPYARD_ENVIRONMENTS_MAX_TRIES", "8"))  # rung 2: versions tried at most
PROBE_TIMEOUT = 180.0
SERVER_PTH = "_shipyard_server_site"  # rung 3: a .pth adding the server's site-packages after the venv's own
RUNGS = {1: "the image's framework version", 2: "the closest framework version that installs",
         3: "toolkits only, on the server's packages", 4: "the server's own Python"}


@dataclass
class Probe:
    ok: bool
    definitive: bool = True  # False: the index could not be asked (offline, no index): the ladder stops here
    message: str = ""


class Installer:
    """What the ladder needs from pip; tests pass a fake. ``path`` is the venv being built."""

    def create(self, path: Path, server_packages: bool) -> None: ...

    def probe(self, path: Path, requirements: list[str]) -> Probe: ...

    def versions(self, path: Path, name: str) -> list[str]: ...

    def install(self, path: Path, requirements: list[str], binary_only: list[str], timeout: float) -> None: ...


class PipInstaller(Installer):
    """``uv`` where installed (venv and install), else ``python -m venv`` and pip; probes always use the venv's
    pip (``install --dry-run --only-binary=:all:``: resolves from wheels for this interpreter, installs nothing)."""

    def __init__(self):
        self.uv = shutil.which("uv")

    def create(self, path: Path, server_packages: bool) -> None:
        if path.exists():
            shutil.rmtree(path)
        base = getattr(sys, "_base_executable", None) or sys.executable
        if self.uv:
            _run([self.uv, "venv", "--quiet", "--python", base, str(path)], 300)
            _run([self.uv, "pip", "install", "--quiet", "--python", str(venv_python(path)), "pip"], 300)
        else:
            _run([base, "-m", "venv", str(path)], 300)
        if server_packages:
            _add_server_packages(path)

    def probe(self, path: Path, requirements: list[str]) -> Probe:
        cmd = [str(venv_python(path)), "-m", "pip", "install", "--dry-run", "--quiet", "--no-input",
               "--ignore-installed", "--only-binary=:all:", *requirements]
        try:
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  timeout=PROBE_TIMEOUT, env=_pip_env(), preexec_fn=_die_with_parent())
        except subprocess.TimeoutExpired:
            return Probe(False, False, f"pip did not answer within {PROBE_TIMEOUT:.0f} s")
        if proc.returncode == 0:
            return Probe(True)
        text = proc.stdout.strip()
        errors = [line for line in text.splitlines() if line.startswith("ERROR")] or text.splitlines()[-1:]
        # "(from versions: none)": the index had nothing at all (unreachable, or --no-index): not an answer
        definitive = "No matching distribution" in text and "from versions: none" not in text
        return Probe(False, definitive, errors[-1] if errors else f"pip exited with {proc.returncode}")

    def versions(self, path: Path, name: str) -> list[str]:
        try:
            proc = subprocess.run([str(venv_python(path)), "-m", "pip", "index", "versions", name],
                                  capture_output=True, text=True, timeout=PROBE_TIMEOUT, env=_pip_env())
        except subprocess.TimeoutExpired:
            return []
        for line in proc.stdout.splitlines():
            if line.strip().startswith("Available versions:"):
                return [v.strip() for v in line.split(":", 1)[1].split(",") if v.strip()]
        return []

    def install(self, path: Path, requirements: list[str], binary_only: list[str], timeout: float) -> None:
        binary = [f"--only-binary={name}" for name in binary_only]
        if self.uv:
            cmd = [self.uv, "pip", "install", "--quiet", "--python", str(venv_python(path)), *binary]
        else:
            cmd = [str(venv_python(path)), "-m", "pip", "install", "--quiet", "--no-input", *binary]
        _run([*cmd, *requirements], timeout)


def _pip_env() -> dict:
    return {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONNOUSERSITE": "1"}


def server_site_packages() -> list[str]:
    """The server's site-packages folders (its venv's, or the system's when it runs on no venv)."""
    import site

    return [d for d in dict.fromkeys(site.getsitepackages()) if Path(d).is_dir()]


def _add_server_packages(path: Path) -> None:
    """Rung 3: the venv sees the server's installed packages after its own (``--system-site-packages`` in
    effect, but for the server's environment, which is itself a venv where Shipyard is installed in one)."""
    lines = "".join(f"import site; site.addsitedir({d!r})\n" for d in server_site_packages())
    (site_packages(path) / f"{SERVER_PTH}.pth").write_text(lines)


def requirement_name(req: str) -> str:
    """``scikit-learn==1.2.1`` -> ``scikit-learn``; ``numpy<2`` -> ``numpy``."""
    return re.split(r"[\s<>=!~;\[(]", req.strip(), maxsplit=1)[0]


def _pinned(req: str) -> str | None:
    m = re.match(r"^[A-Za-z0-9._-]+\s*==\s*([^,;*\s]+)$", req.strip())
    return m.group(1) if m else None


def _version_key(v: str):
    try:
        from packaging.version import Version

        return Version(v)
    except Exception:  # noqa: BLE001 - no packaging, or a version it cannot read
        return None


def candidates(requested: str, available: list[str]) -> list[str]:
    """The versions to try after ``requested``: upward, closest first, the latest release of each minor version
    (``0.23.2`` -> ``0.24.2, 1.0.2, 1.1.3, ...``), later releases of the requested minor first; the same major
    version family comes first because it is nearer. Pre-releases are left out."""
    want = _version_key(requested)
    if want is None:
        return []
    best: dict[tuple, object] = {}
    for text in available:
        v = _version_key(text)
        if v is None or v.is_prerelease or v.is_devrelease or v <= want:
            continue
        minor = (v.release + (0, 0))[:2]
        if minor not in best or v > best[minor][0]:
            best[minor] = (v, text)
    return [text for _, (v, text) in sorted(best.items(), key=lambda kv: kv[1][0])]


@dataclass
class Plan:
    rung: int
    packages: tuple[str, ...]   # what was installed (rung 3: the toolkits only)
    framework: str              # e.g. scikit-learn
    requested: str              # the image's framework version, e.g. 0.23.2 ("" when not pinned)
    version: str                # the version installed (rung 3: the server's, or "")
    note: str = ""              # the warning a job using it logs


def _framework_group(spec: EnvSpec) -> list[str]:
    from .spec import TOOLKITS

    return [p for p in spec.packages if p not in TOOLKITS]


def _toolkits(spec: EnvSpec) -> list[str]:
    from .spec import TOOLKITS

    return [p for p in spec.packages if p in TOOLKITS]


def _server_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return ""


def run_ladder(spec: EnvSpec, path: Path, installer: Installer, log: Callable[[str], None],
               deadline: float) -> Plan:
    """Build ``spec`` into ``path`` on the first rung that works (1: exact, 2: closest, 3: toolkits only);
    raise EnvironmentError_ when none does (the caller falls back to rung 4, the server's Python)."""

    def left() -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise EnvironmentError_(f"the build of {spec.key} ran past its time limit of {BUILD_TIMEOUT:.0f} s "
                                    "(SHIPYARD_ENVIRONMENTS_BUILD_TIMEOUT)")
        return remaining

    group = _framework_group(spec)
    framework = requirement_name(spec.packages[0])
    requested = _pinned(spec.packages[0]) or ""
    shown = requested or spec.packages[0]  # e.g. "scikit-learn==1.5.*" for a version we have no release for
    binary = [requirement_name(p) for p in group]
    py = spec.python
    installer.create(path, server_packages=False)
    log(f"[1/4] {spec.key}: {framework} {shown} (the image's version), from wheels for "
        f"Python {py}")
    probe = installer.probe(path, group)
    if probe.ok:
        log(f"installing {' '.join(spec.packages)}")
        installer.install(path, list(spec.packages), binary, left())
        return Plan(1, tuple(spec.packages), framework, requested, requested)
    if not probe.definitive:
        raise EnvironmentError_(f"pip could not look up {framework} {shown}: {probe.message}")
    log(f"{framework} {shown} cannot be installed on Python {py} (no build for it): {probe.message}")

    chosen, tried = None, []
    if requested:
        todo = candidates(requested, installer.versions(path, framework))
        log(f"[2/4] {spec.key}: looking for the closest {framework} after {requested} with a build for Python {py}"
            + (f" (trying at most {MAX_TRIES} of {', '.join(todo[:MAX_TRIES])})" if todo else
               ": pip lists no later version"))
        for version in todo[:MAX_TRIES]:
            left()
            tried.append(version)
            attempt = [f"{framework}=={version}", *group[1:]]
            got = installer.probe(path, attempt)
            log(f"  {framework} {version}: " + ("installs" if got.ok else "no build for this Python"
                                                 if got.definitive else f"not checked: {got.message}"))
            if got.ok:
                chosen = version
                break
            if not got.definitive:
                break
    if chosen is not None:
        note = (f"{framework} {requested} has no build for Python {py}; using {chosen}, the closest that installs "
                f"(the {spec.image or spec.key} image has {requested})")
        log(f"WARNING: {note}")
        packages = (f"{framework}=={chosen}", *group[1:], *_toolkits(spec))
        log(f"installing {' '.join(packages)}")
        try:
            installer.install(path, list(packages), binary, left())
            return Plan(2, packages, framework, requested, chosen, note)
        except EnvironmentError_ as e:
            log(f"{framework} {chosen} did not install after all: {e}")
    elif requested:
        log(f"no {framework} after {requested} installs on Python {py}"
            + (f" (tried {', '.join(tried)})" if tried else ""))

    server_version = _server_version(framework)
    note = (f"{framework} {shown} cannot be installed on Python {py}; {spec.key} has the toolkits only, "
            f"on top of the server's packages (" + (f"{framework} {server_version}" if server_version else
                                                     f"no {framework}") + ")")
    log(f"[3/4] {spec.key}: toolkits and shims only, on the server's packages")
    log(f"WARNING: {note}")
    installer.create(path, server_packages=True)
    packages = tuple(_toolkits(spec))
    log(f"installing {' '.join(packages)}")
    installer.install(path, list(packages), [], left())
    return Plan(3, packages, framework, requested, server_version, note)


def build(spec: EnvSpec, path: Path, log: Callable[[str], None] = print, installer: Installer | None = None) -> Plan:
    """Create the venv at ``path`` (removing any half-built one) on the first rung of the ladder that works.
    Call with the lock held. ``ready.json`` records the rung, what was asked for and what was installed."""
    started = time.monotonic()
    plan = run_ladder(spec, path, installer or PipInstaller(), log, started + BUILD_TIMEOUT)
    _install_shims(site_packages(path))
    installed = {}
    try:
        freeze = subprocess.run([str(venv_python(path)), "-m", "pip", "list", "--format=json"],
                                capture_output=True, text=True, timeout=120)
        installed = {p["name"].lower(): p["version"] for p in json.loads(freeze.stdout or "[]")}
    except (OSError, ValueError, subprocess.SubprocessError):
        pass
    marker = {**spec.to_json(), "requested_packages": list(spec.packages), "packages": list(plan.packages),
              "rung": plan.rung, "rung_name": RUNGS[plan.rung], "framework": spec.framework,
              "framework_package": plan.framework, "framework_requested": plan.requested,
              "framework_version": plan.version, "note": plan.note, "created": time.time(),
              "build_seconds": round(time.monotonic() - started, 1), "installed": installed}
    (path / (READY + ".tmp")).write_text(json.dumps(marker, indent=1))
    os.replace(path / (READY + ".tmp"), path / READY)
    return plan


def read_marker(path: Path) -> dict:
    try:
        return json.loads((path / READY).read_text())
    except (OSError, ValueError):
        return {}


def _install_shims(site: Path) -> None:
    """Copy the shims into a venv's site-packages (at build time, and again when Shipyard's copy changed)."""
    for pkg in SHIM_DIR.iterdir():
        if pkg.is_dir() and not pkg.name.startswith(("_", ".")):
            shutil.copytree(pkg, site / pkg.name, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(SHIM_DIR / f"{COMPAT}.py", site / f"{COMPAT}.py")
    (site / f"{COMPAT}.pth").write_text(f"import {COMPAT}\n")


def _shims_current(site: Path) -> bool:
    files = [f for f in SHIM_DIR.rglob("*.py") if "__pycache__" not in f.parts]
    try:
        return all((site / f.relative_to(SHIM_DIR)).read_bytes() == f.read_bytes() for f in files)
    except OSError:
        return False


def _ready(spec: EnvSpec, path: Path, built: bool = False) -> Prepared:
    try:
        site = site_packages(path)
        if not _shims_current(site):  # an environment built by an earlier Shipyard: bring its shims up to date
            _install_shims(site)
    except (OSError, EnvironmentError_):
        pass
    marker = read_marker(path)
    return Prepared(str(venv_python(path)), spec, path, built=built, rung=int(marker.get("rung") or 1),
                    note=marker.get("note") or "")


class _Lock:
    def __init__(self, path: Path, on_wait: Callable[[], None] | None = None):
        self.path = path
        self.on_wait = on_wait

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if self.on_wait is not None:
                self.on_wait()
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def prepare(spec: EnvSpec, root: Path, log: Callable[[str], None] = print, force: bool = False) -> Prepared:
    """Build ``spec`` under ``root`` unless it is ready; raise EnvironmentError_ if that fails."""
    path = root / spec.dirname
    if is_ready(path) and not force:
        return _ready(spec, path)
    failed = root / f"{spec.dirname}.failed.log"
    waiting = lambda: log(f"environment {spec.key} is being built by another job; waiting for it")  # noqa: E731
    with _Lock(root / f"{spec.dirname}.lock", waiting):
        if is_ready(path) and not force:  # another job built it while we waited
            log(f"environment {spec.key} is ready (built by another job)")
            return _ready(spec, path)
        if not force and failed.exists() and time.time() - failed.stat().st_mtime < RETRY_AFTER:
            raise EnvironmentError_(f"building it failed {int(time.time() - failed.stat().st_mtime)} s ago "
                                    f"(see {failed}); not retrying for {int(RETRY_AFTER)} s")
        log(f"preparing environment {spec.key} in {path} (first use; this takes a minute or more)")
        started = time.monotonic()
        try:
            build(spec, path, log)
        except (EnvironmentError_, OSError, subprocess.SubprocessError) as e:
            failed.write_text(f"{time.ctime()}: {e}\n")
            shutil.rmtree(path, ignore_errors=True)
            raise EnvironmentError_(str(e)) from None
        failed.unlink(missing_ok=True)
        prepared = _ready(spec, path, built=True)
        log(f"environment {spec.key} ready after {time.monotonic() - started:.0f} s"
            + (f" (rung {prepared.rung}/4: {RUNGS[prepared.rung]})" if prepared.rung > 1 else ""))
        return prepared


def ensure(spec: EnvSpec | None, root: Path, log: Callable[[str], None] = print) -> Prepared:
    """The interpreter for ``spec`` (built if need be), or the server's own Python with a warning."""
    if spec is None:
        return Prepared(sys.executable, None, None)
    m = mode()
    if m == "server":  # asked for: runs on the server's own Python and packages, silently
        return Prepared(sys.executable, spec, None)
    try:
        return prepare(spec, root, log)
    except EnvironmentError_ as e:
        if m == "strict":
            raise
        log(f"WARNING: environment {spec.key} could not be built: {e}")
        log(f"[4/4] {spec.key}: the server's own Python")
        log(f"WARNING: falling back to the server's own Python ({sys.executable}); package versions differ "
            f"from the {spec.image or spec.key} image")
        return Prepared(sys.executable, spec, None)




def list_environments(root: Path) -> list[dict]:
    """One row per environment folder under ``root``: its marker data, size and state."""
    rows = []
    if not root.is_dir():
        return rows
    for path in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("_")):
        info: dict = {"folder": path.name, "path": str(path)}
        try:
            info.update(json.loads((path / READY).read_text()))
            info["state"] = "ready"
        except (OSError, ValueError):
            info["state"] = "incomplete"
        info.pop("installed", None)
        info.pop("requested_packages", None)
        info["size_mb"] = round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())
                                / 1e6, 1)
        last = path / "last_used"
        info["last_used"] = last.stat().st_mtime if last.exists() else info.get("created")
        rows.append(info)
    return rows


def touch(prepared: Prepared) -> None:
    """Record a use (``shipyard images prune --unused-days`` goes by it)."""
    if prepared.path is not None:
        try:
            (prepared.path / "last_used").touch()
        except OSError:
            pass


def remove(root: Path, folder: str) -> None:
    path = root / folder
    with _Lock(root / f"{folder}.lock"):
        shutil.rmtree(path, ignore_errors=True)
    for extra in (root / f"{folder}.lock", root / f"{folder}.failed.log"):
        extra.unlink(missing_ok=True)
