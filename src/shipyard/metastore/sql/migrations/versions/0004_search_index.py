"""Search index: one row per leaf value of each searchable resource's document, so that Search filters
and sorts are index scans rather than a JSON scan of every document; existing resources are indexed here.

Revision ID: 0004_search_index
Revises: 0003_lineage
"""

import sqlalchemy as sa
from alembic import op

from shipyard.metastore.sql.search import reindex_all

revision = "0004_search_index"
down_revision = "0003_lineage"
branch_labels = None
depends_on = None


def _text() -> sa.types.TypeEngine:
    # Keys compare byte-wise (the numeric encoding relies on it) whatever the PostgreSQL database's locale.
    return sa.Text().with_variant(sa.Text(collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "search_index",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("resource_id", sa.Integer, sa.ForeignKey("resources.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("path", sa.String(255).with_variant(sa.String(255, collation="C"), "postgresql"),
                  nullable=False),
        sa.Column("key", _text(), nullable=False),
        sa.Column("elem", sa.Integer, nullable=False, server_default="-1"),
        sa.Column("first", sa.Boolean, nullable=False, server_default=sa.true()),
    )
    # Filters and sorts: (kind, path) then a key range, in key order; covering (the resource id, and the
    # sort's ``first`` flag) so that walking a sort order never reads the table.
    op.create_index("ix_search_kind_path_key", "search_index", ["kind", "path", "key", "resource_id", "first"])
    # A resource's rows: rewritten on update, and its sort value looked up when a selective filter is
    # sorted filter-first (covering, so those look-ups never read the table).
    op.create_index("ix_search_resource", "search_index", ["resource_id", "path", "first", "key", "kind"])
    # Search's default order (LastModifiedTime) pages the resources of a kind by modification time.
    op.create_index("ix_resources_kind_modified", "resources", ["kind", "modified"])
    reindex_all(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_resources_kind_modified", table_name="resources")
    op.drop_table("search_index")
