"""SQL-backend specifics beyond the conformance suite: URL handling, SQLite settings, extra queries."""

from __future__ import annotations

import pytest

from shipyard.metastore import LogEvent, open_metastore
from shipyard.metastore.sql.dialects import make_engine, normalize_url
from shipyard.metastore.sql.store import SqlMetaStore


def test_url_normalization_and_dispatch(tmp_path):
    url, schema = normalize_url("postgres://u:p@db:5433/shipyard?schema=team_a&sslmode=disable")
    assert (url.drivername, url.host, url.port, url.database, schema) == (
        "postgresql+psycopg", "db", 5433, "shipyard", "team_a")
    assert dict(url.query) == {"sslmode": "disable"}
    assert normalize_url("postgresql://db/x")[0].drivername == "postgresql+psycopg"
    assert normalize_url("postgresql+psycopg://db/x")[1] is None
    with pytest.raises(ValueError):
        normalize_url("mysql://db/x")
    with pytest.raises(ValueError):
        make_engine("postgresql://db/x?schema=bad;drop")
    with pytest.raises(ValueError):
        open_metastore("mongodb://x")
    store = open_metastore(f"sqlite:///{tmp_path}/nested/dir/db.sqlite")  # parent folders are created
    try:
        assert isinstance(store, SqlMetaStore)
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000
    finally:
        store.close()


def test_list_log_groups(sqlite_store_factory):
    store = sqlite_store_factory()
    assert store.list_log_groups() == []
    for group in ["/aws/sagemaker/TrainingJobs", "/aws/sagemaker/Endpoints/b", "/aws/sagemaker/Endpoints/a", "x_y"]:
        store.append_logs(group, "s1", [LogEvent(1.0, "m")])
        store.append_logs(group, "s2", [LogEvent(1.0, "m")])
    assert store.list_log_groups() == ["/aws/sagemaker/Endpoints/a", "/aws/sagemaker/Endpoints/b",
                                       "/aws/sagemaker/TrainingJobs", "x_y"]
    assert store.list_log_groups("/aws/sagemaker/Endpoints/") == ["/aws/sagemaker/Endpoints/a",
                                                                  "/aws/sagemaker/Endpoints/b"]
    assert store.list_log_groups("x%") == []


def test_postgres_schema_parameter_creates_the_schema(metastore_pg_base):
    import secrets

    import psycopg

    schema = f"shipyard_test_{secrets.token_hex(6)}"
    store = SqlMetaStore(f"{metastore_pg_base}?schema={schema}")
    try:
        store.create("model", "m", "arn:m", "x", {})
        with psycopg.connect(metastore_pg_base) as conn:
            tables = {r[0] for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,))}
        assert {"resources", "log_events", "log_streams", "metrics", "alembic_version"} <= tables
    finally:
        store.close()
        with psycopg.connect(metastore_pg_base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
