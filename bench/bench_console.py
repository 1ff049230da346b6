"""The console's list pages with 10,000 training jobs in the store, against the 100 ms p95 target (issue 17).

Seeds 10,000 training-job rows directly in a fresh home's metadata store (terminal statuses, so no controller
picks them up; documents shaped like a real job's, with hyperparameters and channels), starts a real server
on that home, signs in to ``/studio`` with the server's key pair and times whole HTTP requests (what a
browser waits for: SigV4-free session check, the ListTrainingJobs operation, the template) ``--repeat``
times each:

- list: ``/studio/training-jobs`` (the newest 50)
- list-status: filtered by status (Failed)
- list-name: filtered by a name fragment
- list-page2: the second page (its NextToken from page 1)
- home: the dashboard (three List calls)
- detail: one job's page

    .venv/bin/python bench/bench_console.py [--jobs 10000] [--repeat 50]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from html import unescape

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

import httpx  # noqa: E402

from shipyard.config import load_settings  # noqa: E402
from shipyard.domain.arns import make_arn  # noqa: E402
from shipyard.metastore import open_metastore  # noqa: E402
from shipyard.metastore.sql.schema import resources  # noqa: E402
from shipyard.metastore.sql.search import index_resource  # noqa: E402
from shipyard.metastore.sql.store import SqlMetaStore, dump_doc  # noqa: E402
from shipyard.testing.server import ShipyardProcess  # noqa: E402

KIND = "training-job"
TARGET_MS = 100.0
STATUSES = ("Completed", "Completed", "Completed", "Failed", "Stopped")


def job_doc(i: int, name: str, arn: str) -> dict:
    return {
        "TrainingJobName": name, "TrainingJobArn": arn, "RoleArn": "arn:aws:iam::123456789012:role/bench",
        "AlgorithmSpecification": {"TrainingImage": "683313688378.dkr.ecr.us-east-1.amazonaws.com/"
                                                    "sagemaker-xgboost:1.7-1", "TrainingInputMode": "File"},
        "HyperParameters": {"max_depth": str(3 + i % 5), "eta": f"{0.1 + (i % 7) / 100:.2f}", "num_round": "50"},
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://bench/{name}/train",
            "S3DataDistributionType": "FullyReplicated"}}}],
        "OutputDataConfig": {"S3OutputPath": "s3://bench/output"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "SecondaryStatus": STATUSES[i % len(STATUSES)],
        "TrainingEndTime": time.time(),
    }


def seed(home: str, n: int, chunk: int = 1000) -> float:
    """Write ``n`` rows as ``SqlMetaStore.create`` writes them (the row and its search index), a thousand to a
    transaction (a commit per row would take most of a minute), created one second apart."""
    settings = load_settings(home)
    meta = open_metastore(settings.database_url)
    assert isinstance(meta, SqlMetaStore)
    started = time.perf_counter()
    now = time.time()
    for first in range(0, n, chunk):
        with meta._tx(write=True) as conn:
            for i in range(first, min(n, first + chunk)):
                name = f"bench-job-{i:05d}"
                arn = make_arn(KIND, name, settings.region, settings.account)
                doc = job_doc(i, name, arn)
                at = now - (n - i)
                done = conn.execute(resources.insert().values(
                    kind=KIND, name=name, name_key=name.lower(), arn=arn, status=STATUSES[i % len(STATUSES)],
                    parent="", created=at, modified=at, version=1, doc=dump_doc(doc)))
                key = done.inserted_primary_key
                assert key is not None
                index_resource(conn, key[0], KIND, doc, replace=False)
    meta.close()
    return time.perf_counter() - started


def timed(client: httpx.Client, url: str, repeat: int) -> list[float]:
    client.get(url).raise_for_status()  # warm (template compiled, statement cached)
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        r = client.get(url)
        out.append((time.perf_counter() - t) * 1000)
        r.raise_for_status()
    return out


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 20 else max(values)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=50)
    args = ap.parse_args()
    home = tempfile.mkdtemp(prefix="bench-console-")
    took = seed(home, args.jobs)
    print(f"seeded {args.jobs} training jobs in {took:.1f} s")
    server = ShipyardProcess(home).start()
    try:
        key, secret = server.keys()
        with httpx.Client(base_url=server.url, timeout=30) as client:
            r = client.post("/studio/signin", data={"access_key_id": key, "secret_access_key": secret})
            assert r.status_code == 303 and "shipyard_console" in client.cookies, r.text
            first = client.get("/studio/training-jobs")
            rows = first.text.count("<tr>") - 1
            assert rows == 50, f"the first page should hold 50 jobs, it holds {rows}"
            link = re.search(r'id="next-page" href="([^"]+)"', first.text)
            assert link is not None, "the first page should link to the next"
            page2 = unescape(link.group(1))
            pages = {
                "list": "/studio/training-jobs",
                "list-status": "/studio/training-jobs?status=Failed",
                "list-name": "/studio/training-jobs?name=job-042",
                "list-page2": "/studio/training-jobs" + page2,
                "home": "/studio",
                "detail": "/studio/training-jobs/bench-job-04242",
            }
            print(f"{'page':<12} {'p50 ms':>8} {'p95 ms':>8}   target p95 < {TARGET_MS:.0f} ms")
            worst = 0.0
            for label, url in pages.items():
                ms = timed(client, url, args.repeat)
                worst = max(worst, p95(ms))
                verdict = "ok" if p95(ms) < TARGET_MS else "OVER"
                print(f"{label:<12} {statistics.median(ms):>8.1f} {p95(ms):>8.1f}   {verdict}")
            verdict = "meets" if worst < TARGET_MS else "misses"
            print(f"worst p95 {worst:.1f} ms: {verdict} the {TARGET_MS:.0f} ms target")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
