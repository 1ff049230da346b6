"""The search index migration: a database from before it (revision 0003_lineage) upgrades, and its existing
searchable resources are indexed (found by Search right away); other kinds are not indexed."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from shipyard.metastore.search_query import SearchExpr, SearchFilter, SearchQuery
from shipyard.metastore.sql import migrate
from shipyard.metastore.sql.dialects import make_engine
from shipyard.metastore.sql.store import SqlMetaStore


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request):
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_schema_url")


def test_an_old_database_upgrades_and_is_indexed(store_url):
    engine, schema = make_engine(store_url)
    migrate.upgrade(engine, schema, revision="0003_lineage")
    with engine.begin() as conn:
        assert "search_index" not in sa.inspect(conn).get_table_names()  # really the old schema
        for i, kind in enumerate(["training-job", "training-job", "endpoint"]):
            doc = f'{{"TrainingJobName": "old-{i}", "HyperParameters": {{"eta": "0.{i + 1}"}}}}'
            conn.execute(sa.text(
                "INSERT INTO resources (kind, name, name_key, arn, status, parent, created, modified, version, doc) "
                f"VALUES ('{kind}', 'Old-{i}', 'old-{i}', 'arn:old-{i}', 'Completed', '', 100.0, 200.0, 1, :doc)"),
                {"doc": doc})
    engine.dispose()

    store = SqlMetaStore(store_url)  # opening upgrades to head, indexing what is there
    try:
        assert migrate.current_revision(store.engine) == migrate.head_revision()
        query = SearchQuery(SearchExpr(filters=(SearchFilter("HyperParameters.eta", "GreaterThan", "0.15"),)))
        assert [r.name for r in store.search("training-job", query).items] == ["Old-1"]
        with store.engine.connect() as conn:
            kinds = {k for (k,) in conn.execute(sa.text("SELECT DISTINCT kind FROM search_index"))}
        assert kinds == {"training-job"}  # endpoints are not searchable here: not indexed
        store.update("training-job", "old-0", {"HyperParameters": {"eta": "0.9"}})
        assert {r.name for r in store.search("training-job", query).items} == {"Old-0", "Old-1"}
    finally:
        store.close()
