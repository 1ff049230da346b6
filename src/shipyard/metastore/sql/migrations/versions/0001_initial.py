"""Initial schema: generic resources, log streams and events, metric points (without a step).

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _name(length: int) -> sa.types.TypeEngine:
    # Byte-wise ordering on PostgreSQL whatever the database locale, as on SQLite.
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "resources",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("name", _name(255), nullable=False),
        sa.Column("name_key", _name(255), nullable=False),
        sa.Column("arn", sa.Text, nullable=False),
        sa.Column("status", _name(64), nullable=False),
        sa.Column("parent", _name(512), nullable=False, server_default=""),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("modified", sa.Float, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("doc", sa.Text, nullable=False),
        sa.UniqueConstraint("kind", "name_key", name="uq_resources_kind_name"),
    )
    op.create_index("ix_resources_kind_created", "resources", ["kind", "created"])
    op.create_index("ix_resources_kind_status", "resources", ["kind", "status"])
    op.create_index("ix_resources_kind_parent", "resources", ["kind", "parent"])
    op.create_table(
        "log_streams",
        sa.Column("log_group", _name(512), primary_key=True),
        sa.Column("log_stream", _name(512), primary_key=True),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("first_event", sa.Float, nullable=False, server_default="0"),
        sa.Column("last_event", sa.Float, nullable=False, server_default="0"),
        sa.Column("last_ingestion", sa.Float, nullable=False, server_default="0"),
        sa.Column("stored_bytes", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("last_seq", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.create_table(
        "log_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("log_group", _name(512), nullable=False),
        sa.Column("log_stream", _name(512), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("timestamp", sa.Float, nullable=False),
        sa.Column("ingestion", sa.Float, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.UniqueConstraint("log_group", "log_stream", "seq", name="uq_log_events_seq"),
    )
    op.create_table(
        "metrics",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job", _name(255), nullable=False),
        sa.Column("name", _name(255), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("timestamp", sa.Float, nullable=False),
    )
    op.create_index("ix_metrics_job", "metrics", ["job"])


def downgrade() -> None:
    op.drop_table("metrics")
    op.drop_table("log_events")
    op.drop_table("log_streams")
    op.drop_table("resources")
