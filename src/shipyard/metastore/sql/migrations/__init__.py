"""Alembic migrations for the SQL metadata store, run programmatically by ``..migrate.upgrade``."""
