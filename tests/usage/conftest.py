"""Fixtures for the usage tests: a metadata store on SQLite and on PostgreSQL (a throw-away schema each)."""

from __future__ import annotations

import secrets

import pytest

from shipyard.metastore import open_metastore


@pytest.fixture(params=["sqlite", "postgresql"])
def meta(request, tmp_path):
    """The metadata store the meter writes to, on each backend the server supports."""
    if request.param == "sqlite":
        store = open_metastore(f"sqlite:///{tmp_path / 'shipyard.db'}")
        yield store
        store.close()
        return
    import psycopg

    base = request.getfixturevalue("pg_url").replace("postgresql+psycopg://", "postgresql://")
    schema = f"shipyard_usage_{secrets.token_hex(6)}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    store = open_metastore(f"{base}{'&' if '?' in base else '?'}schema={schema}")
    try:
        yield store
    finally:
        store.close()
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
