"""The data quality and insights report on data with known properties: a leaky column is found, duplicate
and missing counts are exact, statistics equal pandas', the quick model ranks the real signal first."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shipyard import wrangle
from shipyard.errors import ValidationError


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    n = 1500
    signal = rng.normal(size=n)
    y = (signal + rng.normal(0, 0.5, n) > 0).astype(int)
    df = pd.DataFrame({
        "signal": signal,
        "noise": rng.normal(size=n),
        "leak": np.where(y == 1, "approved", "rejected"),   # the target written another way
        "color": rng.choice(["a", "b", "c"], n),
        "y": y,
    })
    df.loc[rng.choice(n, 120, replace=False), "noise"] = np.nan
    return pd.concat([df, df.iloc[:40]], ignore_index=True)  # 40 exact duplicates


def test_report_finds_leakage_duplicates_and_missing(data):
    report = wrangle.quality_report(data, "y")
    assert report["rows"] == len(data) and report["duplicate_rows"] == 40
    assert report["column_stats"]["noise"]["missing"] == int(data["noise"].isna().sum()) == 120 + \
        int(data["noise"].iloc[:40].isna().sum())
    assert report["problem_type"] == "Classification"
    assert report["leaky_features"] == ["leak"]
    power = report["prediction_power"]
    assert power["leak"] > 0.99 and power["noise"] < 0.2 and power["color"] < 0.2 and 0.3 < power["signal"] < 0.95
    ranked = [f for f in report["feature_importance"] if f != "leak"]
    assert ranked[0] == "signal"
    assert abs(sum(report["feature_importance"].values()) - 1) < 1e-6
    titles = {w["title"] for w in report["warnings"]}
    assert {"Target leakage", "Duplicate rows"} <= titles


def test_column_statistics_equal_pandas(data):
    stats = wrangle.quality_report(data)["column_stats"]["signal"]
    x = data["signal"]
    assert stats["mean"] == pytest.approx(x.mean()) and stats["median"] == pytest.approx(x.median())
    assert stats["min"] == pytest.approx(x.min()) and stats["max"] == pytest.approx(x.max())
    assert sum(stats["histogram"]["counts"]) == len(x)
    color = wrangle.quality_report(data)["column_stats"]["color"]
    counts = data["color"].value_counts()
    assert dict(zip(color["labels"], color["label_counts"])) == {k: int(v) for k, v in counts.items()}


def test_regression_target_and_scatter():
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 10, 800)
    df = pd.DataFrame({"x": x, "z": rng.normal(size=800), "target": 3 * x + rng.normal(0, 0.1, 800)})
    report = wrangle.quality_report(df, "target")
    assert report["problem_type"] == "Regression"
    assert report["prediction_power"]["x"] > 0.9 > report["prediction_power"]["z"]
    assert report["scatter"][0]["x"] == "x" and len(report["scatter"][0]["points"]) == 500


def test_html_is_self_contained(data):
    page = wrangle.report_html(wrangle.quality_report(data, "y"))
    assert page.startswith("<!doctype html>") and "<script" not in page and "http" not in page
    assert "Target leakage" in page and "<svg" in page


def test_unknown_target_is_refused(data):
    with pytest.raises(ValidationError, match="'nope'"):
        wrangle.quality_report(data, "nope")
