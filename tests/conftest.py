"""Shared fixtures: a real Shipyard server process, a factory for more, and a PostgreSQL URL.

- ``server`` (session): one running server on a free 127.0.0.1 port with its own home folder. Use
  ``server.client("sagemaker")`` for boto3 clients and ``server.env()`` for subprocesses.
- ``server_factory`` (function): ``server_factory(home=None, env=None)`` starts another server you may
  ``.stop()``, ``.kill9()`` and ``.start()`` again on the same home and port (restart tests).
- ``pg_url`` (session): a reachable PostgreSQL URL, or the test is skipped saying why.

At teardown every process that names a fixture's home folder (jobs, model servers) is killed, so nothing a
test launched outlives the session.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shipyard.testing.server import ShipyardProcess

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"

# Framework scripts run on the server's own Python in tests (building an image's environment takes minutes);
# tests/environments turns environments on where it needs them.
os.environ.setdefault("SHIPYARD_ENVIRONMENTS", "server")


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    proc = ShipyardProcess(tmp_path_factory.mktemp("shipyard-home"))
    proc.start()
    try:
        yield proc
    finally:
        proc.stop(kill_children=True)


@pytest.fixture
def server_factory(tmp_path):
    started: list[ShipyardProcess] = []

    def make(home: str | Path | None = None, env: dict[str, str] | None = None) -> ShipyardProcess:
        proc = ShipyardProcess(home or tmp_path / f"shipyard-home-{len(started)}", env=env)
        started.append(proc)
        return proc.start()

    try:
        yield make
    finally:
        for proc in started:
            proc.stop(kill_children=True)


def _pg_reachable(url: str) -> str | None:
    """None if we can connect to ``url``, else the reason we cannot."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install -e '.[test]')"
    try:
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=3):
            return None
    except Exception as e:  # noqa: BLE001 - any failure means "not available here"
        return f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"


@pytest.fixture(scope="session")
def pg_url() -> str:
    url = os.environ.get("SHIPYARD_TEST_POSTGRES_URL", DEFAULT_PG_URL)
    reason = _pg_reachable(url)
    if reason is not None:
        pytest.skip(f"PostgreSQL not reachable at {url} ({reason}); set SHIPYARD_TEST_POSTGRES_URL to run")
    return url
