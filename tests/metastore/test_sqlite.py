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
    test_data_survives_close_and_reopen = None  # not applicable; replaced by the privacy check below

    @pytest.fixture
    def make_store(self):
        factory = StoreFactory(lambda: SqlMetaStore("sqlite://"))
        yield factory
        factory.close_all()

    def test_in_memory_stores_are_private(self, make_store):
        """Instead of durability: each sqlite:// store is its own database, gone when closed."""
        first, second = make_store(), make_store()
        first.create("model", "m", "arn:m", "x", {})
        assert second.find("model", "m") is None
        first.close()
        assert make_store().find("model", "m") is None
