"""Usage reports: ``shipyard usage --by tag:team`` vs what a user would otherwise script with boto3.

Seeds ``--jobs`` completed training jobs (own start and end times, instance types and counts, a ``team`` tag)
in a fresh home's metadata store, starts a real server on it and waits for its meter to record every job's
usage interval (the backfill: the meter's first passes over jobs it never saw running). Then, ``--repeat``
times each, the cost per team over the last day:

- boto3: ListTrainingJobs (paginated), then DescribeTrainingJob and ListTags per job, priced with the same
  table: the script a team writes without a usage report;
- shipyard usage: ``shipyard usage --by tag:team --csv`` in-process (opens the home's store, reads the
  intervals, groups, prices).

Both must agree to the cent; the ratio is boto3's time over the report's.

    .venv/bin/python bench/bench_usage.py [--jobs 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from shipyard import cli  # noqa: E402
from shipyard.config import load_settings  # noqa: E402
from shipyard.domain.arns import make_arn  # noqa: E402
from shipyard.metastore import open_metastore  # noqa: E402
from shipyard.testing.server import ShipyardProcess  # noqa: E402
from shipyard.usage import prices, store  # noqa: E402

TEAMS = ("vision", "nlp", "ranking", "forecast")
TYPES = (("ml.m5.large", 1), ("ml.c5.xlarge", 2), ("ml.g5.xlarge", 1), ("ml.m5.xlarge", 4))


def seed(home: str, n: int) -> None:
    settings = load_settings(home)
    meta = open_metastore(settings.database_url)
    now = time.time()
    for i in range(n):
        name = f"usage-bench-{i:05d}"
        itype, count = TYPES[i % len(TYPES)]
        start = now - 3600 - (i % 600) * 60
        arn = make_arn("training-job", name, settings.region, settings.account)
        doc = {"TrainingJobName": name, "TrainingJobArn": arn,
               "ResourceConfig": {"InstanceType": itype, "InstanceCount": count, "VolumeSizeInGB": 5},
               "TrainingStartTime": start, "TrainingEndTime": start + 60 + i % 900,
               "RoleArn": "arn:aws:iam::123456789012:role/bench", "SecondaryStatus": "Completed",
               "AlgorithmSpecification": {"TrainingImage": "xgboost", "TrainingInputMode": "File"},
               "OutputDataConfig": {"S3OutputPath": "s3://bench/out"},
               "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
               "_tags": [{"Key": "team", "Value": TEAMS[i % len(TEAMS)]}]}
        meta.create("training-job", name, arn, "Completed", doc)
    meta.close()


def by_boto3(server: ShipyardProcess, since: float, table: dict[str, float]) -> dict[str, float]:
    sm = server.client("sagemaker")
    cost: dict[str, float] = {}
    for page in sm.get_paginator("list_training_jobs").paginate(MaxResults=100):
        for summary in page["TrainingJobSummaries"]:
            d = sm.describe_training_job(TrainingJobName=summary["TrainingJobName"])
            if "TrainingStartTime" not in d:
                continue
            start = max(d["TrainingStartTime"].timestamp(), since)
            end = d.get("TrainingEndTime")
            seconds = max(0.0, (end.timestamp() if end else time.time()) - start)
            rc = d["ResourceConfig"]
            tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=d["TrainingJobArn"])["Tags"]}
            key = f"team={tags['team']}" if "team" in tags else "(no team)"
            cost[key] = cost.get(key, 0.0) + prices.cost(rc["InstanceType"], seconds * rc["InstanceCount"], table)
    return cost


def by_report(home: str) -> dict[str, float]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["usage", "--home", home, "--since", "1d", "--by", "tag:team", "--csv"]) == 0
    return {r["tag:team"]: float(r["cost_usd"]) for r in csv.DictReader(io.StringIO(out.getvalue()))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    home = tempfile.mkdtemp(prefix="shipyard-bench-usage-")
    t0 = time.perf_counter()
    seed(home, args.jobs)
    print(f"seeded {args.jobs} completed training jobs in {time.perf_counter() - t0:.1f} s")
    server = ShipyardProcess(home).start()
    try:
        meta = open_metastore(server.settings.database_url)
        t0 = time.perf_counter()
        deadline = time.monotonic() + 600
        while sum(1 for _ in store.intervals(meta)) < args.jobs and time.monotonic() < deadline:
            time.sleep(0.5)
        recorded = sum(1 for _ in store.intervals(meta))
        meta.close()
        print(f"meter backfill: {recorded} intervals recorded {time.perf_counter() - t0:.1f} s after start-up")
        table = prices.load_table(home)
        since = time.time() - 86400
        boto_times, report_times = [], []
        boto_cost = report_cost = {}
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            boto_cost = by_boto3(server, since, table)
            boto_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            report_cost = by_report(home)
            report_times.append(time.perf_counter() - t0)
        agree = boto_cost.keys() == report_cost.keys() and all(
            abs(boto_cost[k] - report_cost[k]) < 0.01 for k in boto_cost)
        b, r = statistics.median(boto_times), statistics.median(report_times)
        print(f"cost per team over {args.jobs} jobs, median of {args.repeat}:")
        print(f"  boto3 list + describe + list-tags: {b * 1000:9.1f} ms")
        print(f"  shipyard usage --by tag:team     : {r * 1000:9.1f} ms")
        print(f"  ratio (boto3 / shipyard usage)   : {b / r:9.1f}x   figures agree to the cent: {agree}")
        for k in sorted(report_cost):
            print(f"    {k:16s} ${report_cost[k]:10.4f}  (boto3 ${boto_cost.get(k, float('nan')):10.4f})")
    finally:
        server.stop(kill_children=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
