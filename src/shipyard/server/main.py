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
import asyncio
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
from .limits import busy_app, env_positive

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


# Connection limits (environment variables, read at start): a client must finish its request line and headers
# within HEADER_TIMEOUT seconds of connecting (or of its next request's first byte) and keep them under
# MAX_HEADER_BYTES; an idle keep-alive connection is closed after KEEP_ALIVE seconds; at most MAX_CONNECTIONS
# connections are served at once (more get 503). Body read timeouts live in the app (``shipyard.server.app``).
HEADER_TIMEOUT = env_positive("SHIPYARD_HEADER_TIMEOUT", 15.0)
KEEP_ALIVE = int(env_positive("SHIPYARD_KEEP_ALIVE_TIMEOUT", 30))
MAX_CONNECTIONS = int(env_positive("SHIPYARD_MAX_CONNECTIONS", 1000))
MAX_HEADER_BYTES = 64 * 1024


def header_timeout_protocol(header_timeout: float = HEADER_TIMEOUT, max_header_bytes: int = MAX_HEADER_BYTES):
    """uvicorn's httptools protocol with what it lacks against slow or endless headers.

    uvicorn times out an idle keep-alive connection, but not a connection that never sends a request, nor one
    that sends its headers a byte at a time (slow loris), nor headers without end. This subclass arms a timer
    when a connection opens and when a request's first byte arrives, cancels it when the headers are complete,
    and closes the connection (``408``) if it fires; headers over ``max_header_bytes`` get ``431``. A request
    over the connection limit gets an AWS error (``SlowDown`` / ``ServiceUnavailable``, see
    :mod:`shipyard.server.limits`) rather than uvicorn's plain-text 503.
    """
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, service_unavailable

    busy = busy_app(MAX_CONNECTIONS)

    class HeaderTimeoutProtocol(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None
        _header_bytes = 0
        _in_headers = False

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm_header_timer()

        def connection_lost(self, exc) -> None:
            self._cancel_header_timer()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._header_timer is not None:
                self._header_bytes += len(data)
            super().data_received(data)
            if self.transport.is_closing():
                return
            if self._in_headers and self._header_bytes > max_header_bytes:
                self._cancel_header_timer()
                self._reject(431, b"Request Header Fields Too Large")
            elif self._header_timer is None and (self.cycle is None or self.cycle.response_complete):
                self._arm_header_timer()  # bytes that begin no request (blank lines) still owe us headers

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._in_headers = True
            if self._header_timer is None:
                self._arm_header_timer()

        def on_headers_complete(self) -> None:
            self._in_headers = False
            self._cancel_header_timer()
            super().on_headers_complete()

        def _start_asgi_task(self, cycle, app) -> None:
            if app is service_unavailable:  # over the connection limit: an AWS error boto3 can name and retry
                app = busy
            super()._start_asgi_task(cycle, app)

        def _arm_header_timer(self) -> None:
            self._cancel_header_timer()
            self._header_bytes = 0
            self._header_timer = self.loop.call_later(header_timeout, self._header_timed_out)

        def _cancel_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _header_timed_out(self) -> None:
            self._header_timer = None
            if self.transport.is_closing() or (self.cycle is not None and not self.cycle.response_complete):
                return
            if self._in_headers:
                self._reject(408, b"Request Timeout")
            else:
                self.transport.close()

        def _reject(self, status: int, reason: bytes) -> None:
            self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                                 % (status, reason))
            self.transport.close()

    return HeaderTimeoutProtocol


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(0)


def run_server(settings: Settings, log_level: str = "info") -> None:
    """Serve until SIGTERM/SIGINT. Blocks. Raises :class:`HomeInUse` if another server runs on the home."""
    from ..config import private_umask, secure_home

    private_umask()  # database, objects, logs and job folders: 0600 files, 0700 folders
    secure_home(settings.home)
    lock_fd = acquire_home_lock(settings.home)  # first: `shipyard status` sees a starting server by its lock

    import uvicorn

    from ..context import build_services
    from .app import create_app

    configure_logging(settings.home, log_level)
    from ..io import archives

    # archives the server unpacks itself (an endpoint's model) under its settings' caps; jobs get them in job.json
    archives.configure(archives.Caps.from_json(settings.archive_caps()))
    # uvicorn restores the previous SIGTERM handler and raises the signal again once it has shut down: with
    # the default handler that kills the process before the clean-up below runs (server.json would stay).
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    log.info("starting Shipyard on %s (home %s, metadata %s, objects %s, runner %s)", settings.endpoint_url,
             settings.home, settings.database_url, settings.object_store_url, settings.runner)
    services = build_services(settings)
    try:
        app = create_app(services)
        try:
            http: type | str = header_timeout_protocol()
        except ImportError:  # no httptools: uvicorn's h11 protocol, whose incomplete-event cap bounds headers
            log.warning("httptools is not installed: request headers are not timed out")
            http = "h11"
        config = uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None,
                                access_log=False, lifespan="on", timeout_graceful_shutdown=3,
                                timeout_keep_alive=KEEP_ALIVE, server_header=False, http=http,
                                limit_concurrency=MAX_CONNECTIONS, h11_max_incomplete_event_size=MAX_HEADER_BYTES)
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
