"""Conformance suite for metadata stores: every backend's test module subclasses ``MetaStoreConformance``.

A subclass provides a ``make_store`` pytest fixture returning a factory: each call opens a new store over
the same data (so closing one and opening another checks durability); the fixture cleans up afterwards.
Capability switches (class attributes, as in Dagster's storage suites) turn off checks a backend cannot
honour, e.g. ``supports_reopen = False`` for a purely in-memory store.

    class TestSqlite(MetaStoreConformance):
        @pytest.fixture
        def make_store(self, tmp_path):
            factory = StoreFactory(lambda: SqlMetaStore(f"sqlite:///{tmp_path}/m.db"))
            yield factory
            factory.close_all()
"""

from __future__ import annotations

import threading
import time
from typing import Callable

import pytest

from ..errors import ConflictError, MissingResource, ResourceInUse, ValidationError
from ..metastore.base import ListQuery, LogEvent, MetaStore
from .metastore_associations import AssociationConformance
from .metastore_logs import LogsAndMetricsConformance
from .metastore_search import SearchConformance

TJ = "training-job"


class StoreFactory:
    """A ``make_store`` factory: opens stores with ``opener`` and closes every one at ``close_all``."""

    def __init__(self, opener: Callable[[], MetaStore]):
        self.opener = opener
        self.opened: list[MetaStore] = []

    def __call__(self) -> MetaStore:
        self.opened.append(self.opener())
        return self.opened[-1]

    def close_all(self) -> None:
        for store in self.opened:
            store.close()


def _names(page) -> list[str]:
    return [r.name for r in page.items]


def _page_all(store: MetaStore, kind: str, **query) -> list[str]:
    """Every name a paged listing yields, following next_token to the end (bounded)."""
    names, token = [], None
    for _ in range(1000):
        page = store.list(kind, ListQuery(next_token=token, **query))
        assert len(page.items) <= query.get("max_results", 100)
        names += _names(page)
        token = page.next_token
        if token is None:
            return names
    raise AssertionError("paging did not end")


def _run_threads(target, count: int) -> None:
    """Run ``target(i)`` in ``count`` threads; an exception in any of them fails the test."""
    errors: list[BaseException] = []

    def guarded(i):
        try:
            target(i)
        except BaseException as exc:  # noqa: BLE001 - reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive(), "a worker thread hung"
    if errors:
        raise AssertionError(f"{len(errors)} worker thread(s) failed: {errors[:3]!r}") from errors[0]


class MetaStoreConformance(LogsAndMetricsConformance, SearchConformance, AssociationConformance):
    supports_reopen = True  # data survives close() and a new open of the same database
    supports_concurrent_writers = True  # many threads may write at once
    thread_count = 8

    @pytest.fixture
    def make_store(self):
        raise NotImplementedError("a backend's test class provides the make_store fixture")

    @pytest.fixture
    def store(self, make_store) -> MetaStore:
        return make_store()

    # --- create / get ---
    def test_create_then_get_round_trips(self, store):
        before = time.time()
        doc = {"TrainingJobName": "Job-1", "Nested": {"a": [1, 2.5, "x", None, True]}, "Unicode": "é✓"}
        made = store.create(TJ, "Job-1", "arn:aws:sagemaker:r:1:training-job/job-1", "InProgress", doc,
                            parent="tuner")
        got = store.get(TJ, "Job-1")
        for res in (made, got):
            assert (res.kind, res.name, res.status, res.parent, res.version) == (TJ, "Job-1", "InProgress", "tuner", 1)
            assert res.arn == "arn:aws:sagemaker:r:1:training-job/job-1"
            assert res.doc == doc
            assert isinstance(res.created, float) and isinstance(res.modified, float)
            assert before - 1 <= res.created <= time.time() + 1
        assert got.created == made.created and got.modified == made.modified
        assert store.get(TJ, "job-1").name == "Job-1"  # case-insensitive look-up keeps the original spelling
        assert store.find(TJ, "JOB-1").name == "Job-1"
        assert store.find(TJ, "other") is None

    def test_doc_values_are_stored_as_json(self, store):
        import datetime

        when = datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone.utc)
        store.create("model", "m", "arn:m", "x", {"t": when, "tags": ("a", "b"), "n": 3, "f": 0.1, "none": None})
        assert store.get("model", "m").doc == {"t": when.timestamp(), "tags": ["a", "b"], "n": 3, "f": 0.1,
                                               "none": None}
        with pytest.raises(TypeError):
            store.create("model", "bad", "arn:b", "x", {"obj": object()})
        assert store.find("model", "bad") is None

    def test_parent_defaults_to_empty(self, store):
        assert store.create("model", "m", "arn:m", "Created", {}).parent == ""
        assert store.get("model", "m").parent == ""

    def test_returned_doc_is_not_shared_with_caller(self, store):
        doc = {"a": [1]}
        store.create("model", "m", "arn:m", "x", doc)
        doc["a"].append(2)
        store.get("model", "m").doc["a"].append(3)
        assert store.get("model", "m").doc == {"a": [1]}

    def test_duplicate_name_is_resource_in_use_case_insensitively(self, store):
        store.create(TJ, "Dup", "arn:first", "InProgress", {"v": 1})
        for name in ("Dup", "dup", "DUP"):
            with pytest.raises(ResourceInUse) as err:
                store.create(TJ, name, "arn:second", "InProgress", {"v": 2})
            assert "arn:first" in err.value.message and "training job" in err.value.message.lower()
        assert store.get(TJ, "dup").doc == {"v": 1}
        assert err.value.code == "ResourceInUse"
        store.create("model", "Dup", "arn:model", "x", {})  # same name, other kind: allowed
        assert store.get("model", "dup").arn == "arn:model"
        # SageMaker answers a duplicate model / endpoint config / endpoint with a ValidationException
        # that the SageMaker Python SDK recognises by its text.
        for kind, what in [("model", "model"), ("endpoint-config", "endpoint configuration"), ("endpoint", "endpoint")]:
            if kind != "model":
                store.create(kind, "Dup", f"arn:{kind}", "x", {})
            with pytest.raises(ResourceInUse) as err:
                store.create(kind, "DUP", "arn:again", "x", {})
            assert err.value.code == "ValidationException"
            assert err.value.message == f'Cannot create already existing {what} "arn:{kind}".'

    # --- missing ---
    @pytest.mark.parametrize("op", ["get", "update", "delete"])
    def test_missing_resource(self, store, op):
        with pytest.raises(MissingResource) as err:
            getattr(store, op)(TJ, "nope")
        assert isinstance(err.value, ValidationError)
        assert err.value.message == 'Could not find training job "nope".'
        with pytest.raises(MissingResource, match='Could not find endpoint configuration "c"'):
            getattr(store, op)("endpoint-config", "c")

    # --- update ---
    def test_update_merges_top_level_keys_and_removes_none(self, store):
        made = store.create(TJ, "j", "arn:j", "InProgress", {"keep": 1, "drop": 2, "replace": {"x": 1}})
        time.sleep(0.01)
        upd = store.update(TJ, "J", {"drop": None, "replace": {"y": 2}, "new": [1]}, status="Completed")
        expect = {"keep": 1, "replace": {"y": 2}, "new": [1]}
        for res in (upd, store.get(TJ, "j")):
            assert res.doc == expect
            assert res.status == "Completed" and res.version == 2
            assert res.created == made.created and res.modified > made.modified
        assert store.update(TJ, "j", {"missing-key": None}).doc == expect  # removing an absent key is fine
        assert store.update(TJ, "j").version == 4  # every update bumps the version
        assert store.get(TJ, "j").status == "Completed"  # status unchanged when not given

    def test_compare_and_set_on_status(self, store):
        store.create(TJ, "j", "arn:j", "InProgress", {"n": 0})
        store.update(TJ, "j", {"n": 1}, status="Stopping", expect_status={"InProgress", "Pending"})
        with pytest.raises(ConflictError):
            store.update(TJ, "j", {"n": 2}, status="Completed", expect_status={"InProgress"})
        with pytest.raises(ConflictError):
            store.update(TJ, "j", {"n": 2}, expect_status=[])
        got = store.get(TJ, "j")
        assert (got.status, got.doc, got.version) == ("Stopping", {"n": 1}, 2)
        store.update(TJ, "j", status="Stopped", expect_status=("Stopping",))
        assert store.get(TJ, "j").status == "Stopped"

    def test_compare_and_set_on_version(self, store):
        store.create(TJ, "j", "arn:j", "InProgress", {})
        assert store.update(TJ, "j", {"a": 1}, expect_version=1).version == 2
        with pytest.raises(ConflictError):
            store.update(TJ, "j", {"a": 2}, expect_version=1)
        assert store.get(TJ, "j").doc == {"a": 1}
        assert store.update(TJ, "j", {"a": 3}, expect_version=2, expect_status={"InProgress"}).doc == {"a": 3}

    # --- delete ---
    def test_delete_then_recreate(self, store):
        store.create("model", "M", "arn:1", "x", {"v": 1})
        store.create("model", "other", "arn:o", "x", {})
        store.delete("model", "m")
        with pytest.raises(MissingResource):
            store.get("model", "M")
        with pytest.raises(MissingResource):
            store.delete("model", "M")
        assert _names(store.list("model")) == ["other"]
        assert store.list_in_status("model", ["x"])[0].name == "other"
        again = store.create("model", "m", "arn:2", "x", {"v": 2})
        assert again.version == 1 and store.get("model", "M").doc == {"v": 2}
        assert store.get("model", "other").arn == "arn:o"

    # --- list ---
    def _fill(self, store, count=12):
        made = []
        for i in range(count):
            made.append(store.create("endpoint", f"Ep-{i:03d}", f"arn:{i}", ["InService", "Failed", "Creating"][i % 3],
                                     {"Config": f"cfg-{i % 2}", "I": i}, parent="p" if i % 4 == 0 else ""))
        store.create("model", "Ep-999", "arn:model", "InService", {})  # other kind never listed
        return made

    def test_list_default_is_newest_first_and_kind_scoped(self, store):
        made = self._fill(store)
        page = store.list("endpoint")
        assert page.next_token is None
        want = [r.name for r in sorted(made, key=lambda r: r.created, reverse=True)]
        assert _names(page) == want
        assert all(r.kind == "endpoint" for r in page.items)
        assert page.items[0].doc == {"Config": "cfg-1", "I": 11}

    @pytest.mark.parametrize("sort_by", ["created", "name", "status", "modified"])
    @pytest.mark.parametrize("descending", [False, True])
    def test_list_sorts(self, store, sort_by, descending):
        made = self._fill(store)
        store.update("endpoint", "Ep-004", {"touched": True})
        made = [store.get("endpoint", r.name) for r in made]
        got = _page_all(store, "endpoint", sort_by=sort_by, descending=descending, max_results=5)
        keys = [getattr(store.get("endpoint", n), sort_by) for n in got]
        assert keys == sorted(keys, reverse=descending)
        assert sorted(got) == sorted(r.name for r in made)
        if sort_by == "name":
            assert got == sorted(got, reverse=descending)

    def test_list_filters(self, store):
        made = self._fill(store)
        q = lambda **kw: sorted(_page_all(store, "endpoint", **kw))  # noqa: E731
        assert q(name_contains="EP-00") == [f"Ep-00{i}" for i in range(10)]
        assert q(name_contains="p-01") == ["Ep-010", "Ep-011"]
        assert q(name_contains="%") == [] and q(name_contains="_") == []
        assert q(status_equals="Failed") == sorted(r.name for r in made if r.status == "Failed")
        assert q(parent="p") == ["Ep-000", "Ep-004", "Ep-008"]
        assert q(doc_equals={"Config": "cfg-1"}) == sorted(r.name for r in made if r.doc["Config"] == "cfg-1")
        assert q(doc_equals={"Config": "cfg-1", "I": 3}) == ["Ep-003"]
        assert q(doc_equals={"Nope": 1}) == []
        mid = made[5].created
        assert q(created_after=mid) == sorted(r.name for r in made if r.created > mid)
        assert q(created_before=mid) == sorted(r.name for r in made if r.created < mid)
        time.sleep(0.01)
        touched = store.update("endpoint", "Ep-002", {"x": 1})
        assert q(modified_after=touched.modified - 0.005) == ["Ep-002"]
        assert "Ep-002" not in q(modified_before=touched.modified - 0.005)
        assert q(status_equals="InService", name_contains="ep-00", parent="p") == ["Ep-000"]

    def test_list_pages_250_rows_each_once(self, store):
        for i in range(250):
            store.create("model", f"model-{i:04d}", f"arn:{i}", "Ready" if i % 5 else "Other", {"even": i % 2 == 0})
        every = _page_all(store, "model", max_results=7)
        assert len(every) == 250 and len(set(every)) == 250
        by_name = _page_all(store, "model", max_results=9, sort_by="name", descending=False)
        assert by_name == sorted(every)
        evens = _page_all(store, "model", max_results=6, doc_equals={"even": True}, sort_by="name", descending=False)
        assert evens == [f"model-{i:04d}" for i in range(0, 250, 2)]
        ready = _page_all(store, "model", max_results=10, status_equals="Ready", sort_by="status")
        assert len(ready) == 200 and len(set(ready)) == 200

    def test_next_token_is_stable_and_validated(self, store):
        self._fill(store)
        first = store.list("endpoint", ListQuery(max_results=4, sort_by="name", descending=False))
        assert _names(first) == ["Ep-000", "Ep-001", "Ep-002", "Ep-003"]
        again = ListQuery(max_results=4, sort_by="name", descending=False, next_token=first.next_token)
        assert _names(store.list("endpoint", again)) == _names(store.list("endpoint", again)) == [
            "Ep-004", "Ep-005", "Ep-006", "Ep-007"]
        store.create("endpoint", "Ep-0000", "arn:new", "x", {})  # sorts before the token: pages unaffected
        assert _names(store.list("endpoint", again))[0] == "Ep-004"
        for bad in ("garbage!", "eyJ4IjoxfQ"):
            with pytest.raises(ValidationError):
                store.list("endpoint", ListQuery(next_token=bad))

    def test_list_in_status(self, store):
        made = self._fill(store)
        got = store.list_in_status("endpoint", ["Failed", "Creating"])
        assert sorted(r.name for r in got) == sorted(r.name for r in made if r.status != "InService")
        assert store.list_in_status("endpoint", []) == []
        assert [r.name for r in store.list_in_status("model", {"InService"})] == ["Ep-999"]

    # --- concurrency ---
    def _need_concurrency(self):
        if not self.supports_concurrent_writers:
            pytest.skip("this backend declares supports_concurrent_writers = False")

    def test_concurrent_compare_and_set_has_one_winner(self, store):
        self._need_concurrency()
        store.create(TJ, "race", "arn:race", "Pending", {})
        winners, losers, barrier = [], [], threading.Barrier(self.thread_count)

        def claim(i):
            barrier.wait(timeout=30)
            try:
                store.update(TJ, "race", {"owner": i}, status="Claimed", expect_status={"Pending"})
                winners.append(i)
            except ConflictError:
                losers.append(i)

        _run_threads(claim, self.thread_count)
        assert len(winners) == 1 and len(losers) == self.thread_count - 1
        got = store.get(TJ, "race")
        assert (got.status, got.doc, got.version) == ("Claimed", {"owner": winners[0]}, 2)

    def test_concurrent_versioned_increments_lose_nothing(self, store):
        self._need_concurrency()
        store.create("model", "counter", "arn:c", "x", {"n": 0})
        per_thread = 5

        def bump(_i):
            done = 0
            for _ in range(500):
                cur = store.get("model", "counter")
                try:
                    store.update("model", "counter", {"n": cur.doc["n"] + 1}, expect_version=cur.version)
                    done += 1
                except ConflictError:
                    continue
                if done == per_thread:
                    return

        _run_threads(bump, self.thread_count)
        got = store.get("model", "counter")
        assert got.doc["n"] == self.thread_count * per_thread and got.version == 1 + self.thread_count * per_thread

    def test_concurrent_creates_and_log_appends(self, store):
        self._need_concurrency()
        created, refused = [], []

        def work(i):
            try:
                store.create(TJ, "same" if i % 2 else "SAME", f"arn:{i}", "x", {})
                created.append(i)
            except ResourceInUse:
                refused.append(i)
            for j in range(10):
                store.append_logs("g", "s", [LogEvent(float(j), f"{i}:{j}")])

        _run_threads(work, self.thread_count)
        assert len(created) == 1 and len(refused) == self.thread_count - 1
        events = store.get_logs("g", "s")[0]
        assert len(events) == 10 * self.thread_count
        for i in range(self.thread_count):
            mine = [e.message for e in events if e.message.startswith(f"{i}:")]
            assert mine == [f"{i}:{j}" for j in range(10)]

    # --- durability ---
    def test_data_survives_close_and_reopen(self, make_store):
        if not self.supports_reopen:
            pytest.skip("this backend declares supports_reopen = False")
        first = make_store()
        first.create(TJ, "Durable", "arn:d", "InProgress", {"k": "v"}, parent="tuner")
        first.update(TJ, "durable", {"k2": 2}, status="Completed")
        first.append_logs("g", "s", [LogEvent(1.0, "hello")])
        first.append_metrics("Durable", [("loss", 0.1, 2.0, 3)])
        first.close()
        second = make_store()
        got = second.get(TJ, "DURABLE")
        assert (got.name, got.status, got.doc, got.parent, got.version) == (
            "Durable", "Completed", {"k": "v", "k2": 2}, "tuner", 2)
        assert [e.message for e in second.get_logs("g", "s")[0]] == ["hello"]
        assert second.get_metrics("Durable") == [("loss", 0.1, 2.0, 3)]
        with pytest.raises(ResourceInUse):
            second.create(TJ, "durable", "arn:x", "x", {})
