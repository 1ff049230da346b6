"""Fixtures for the metadata-store tests: SQLite files in tmp_path, PostgreSQL stores in throw-away schemas.

PostgreSQL comes from SHIPYARD_TEST_POSTGRES_URL, else postgresql://postgres@127.0.0.1:5432/test; when
neither answers, PostgreSQL tests skip and say why. Each PostgreSQL store lives in its own schema
(``shipyard_test_<random>``, selected with the store URL's ``?schema=`` parameter), dropped afterwards,
so concurrent test runs never collide.
"""

from __future__ import annotations

import os
import secrets

import pytest

from shipyard.metastore.sql.store import SqlMetaStore
from shipyard.testing.metastore import StoreFactory

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _pg_base_url() -> str:
    return os.environ.get("SHIPYARD_TEST_POSTGRES_URL") or DEFAULT_PG_URL


@pytest.fixture(scope="session")
def metastore_pg_base():
    """The PostgreSQL server URL (psycopg form), or skip when it cannot be reached."""
    import psycopg

    url = _pg_base_url()
    dsn = url.replace("postgresql+psycopg://", "postgresql://").replace("postgres://", "postgresql://", 1)
    try:
        psycopg.connect(dsn, connect_timeout=3).close()
    except Exception as exc:  # noqa: BLE001 - any failure means "no server here"
        pytest.skip(f"PostgreSQL not reachable at {url} ({type(exc).__name__}: {exc}); "
                    "set SHIPYARD_TEST_POSTGRES_URL to run these tests")
    return dsn


@pytest.fixture
def pg_schema_url(metastore_pg_base):
    """A store URL pointing at a fresh schema; the schema is dropped afterwards."""
    import psycopg

    schema = f"shipyard_test_{secrets.token_hex(6)}"
    with psycopg.connect(metastore_pg_base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in metastore_pg_base else "?"
    yield f"{metastore_pg_base}{sep}schema={schema}"
    with psycopg.connect(metastore_pg_base, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def pg_store_factory(pg_schema_url):
    factory = StoreFactory(lambda: SqlMetaStore(pg_schema_url))
    yield factory
    factory.close_all()


@pytest.fixture
def sqlite_store_factory(sqlite_url):
    factory = StoreFactory(lambda: SqlMetaStore(sqlite_url))
    yield factory
    factory.close_all()


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'meta' / 'shipyard.db'}"
