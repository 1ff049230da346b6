"""Build, find and reuse environment venvs: ``<root>/<key>-py<ver>-<digest>/`` with a ``ready.json`` marker.

:func:`ensure` is what jobs call: it returns the interpreter to run the user's code with, building the venv on
first use (logging "preparing environment sklearn-1.2-1 ... (first use)" through ``log``, which is the job's
own log). Creation happens under an exclusive ``flock`` on ``<folder>.lock``, so two jobs that need the same
environment at once build it once: the second waits, then finds it ready.

The venv is clean (no ``--system-site-packages``): the framework at the image's version must win over the
server's own, as in the container. It is made with ``uv`` where installed (much faster), else ``python -m
venv`` and pip. Our ``sagemaker_xgboost_container`` shim is copied into its site-packages, plus a ``.pth`` that
restores the ``collections`` aliases the old ``sagemaker-containers`` toolkit needs on Python >= 3.10.

Where it cannot be built (offline, pip fails) or ``SHIPYARD_ENVIRONMENTS=server``, the job runs on the server's
own Python with a warning in its log; ``SHIPYARD_ENVIRONMENTS=strict`` fails the job instead. A failed build
is not retried for ``RETRY_AFTER`` seconds (its log stays in ``<folder>.failed.log``).
"""

from __future__ import annotations

import fcntl
import json
import os
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


class EnvironmentError_(RuntimeError):
    """An environment could not be built (strict mode turns this into a job failure)."""


@dataclass
class Prepared:
    python: str            # the interpreter to run user code with
    spec: EnvSpec | None
    path: Path | None      # the venv, None when falling back to the server's Python
    built: bool = False    # True when this call built it

    @property
    def fallback(self) -> bool:
        return self.path is None


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
                          env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONNOUSERSITE": "1"},
                          preexec_fn=_die_with_parent())
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-15:])
        raise EnvironmentError_(f"{' '.join(cmd[:4])} ... failed with exit code {proc.returncode}:\n{tail}")


def build(spec: EnvSpec, path: Path, log: Callable[[str], None] = print) -> None:
    """Create the venv at ``path`` (removing any half-built one). Call with the lock held."""
    if path.exists():
        shutil.rmtree(path)
    started = time.monotonic()
    base = getattr(sys, "_base_executable", None) or sys.executable
    uv = shutil.which("uv")
    if uv:
        _run([uv, "venv", "--quiet", "--python", base, str(path)], 300)
        install = [uv, "pip", "install", "--quiet", "--python", str(venv_python(path)), "pip"]  # pip: requirements.txt
    else:
        _run([base, "-m", "venv", str(path)], 300)
        install = [str(venv_python(path)), "-m", "pip", "install", "--quiet", "--no-input"]
    log(f"installing {' '.join(spec.packages)}")
    _run([*install, *spec.packages], BUILD_TIMEOUT)
    site = site_packages(path)
    for pkg in SHIM_DIR.iterdir():
        if pkg.is_dir() and not pkg.name.startswith(("_", ".")):
            shutil.copytree(pkg, site / pkg.name, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(SHIM_DIR / f"{COMPAT}.py", site / f"{COMPAT}.py")
    (site / f"{COMPAT}.pth").write_text(f"import {COMPAT}\n")
    freeze = subprocess.run([str(venv_python(path)), "-m", "pip", "list", "--format=json"], capture_output=True,
                            text=True, timeout=120)
    try:
        installed = {p["name"].lower(): p["version"] for p in json.loads(freeze.stdout or "[]")}
    except ValueError:
        installed = {}
    marker = {**spec.to_json(), "created": time.time(), "build_seconds": round(time.monotonic() - started, 1),
              "installed": installed}
    (path / (READY + ".tmp")).write_text(json.dumps(marker, indent=1))
    os.replace(path / (READY + ".tmp"), path / READY)


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
        return Prepared(str(venv_python(path)), spec, path)
    failed = root / f"{spec.dirname}.failed.log"
    waiting = lambda: log(f"environment {spec.key} is being built by another job; waiting for it")  # noqa: E731
    with _Lock(root / f"{spec.dirname}.lock", waiting):
        if is_ready(path) and not force:  # another job built it while we waited
            log(f"environment {spec.key} is ready (built by another job)")
            return Prepared(str(venv_python(path)), spec, path)
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
        log(f"environment {spec.key} ready after {time.monotonic() - started:.0f} s")
        return Prepared(str(venv_python(path)), spec, path, built=True)


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
