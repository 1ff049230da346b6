"""The local image registry: Debian's ``docker-registry`` (the CNCF distribution server) on loopback, under the
Shipyard home, and a small client of its HTTP API v2.

:func:`ensure_registry` starts one per home when first needed (the ECR operations call it) and finds it again
afterwards, also from a restarted server: ``<home>/registry/registry.json`` records its pid and port, and a
registry that still answers is reused, as model servers are. Its storage is ``<home>/registry/storage``.

Access needs the one user ``AWS`` (the user name ECR's tokens carry) with a password made once per home and
kept beside the config (0600); ``htpasswd`` holds its bcrypt hash, which the distribution server requires.
GetAuthorizationToken hands out ``base64("AWS:<password>")``, so ``docker login`` with the token is what lets
a push in. Without the ``bcrypt`` package the registry runs without authentication and says so in its log.
"""

from __future__ import annotations

import base64
import fcntl
import json
import logging
import os
import secrets
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

USER = "AWS"
DEFAULT_BINARY = "docker-registry"
START_WAIT = 20.0  # seconds for a fresh registry to answer (well under one on a warm machine)

MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
)
INDEX_TYPES = MANIFEST_TYPES[2:]


class RegistryUnavailable(RuntimeError):
    """No registry could be started or reached; the message says what to install or where to look."""


@dataclass(frozen=True)
class RegistryInfo:
    """Where the registry listens (``host`` is ``127.0.0.1:<port>``, what image references name) and its login."""

    host: str
    user: str
    password: str
    root: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def token(self) -> str:
        """The ECR authorization token: ``base64("AWS:<password>")``, what ``docker login`` decodes."""
        return base64.b64encode(f"{self.user}:{self.password}".encode()).decode()


_lock = threading.Lock()
_children: dict[Path, subprocess.Popen] = {}  # registries this process started (kept so they are reaped)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _password(root: Path) -> str:
    path = root / "password"
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value)
    return value


def _write_htpasswd(root: Path, password: str) -> Path | None:
    try:
        import bcrypt
    except ImportError:
        log.warning("bcrypt is not installed: the local registry runs without authentication "
                    "(pip install 'shipyard[containers]' to require the ECR token)")
        return None
    path = root / "htpasswd"
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()
    path.write_text(f"{USER}:{hashed}\n")
    os.chmod(path, 0o600)
    return path


def _config(root: Path, port: int, htpasswd: Path | None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "info", "fields": {"service": "registry"}},
        # No blob-descriptor cache: DeleteRepository and untagging change the storage behind the server's
        # back (registry_client.py), and a stale cache would skip layer links on the next push.
        "storage": {"filesystem": {"rootdirectory": str(root / "storage")}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16),
                 "headers": {"X-Content-Type-Options": ["nosniff"]}},
    }
    if htpasswd is not None:
        config["auth"] = {"htpasswd": {"realm": "shipyard-ecr", "path": str(htpasswd)}}
    return config


def _pid_runs(pid: int, config_path: Path) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return os.fsencode(str(config_path)) in cmdline


def _answers(host: str, timeout: float = 2.0) -> bool:
    """True when a distribution server answers ``GET /v2/`` (200, or 401 asking for the login)."""
    try:
        with urllib.request.urlopen(f"http://{host}/v2/", timeout=timeout) as resp:
            return resp.status == 200
    except urllib.error.HTTPError as e:
        return e.code == 401 and "registry/2.0" in (e.headers.get("Docker-Distribution-Api-Version") or "")
    except OSError:
        return False


def ensure_registry(home: Path, binary: str = DEFAULT_BINARY, wait: float = START_WAIT) -> RegistryInfo:
    """The registry of ``home``: the one recorded in ``<home>/registry/registry.json`` if it still answers,
    else a new one started now (at most one starter at a time, across threads and processes)."""
    root = Path(home) / "registry"
    with _lock:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(root / "registry.lock", "w") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            password = _password(root)
            state_path = root / "registry.json"
            config_path = root / "config.yml"
            if state_path.exists():
                try:
                    state = json.loads(state_path.read_text())
                    host = f"127.0.0.1:{int(state['port'])}"
                    if _pid_runs(int(state["pid"]), config_path) and _answers(host):
                        return RegistryInfo(host, USER, password, root)
                except (ValueError, KeyError, TypeError):
                    pass
            return _start(root, binary, password, config_path, state_path, wait)


def _start(root: Path, binary: str, password: str, config_path: Path, state_path: Path,
           wait: float) -> RegistryInfo:
    exe = binary if os.sep in binary else shutil.which(binary)
    if not exe or not os.access(exe, os.X_OK):
        raise RegistryUnavailable(f"the registry program {binary!r} is not installed: install Debian's "
                                  "docker-registry package (apt-get install -y docker-registry) or set "
                                  "SHIPYARD_REGISTRY_BINARY to the distribution server's path")
    (root / "storage").mkdir(mode=0o700, exist_ok=True)
    htpasswd = _write_htpasswd(root, password)
    port = _free_port()
    config_path.write_text(json.dumps(_config(root, port, htpasswd), indent=1))  # JSON is YAML
    os.chmod(config_path, 0o600)
    log_path = root / "registry.log"
    with open(log_path, "ab") as out:
        proc = subprocess.Popen([exe, "serve", str(config_path)], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    _children[root] = proc
    host = f"127.0.0.1:{port}"
    deadline = time.monotonic() + wait
    delay = 0.02
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RegistryUnavailable(f"the registry exited with {proc.returncode} at start-up; see {log_path}")
        if _answers(host, timeout=1.0):
            state_path.write_text(json.dumps({"pid": proc.pid, "port": port}))
            log.info("started the local registry at %s (pid %d, storage %s)", host, proc.pid, root / "storage")
            return RegistryInfo(host, USER, password, root)
        time.sleep(delay)
        delay = min(delay * 2, 0.25)
    proc.kill()
    proc.wait(timeout=10)
    raise RegistryUnavailable(f"the registry did not answer on {host} within {wait:.0f} s; see {log_path}")


def stop_registry(home: Path, grace: float = 5.0) -> bool:
    """Stop the registry of ``home`` if one runs (test teardown, ``shipyard stop``). True if one was stopped."""
    root = Path(home) / "registry"
    try:
        state = json.loads((root / "registry.json").read_text())
        pid = int(state["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if not _pid_runs(pid, root / "config.yml"):
        return False
    os.kill(pid, 15)
    child = _children.pop(root, None)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if child is not None and child.poll() is not None:
            return True
        if child is None and not _pid_runs(pid, root / "config.yml"):
            return True
        time.sleep(0.05)
    os.kill(pid, 9)
    if child is not None:
        child.wait(timeout=5)
    return True
