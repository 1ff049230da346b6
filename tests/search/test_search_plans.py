"""Both query plans of the SQL search give the same pages: filter-first (a selective filter, sorted here) and
the sort-order walk (a broad filter), for column and property sorts, both directions, resources without the
sort property, and tokens handed from one plan to the other."""

from __future__ import annotations

import itertools

import pytest

from shipyard.metastore.search_query import SearchExpr, SearchFilter, SearchQuery
from shipyard.metastore.sql import search as sql_search
from shipyard.metastore.sql.store import SqlMetaStore

KIND = "training-job"
COLUMNS = {"CreationTime": "created", "LastModifiedTime": "modified", "TrainingJobStatus": "status"}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = SqlMetaStore(f"sqlite:///{tmp_path_factory.mktemp('plans')}/m.db")
    for i in range(40):
        doc = {"TrainingJobName": f"job-{i:02d}", "HyperParameters": {"eta": str((i * 7) % 10 / 10)}}
        if i % 5:  # every fifth job has no final metric: it sorts after the others
            doc["FinalMetricDataList"] = [{"MetricName": "auc", "Value": (i * 13) % 17 / 17}]
        s.create(KIND, f"job-{i:02d}", f"arn:job-{i}", "Completed" if i % 3 else "Failed", doc)
    yield s
    s.close()


def _pages(store, query: SearchQuery, small: int, monkeypatch) -> list[list[str]]:
    monkeypatch.setattr(sql_search, "SMALL_MATCH", small)
    out = []
    for _ in range(100):
        page = store.search(KIND, query)
        out.append([r.name for r in page.items])
        if page.next_token is None:
            return out
        query.next_token = page.next_token
    raise AssertionError("paging did not end")


EXPRESSIONS = [
    SearchExpr(filters=(SearchFilter("HyperParameters.eta", "GreaterThanOrEqualTo", "0.3"),)),
    SearchExpr(filters=(SearchFilter("TrainingJobStatus", "Equals", "Completed"),
                        SearchFilter("HyperParameters.eta", "LessThan", "0.8")), operator="Or"),
]
SORTS = [None, "CreationTime", "TrainingJobStatus", "Metrics.auc", "HyperParameters.eta"]


@pytest.mark.parametrize("expr,sort_by,descending", list(itertools.product(EXPRESSIONS, SORTS, [True, False])))
def test_filter_first_and_walk_agree(store, expr, sort_by, descending, monkeypatch):
    def query() -> SearchQuery:
        return SearchQuery(expression=expr, sort_by=sort_by, descending=descending, max_results=4,
                           columns=dict(COLUMNS))

    walk = _pages(store, query(), 0, monkeypatch)
    first = _pages(store, query(), 10**6, monkeypatch)
    assert walk == first
    names = [n for page in walk for n in page]
    assert len(names) == len(set(names)) > 4  # several pages, no repeats
    # a token from one plan continues in the other
    q = query()
    monkeypatch.setattr(sql_search, "SMALL_MATCH", 0)
    q.next_token = store.search(KIND, q).next_token
    assert _pages(store, q, 10**6, monkeypatch) == walk[1:]
