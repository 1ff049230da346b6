"""Metric points gain a training step; look-ups by (job, name) get their own index.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN with a constant default works in place on both SQLite and PostgreSQL.
    op.add_column("metrics", sa.Column("step", sa.BigInteger, nullable=False, server_default="0"))
    op.create_index("ix_metrics_job_name", "metrics", ["job", "name"])


def downgrade() -> None:
    op.drop_index("ix_metrics_job_name", table_name="metrics")
    with op.batch_alter_table("metrics") as batch:
        batch.drop_column("step")
