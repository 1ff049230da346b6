"""The metadata-store conformance suite on SQLite files (the embedded default) and in-memory SQLite."""

import pytest

from shipyard.metastore.sql.store import SqlMetaStore
from shipyard.testing.metastore import MetaStoreConformance, StoreFactory


class TestSqliteMetaStore(MetaStoreConformance):
    @pytest.fixture
    def make_store(self, sqlite_store_factory):
        return sqlite_store_factory


class TestInMemorySqliteMetaStore(MetaStoreConformance):
    supports_reopen = False  # sqlite:// lives and dies with its engine

    @pytest.fixture
    def make_store(self):
        factory = StoreFactory(lambda: SqlMetaStore("sqlite://"))
        yield factory
        factory.close_all()
