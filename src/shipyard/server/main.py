"""Run the Shipyard server: build the services, serve the ASGI app with uvicorn, stop cleanly.

``python -m shipyard.server.main --home H --port P --host 127.0.0.1`` (the CLI's ``shipyard server`` calls
:func:`run_server`). On SIGTERM/SIGINT uvicorn stops accepting, finishes in-flight requests for a few
seconds, and then the controllers are stopped. Running work (training jobs, model servers) is left alone on
purpose: the next server start re-attaches to it through the controllers.

The effective settings (without the secret key) are written to ``<home>/server.json`` so tools and tests
can find the port, pid and store URLs of a running server.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
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


def run_server(settings: Settings, log_level: str = "info") -> None:
    """Serve until SIGTERM/SIGINT. Blocks."""
    import uvicorn

    from ..context import build_services
    from .app import create_app

    settings.home.mkdir(parents=True, exist_ok=True)
    configure_logging(settings.home, log_level)
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
        server.run()
    finally:
        log.info("stopping controllers (running jobs and model servers are left running)")
        if services.controllers is not None:
            services.controllers.stop()
        try:
            services.meta.close()
        except Exception:  # noqa: BLE001 - closing is best effort at exit
            log.exception("closing the metadata store failed")
        log.info("Shipyard stopped")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m shipyard.server.main", description=__doc__.split("\n")[0])
    parser.add_argument("--home", help="state folder (default $SHIPYARD_HOME or ~/.shipyard)")
    parser.add_argument("--host", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default 7070)")
    parser.add_argument("--log-level", default=os.environ.get("SHIPYARD_LOG_LEVEL", "info"))
    args = parser.parse_args(argv)
    settings = load_settings(args.home, host=args.host, port=args.port)
    run_server(settings, log_level=args.log_level)


if __name__ == "__main__":
    main()
