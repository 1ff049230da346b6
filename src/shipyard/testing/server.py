"""Start and stop a real Shipyard server process: used by the test fixtures, the benchmarks and the demo.

``ShipyardProcess(home).start()`` runs ``python -m shipyard.server.main`` in its own session on a free
loopback port and waits for ``/shipyard/health``. ``stop()`` sends SIGTERM to the server's pid only (never
to its process group: jobs and model servers it launched must survive a server restart), then SIGKILL.
``kill_processes_under(home)`` is the cleanup for tests: it kills every process whose command line or
environment names the home folder, so nothing a test started outlives it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from ..config import Settings
from ..procs import _alive, _names_home, kill_processes_under, processes_under  # noqa: F401 (re-exported)

START_TIMEOUT = 30.0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _tail(path: Path, n: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


class ShipyardProcess:
    """A Shipyard server in a subprocess, on 127.0.0.1 and a free (or given) port."""

    def __init__(self, home: str | Path, port: int | None = None, env: dict[str, str] | None = None,
                 log_level: str = "info"):
        self.home = Path(home)
        self.port = port or free_port()
        self.extra_env = dict(env or {})
        self.log_level = log_level
        self.proc: subprocess.Popen | None = None

    # --- lifecycle ---
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def _server_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("SHIPYARD_") and not k.startswith("AWS_ENDPOINT_URL")}
        env.update(self.extra_env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        # Framework scripts run on the server's own Python unless the caller asks for image environments
        # (SHIPYARD_ENVIRONMENTS=auto): building one takes minutes (see shipyard.environments).
        env.setdefault("SHIPYARD_ENVIRONMENTS", "server")
        return env

    def start(self, timeout: float = START_TIMEOUT) -> "ShipyardProcess":
        if self.proc is not None and self.proc.poll() is None:
            return self
        self.home.mkdir(parents=True, exist_ok=True)
        out = open(self.home / "server.stdout", "ab")
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "shipyard.server.main", "--home", str(self.home), "--port",
                 str(self.port), "--host", "127.0.0.1", "--log-level", self.log_level],
                env=self._server_env(), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Shipyard server exited with {self.proc.returncode} during start-up:\n"
                                   + _tail(self.home / "server.stdout"))
            try:
                with urllib.request.urlopen(f"{self.url}/shipyard/health", timeout=1) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.05)
        self.kill9()
        raise RuntimeError(f"Shipyard server not healthy after {timeout:.0f} s:\n"
                           + _tail(self.home / "server.stdout"))

    def stop(self, timeout: float = 15.0, kill_children: bool = False) -> None:
        """SIGTERM the server (only its pid), wait, SIGKILL if needed; optionally kill what it launched."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if kill_children:
            kill_processes_under(self.home)

    def kill9(self) -> None:
        """Crash the server (SIGKILL): no shutdown code runs, as after a power cut."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def restart(self) -> "ShipyardProcess":
        self.stop()
        return self.start()

    # --- clients ---
    def keys(self) -> tuple[str, str]:
        env = self.extra_env
        if env.get("SHIPYARD_ACCESS_KEY_ID") and env.get("SHIPYARD_SECRET_ACCESS_KEY"):
            return env["SHIPYARD_ACCESS_KEY_ID"], env["SHIPYARD_SECRET_ACCESS_KEY"]
        data = json.loads((self.home / "credentials.json").read_text())
        return (env.get("SHIPYARD_ACCESS_KEY_ID", data["access_key_id"]),
                env.get("SHIPYARD_SECRET_ACCESS_KEY", data["secret_access_key"]))

    @property
    def region(self) -> str:
        return self.extra_env.get("SHIPYARD_REGION", "us-east-1")

    @property
    def settings(self) -> Settings:
        """The running server's settings (from ``<home>/server.json``), with the key pair."""
        info = json.loads((self.home / "server.json").read_text())
        key_id, secret = self.keys()
        return Settings(home=self.home, host=info["host"], port=info["port"], region=info["region"],
                        account=info["account"], access_key_id=key_id, secret_access_key=secret,
                        database_url=info["database_url"], object_store_url=info["object_store_url"],
                        runner=info["runner"])

    def env(self) -> dict[str, str]:
        """AWS_* variables that point boto3 (in a subprocess) at this server."""
        key_id, secret = self.keys()
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": key_id,
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }

    def session(self):
        import boto3

        key_id, secret = self.keys()
        return boto3.session.Session(aws_access_key_id=key_id, aws_secret_access_key=secret,
                                     region_name=self.region)

    def client(self, service_name: str, **kwargs: Any):
        """A boto3 client for ``service_name`` pointed at this server (retries low, path-style S3)."""
        from botocore.config import Config

        config = Config(retries={"max_attempts": 2, "mode": "standard"}, s3={"addressing_style": "path"},
                        connect_timeout=5, read_timeout=120)
        if "config" in kwargs:
            config = config.merge(kwargs.pop("config"))
        return self.session().client(service_name, endpoint_url=self.url, config=config, **kwargs)

    def __repr__(self) -> str:
        return f"ShipyardProcess(home={str(self.home)!r}, port={self.port}, pid={self.pid})"
