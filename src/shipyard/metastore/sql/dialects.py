"""Everything that differs between SQLite and PostgreSQL, in one place.

The store itself is written once against SQLAlchemy Core; this module turns a URL into a configured
engine (SQLite: WAL, busy timeout, foreign keys, explicit BEGIN so that writers take the lock up front;
PostgreSQL: psycopg 3, an optional ``?schema=NAME`` mapped to ``search_path``), serializes schema
migrations between processes and offers the few dialect-specific statements the store needs.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import weakref
import zlib
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import StaticPool

SQLITE_BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = "shipyard_write"  # connection execution option: this transaction will write
SINGLE_READ_OPTION = "shipyard_single_read"  # one SELECT only: SQLite needs no BEGIN/COMMIT round trip


def normalize_url(url: str) -> tuple[URL, str | None]:
    """Return (SQLAlchemy URL, schema) for a store URL; ``postgres://`` and ``postgresql://`` use psycopg 3."""
    parsed = make_url(url)
    schema = None
    backend = parsed.get_backend_name()
    if backend in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
        schema = parsed.query.get("schema")
        if isinstance(schema, tuple):
            schema = schema[-1]
        parsed = parsed.difference_update_query(["schema"])
    elif backend != "sqlite":
        raise ValueError(f"unsupported metadata store URL {url!r}: use sqlite:///PATH or postgresql://...")
    return parsed, schema


def is_memory_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _forget_pool_in_forked_child(engine: Engine) -> None:
    """A forked child must not reuse its parent's pooled connections (they share one socket/file lock)."""
    ref = weakref.ref(engine)

    def after_fork() -> None:
        alive = ref()
        if alive is not None:
            alive.dispose(close=False)

    os.register_at_fork(after_in_child=after_fork)


def make_engine(url: str) -> tuple[Engine, str | None]:
    """Create the engine for ``url``; returns (engine, schema or None)."""
    parsed, schema = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = _sqlite_engine(parsed)
        if not is_memory_sqlite(parsed):
            _forget_pool_in_forked_child(engine)
        return engine, None
    connect_args = {}
    if schema:
        if not schema.replace("_", "").isalnum():
            raise ValueError(f"invalid schema name {schema!r}")
        connect_args["options"] = f"-csearch_path={schema}"
    engine = sa.create_engine(parsed, connect_args=connect_args, pool_size=8, max_overflow=16,
                              pool_pre_ping=True)
    _forget_pool_in_forked_child(engine)
    return engine, schema


def _sqlite_engine(url: URL) -> Engine:
    if is_memory_sqlite(url):
        # One shared connection; SqlMetaStore serializes transactions with a lock for this case.
        engine = sa.create_engine("sqlite://", poolclass=StaticPool,
                                  connect_args={"check_same_thread": False})
    else:
        Path(url.database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
                                  pool_size=8, max_overflow=16)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Take transaction control from the sqlite3 module: we emit BEGIN ourselves (below).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if not is_memory_sqlite(url):
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn):
        # A writer takes the write lock at BEGIN, so a read-modify-write never fails to upgrade its lock
        # (SQLITE_BUSY without waiting) and busy_timeout applies.
        options = conn.get_execution_options()
        if options.get(WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif not options.get(SINGLE_READ_OPTION):  # a lone SELECT is atomic by itself in autocommit mode
            conn.exec_driver_sql("BEGIN")

    return engine


@contextlib.contextmanager
def opening_lock(engine: Engine) -> Iterator[None]:
    """Held while a process opens (and migrates) a SQLite file, so opens never overlap between processes.

    Why: a fresh file's first connection switches it to WAL, and SQLite answers a concurrent cold open with
    "database is locked" at moments the busy timeout does not cover (the switch itself, WAL recovery). An
    ``flock`` on a sidecar file (``<db>.open-lock``) queues the openers instead; once the file is in WAL and
    migrated, later opens take the lock for a few milliseconds. PostgreSQL needs nothing (advisory lock)."""
    database = engine.url.database if engine.url.get_backend_name() == "sqlite" else None
    if not database or is_memory_sqlite(engine.url):
        yield
        return
    fd = os.open(f"{Path(database).expanduser()}.open-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def needs_serial_lock(engine: Engine) -> threading.Lock | None:
    """A lock to serialize transactions when all threads share one connection (in-memory SQLite)."""
    return threading.RLock() if isinstance(engine.pool, StaticPool) else None


def lock_for_migration(conn: sa.Connection, schema: str | None) -> None:
    """Inside the migration transaction: wait until no other process migrates the same database."""
    if conn.dialect.name == "postgresql":
        key = zlib.crc32(f"shipyard-migrate:{schema or ''}".encode())
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
        if schema:
            conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    # SQLite: the migration transaction is opened with BEGIN IMMEDIATE, which is the lock.


def insert_ignore(conn: sa.Connection, table: sa.Table, values: dict, keys: list[str]) -> None:
    """INSERT ... ON CONFLICT (keys) DO NOTHING, for either dialect."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    conn.execute(insert(table).values(**values).on_conflict_do_nothing(index_elements=keys))
