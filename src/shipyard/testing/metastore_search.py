"""Search checks of the metadata-store conformance suite (mixed into ``MetaStoreConformance``).

Documents shaped like trial components and training jobs; every filter operator, nested filters, And/Or
sub-expressions, sorting by a property (resources without it last, in both directions), paging to the end,
properties kept as columns (times, status), and the index following updates and deletes.
"""

from __future__ import annotations

import pytest

from ..errors import ValidationError
from ..metastore.search_query import NestedFilter, SearchExpr, SearchFilter, SearchQuery

TC = "experiment-trial-component"
_COLUMNS = {"CreationTime": "created", "LastModifiedTime": "modified", "TrainingJobStatus": "status"}


def _tc(i: int) -> dict:
    doc: dict = {
        "TrialComponentName": f"run-{i}",
        "DisplayName": f"Run {i} {'alpha' if i % 2 else 'beta'}",
        "Parameters": {"lr": {"NumberValue": i / 10}, "opt": {"StringValue": "adam" if i % 3 else "sgd"}},
        "Parents": [{"TrialName": f"trial-{i % 3}", "ExperimentName": "exp-a"},
                    {"TrialName": "shared", "ExperimentName": f"exp-{i % 2}"}],
        "_secret": "private state is not searchable",
    }
    if i != 4:  # run-4 has no metrics: sorts last
        doc["Metrics"] = [{"MetricName": "loss", "Max": 10.0 - i, "Min": 1.0 / (i + 1), "Count": i},
                          {"MetricName": "acc", "Max": i * 0.1}]
    return doc


def _q(*filters: SearchFilter, op: str = "And", **kw) -> SearchQuery:
    expr = SearchExpr(filters=tuple(filters), operator=op) if filters else None
    return SearchQuery(expression=expr, columns=dict(_COLUMNS), **kw)


def _all(store, kind: str, query: SearchQuery) -> list[str]:
    names: list[str] = []
    for _ in range(100):
        page = store.search(kind, query)
        assert len(page.items) <= query.max_results
        names += [r.name for r in page.items]
        if page.next_token is None:
            return names
        query.next_token = page.next_token
    raise AssertionError("Search paging did not end")


def _found(store, *filters: SearchFilter, op: str = "And") -> set[str]:
    return set(_all(store, TC, _q(*filters, op=op, max_results=100)))


class SearchConformance:
    supports_search = True

    @pytest.fixture
    def runs(self, make_store):
        if not self.supports_search:
            pytest.skip("this backend does not implement Search (supports_search = False)")
        store = make_store()
        for i in range(8):
            store.create(TC, f"run-{i}", f"arn:tc/run-{i}", "Completed", _tc(i))
        return store

    def test_search_every_operator(self, runs):
        f = SearchFilter
        assert _found(runs, f("Parameters.lr.NumberValue", "Equals", "0.3")) == {"run-3"}
        assert _found(runs, f("Parameters.lr", "GreaterThan", "0.5")) == {"run-6", "run-7"}
        assert _found(runs, f("Parameters.lr", "GreaterThanOrEqualTo", "0.5")) == {"run-5", "run-6", "run-7"}
        assert _found(runs, f("Parameters.lr", "LessThan", "0.2")) == {"run-0", "run-1"}
        assert _found(runs, f("Parameters.lr", "LessThanOrEqualTo", "0.2")) == {"run-0", "run-1", "run-2"}
        # several bounds on one property: the tightest of each side, inclusive or not, as written
        assert _found(runs, f("Parameters.lr", "GreaterThanOrEqualTo", "0.2"), f("Parameters.lr", "LessThan", "0.5"),
                      f("Parameters.lr", "GreaterThan", "0.1")) == {"run-2", "run-3", "run-4"}
        assert _found(runs, f("Parameters.lr", "GreaterThan", "0.2"), f("Parameters.lr", "GreaterThanOrEqualTo", "0.2"),
                      f("Parameters.lr", "LessThanOrEqualTo", "0.4")) == {"run-3", "run-4"}
        assert _found(runs, f("Parameters.opt", "NotEquals", "adam")) == {"run-0", "run-3", "run-6"}
        assert _found(runs, f("DisplayName", "Contains", "ALPHA")) == {"run-1", "run-3", "run-5", "run-7"}
        assert _found(runs, f("TrialComponentName", "In", "run-2, run-5,nope")) == {"run-2", "run-5"}
        assert _found(runs, f("Metrics.loss.Max", "Exists")) == {f"run-{i}" for i in range(8)} - {"run-4"}
        assert _found(runs, f("Metrics.loss.Max", "NotExists")) == {"run-4"}
        assert _found(runs, f("Metrics.acc.Max", "GreaterThan", "0.55")) == {"run-6", "run-7"}
        # strings compare as strings, and a list property matches when any element does
        assert _found(runs, f("Parents.TrialName", "Equals", "trial-1")) == {"run-1", "run-4", "run-7"}
        assert _found(runs, f("Parents.ExperimentName", "Equals", "exp-1")) == {"run-1", "run-3", "run-5", "run-7"}
        assert _found(runs, f("TrialComponentName", "GreaterThan", "run-5")) == {"run-6", "run-7"}
        # Contains treats % and _ literally; private keys are not searchable
        assert _found(runs, f("DisplayName", "Contains", "%")) == set()
        assert _found(runs, f("_secret", "Exists")) == set()

    def test_search_and_or_and_nested_filters(self, runs):
        f = SearchFilter
        both = _found(runs, f("Parameters.opt", "Equals", "sgd"), f("Parameters.lr", "GreaterThan", "0.1"))
        assert both == {"run-3", "run-6"}
        either = _found(runs, f("Parameters.opt", "Equals", "sgd"), f("Parameters.lr", "GreaterThan", "0.6"), op="Or")
        assert either == {"run-0", "run-3", "run-6", "run-7"}
        # (opt = sgd OR lr < 0.2) AND DisplayName contains alpha
        expr = SearchExpr(filters=(f("DisplayName", "Contains", "alpha"),), subexpressions=(
            SearchExpr(filters=(f("Parameters.opt", "Equals", "sgd"), f("Parameters.lr", "LessThan", "0.2")),
                       operator="Or"),))
        assert set(_all(runs, TC, SearchQuery(expression=expr, max_results=100))) == {"run-1", "run-3"}
        # nested: one parent that is both trial "shared" and experiment "exp-a" -- none (they are different ones)
        nested = NestedFilter("Parents", (f("Parents.TrialName", "Equals", "shared"),
                                          f("Parents.ExperimentName", "Equals", "exp-a")))
        assert _all(runs, TC, SearchQuery(expression=SearchExpr(nested=(nested,)), max_results=100)) == []
        nested = NestedFilter("Parents", (f("Parents.TrialName", "Equals", "shared"),
                                          f("Parents.ExperimentName", "Equals", "exp-0")))
        found = set(_all(runs, TC, SearchQuery(expression=SearchExpr(nested=(nested,)), max_results=100)))
        assert found == {"run-0", "run-2", "run-4", "run-6"}

    def test_search_sorts_by_a_property_missing_last_and_pages(self, runs):
        asc = _all(runs, TC, _q(sort_by="Metrics.acc.Max", descending=False, max_results=3))
        assert asc == ["run-0", "run-1", "run-2", "run-3", "run-5", "run-6", "run-7", "run-4"]
        by_loss = _all(runs, TC, _q(sort_by="Metrics.loss.Max", descending=False, max_results=2))
        assert by_loss == ["run-7", "run-6", "run-5", "run-3", "run-2", "run-1", "run-0", "run-4"]
        # a page boundary exactly at the end of the resources that have the property
        seven = _all(runs, TC, _q(sort_by="Metrics.acc.Max", descending=True, max_results=7))
        assert seven == ["run-7", "run-6", "run-5", "run-3", "run-2", "run-1", "run-0", "run-4"]
        strings = _all(runs, TC, _q(SearchFilter("Parameters.lr", "LessThan", "0.35"), sort_by="DisplayName",
                                    descending=False, max_results=1))
        assert strings == ["run-0", "run-1", "run-2", "run-3"]  # "Run 0 beta" < "Run 1 alpha" < ...
        by_created = _all(runs, TC, _q(sort_by="CreationTime", descending=False, max_results=5))
        assert by_created == [f"run-{i}" for i in range(8)]
        assert _all(runs, TC, _q(max_results=5)) == [f"run-{i}" for i in reversed(range(8))]  # last modified first

    def test_search_follows_updates_and_deletes(self, runs):
        runs.update(TC, "run-2", {"Parameters": {"lr": {"NumberValue": 9.5}}})
        assert _found(runs, SearchFilter("Parameters.lr", "GreaterThan", "9")) == {"run-2"}
        assert [r.name for r in runs.search(TC, _q(max_results=1)).items] == ["run-2"]  # last modified first
        runs.delete(TC, "run-2")
        assert _found(runs, SearchFilter("Parameters.lr", "GreaterThan", "9")) == set()
        runs.create(TC, "run-2", "arn:tc/run-2", "InProgress", _tc(2))  # a new id: no stale rows
        assert _found(runs, SearchFilter("Parameters.lr", "Equals", "0.2")) == {"run-2"}

    def test_search_columns_times_and_status(self, make_store):
        if not self.supports_search:
            pytest.skip("this backend does not implement Search (supports_search = False)")
        store = make_store()
        for i, status in enumerate(["Completed", "Failed", "Completed"]):
            store.create("training-job", f"job-{i}", f"arn:job-{i}", status,
                         {"TrainingJobName": f"job-{i}", "HyperParameters": {"eta": str(i / 2)},
                          "FinalMetricDataList": [{"MetricName": "validation:auc", "Value": 0.5 + i / 10}]})
        q = _q(SearchFilter("TrainingJobStatus", "Equals", "Completed"), max_results=10)
        assert set(_all(store, "training-job", q)) == {"job-0", "job-2"}
        q = _q(SearchFilter("CreationTime", "GreaterThan", "2001-01-01T00:00:00Z"),
               SearchFilter("HyperParameters.eta", "GreaterThanOrEqualTo", "0.5"), max_results=10)
        assert set(_all(store, "training-job", q)) == {"job-1", "job-2"}
        q = _q(sort_by="Metrics.validation:auc", max_results=10)
        assert _all(store, "training-job", q) == ["job-2", "job-1", "job-0"]
        with pytest.raises(ValidationError):
            store.search("training-job", _q(SearchFilter("CreationTime", "GreaterThan", "yesterday")))

    def test_search_rejects_a_token_of_another_query(self, runs):
        page = runs.search(TC, _q(max_results=2))
        assert page.next_token
        with pytest.raises(ValidationError):
            runs.search(TC, _q(max_results=2, sort_by="DisplayName", next_token=page.next_token))
        with pytest.raises(ValidationError):
            runs.search(TC, _q(max_results=2, next_token="not-a-token"))
