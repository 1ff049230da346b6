"""The logs and metric-series half of the metadata-store conformance suite (mixed into
``shipyard.testing.metastore.MetaStoreConformance``; uses its ``store`` fixture)."""

from __future__ import annotations

import pytest

from ..errors import ValidationError
from ..metastore.base import LogEvent


class LogsAndMetricsConformance:
    # --- logs ---
    def test_logs_keep_order_and_page_forward(self, store):
        g, s = "/aws/sagemaker/TrainingJobs", "job/algo-1-1"
        store.append_logs(g, s, [LogEvent(10.0 + i, f"line {i}") for i in range(5)])
        store.append_logs(g, s, [LogEvent(5.0, "late timestamp, later append")])
        store.append_logs(g, "other", [LogEvent(1.0, "elsewhere")])
        events, fwd, back = store.get_logs(g, s)
        assert [e.message for e in events] == [f"line {i}" for i in range(5)] + ["late timestamp, later append"]
        assert all(e.ingestion_time > 0 for e in events)
        assert fwd.startswith("f/") and back.startswith("b/")
        seen, token = [], None
        for _ in range(10):
            batch, new_token, _b = store.get_logs(g, s, next_token=token, limit=4)
            seen += [e.message for e in batch]
            if new_token == token:
                break
            token = new_token
        assert seen == [e.message for e in events]
        nothing, same, _b = store.get_logs(g, s, next_token=token)
        assert nothing == [] and same == token  # no new events: the same forward token comes back
        store.append_logs(g, s, [LogEvent(20.0, "new")])
        newer, token2, _ = store.get_logs(g, s, next_token=token)
        assert [e.message for e in newer] == ["new"] and token2 != token

    def test_logs_from_tail_backward_and_time_window(self, store):
        g, s = "grp", "str"
        store.append_logs(g, s, [LogEvent(float(i), f"m{i}") for i in range(10)])
        tail, fwd, back = store.get_logs(g, s, start_from_head=False, limit=3)
        assert [e.message for e in tail] == ["m7", "m8", "m9"]
        assert store.get_logs(g, s, next_token=fwd)[0] == []
        earlier, _f, back2 = store.get_logs(g, s, next_token=back, limit=3)
        assert [e.message for e in earlier] == ["m4", "m5", "m6"]
        assert [e.message for e in store.get_logs(g, s, next_token=back2, limit=100)[0]] == ["m0", "m1", "m2", "m3"]
        window = store.get_logs(g, s, start_time=3.0, end_time=6.0)[0]
        assert [e.message for e in window] == ["m3", "m4", "m5"]
        assert store.get_logs(g, "missing")[0] == []
        with pytest.raises(ValidationError):
            store.get_logs(g, s, next_token="zzz")

    def test_list_log_streams(self, store):
        g = "/aws/sagemaker/Endpoints/ep"
        for name, ts in [("b/1", 30.0), ("a/1", 10.0), ("a/2", 50.0), ("c_x", 20.0)]:
            store.append_logs(g, name, [LogEvent(ts - 1, "first"), LogEvent(ts, "last!")])
        store.append_logs("other-group", "a/0", [LogEvent(1.0, "x")])
        streams, token = store.list_log_streams(g)
        assert [x.stream for x in streams] == ["a/1", "a/2", "b/1", "c_x"] and token is None
        a1 = streams[0]
        assert (a1.group, a1.first_event, a1.last_event, a1.stored_bytes) == (g, 9.0, 10.0, len("firstlast!"))
        assert a1.last_ingestion > 0
        assert [x.stream for x in store.list_log_streams(g, prefix="a/")[0]] == ["a/1", "a/2"]
        assert [x.stream for x in store.list_log_streams(g, prefix="c_")[0]] == ["c_x"]
        assert store.list_log_streams(g, prefix="c%")[0] == []
        by_time = store.list_log_streams(g, order_by="LastEventTime", descending=True)[0]
        assert [x.stream for x in by_time] == ["a/2", "b/1", "c_x", "a/1"]
        paged, token = [], None
        for _ in range(10):
            page, token = store.list_log_streams(g, limit=3, next_token=token, descending=True)
            paged += [x.stream for x in page]
            if token is None:
                break
        assert paged == ["c_x", "b/1", "a/2", "a/1"]

    def test_delete_logs_before_keeps_newer_events_and_streams(self, store):
        g = "/aws/sagemaker/Endpoints/retained"
        store.append_logs(g, "a", [LogEvent(10.0, "old é"), LogEvent(20.0, "old2"), LogEvent(30.0, "new")])
        store.append_logs(g, "b", [LogEvent(5.0, "all old")])
        store.append_logs("other", "a", [LogEvent(1.0, "another group")])
        assert store.delete_logs_before(g, 25.0) == 3
        assert [e.message for e in store.get_logs(g, "a")[0]] == ["new"]
        assert store.get_logs(g, "b")[0] == []
        streams = {s.stream: s for s in store.list_log_streams(g)[0]}
        assert set(streams) == {"a", "b"}  # emptied streams stay, as CloudWatch keeps them
        assert (streams["a"].first_event, streams["a"].last_event, streams["a"].stored_bytes) == (30.0, 30.0, 3)
        assert streams["b"].stored_bytes == 0
        assert [e.message for e in store.get_logs("other", "a")[0]] == ["another group"]
        assert store.delete_logs_before(g, 25.0) == 0
        store.append_logs(g, "a", [LogEvent(40.0, "after")])  # appends go on after a sweep
        assert [e.message for e in store.get_logs(g, "a")[0]] == ["new", "after"]

    def test_delete_log_streams(self, store):
        g = "/aws/sagemaker/TrainingJobs"
        for name in ("j1/algo-1", "j1/algo-2", "j2/algo-1"):
            store.append_logs(g, name, [LogEvent(1.0, name)])
        store.append_logs("other", "j1/algo-1", [LogEvent(1.0, "kept")])
        assert store.delete_log_streams(g, "j1/algo-2") == 1
        assert store.delete_log_streams(g, "j1/algo-2") == 0
        assert [s.stream for s in store.list_log_streams(g)[0]] == ["j1/algo-1", "j2/algo-1"]
        assert store.get_logs(g, "j1/algo-2")[0] == []
        assert store.delete_log_streams(g) == 2
        assert store.list_log_streams(g)[0] == []
        assert [e.message for e in store.get_logs("other", "j1/algo-1")[0]] == ["kept"]
        store.append_logs(g, "j1/algo-2", [LogEvent(2.0, "again")])  # a deleted stream can start afresh
        assert [e.message for e in store.get_logs(g, "j1/algo-2")[0]] == ["again"]

    # --- metrics ---
    def test_metrics(self, store):
        store.append_metrics("job-a", [("train:loss", 0.9, 100.0, 1), ("validation:auc", 0.6, 100.5, 1)])
        store.append_metrics("job-a", [("train:loss", 0.5, 101.0, 2)])
        store.append_metrics("job-b", [("train:loss", 9.0, 1.0, 0)])
        store.append_metrics("job-a", [])
        assert store.get_metrics("job-a") == [("train:loss", 0.9, 100.0, 1), ("validation:auc", 0.6, 100.5, 1),
                                              ("train:loss", 0.5, 101.0, 2)]
        assert store.get_metrics("job-a", "train:loss") == [("train:loss", 0.9, 100.0, 1), ("train:loss", 0.5, 101.0, 2)]
        assert store.get_metrics("job-c") == []
