"""Alembic revisions (one module each; alembic ignores this file)."""
