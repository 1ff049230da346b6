"""The tables the store reads and writes, as SQLAlchemy Core objects (the schema at migration head).

Migrations in ``migrations/versions`` create and evolve these tables; this module only describes the
head revision for queries. Keep the two in step: a change here needs a new revision.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

resources = sa.Table(
    "resources", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("name_key", sa.String(255), nullable=False),  # lower(name): names are case-insensitive
    sa.Column("arn", sa.Text, nullable=False),
    sa.Column("status", sa.String(64), nullable=False),
    sa.Column("parent", sa.String(512), nullable=False, server_default=""),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("modified", sa.Float, nullable=False),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("doc", sa.Text, nullable=False),
    sa.UniqueConstraint("kind", "name_key", name="uq_resources_kind_name"),
)

log_streams = sa.Table(
    "log_streams", metadata,
    sa.Column("log_group", sa.String(512), primary_key=True),
    sa.Column("log_stream", sa.String(512), primary_key=True),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("first_event", sa.Float, nullable=False, server_default="0"),
    sa.Column("last_event", sa.Float, nullable=False, server_default="0"),
    sa.Column("last_ingestion", sa.Float, nullable=False, server_default="0"),
    sa.Column("stored_bytes", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("last_seq", sa.BigInteger, nullable=False, server_default="0"),
)

log_events = sa.Table(
    "log_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("log_group", sa.String(512), nullable=False),
    sa.Column("log_stream", sa.String(512), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("timestamp", sa.Float, nullable=False),
    sa.Column("ingestion", sa.Float, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.UniqueConstraint("log_group", "log_stream", "seq", name="uq_log_events_seq"),
)

metrics = sa.Table(
    "metrics", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job", sa.String(255), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("timestamp", sa.Float, nullable=False),
    sa.Column("step", sa.BigInteger, nullable=False, server_default="0"),  # added in revision 0002
)

# Lineage edges (revision 0003_lineage); queried by metastore/sql/associations.py.
associations = sa.Table(
    "associations", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source_arn", sa.String(512), nullable=False),
    sa.Column("destination_arn", sa.String(512), nullable=False),
    sa.Column("association_type", sa.String(64), nullable=False, server_default=""),
    sa.Column("source_type", sa.String(256), nullable=False, server_default=""),
    sa.Column("destination_type", sa.String(256), nullable=False, server_default=""),
    sa.Column("source_name", sa.String(256), nullable=False, server_default=""),
    sa.Column("destination_name", sa.String(256), nullable=False, server_default=""),
    sa.Column("created", sa.Float, nullable=False),
    sa.UniqueConstraint("source_arn", "destination_arn", name="uq_associations_ends"),
)

# Search index (revision 0004_search_index; see ..search_query): one row per leaf value of a searchable
# resource's document, rewritten with the resource in the same transaction.
search_index = sa.Table(
    "search_index", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("resource_id", sa.Integer, sa.ForeignKey("resources.id", ondelete="CASCADE"), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("path", sa.String(255), nullable=False),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("elem", sa.Integer, nullable=False, server_default="-1"),
    sa.Column("first", sa.Boolean, nullable=False, server_default=sa.true()),
)
