"""A 10-step data flow on Shipyard's wrangle engine vs the same steps hand-written in pandas.

    .venv/bin/python bench/bench_wrangle.py [--rows 1000000] [--repeat 3]

One Parquet file of ``--rows`` generated rows (numbers with missing values, a category, counts, timestamps,
an id). The flow (``shipyard.wrangle.run_flow``, what `shipyard wrangle export --to python --run` and a
processing job run) reads it and applies ten steps: impute a mean, fill a category, one-hot encode it,
standard-scale, min-max scale, bin, extract date parts, filter rows, drop a column, rename a column. The
peer is the same pipeline written directly in pandas (what a user would otherwise write). Both outputs are
checked equal; each side runs ``--repeat`` times in turn, best time kept. Prints both and the ratio (goal: the
flow at most 1.2x pandas).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import pandas as pd

STEPS = [
    ("handle_missing", {"operator": "Impute", "impute_parameters": {"column_type": "Numeric", "numeric_parameters": {
        "input_column": "num", "strategy": "Mean"}}}),
    ("handle_missing", {"operator": "Fill missing", "fill_missing_parameters": {"input_column": "cat",
                                                                               "fill_value": "unknown"}}),
    ("encode_categorical", {"operator": "One-hot encode", "one_hot_encode_parameters": {"input_column": "cat"}}),
    ("process_numeric", {"operator": "Scale values", "scale_values_parameters": {
        "scaler": "Standard scaler", "input_column": "num", "standard_scaler_parameters": {"center": True}}}),
    ("process_numeric", {"operator": "Scale values", "scale_values_parameters": {"scaler": "Min-max scaler",
                                                                                 "input_column": "amount"}}),
    ("process_numeric", {"operator": "Bin values", "bin_values_parameters": {
        "input_column": "count", "binning_strategy": "Equal width", "number_of_bins": 10}}),
    ("featurize_date_time", {"operator": "Extract columns", "extract_columns_parameters": {
        "input_column": "ts", "year": True, "month": True, "day_of_week": True}}),
    ("manage_rows", {"operator": "Filter", "filter_parameters": {"input_column": "count", "condition": ">=",
                                                                 "value": 5}}),
    ("manage_columns", {"operator": "Drop column", "drop_column_parameters": {"column_to_drop": "ts"}}),
    ("manage_columns", {"operator": "Rename column", "rename_column_parameters": {"input_column": "amount",
                                                                                  "new_name": "amount_scaled"}}),
]


def generate(rows: int, path: str) -> None:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"id": np.arange(rows), "num": rng.normal(50, 10, rows), "amount": rng.gamma(2, 20, rows),
                       "count": rng.integers(0, 100, rows),
                       "cat": rng.choice(np.array(["a", "b", "c", "d", "e"], dtype=object), rows),
                       "ts": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 86400 * 900, rows), "s")})
    df.loc[rng.random(rows) < 0.05, "num"] = np.nan
    df.loc[rng.random(rows) < 0.05, "cat"] = None
    df.to_parquet(path, index=False)


def by_hand(path: str) -> pd.DataFrame:
    df = pd.read_parquet(path)
    df["num"] = df["num"].fillna(df["num"].mean())
    df["cat"] = df["cat"].fillna("unknown")
    df = pd.get_dummies(df, columns=["cat"], dtype="float64")
    df["num"] = (df["num"] - df["num"].mean()) / df["num"].std()
    df["amount"] = (df["amount"] - df["amount"].min()) / (df["amount"].max() - df["amount"].min())
    df["count_binned"] = pd.cut(df["count"], 10, labels=False).astype("float64")
    ts = pd.to_datetime(df["ts"])
    df["ts_year"], df["ts_month"], df["ts_day_of_week"] = ts.dt.year, ts.dt.month, ts.dt.day_of_week
    df = df[df["count"] >= 5].reset_index(drop=True)
    df = df.drop(columns=["ts"])
    return df.rename(columns={"amount": "amount_scaled"})


def flow_for(path: str):
    from shipyard import wrangle

    flow = wrangle.new_flow(path, content_type="parquet", infer_types=False)
    for operator, params in STEPS:
        wrangle.add_step(flow, operator, params)
    return flow


def with_flow(flow) -> pd.DataFrame:
    from shipyard import wrangle

    return next(iter(wrangle.run_flow(flow).values()))


def timed(fn) -> tuple[float, pd.DataFrame]:
    began = time.perf_counter()
    out = fn()
    return time.perf_counter() - began, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "data.parquet")
        generate(args.rows, path)
        flow = flow_for(path)
        hand_times, flow_times = [], []
        for _ in range(args.repeat):
            t, want = timed(lambda: by_hand(path))
            hand_times.append(t)
            t, got = timed(lambda: with_flow(flow))
            flow_times.append(t)
        got = got[list(want.columns)]
        pd.testing.assert_frame_equal(got, want, check_dtype=False, atol=1e-9)
    hand, flow_t = min(hand_times), min(flow_times)
    print(f"{args.rows:,} rows, {len(STEPS)} steps; outputs equal ({len(want):,} rows, {want.shape[1]} columns)")
    print(f"pandas by hand      {hand:8.3f} s")
    print(f"shipyard wrangle    {flow_t:8.3f} s")
    print(f"ratio (flow/pandas) {flow_t / hand:8.2f}x   (goal <= 1.2x)")


if __name__ == "__main__":
    main()
