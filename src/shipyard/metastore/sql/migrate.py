"""Bring a database's schema to a revision (``head`` by default), safely when several processes open it.

Runs alembic programmatically on one connection whose transaction first takes a database-wide lock
(PostgreSQL: an advisory lock; SQLite: ``BEGIN IMMEDIATE``), so concurrent openers wait for the first
one, then find the schema already current. Both databases run DDL transactionally, so a failed
upgrade leaves the previous revision intact.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from .dialects import WRITE_OPTION, lock_for_migration

MIGRATIONS = Path(__file__).with_name("migrations")


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: sa.Engine, schema: str | None = None, revision: str = "head") -> None:
    """Upgrade the database behind ``engine`` to ``revision`` under the cross-process migration lock."""
    cfg = _config()
    target = ScriptDirectory.from_config(cfg).get_current_head() if revision == "head" else revision
    if current_revision(engine) == target:
        return  # fast path: nothing to do, no write lock taken
    with engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            lock_for_migration(conn, schema)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
