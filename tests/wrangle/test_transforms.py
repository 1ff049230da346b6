"""Each transform of the engine against the same step written by hand in pandas: equal frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from wrangle_helpers import one_step, read_back, sample_frame

from shipyard.errors import ValidationError


@pytest.fixture
def df():
    return sample_frame()


def check(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True), check_dtype=False)
    assert list(got.columns) == list(want.columns)


def test_drop_rename_move_duplicate_columns(df, tmp_path):
    base = read_back(df, tmp_path)
    check(one_step(df, tmp_path, "manage_columns", {"operator": "Drop column",
                                                   "drop_column_parameters": {"column_to_drop": ["text", "when"]}}),
          base.drop(columns=["text", "when"]))
    check(one_step(df, tmp_path, "manage_columns", {"operator": "Rename column", "rename_column_parameters":
                                                   {"input_column": "num", "new_name": "value"}}),
          base.rename(columns={"num": "value"}))
    check(one_step(df, tmp_path, "manage_columns", {"operator": "Move column", "move_column_parameters": {
        "move_type": "Move to start", "move_to_start_parameters": {"column_to_move": "text"}}}),
        base[["text"] + [c for c in base.columns if c != "text"]])
    check(one_step(df, tmp_path, "manage_columns", {"operator": "Duplicate column", "duplicate_column_parameters":
                                                   {"input_column": "id", "new_name": "id2"}}),
          base.assign(id2=base["id"]))


def test_cast_types(df, tmp_path):
    base = read_back(df, tmp_path)
    got = one_step(df, tmp_path, "cast_single_data_type", {"column": "num", "data_type": "long"})
    whole = base["num"].where(base["num"] == np.floor(base["num"]))
    assert got["num"].isna().sum() == whole.isna().sum()  # 10.3 is not a long: missing, as AWS's replace_null
    got = one_step(df, tmp_path, "cast_single_data_type", {"column": "count", "data_type": "string"})
    assert list(got["count"]) == [str(v) for v in base["count"]]


def test_impute_fill_indicator_drop(df, tmp_path):
    base = read_back(df, tmp_path)
    got = one_step(df, tmp_path, "handle_missing", {"operator": "Impute", "impute_parameters": {
        "column_type": "Numeric", "numeric_parameters": {"input_column": "num", "strategy": "Mean"}}})
    check(got, base.assign(num=base["num"].fillna(base["num"].mean())))
    got = one_step(df, tmp_path, "handle_missing", {"operator": "Impute", "impute_parameters": {
        "column_type": "Numeric", "numeric_parameters": {"input_column": "num", "strategy": "Approximate Median"}}})
    check(got, base.assign(num=base["num"].fillna(base["num"].median())))
    got = one_step(df, tmp_path, "handle_missing", {"operator": "Impute", "impute_parameters": {
        "column_type": "Categorical", "categorical_parameters": {"input_column": "cat"}}})
    check(got, base.assign(cat=base["cat"].fillna(base["cat"].mode().iloc[0])))
    got = one_step(df, tmp_path, "handle_missing", {"operator": "Fill missing", "fill_missing_parameters": {
        "input_column": "num", "fill_value": "-1"}})
    check(got, base.assign(num=base["num"].fillna(-1.0)))
    got = one_step(df, tmp_path, "handle_missing", {"operator": "Add indicator for missing",
                                                   "add_indicator_for_missing_parameters": {"input_column": "num"}})
    check(got, base.assign(num_indicator=base["num"].isna()))
    got = one_step(df, tmp_path, "handle_missing", {"operator": "Drop missing", "drop_missing_parameters": {
        "dimension": "Drop Rows", "drop_rows_parameters": {"input_column": "cat"}}})
    check(got, base.dropna(subset=["cat"]))


def test_one_hot_and_ordinal_encode(df, tmp_path):
    base = read_back(df, tmp_path)
    got = one_step(df, tmp_path, "encode_categorical", {"operator": "One-hot encode", "one_hot_encode_parameters":
                                                       {"input_column": ["cat"], "output_style": "Columns"}})
    counts = base["cat"].value_counts()
    order = sorted(counts.index, key=lambda v: (-counts[v], v))  # green (most frequent) first
    assert order[0] == "green"
    want = base.drop(columns=["cat"])
    for value in order:
        want[f"cat_{value}"] = (base["cat"] == value).astype("float64")
    check(got, want)
    got = one_step(df, tmp_path, "encode_categorical", {"operator": "Ordinal encode", "ordinal_encode_parameters":
                                                       {"input_column": "cat"}})
    check(got, base.assign(cat=base["cat"].map({v: float(i) for i, v in enumerate(order)})))


def test_scale_values(df, tmp_path):
    base = read_back(df, tmp_path)
    x = base["num"]

    def scale(scaler, extra=None):
        return one_step(df, tmp_path, "process_numeric", {"operator": "Scale values", "scale_values_parameters": {
            "scaler": scaler, "input_column": "num", **(extra or {})}})

    check(scale("Standard scaler"), base.assign(num=x / x.std(ddof=1)))
    check(scale("Standard scaler", {"standard_scaler_parameters": {"center": True, "scale": True}}),
          base.assign(num=(x - x.mean()) / x.std(ddof=1)))
    check(scale("Min-max scaler"), base.assign(num=(x - x.min()) / (x.max() - x.min())))
    check(scale("Max absolute scaler"), base.assign(num=x / x.abs().max()))
    check(scale("Robust scaler", {"robust_scaler_parameters": {"center": True}}),
          base.assign(num=(x - x.median()) / (x.quantile(0.75) - x.quantile(0.25))))


def test_bin_values(df, tmp_path):
    base = read_back(df, tmp_path)

    def binned(params):
        return one_step(df, tmp_path, "process_numeric", {"operator": "Bin values", "bin_values_parameters": {
            "input_column": "count", **params}})

    check(binned({"binning_strategy": "Equal width", "number_of_bins": 5}),
          base.assign(count_binned=pd.cut(base["count"], 5, labels=False).astype("float64")))
    check(binned({"binning_strategy": "Equal frequency", "number_of_bins": 4}),
          base.assign(count_binned=pd.qcut(base["count"], 4, labels=False).astype("float64")))
    got = binned({"binning_strategy": "Custom", "bin_edges": [0, 10, 25, 50], "output_column": "b"})
    check(got, base.assign(b=pd.cut(base["count"], [0, 10, 25, 50], labels=False, include_lowest=True)
                           .astype("float64")))


def test_date_parts(df, tmp_path):
    base = read_back(df, tmp_path)
    got = one_step(df, tmp_path, "featurize_date_time", {"operator": "Extract columns", "extract_columns_parameters": {
        "input_column": "when", "year": True, "month": True, "day_of_week": True, "hour": True}})
    d = pd.to_datetime(base["when"])
    check(got, base.assign(when_year=d.dt.year, when_month=d.dt.month, when_hour=d.dt.hour,
                           when_day_of_week=d.dt.day_of_week).astype({f"when_{p}": "float64" for p in
                                                                    ("year", "month", "hour", "day_of_week")}))


def test_text_tokens(df, tmp_path):
    base = read_back(df, tmp_path)
    got = one_step(df, tmp_path, "featurize_text", {"operator": "Vectorize", "vectorize_parameters": {
        "input_column": "text", "tokenizer": "Standard", "vectorizer": "Count Vectorizer", "apply_idf": "No",
        "output_format": "Columns", "output_column": "t"}})
    tokens = base["text"].str.lower().str.split()
    vocab = sorted({w for ws in tokens for w in ws})
    for word in vocab:
        assert list(got[f"t_{word}"]) == [float(ws.count(word)) for ws in tokens], word
    assert {c for c in got.columns if c.startswith("t_")} == {f"t_{w}" for w in vocab}


def test_filter_sort_dedupe(df, tmp_path):
    base = read_back(df, tmp_path)
    got = one_step(df, tmp_path, "manage_rows", {"operator": "Filter", "filter_parameters": {
        "input_column": "count", "condition": ">=", "value": "25"}})
    check(got, base[base["count"] >= 25])
    got = one_step(df, tmp_path, "manage_rows", {"operator": "Filter", "filter_parameters": {
        "input_column": "cat", "condition": "in", "value": ["red", "blue"]}})
    check(got, base[base["cat"].isin(["red", "blue"])])
    got = one_step(df, tmp_path, "manage_rows", {"operator": "Sort", "sort_parameters": {
        "sort_by": "num", "order": "Descending"}})
    check(got, base.sort_values("num", ascending=False, kind="stable"))
    doubled = pd.concat([df, df.iloc[:7]], ignore_index=True)
    got = one_step(doubled, tmp_path, "manage_rows", {"operator": "Drop duplicates", "drop_duplicates_parameters": {}})
    assert len(got) == len(df)


def test_custom_pandas_sql_formula(df, tmp_path):
    base = read_back(df, tmp_path)
    got = one_step(df, tmp_path, "custom_pandas", {"code": "df['ratio'] = df['count'] / (df['num'] + 1)\n"
                                                           "df = df[df['count'] > 3]"})
    want = base.assign(ratio=base["count"] / (base["num"] + 1))
    check(got, want[want["count"] > 3])
    got = one_step(df, tmp_path, "custom_sql", {"sql": "SELECT cat, COUNT(*) AS n, SUM(count) AS total FROM df "
                                                       "WHERE cat IS NOT NULL GROUP BY cat ORDER BY cat"})
    grouped = base.dropna(subset=["cat"]).groupby("cat").agg(n=("id", "size"), total=("count", "sum")).reset_index()
    check(got, grouped)
    got = one_step(df, tmp_path, "custom_formula", {"output_column": "f", "formula": "count * 2 + id"})
    check(got, base.assign(f=base["count"] * 2 + base["id"]))


def test_format_and_replace(df, tmp_path):
    base = read_back(df, tmp_path)
    got = one_step(df, tmp_path, "format_string", {"operator": "Lower case", "lower_case_parameters": {
        "input_column": "text"}})
    check(got, base.assign(text=base["text"].str.lower()))
    got = one_step(df, tmp_path, "search_and_edit", {"operator": "Find and replace substring",
                                                    "find_and_replace_substring_parameters": {
                                                        "input_column": "text", "pattern": "[Cc]at",
                                                        "replacement": "bird"}})
    check(got, base.assign(text=base["text"].str.replace("[Cc]at", "bird", regex=True)))


def test_randomized_split_partitions_rows(df, tmp_path):
    params = {"operator": "Randomized split", "randomized_split_parameters": {
        "splits": [{"name": "Train", "percentage": 0.8}, {"name": "Test", "percentage": 0.2}]}}
    train = one_step(df, tmp_path, "split", params, output="Train")
    test = one_step(df, tmp_path, "split", params, output="Test")
    assert len(train) + len(test) == len(df)
    assert set(train["id"]).isdisjoint(test["id"])
    assert 0.65 < len(train) / len(df) < 0.95


def test_a_failing_step_names_its_node_and_column(df, tmp_path):
    with pytest.raises(ValidationError) as e:
        one_step(df, tmp_path, "manage_columns", {"operator": "Drop column",
                                                  "drop_column_parameters": {"column_to_drop": "nope"}})
    assert "manage_columns_0.1" in e.value.message and "'nope'" in e.value.message
    with pytest.raises(ValidationError) as e:
        one_step(df, tmp_path, "custom_pandas", {"code": "df = 1 / 0"})
    assert "ZeroDivisionError" in e.value.message
