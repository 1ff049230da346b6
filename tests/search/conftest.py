"""Store URLs for the search tests: a SQLite file in tmp_path, and a throw-away PostgreSQL schema (skipped,
saying why, when PostgreSQL is not reachable), as tests/metastore/conftest.py provides for its own tests."""

from __future__ import annotations

import os
import secrets

import pytest

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'meta' / 'shipyard.db'}"


@pytest.fixture(scope="session")
def metastore_pg_base():
    """The PostgreSQL server URL, or skip saying why (the name marks these tests integration, see
    tests/conftest.py's INTEGRATION_FIXTURES)."""
    import psycopg

    base = (os.environ.get("SHIPYARD_TEST_POSTGRES_URL") or DEFAULT_PG_URL).replace("postgresql+psycopg://",
                                                                                    "postgresql://")
    try:
        psycopg.connect(base, connect_timeout=3).close()
    except Exception as exc:  # noqa: BLE001 - any failure means "no server here"
        pytest.skip(f"PostgreSQL not reachable at {base} ({type(exc).__name__}); set SHIPYARD_TEST_POSTGRES_URL")
    return base


@pytest.fixture
def pg_schema_url(metastore_pg_base):
    import psycopg

    base = metastore_pg_base
    schema = f"shipyard_test_{secrets.token_hex(6)}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    yield f"{base}{'&' if '?' in base else '?'}schema={schema}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
