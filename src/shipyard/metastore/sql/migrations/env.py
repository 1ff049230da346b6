"""Alembic environment: runs on the connection that ``shipyard.metastore.sql.migrate`` hands over.

No ini file and no logging setup: the caller owns the connection and its (locked) transaction.
"""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None, compare_type=False)
with context.begin_transaction():
    context.run_migrations()
