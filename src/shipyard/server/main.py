"""Run the Shipyard server: build the services, serve the ASGI app with uvicorn, stop cleanly.

``python -m shipyard.server.main --home H --port P --host 127.0.0.1`` (the CLI's ``shipyard server`` calls
:func:`run_server`). On SIGTERM/SIGINT uvicorn stops accepting, finishes in-flight requests for a few
seconds, and then the controllers are stopped. Running work (training jobs, model servers) is left alone on
purpose: the next server start re-attaches to it through the controllers.

The effective settings (without the secret key) are written to ``<home>/server.json`` so tools and tests
can find the port, pid and store URLs of a running server (``shipyard env``, ``status``, ``stop`` read it); a
clean stop removes it. One home has one server: ``<home>/server.lock`` is held (``flock``) while the server
runs, and a second server on the same home exits at once with a message naming the first one's pid. The lock
dies with the process, so a crashed server never blocks the next start.
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from ..config import Settings, load_settings

log = logging.getLogger("shipyard.server")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"


def configure_logging(home: Path, level: str = "INFO") -> None:
    """Log to stderr and to ``<home>/server.log`` (appending: a restart keeps the history)."""
    root = logging.getLogger()
    root.setLevel(level.upper())
    fmt = logging.Formatter(LOG_FORMAT)
    for h in list(root.handlers):
        if getattr(h, "_shipyard", False):
            root.removeHandler(h)
    for handler in (logging.StreamHandler(sys.stderr), logging.FileHandler(home / "server.log")):
        handler.setFormatter(fmt)
        handler._shipyard = True  # type: ignore[attr-defined]
        root.addHandler(handler)


def _write_server_info(settings: Settings) -> Path:
    info = {
        "pid": os.getpid(),
        "started": time.time(),
        "home": str(settings.home),
        "host": settings.host,
        "port": settings.port,
        "endpoint_url": settings.endpoint_url,
        "region": settings.region,
        "account": settings.account,
        "access_key_id": settings.access_key_id,
        "database_url": settings.database_url,
        "object_store_url": settings.object_store_url,
        "runner": settings.runner,
    }
    path = settings.home / "server.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(info, indent=1))
    os.replace(tmp, path)
    return path


class HomeInUse(RuntimeError):
    """Another live server holds this home's lock."""

    def __init__(self, home: Path, pid: int | None):
        self.home, self.pid = home, pid
        who = f"pid {pid}" if pid else "another process"
        super().__init__(f"another Shipyard server ({who}) is already running on home {home}; stop it with "
                         f"`shipyard stop --home {home}` or pick another --home")


class CannotListen(RuntimeError):
    """The server could not bind its address."""


def acquire_home_lock(home: Path) -> int:
    """Hold ``<home>/server.lock`` for this process's lifetime (an fd that children do not inherit).
    Raises :class:`HomeInUse` naming the holder's pid when another server has it."""
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(home / "server.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        os.close(fd)
        if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            raise
        raise HomeInUse(home, _lock_holder(home)) from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


def _lock_holder(home: Path) -> int | None:
    try:
        return int((home / "server.lock").read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None


def _remove_server_info(settings: Settings) -> None:
    path = settings.home / "server.json"
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(0)


def run_server(settings: Settings, log_level: str = "info") -> None:
    """Serve until SIGTERM/SIGINT. Blocks. Raises :class:`HomeInUse` if another server runs on the home."""
    settings.home.mkdir(parents=True, exist_ok=True)
    lock_fd = acquire_home_lock(settings.home)  # first: `shipyard status` sees a starting server by its lock

    import uvicorn

    from ..context import build_services
    from .app import create_app

    configure_logging(settings.home, log_level)
    # uvicorn restores the previous SIGTERM handler and raises the signal again once it has shut down: with
    # the default handler that kills the process before the clean-up below runs (server.json would stay).
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    log.info("starting Shipyard on %s (home %s, metadata %s, objects %s, runner %s)", settings.endpoint_url,
             settings.home, settings.database_url, settings.object_store_url, settings.runner)
    services = build_services(settings)
    try:
        app = create_app(services)
        config = uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None,
                                access_log=False, lifespan="on", timeout_graceful_shutdown=3,
                                timeout_keep_alive=30, server_header=False)
        server = uvicorn.Server(config)
        _write_server_info(settings)
        try:
            server.run()
        except SystemExit as e:  # uvicorn exits when it cannot bind; say so in one line
            if not server.started and e.code not in (0, None):
                raise CannotListen(f"could not listen on {settings.host}:{settings.port} (is the port in use? "
                                   "--port picks another)") from None
            raise
    finally:
        _remove_server_info(settings)
        log.info("stopping controllers (running jobs and model servers are left running)")
        if services.controllers is not None:
            services.controllers.stop()
        try:
            services.meta.close()
        except Exception:  # noqa: BLE001 - closing is best effort at exit
            log.exception("closing the metadata store failed")
        log.info("Shipyard stopped")
        os.close(lock_fd)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m shipyard.server.main", description=__doc__.split("\n")[0])
    parser.add_argument("--home", help="state folder (default $SHIPYARD_HOME or ~/.shipyard)")
    parser.add_argument("--host", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default 7070)")
    parser.add_argument("--log-level", default=os.environ.get("SHIPYARD_LOG_LEVEL", "info"))
    args = parser.parse_args(argv)
    settings = load_settings(args.home, host=args.host, port=args.port)
    try:
        run_server(settings, log_level=args.log_level)
    except (HomeInUse, CannotListen) as e:
        print(f"shipyard: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
