"""Baseline statistics on 1M rows x 30 columns: Shipyard's analyzer against whylogs' profile of the same data.

    .venv/bin/python bench/bench_monitor_baseline.py [--rows 1000000] [--compare-python PATH]

The data (generated, fixed seed): 20 numeric columns (normal, lognormal, uniform, integer counts, some with 1%
missing) and 10 categorical ones (3 to 200 categories, Zipf-like). It is written once as Parquet; each side
loads it into memory (not timed) and profiles it (timed): Shipyard's ``statistics.profile`` +
``statistics_document`` (types, counts, moments, KLL sketches, buckets, categorical counts: the whole
statistics.json) and whylogs' ``why.log(df)`` (its default profile: counts, types, KLL quantiles, frequent
items, cardinality). One run each, as a baseline job does. The analyzer program's whole baseline run (reading
the same data as CSV, writing both documents) is timed too.

whylogs pins ``platformdirs<4``, which would downgrade a package of the project's environment, so it runs in
its own interpreter: ``--compare-python`` (or ``$MONITOR_BENCH_PYTHON``) names a Python with whylogs, pandas and
pyarrow installed (``python3 -m venv /tmp/cmp && /tmp/cmp/bin/pip install whylogs pandas pyarrow``); without
one, only Shipyard's side runs. Quantile quality: Shipyard's sketch quantiles against exact numpy quantiles, as
rank error, next to the sketch's own bound (``normalized_rank_error``).
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

QUANTILES = (0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99)

WHYLOGS_SIDE = r"""
import json, sys, time
import pyarrow.parquet as pq
import whylogs as why
df = pq.read_table(sys.argv[1]).to_pandas()
began = time.perf_counter()
view = why.log(df).view()
seconds = time.perf_counter() - began
print(json.dumps({"seconds": seconds, "version": why.__version__, "columns": len(view.get_columns())}))
"""


def generate(rows: int, seed: int = 42) -> pa.Table:
    rng = np.random.default_rng(seed)
    columns: dict[str, pa.Array] = {}
    for i in range(20):
        kind = i % 4
        if kind == 0:
            values = rng.normal(100 + i, 15, rows)
        elif kind == 1:
            values = rng.lognormal(1 + i / 10, 0.8, rows)
        elif kind == 2:
            values = rng.uniform(-50, 50, rows)
        else:
            values = rng.poisson(3 + i, rows).astype(np.float64)
        mask = rng.random(rows) < 0.01 if i % 3 == 0 else None
        array = pa.array(values, mask=mask)
        columns[f"num_{i}"] = array.cast(pa.int64()) if kind == 3 and mask is None else array
    for i in range(10):
        cardinality = (3, 5, 10, 20, 50, 100, 200, 7, 12, 30)[i]
        weights = 1.0 / np.arange(1, cardinality + 1)
        codes = rng.choice(cardinality, rows, p=weights / weights.sum())
        labels = np.array([f"cat{i}_{c}" for c in range(cardinality)], dtype=object)
        columns[f"cat_{i}"] = pa.array(labels[codes], type=pa.string())
    return pa.table(columns)


def shipyard_side(table: pa.Table) -> tuple[float, list]:
    from shipyard.monitor.analyzer import statistics as stats

    began = time.perf_counter()
    profiles = stats.profile(table)
    stats.statistics_document(profiles, table.num_rows)
    return time.perf_counter() - began, profiles


def quantile_errors(table: pa.Table, profiles: list) -> tuple[float, float]:
    """(largest rank error of Shipyard's quantiles over the numeric columns, the sketch's own bound)."""
    worst = 0.0
    bound = 0.0
    for p in profiles:
        if p.sketch is None or p.values is None:
            continue
        exact = np.sort(p.values)
        bound = max(bound, p.sketch.normalized_rank_error(False))
        for q in QUANTILES:
            estimate = p.sketch.get_quantile(q)
            low = np.searchsorted(exact, estimate, side="left") / len(exact)
            high = np.searchsorted(exact, estimate, side="right") / len(exact)
            error = 0.0 if low <= q <= high else min(abs(low - q), abs(high - q))
            worst = max(worst, error)
    return worst, bound


def program_side(table: pa.Table, folder: Path) -> float:
    """The baseline job's whole program on the same data as a CSV file: what a suggest_baseline job runs."""
    from pyarrow import csv

    from shipyard.monitor.analyzer import program

    source = folder / "opt_ml" / "processing" / "input" / "baseline_dataset_input"
    source.mkdir(parents=True)
    csv.write_csv(table, source / "data.csv")
    began = time.perf_counter()
    rc = program.main({"SAGEMAKER_BASE_DIR": str(folder / "opt_ml"),
                       "dataset_format": '{"csv": {"header": true}}',
                       "dataset_source": "/opt/ml/processing/input/baseline_dataset_input",
                       "output_path": "/opt/ml/processing/output"})
    assert rc == 0
    return time.perf_counter() - began


def compare_side(python: str, data: Path) -> dict | None:
    try:
        out = subprocess.run([python, "-c", WHYLOGS_SIDE, str(data)], capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as e:
        print(f"whylogs side did not run: {e}")
        return None
    if out.returncode != 0:
        print(f"whylogs side failed:\n{out.stderr[-2000:]}")
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--compare-python", default=os.environ.get("MONITOR_BENCH_PYTHON"))
    args = parser.parse_args()
    table = generate(args.rows)
    print(f"data: {table.num_rows} rows x {table.num_columns} columns")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.parquet"
        pq.write_table(table, data)
        table = pq.read_table(data)
        seconds, profiles = shipyard_side(table)
        worst, bound = quantile_errors(table, profiles)
        print(f"shipyard statistics: {seconds:.2f} s")
        print(f"quantile rank error vs exact numpy: max {worst:.5f} (sketch bound {bound:.5f}) over "
              f"{len(QUANTILES)} quantiles x {sum(p.sketch is not None for p in profiles)} numeric columns")
        print(f"shipyard baseline program end to end (CSV with header read, statistics.json + constraints.json "
              f"written): {program_side(table, Path(tmp)):.2f} s")
        other = compare_side(args.compare_python, data) if args.compare_python else None
        if other:
            print(f"whylogs {other['version']} profile: {other['seconds']:.2f} s ({other['columns']} columns)")
            print(f"ratio shipyard / whylogs: {seconds / other['seconds']:.2f}x")
        elif not args.compare_python:
            print("whylogs: not run (give --compare-python or MONITOR_BENCH_PYTHON: a Python with whylogs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
