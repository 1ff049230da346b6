"""Metadata-store throughput: Shipyard's SQL store (SQLite file, PostgreSQL) beside moto's SageMaker backend.

moto keeps resources in Python dicts (nothing durable), so it is the ceiling for "no database at all";
the ratio column says what durability and transactions cost. Not a test: prints figures only.

    .venv/bin/python bench/metastore.py [--n 2000] [--pg postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import threading
import time

from shipyard.metastore.base import ListQuery, LogEvent
from shipyard.metastore.sql.store import SqlMetaStore

DOC = {"ModelName": "", "PrimaryContainer": {"Image": "img:1", "ModelDataUrl": "s3://b/k/model.tar.gz",
                                             "Environment": {"A": "1" * 40}},
       "ExecutionRoleArn": "arn:aws:iam::123456789012:role/r", "CreationTime": 0.0}


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def timed(fn, count: int) -> float:
    start = time.perf_counter()
    for i in range(count):
        fn(i)
    return rate(count, time.perf_counter() - start)


def bench_store(store, n: int) -> dict[str, float]:
    out = {}
    out["create"] = timed(lambda i: store.create("model", f"m-{i}", f"arn:m-{i}", "Ready", DOC), n)
    out["get"] = timed(lambda i: store.get("model", f"m-{i}"), n)
    out["update (CAS)"] = timed(lambda i: store.update("model", f"m-{i}", {"X": i}, expect_status={"Ready"}), n)

    def pages(_):
        token = None
        while True:
            page = store.list("model", ListQuery(max_results=100, next_token=token))
            token = page.next_token
            if not token:
                return
    out["list all (pages/s)"] = timed(pages, 3) * (n / 100)
    batches = max(1, n // 20)
    out["append logs (events/s)"] = timed(
        lambda i: store.append_logs("g", "s", [LogEvent(float(i * 100 + j), f"line {j}") for j in range(100)]),
        batches) * 100
    def read_all(_):
        token = None
        while True:
            events, fwd, _b = store.get_logs("g", "s", next_token=token, limit=1000)
            if fwd == token:
                return
            token = fwd
    out["read logs (events/s)"] = timed(read_all, 3) * batches * 100
    store.create("model", "race", "arn:race", "0", {"n": 0})
    per, threads = n // 8, 8

    def worker():
        for _ in range(per):
            for _ in range(1000):
                cur = store.get("model", "race")
                try:
                    store.update("model", "race", {"n": cur.doc["n"] + 1}, expect_version=cur.version)
                    break
                except Exception:  # noqa: BLE001 - ConflictError: retry
                    continue
    start = time.perf_counter()
    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out["8-thread versioned updates"] = rate(per * threads, time.perf_counter() - start)
    assert store.get("model", "race").doc["n"] == per * threads
    return out


def bench_moto(n: int) -> dict[str, float]:
    from moto.sagemaker.models import SageMakerModelBackend

    b = SageMakerModelBackend("us-east-1", "123456789012")
    out = {}
    out["create"] = timed(lambda i: b.create_model(f"m-{i}", DOC["ExecutionRoleArn"], DOC["PrimaryContainer"],
                                                   None, None, None), n)
    out["get"] = timed(lambda i: b.describe_model(f"m-{i}").response_object, n)
    out["list all (pages/s)"] = timed(lambda _: sorted(b.list_models(), key=lambda m: m.creation_time), 3) * (n / 100)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = SqlMetaStore(f"sqlite:///{tmp}/bench.db")
        results["sqlite"] = bench_store(store, args.n)
        store.close()
    schema = f"shipyard_bench_{secrets.token_hex(4)}"
    try:
        import psycopg

        with psycopg.connect(args.pg, autocommit=True, connect_timeout=3) as c:
            c.execute(f'CREATE SCHEMA "{schema}"')
        try:
            store = SqlMetaStore(f"{args.pg}?schema={schema}")
            results["postgresql"] = bench_store(store, args.n)
            store.close()
        finally:
            with psycopg.connect(args.pg, autocommit=True) as c:
                c.execute(f'DROP SCHEMA "{schema}" CASCADE')
    except Exception as exc:  # noqa: BLE001 - no server: leave the column out
        print(f"(PostgreSQL skipped: {exc})")
    results["moto"] = bench_moto(args.n)
    cols = list(results)
    print(f"n={args.n}; operations per second (higher is better); ratio = sqlite / moto")
    print(f"{'operation':28s}" + "".join(f"{c:>14s}" for c in cols) + f"{'ratio':>9s}")
    for op in results["sqlite"]:
        row = f"{op:28s}" + "".join(f"{results[c].get(op, float('nan')):14.0f}" for c in cols)
        peer = results["moto"].get(op)
        row += f"{results['sqlite'][op] / peer:9.3f}" if peer else f"{'-':>9s}"
        print(row)


if __name__ == "__main__":
    main()
