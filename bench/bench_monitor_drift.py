"""Drift-detection quality on synthetic shifts at fixed thresholds: Shipyard's analyzer against Evidently's default
column drift tests on the same data.

    .venv/bin/python bench/bench_monitor_drift.py [--seeds 20] [--compare-python PATH] [--no-api]

Each seed makes a baseline (2,000 rows) and, per shift kind, a current data set (1,000 rows) of three columns:
``x`` (normal), ``y`` (lognormal, never shifted) and ``cat`` (6 categories, Zipf-like):

- ``none``: the current data drawn from the baseline's distribution (any alarm is a false alarm);
- ``mean`` / ``mean_small``: ``x`` moved by 0.5 / 0.15 of a standard deviation;
- ``variance`` / ``variance_small``: ``x``'s spread times 2 / 1.25 (same mean);
- ``new_categories`` / ``new_categories_small``: 30% / 3% of ``cat`` replaced by three categories the baseline
  never saw.

Shipyard's side is what a monitoring execution runs: ``statistics.profile`` of baseline and current,
``statistics_document`` and ``constraints_document`` (its suggested constraints, default ``monitoring_config``:
Robust comparison, threshold 0.1) and ``violations.check``; a shift is detected when the shifted column gets a
``baseline_drift_check`` or ``categorical_values_check`` violation; a false alarm is any violation on ``none``
data (and, reported separately, on the unshifted ``y`` of the shifted sets). Evidently's side: its legacy
``TestSuite`` of ``TestColumnDrift`` per column with its defaults (K-S / chi-squared p < 0.05 below 1,000 rows,
Wasserstein / Jensen-Shannon distance > 0.1 above), detection and false alarm counted the same way.

One case also runs through the API as a monitoring job does (a server, the baseline documents and the current
CSV in S3, a processing job on the ``sagemaker-model-monitor-analyzer`` image with the contract's environment),
timed from CreateProcessingJob to Completed.

Evidently (0.7) needs pandas < 3, older than the project's, so it runs in its own interpreter:
``--compare-python`` (or ``$MONITOR_BENCH_PYTHON``) names a Python with evidently, pandas<3 and pyarrow
(``python3 -m venv /tmp/ev && /tmp/ev/bin/pip install evidently 'pandas<3' pyarrow``); without one, only
Shipyard's side runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

KINDS = ("none", "mean", "mean_small", "variance", "variance_small", "new_categories", "new_categories_small")
SHIFTED = {"none": None, "mean": "x", "mean_small": "x", "variance": "x", "variance_small": "x",
           "new_categories": "cat", "new_categories_small": "cat"}
# kind -> (x's mean shift, x's spread factor, share of new categories)
SHIFTS = {"none": (0.0, 1.0, 0.0), "mean": (1.0, 1.0, 0.0), "mean_small": (0.3, 1.0, 0.0),
          "variance": (0.0, 2.0, 0.0), "variance_small": (0.0, 1.25, 0.0), "new_categories": (0.0, 1.0, 0.3),
          "new_categories_small": (0.0, 1.0, 0.03)}
CATEGORIES = [f"c{i}" for i in range(6)]
BASE_ROWS, CURRENT_ROWS = 2000, 1000
DRIFT_CHECKS = ("baseline_drift_check", "categorical_values_check")


def _cats(rng: np.random.Generator, n: int) -> np.ndarray:
    weights = 1 / np.arange(1, len(CATEGORIES) + 1)
    return rng.choice(CATEGORIES, size=n, p=weights / weights.sum())


def make(seed: int, kind: str, rows: int, baseline: bool = False) -> pa.Table:
    rng = np.random.default_rng([seed, KINDS.index(kind), int(baseline)])
    x = rng.normal(10.0, 2.0, rows)
    y = rng.lognormal(1.0, 0.5, rows)
    cat = _cats(rng, rows)
    if not baseline:
        shift, spread, new_share = SHIFTS[kind]
        x = 10.0 + shift + (x - 10.0) * spread
        if new_share:
            new = rng.random(rows) < new_share
            cat = np.where(new, rng.choice(["n0", "n1", "n2"], size=rows), cat)
    return pa.table({"x": x, "y": y, "cat": cat})


def write_data(folder: Path, seeds: int) -> None:
    for seed in range(seeds):
        pq.write_table(make(seed, "none", BASE_ROWS, baseline=True), folder / f"{seed}-baseline.parquet")
        for kind in KINDS:
            pq.write_table(make(seed, kind, CURRENT_ROWS), folder / f"{seed}-{kind}.parquet")


def shipyard_flags(baseline: pa.Table, current: pa.Table) -> set[str]:
    """The columns Shipyard's analyzer flags (any violation) comparing ``current`` with ``baseline``."""
    from shipyard.monitor.analyzer import constraints, statistics, violations

    base_profiles = statistics.profile(baseline)
    stats = statistics.statistics_document(base_profiles, baseline.num_rows)
    cons = constraints.constraints_document(base_profiles)
    found = violations.check(statistics.profile(current), cons, stats)
    return {v["feature_name"] for v in found}


EVIDENTLY_SIDE = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import pyarrow.parquet as pq
import evidently
from evidently.legacy.test_suite import TestSuite
from evidently.legacy.tests import TestColumnDrift
folder, seeds, kinds = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
out, seconds = {}, 0.0
for seed in range(seeds):
    base = pq.read_table(f"{folder}/{seed}-baseline.parquet").to_pandas()
    for kind in kinds:
        cur = pq.read_table(f"{folder}/{seed}-{kind}.parquet").to_pandas()
        began = time.perf_counter()
        suite = TestSuite(tests=[TestColumnDrift(column_name=c) for c in base.columns])
        suite.run(reference_data=base, current_data=cur)
        result = suite.as_dict()
        seconds += time.perf_counter() - began
        flagged = sorted(base.columns[i] for i, t in enumerate(result["tests"]) if t["status"] == "FAIL")
        out[f"{seed}-{kind}"] = flagged
print(json.dumps({"version": evidently.__version__, "seconds": seconds, "flags": out}))
"""


def evidently_side(python: str, folder: Path, seeds: int) -> dict | None:
    try:
        run = subprocess.run([python, "-c", EVIDENTLY_SIDE, str(folder), str(seeds), ",".join(KINDS)],
                             capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as e:
        print(f"Evidently side did not run: {e}")
        return None
    if run.returncode != 0:
        print(f"Evidently side failed:\n{run.stderr[-2000:]}")
        return None
    return json.loads(run.stdout.strip().splitlines()[-1])


def rates(flags: dict[str, list[str] | set[str]], seeds: int) -> dict[str, dict[str, float]]:
    """Per kind: detection rate of the shifted column, false alarms (``none``: any column; shifted kinds: the
    never-shifted ``y``)."""
    out: dict[str, dict[str, float]] = {}
    for kind in KINDS:
        got = [set(flags[f"{seed}-{kind}"]) for seed in range(seeds)]
        column = SHIFTED[kind]
        if column is None:
            out[kind] = {"false_alarm": sum(bool(g) for g in got) / seeds}
        else:
            out[kind] = {"detected": sum(column in g for g in got) / seeds,
                         "false_alarm_y": sum("y" in g for g in got) / seeds}
    return out


def api_side(folder: Path) -> float | None:
    """One monitoring analysis through the API: a processing job on the analyzer image, Create -> Completed."""
    from pyarrow import csv

    from shipyard.monitor.analyzer import constraints, statistics
    from shipyard.testing.server import ShipyardProcess

    baseline, current = pq.read_table(folder / "0-baseline.parquet"), pq.read_table(folder / "0-mean.parquet")
    profiles = statistics.profile(baseline)
    stats = statistics.statistics_document(profiles, baseline.num_rows)
    cons = constraints.constraints_document(profiles)
    csv.write_csv(current, folder / "current.csv")
    srv = ShipyardProcess(folder / "home", log_level="warning").start()
    try:
        sm, s3 = srv.client("sagemaker"), srv.client("s3")
        s3.create_bucket(Bucket="drift-bench")
        s3.put_object(Bucket="drift-bench", Key="baseline/statistics.json", Body=json.dumps(stats).encode())
        s3.put_object(Bucket="drift-bench", Key="baseline/constraints.json", Body=json.dumps(cons).encode())
        s3.upload_file(str(folder / "current.csv"), "drift-bench", "current/current.csv")

        def s3_input(name: str, key: str, local: str) -> dict:
            return {"InputName": name, "S3Input": {"S3Uri": f"s3://drift-bench/{key}", "LocalPath": local,
                                                   "S3DataType": "S3Prefix", "S3InputMode": "File"}}

        began = time.perf_counter()
        sm.create_processing_job(
            ProcessingJobName="drift-bench",
            AppSpecification={"ImageUri": "156813124566.dkr.ecr.us-east-1.amazonaws.com/"
                                          "sagemaker-model-monitor-analyzer"},
            ProcessingInputs=[s3_input("current", "current/", "/opt/ml/processing/input/current"),
                              s3_input("baseline", "baseline/statistics.json", "/opt/ml/processing/baseline/stats"),
                              s3_input("constraints", "baseline/constraints.json",
                                       "/opt/ml/processing/baseline/constraints")],
            ProcessingOutputConfig={"Outputs": [{"OutputName": "result", "S3Output": {
                "S3Uri": "s3://drift-bench/result", "LocalPath": "/opt/ml/processing/output",
                "S3UploadMode": "EndOfJob"}}]},
            ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                   "VolumeSizeInGB": 20}},
            Environment={"dataset_format": '{"csv": {"header": true}}',
                         "dataset_source": "/opt/ml/processing/input/current",
                         "output_path": "/opt/ml/processing/output",
                         "baseline_statistics": "/opt/ml/processing/baseline/stats/statistics.json",
                         "baseline_constraints": "/opt/ml/processing/baseline/constraints/constraints.json",
                         "publish_cloudwatch_metrics": "Disabled"},
            RoleArn="arn:aws:iam::123456789012:role/bench")
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            d = sm.describe_processing_job(ProcessingJobName="drift-bench")
            if d["ProcessingJobStatus"] not in ("InProgress", "Stopping"):
                break
            time.sleep(0.1)
        seconds = time.perf_counter() - began
        print(f"API path: processing job {d['ProcessingJobStatus']} ({d.get('ExitMessage', '')[:80]}) "
              f"in {seconds:.2f} s")
        return seconds if d["ProcessingJobStatus"] == "Completed" else None
    finally:
        srv.stop(kill_children=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--compare-python", default=os.environ.get("MONITOR_BENCH_PYTHON"))
    parser.add_argument("--no-api", action="store_true", help="skip the run through the API")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="drift-bench-") as tmp:
        folder = Path(tmp)
        write_data(folder, args.seeds)
        flags: dict[str, set[str]] = {}
        seconds = 0.0
        for seed in range(args.seeds):
            base = pq.read_table(folder / f"{seed}-baseline.parquet")
            for kind in KINDS:
                cur = pq.read_table(folder / f"{seed}-{kind}.parquet")
                began = time.perf_counter()
                flags[f"{seed}-{kind}"] = shipyard_flags(base, cur)
                seconds += time.perf_counter() - began
        ours = rates(flags, args.seeds)
        theirs = evidently_side(args.compare_python, folder, args.seeds) if args.compare_python else None
        api = None if args.no_api else api_side(folder)
    cases = args.seeds * len(KINDS)
    print(f"\n{args.seeds} seeds x {len(KINDS)} kinds; baseline {BASE_ROWS} rows, current {CURRENT_ROWS} rows")
    head = f"{'kind':16} {'Shipyard':>28}"
    if theirs:
        head += f" {'Evidently ' + theirs['version']:>28}"
    print(head)
    their_rates = rates(theirs["flags"], args.seeds) if theirs else None
    for kind in KINDS:
        def fmt(r: dict[str, float]) -> str:
            return ("false alarms {:.0%}".format(r["false_alarm"]) if "false_alarm" in r else
                    "detected {:.0%}, y alarms {:.0%}".format(r["detected"], r["false_alarm_y"]))
        line = f"{kind:16} {fmt(ours[kind]):>28}"
        if their_rates:
            line += f" {fmt(their_rates[kind]):>28}"
        print(line)
    print(f"\nwall time, {cases} comparisons (baseline + current profiles and checks): Shipyard {seconds:.2f} s"
          + (f", Evidently {theirs['seconds']:.2f} s, ratio {seconds / theirs['seconds']:.2f}x" if theirs else ""))
    if api is not None:
        print(f"one comparison through the API (processing job on the analyzer image): {api:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
