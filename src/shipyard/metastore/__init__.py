"""The metadata store: resources (jobs, models, endpoints, ...) as documents with a status, plus logs.

Chosen by URL scheme with :func:`open_metastore`; the SQL backend serves ``sqlite://`` and ``postgresql://``.
"""

from __future__ import annotations

from .base import ListQuery, LogEvent, MetaStore, Page, Resource


def open_metastore(url: str) -> MetaStore:
    if url.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")):
        from .sql.store import SqlMetaStore

        return SqlMetaStore(url)
    raise ValueError(f"unsupported metadata store URL {url!r}: use sqlite:///PATH or postgresql://...")


__all__ = ["ListQuery", "LogEvent", "MetaStore", "Page", "Resource", "open_metastore"]
