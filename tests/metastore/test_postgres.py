"""The metadata-store conformance suite on PostgreSQL, each test in its own throw-away schema."""

import pytest

from shipyard.testing.metastore import MetaStoreConformance


class TestPostgresMetaStore(MetaStoreConformance):
    @pytest.fixture
    def make_store(self, pg_store_factory):
        return pg_store_factory
