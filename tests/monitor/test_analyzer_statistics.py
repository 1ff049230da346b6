"""Statistics and suggested constraints of a small known data set, and both documents against AWS's documented
schema (the examples from "Schema for Statistics" / "Schema for Constraints", written here as literals)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from analyzer_helpers import run_analyzer, write_csv  # noqa: E402

from shipyard.errors import ValidationError  # noqa: E402
from shipyard.monitor.analyzer import constraints, datasets, sketch  # noqa: E402
from shipyard.monitor.analyzer import statistics as stats  # noqa: E402

# AWS's documented statistics.json (model-monitor-byoc-statistics), "number" written as numbers.
AWS_STATISTICS = {
    "version": 0,
    "dataset": {"item_count": 1},
    "features": [
        {"name": "feature-name", "inferred_type": "Fractional", "numerical_statistics": {
            "common": {"num_present": 1, "num_missing": 0}, "mean": 1.0, "sum": 1.0, "std_dev": 0.0,
            "min": 1.0, "max": 1.0,
            "distribution": {"kll": {
                "buckets": [{"lower_bound": 1.0, "upper_bound": 1.0, "count": 1}],
                "sketch": {"parameters": {"c": 0.64, "k": 2048.0}, "data": [[1.0, 1.0, 1.0, 1.0], [1.0, 1.0]]}}}}},
        {"name": "feature-name", "inferred_type": "String", "string_statistics": {
            "common": {"num_present": 1, "num_missing": 0}, "distinct_count": 1,
            "distribution": {"categorical": {"buckets": [{"value": "string", "count": 1}]}}}},
    ],
}

# AWS's documented constraints.json (model-monitor-byoc-constraints).
AWS_CONSTRAINTS = {
    "version": 0,
    "features": [{
        "name": "string", "inferred_type": "Integral", "completeness": 1.0,
        "num_constraints": {"is_non_negative": True},
        "string_constraints": {"domains": ["list of", "observed values", "for small cardinality"]},
        "monitoringConfigOverrides": {},
    }],
    "monitoring_config": {
        "evaluate_constraints": "Enabled", "emit_metrics": "Enabled", "datatype_check_threshold": 0.1,
        "domain_content_threshold": 0.1,
        "distribution_constraints": {"perform_comparison": "Enabled", "comparison_threshold": 0.1,
                                     "comparison_method": "Simple", "categorical_comparison_threshold": 0.1,
                                     "categorical_drift_method": "LInfinity"},
    },
}


def shape(doc):
    """The document's structure: keys (recursively) and, for lists, the shape of their first element."""
    if isinstance(doc, dict):
        return {k: shape(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [shape(doc[0])] if doc and not isinstance(doc[0], (int, float)) else "list"
    return "number" if isinstance(doc, (int, float)) and not isinstance(doc, bool) else type(doc).__name__


def known_table() -> pa.Table:
    return pa.table({
        "age": [10, 20, 30, 40, None],
        "score": ["1.5", "2.5", "3.5", "4.5", "5.5"],
        "city": ["a", "b", "a", "a", ""],
        "mixed": ["1", "x", "2", "3", "4"],
        "nothing": pa.array([None] * 5, type=pa.string()),
    })


def test_profile_counts_types_and_moments():
    by_name = {p.name: p for p in stats.profile(known_table())}
    age = by_name["age"]
    assert (age.inferred_type, age.num_present, age.num_missing) == ("Integral", 4, 1)
    assert by_name["score"].inferred_type == "Fractional"
    assert by_name["score"].values.tolist() == [1.5, 2.5, 3.5, 4.5, 5.5]
    city = by_name["city"]
    assert (city.inferred_type, city.num_present, city.num_missing) == ("String", 4, 1)  # "" is missing
    assert city.categories == {"a": 3, "b": 1}
    mixed = by_name["mixed"]
    assert (mixed.inferred_type, mixed.integral) == ("String", 4)
    assert by_name["nothing"].inferred_type == "Unknown"
    doc = stats.feature_statistics(age)["numerical_statistics"]
    assert doc["mean"] == 25.0 and doc["sum"] == 100.0 and doc["min"] == 10.0 and doc["max"] == 40.0
    assert doc["std_dev"] == pytest.approx(np.std([10, 20, 30, 40]))
    buckets = doc["distribution"]["kll"]["buckets"]
    assert len(buckets) == 10 and sum(b["count"] for b in buckets) == 4
    assert buckets[0]["lower_bound"] == 10.0 and buckets[-1]["upper_bound"] == 40.0


def test_quantiles_within_the_sketch_error():
    rng = np.random.default_rng(7)
    values = rng.lognormal(size=200_000)
    profile = stats.profile(pa.table({"x": values}))[0]
    sample = sketch.sample_of({"sketch": sketch.document(profile.sketch)})
    eps = profile.sketch.normalized_rank_error(False)
    exact = np.sort(values)
    for q in (0.01, 0.1, 0.5, 0.9, 0.99):
        estimate = profile.sketch.get_quantile(q)
        rank = np.searchsorted(exact, estimate) / len(exact)
        assert abs(rank - q) <= 2 * eps, (q, rank)
        # the levels written to statistics.json carry the same distribution
        assert abs(sample.cdf(np.array([exact[int(q * len(exact))]]))[0] - q) <= 2 * eps
    buckets = sketch.buckets(profile.sketch, float(values.min()), float(values.max()), len(values))
    exact_counts, _ = np.histogram(values, bins=np.linspace(values.min(), values.max(), 11))
    for b, c in zip(buckets, exact_counts):
        assert abs(b["count"] - c) <= 2 * eps * len(values) + 1


def test_statistics_match_aws_schema():
    doc = stats.statistics_document(stats.profile(known_table()), 5)
    assert doc["version"] == 0 and doc["dataset"] == {"item_count": 5}
    features = {f["name"]: f for f in doc["features"]}
    assert shape(features["age"]) == shape(AWS_STATISTICS["features"][0]) | {"inferred_type": "str"}
    assert shape(features["city"]) == shape(AWS_STATISTICS["features"][1])
    assert set(doc) == set(AWS_STATISTICS)
    data = features["age"]["numerical_statistics"]["distribution"]["kll"]["sketch"]["data"]
    assert sorted(data[0]) == [10.0, 20.0, 30.0, 40.0]


def test_constraints_match_aws_schema_and_defaults():
    profiles = stats.profile(pa.table({"n": [1, -2, 3, 4] * 5, "c": ["x", "y", "x", "x"] * 5,
                                       "id": [f"u{i}" for i in range(20)]}))
    doc = constraints.constraints_document(profiles)
    example = shape(AWS_CONSTRAINTS)
    assert set(doc) == set(AWS_CONSTRAINTS)
    assert shape(doc["monitoring_config"]) == example["monitoring_config"]
    for feature in doc["features"]:
        assert set(feature) <= set(AWS_CONSTRAINTS["features"][0])
    by_name = {f["name"]: f for f in doc["features"]}
    assert by_name["n"]["num_constraints"] == {"is_non_negative": False}
    assert by_name["c"]["string_constraints"] == {"domains": ["x", "y"]}
    assert "string_constraints" not in by_name["id"]  # every value distinct: an identifier, no domain
    assert doc["monitoring_config"] == {
        "evaluate_constraints": "Enabled", "emit_metrics": "Enabled", "datatype_check_threshold": 1.0,
        "domain_content_threshold": 1.0,
        "distribution_constraints": {"perform_comparison": "Enabled", "comparison_threshold": 0.1,
                                     "comparison_method": "Robust", "categorical_comparison_threshold": 0.1,
                                     "categorical_drift_method": "LInfinity"}}


def test_formats_csv_headerless_json_parquet(tmp_path):
    import pyarrow.parquet as pq

    write_csv(tmp_path / "csv" / "part1.csv", None, [[1, "a"], [2, "b"]])
    write_csv(tmp_path / "csv" / "part2.csv", None, [[3, "c"]])
    t = datasets.read(tmp_path / "csv", datasets.parse_format('{"csv": {"header": false}}'))
    assert t.column_names == ["_c0", "_c1"] and t.num_rows == 3
    (tmp_path / "json").mkdir()
    (tmp_path / "json" / "d.jsonl").write_text('{"a": 1, "b": {"c": "x"}}\n{"a": 2.5, "b": {"c": "y"}}\n')
    t = datasets.read(tmp_path / "json", datasets.parse_format('{"json": {"lines": true}}'))
    assert t.num_rows == 2 and "a" in t.column_names
    (tmp_path / "pq").mkdir()
    pq.write_table(pa.table({"v": [1.0, 2.0]}), tmp_path / "pq" / "d.parquet")
    t = datasets.read(tmp_path / "pq", datasets.parse_format('{"parquet": {}}'))
    assert t.column("v").to_pylist() == [1.0, 2.0]
    with pytest.raises(ValidationError, match="dataset_format"):
        datasets.parse_format('{"xml": {}}')


def test_baseline_program_writes_both_documents(tmp_path):
    rows = [[i % 2, 20 + i % 50, f"{1000 + i * 0.5:.1f}", "abc"[i % 3]] for i in range(300)]
    write_csv(tmp_path / "processing" / "input" / "baseline_dataset_input" / "train.csv",
              ["label", "age", "income", "city"], rows)
    rc, docs, message = run_analyzer(tmp_path, {
        "dataset_format": '{"csv": {"header": true, "output_columns_position": "START"}}',
        "dataset_source": "/opt/ml/processing/input/baseline_dataset_input",
        "output_path": "/opt/ml/processing/output", "publish_cloudwatch_metrics": "Disabled"})
    assert rc == 0 and message == ""
    assert docs["statistics.json"]["dataset"]["item_count"] == 300
    assert [f["name"] for f in docs["constraints.json"]["features"]] == ["label", "age", "income", "city"]
    assert [f["inferred_type"] for f in docs["constraints.json"]["features"]] == \
        ["Integral", "Integral", "Fractional", "String"]


def test_baseline_program_fails_with_a_reason(tmp_path):
    rc, _, message = run_analyzer(tmp_path, {"dataset_format": "not json",
                                             "dataset_source": "/opt/ml/processing/input/x"})
    assert rc == 1 and "dataset_format" in message
