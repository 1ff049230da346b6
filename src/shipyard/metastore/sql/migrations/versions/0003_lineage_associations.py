"""Lineage associations: directed, typed edges between lineage entities (artifacts, actions, contexts,
experiments, trials, trial components), looked up by either end for QueryLineage's breadth-first walk.

Revision ID: 0003_lineage
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_lineage"
down_revision = "0002"
branch_labels = None
depends_on = None


def _name(length: int) -> sa.types.TypeEngine:
    # Byte-wise ordering on PostgreSQL whatever the database locale, as on SQLite.
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "associations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source_arn", _name(512), nullable=False),
        sa.Column("destination_arn", _name(512), nullable=False),
        sa.Column("association_type", _name(64), nullable=False, server_default=""),
        sa.Column("source_type", _name(256), nullable=False, server_default=""),
        sa.Column("destination_type", _name(256), nullable=False, server_default=""),
        sa.Column("source_name", _name(256), nullable=False, server_default=""),
        sa.Column("destination_name", _name(256), nullable=False, server_default=""),
        sa.Column("created", sa.Float, nullable=False),
        sa.UniqueConstraint("source_arn", "destination_arn", name="uq_associations_ends"),
    )
    # The unique constraint's index serves look-ups by source; this one serves look-ups by destination.
    op.create_index("ix_associations_destination", "associations", ["destination_arn"])
    op.create_index("ix_associations_created", "associations", ["created"])


def downgrade() -> None:
    op.drop_table("associations")
