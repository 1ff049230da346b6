"""Search and list pages over 100,000 trial components, on SQLite and PostgreSQL, against the 50 ms p95 target
(issue 16), and against a naive scan of every JSON document for the ratio.

Records are shaped like the trial components Shipyard stores (parameters, two metric summaries, a trial in one
of 100 experiments x 10 trials, status, display name) and written in bulk through the store's own index
writer (the same rows ``create`` writes, in large transactions, so that loading takes a minute rather than
100,000 commits). Then each typical request runs ``--repeat`` times through ``SqlMetaStore.search`` / ``list``
(what the Search and List* handlers call; HTTP and JSON encoding add a few ms on top, see bench_wire):

- experiment: the components of one experiment (ExperimentAnalytics' filter), newest first
- trial: the components of one trial
- param-range: 0.010 <= Parameters.lr < 0.012, newest first
- metric-top: every component sorted by Metrics.accuracy.Max, top 20 (no filter)
- exp+metric: one experiment's components sorted by a metric
- trial+metric: one trial's components (100) sorted by a metric
- broad+trial / broad: a filter most records pass (lr > 0.001), with a selective one / sorted by a metric
- metric-page5: the fifth page of metric-top (one request, with the NextToken of page 4)
- list / list-page10: ListTrialComponents-style pages by creation time, the first and the tenth (one request)

    .venv/bin/python bench/bench_search.py [--records 100000] [--backends sqlite,postgresql] [--repeat 30]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from typing import Callable

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

import orjson  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from shipyard.metastore.base import ListQuery  # noqa: E402
from shipyard.metastore.search_query import SearchExpr, SearchFilter, SearchQuery  # noqa: E402
from shipyard.metastore.sql.schema import resources, search_index  # noqa: E402
from shipyard.metastore.sql.search import index_rows  # noqa: E402
from shipyard.metastore.sql.store import SqlMetaStore, dump_doc  # noqa: E402

KIND = "experiment-trial-component"
TARGET_MS = 50.0
EXPERIMENTS, TRIALS_PER_EXPERIMENT = 100, 10
DEFAULT_PG = os.environ.get("SHIPYARD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
COLUMNS = {"CreationTime": "created", "LastModifiedTime": "modified"}


def trial_of(i: int) -> tuple[str, str]:
    t = i % (EXPERIMENTS * TRIALS_PER_EXPERIMENT)
    return f"trial-{t}", f"exp-{t // TRIALS_PER_EXPERIMENT}"


def component(i: int) -> dict:
    trial, experiment = trial_of(i)
    lr = ((i * 7919) % 100_000) / 1_000_000  # 0 .. 0.1, spread over the records
    acc = ((i * 104729) % 100_000) / 100_000
    return {
        "TrialComponentName": f"run-{i}",
        "TrialComponentArn": f"arn:aws:sagemaker:us-east-1:1:experiment-trial-component/run-{i}",
        "DisplayName": f"run-{i}", "Status": {"PrimaryStatus": "Completed"},
        "Parameters": {"lr": {"NumberValue": lr}, "batch_size": {"NumberValue": 32 << (i % 4)},
                       "optimizer": {"StringValue": ("adam", "sgd", "rmsprop")[i % 3]}},
        "Metrics": [{"MetricName": "accuracy", "Max": acc, "Min": acc / 2, "Last": acc, "Count": 10},
                    {"MetricName": "loss", "Max": 1 - acc / 2, "Min": 1 - acc, "Last": 1 - acc, "Count": 10}],
        "Parents": [{"TrialName": trial, "ExperimentName": experiment}],
        "_trials": [trial],
    }


def load(store: SqlMetaStore, n: int, batch: int = 2000) -> float:
    start = time.perf_counter()
    now = time.time() - n
    for lo in range(0, n, batch):
        rows = []
        for i in range(lo, min(n, lo + batch)):
            doc = component(i)
            rows.append(dict(kind=KIND, name=f"run-{i}", name_key=f"run-{i}", arn=doc["TrialComponentArn"],
                             status="Completed", parent="", created=now + i, modified=now + i, version=1,
                             doc=dump_doc(doc)))
        with store.engine.begin() as conn:
            ids = conn.execute(resources.insert().returning(resources.c.id, resources.c.doc), rows).all()
            entries: list[dict] = []
            for rid, text in ids:
                entries += index_rows(rid, KIND, orjson.loads(text))
            conn.execute(search_index.insert(), entries)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")  # planner statistics, as autovacuum / a periodic ANALYZE keeps them
    return time.perf_counter() - start


def queries(store: SqlMetaStore) -> dict[str, Callable[[], object]]:
    f = SearchFilter
    trials_of_exp = ",".join(f"trial-{17 * TRIALS_PER_EXPERIMENT + j}" for j in range(TRIALS_PER_EXPERIMENT))

    def search(*filters: SearchFilter, **kw) -> Callable[[], object]:
        expr = SearchExpr(filters=filters) if filters else None
        return lambda: store.search(KIND, SearchQuery(expression=expr, columns=dict(COLUMNS), max_results=20, **kw))

    def token_before(page_number: int, fetch: Callable[[str | None], object]) -> str | None:
        token = None
        for _ in range(page_number - 1):
            token = fetch(token).next_token  # type: ignore[attr-defined]
        return token

    def metric_page(token: str | None) -> object:
        return store.search(KIND, SearchQuery(sort_by="Metrics.accuracy.Max", max_results=20, next_token=token,
                                              columns=dict(COLUMNS)))

    def list_page(token: str | None) -> object:
        return store.list(KIND, ListQuery(max_results=20, next_token=token))

    page5_token = token_before(5, metric_page)
    page10_token = token_before(10, list_page)

    return {
        "experiment": search(f("_trials", "In", trials_of_exp)),
        "trial": search(f("_trials", "Equals", "trial-123")),
        "param-range": search(f("Parameters.lr", "GreaterThanOrEqualTo", "0.010"),
                              f("Parameters.lr", "LessThan", "0.012")),
        "metric-top": search(sort_by="Metrics.accuracy.Max"),
        "exp+metric": search(f("_trials", "In", trials_of_exp), sort_by="Metrics.loss.Min", descending=False),
        "trial+metric": search(f("_trials", "Equals", "trial-123"), sort_by="Metrics.accuracy.Max"),
        "broad+trial": search(f("Parameters.lr", "GreaterThan", "0.001"), f("_trials", "Equals", "trial-123")),
        "broad": search(f("Parameters.lr", "GreaterThan", "0.001"), sort_by="Metrics.accuracy.Max"),
        "metric-page5": lambda: metric_page(page5_token),
        "list": lambda: list_page(None),
        "list-page10": lambda: list_page(page10_token),
    }


def naive_param_range(store: SqlMetaStore) -> object:
    """The scan the index replaces: read and parse every document, filter and sort in Python."""
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(resources.c.name, resources.c.modified, resources.c.doc)
                            .where(resources.c.kind == KIND)).all()
    hits = []
    for name, modified, text in rows:
        lr = orjson.loads(text)["Parameters"]["lr"]["NumberValue"]
        if 0.010 <= lr < 0.012:
            hits.append((modified, name))
    return sorted(hits, reverse=True)[:20]


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    fn()  # warm the caches once
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def p95(xs: list[float]) -> float:
    return sorted(xs)[max(0, int(round(0.95 * len(xs))) - 1)]


def run_backend(name: str, url: str, n: int, repeat: int) -> None:
    store = SqlMetaStore(url)
    try:
        with store.engine.connect() as conn:
            present = conn.execute(sa.select(sa.func.count()).where(resources.c.kind == KIND)).scalar() or 0
        if present:  # --sqlite-path of an earlier run: reuse its records
            print(f"\n[{name}] reusing {present:,} trial components")
        else:
            secs = load(store, n)
            print(f"\n[{name}] {n:,} trial components loaded in {secs:.1f} s "
                  f"({n / secs:,.0f}/s, with their search index rows)")
        print(f"{'request':<14}{'p50 ms':>9}{'p95 ms':>9}   target p95 < {TARGET_MS:.0f} ms")
        for label, fn in queries(store).items():
            xs = timed(fn, repeat)
            verdict = "OK" if p95(xs) < TARGET_MS else "OVER"
            print(f"{label:<14}{statistics.median(xs):>9.2f}{p95(xs):>9.2f}   {verdict}")
        naive = timed(lambda: naive_param_range(store), max(3, repeat // 10))
        indexed = timed(queries(store)["param-range"], repeat)
        slow, fast = statistics.median(naive), statistics.median(indexed)
        print(f"naive scan (param-range over every document): p50 {slow:.0f} ms; "
              f"indexed {fast:.2f} ms; ratio {slow / fast:,.0f}x")
    finally:
        store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--pg-url", default=DEFAULT_PG)
    ap.add_argument("--sqlite-path", help="keep the SQLite database here (and reuse it if it is filled)")
    ap.add_argument("--pg-schema", help="keep the PostgreSQL data in this schema (and reuse it if it is filled)")
    args = ap.parse_args()
    for backend in args.backends.split(","):
        if backend == "sqlite" and args.sqlite_path:
            run_backend("SQLite", f"sqlite:///{args.sqlite_path}", args.records, args.repeat)
        elif backend == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                run_backend("SQLite", f"sqlite:///{tmp}/meta.db", args.records, args.repeat)
        elif backend == "postgresql" and args.pg_schema:
            sep = "&" if "?" in args.pg_url else "?"
            run_backend("PostgreSQL", f"{args.pg_url}{sep}schema={args.pg_schema}", args.records, args.repeat)
        elif backend == "postgresql":
            schema = f"bench_search_{secrets.token_hex(4)}"
            try:
                import psycopg

                with psycopg.connect(args.pg_url, autocommit=True, connect_timeout=3) as conn:
                    conn.execute(f'CREATE SCHEMA "{schema}"')
            except Exception as exc:  # noqa: BLE001 - no server: say so and go on
                print(f"\n[PostgreSQL] skipped: not reachable at {args.pg_url} ({exc})")
                continue
            sep = "&" if "?" in args.pg_url else "?"
            try:
                run_backend("PostgreSQL", f"{args.pg_url}{sep}schema={schema}", args.records, args.repeat)
            finally:
                with psycopg.connect(args.pg_url, autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        else:
            raise SystemExit(f"unknown backend {backend!r}: use sqlite and/or postgresql")


if __name__ == "__main__":
    main()
