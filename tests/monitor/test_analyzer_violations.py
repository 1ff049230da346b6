"""Violations of a current data set against a baseline: drift on a shifted sample and none on an unshifted one,
missing and extra columns, new categorical values, data types, completeness; the program's exit message."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from analyzer_helpers import run_analyzer, write_csv  # noqa: E402

from shipyard.errors import ValidationError  # noqa: E402
from shipyard.monitor.analyzer import capture, constraints, violations  # noqa: E402
from shipyard.monitor.analyzer import statistics as stats  # noqa: E402

# AWS's documented constraint_violations.json (model-monitor-interpreting-violations).
AWS_VIOLATION_KEYS = {"feature_name", "constraint_check_type", "description"}
AWS_CHECKS = {"data_type_check", "completeness_check", "baseline_drift_check", "missing_column_check",
              "extra_column_check", "categorical_values_check"}


def _data(n: int, seed: int, shift: float = 0.0, scale: float = 1.0, cities=("a", "b", "c")) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table({"x": rng.normal(10 + shift, 2 * scale, n), "k": rng.integers(0, 100, n),
                     "city": rng.choice(list(cities), n)})


def _baseline(n: int = 20_000):
    profiles = stats.profile(_data(n, 1))
    return constraints.constraints_document(profiles), stats.statistics_document(profiles, n)


def _checks(table: pa.Table, cons: dict, st: dict) -> list[dict]:
    found = violations.check(stats.profile(table), cons, st)
    for v in found:
        assert set(v) == AWS_VIOLATION_KEYS and v["constraint_check_type"] in AWS_CHECKS
    return found


def test_no_violation_on_an_unshifted_sample():
    cons, st = _baseline()
    for seed in (2, 3, 4):
        assert _checks(_data(2000, seed), cons, st) == []


def test_mean_and_variance_shift_are_drift():
    cons, st = _baseline()
    found = _checks(_data(2000, 5, shift=1.5), cons, st)
    drift = [v for v in found if v["constraint_check_type"] == "baseline_drift_check"]
    assert [v["feature_name"] for v in drift] == ["x"]
    assert drift[0]["description"].startswith("Baseline drift distance: ")
    assert "exceeds threshold: 0.1" in drift[0]["description"]
    assert [v["feature_name"] for v in _checks(_data(2000, 6, scale=2.5), cons, st)] == ["x"]


def test_robust_ignores_a_tiny_window_that_simple_flags():
    cons, st = _baseline()
    small = _data(12, 8, shift=0.6)
    simple = json.loads(json.dumps(cons))
    simple["monitoring_config"]["distribution_constraints"]["comparison_method"] = "Simple"
    robust_found = [v for v in _checks(small, cons, st) if v["constraint_check_type"] == "baseline_drift_check"]
    simple_found = [v for v in _checks(small, simple, st) if v["constraint_check_type"] == "baseline_drift_check"]
    assert len(simple_found) >= len(robust_found)
    assert simple_found  # a 12-row window differs from the baseline by more than 0.1 in CDF


def test_categorical_drift_and_new_values():
    cons, st = _baseline()
    rng = np.random.default_rng(9)
    skewed = pa.table({"x": rng.normal(10, 2, 3000), "k": rng.integers(0, 100, 3000),
                       "city": rng.choice(["a", "a", "a", "b", "c", "zz"], 3000)})
    found = {(v["feature_name"], v["constraint_check_type"]): v for v in _checks(skewed, cons, st)}
    assert ("city", "baseline_drift_check") in found
    assert ("city", "categorical_values_check") in found
    assert "zz" in found[("city", "categorical_values_check")]["description"]
    for method in ("JensenShannon", "ChiSquared"):
        other = json.loads(json.dumps(cons))
        other["monitoring_config"]["distribution_constraints"]["categorical_drift_method"] = method
        assert ("city", "baseline_drift_check") in {(v["feature_name"], v["constraint_check_type"])
                                                    for v in _checks(skewed, other, st)}, method


def test_missing_extra_type_and_completeness():
    cons, st = _baseline()
    current = pa.table({"x": ["1.5", "oops", None, "2.5"], "k": [1, 2, 3, 4], "extra": [1, 2, 3, 4]})
    found = {(v["feature_name"], v["constraint_check_type"]) for v in _checks(current, cons, st)}
    assert ("city", "missing_column_check") in found
    assert ("extra", "extra_column_check") in found
    assert ("x", "data_type_check") in found
    assert ("x", "completeness_check") in found


def test_overrides_and_disabled_evaluation():
    cons, st = _baseline()
    current = pa.table({"x": ["1.5", "oops", "2.5", "3.5"], "k": [1, 2, 3, 4], "city": ["a", "b", "c", "a"]})
    loose = json.loads(json.dumps(cons))
    loose["features"][0]["monitoringConfigOverrides"] = {"datatype_check_threshold": 0.5}
    assert ("x", "data_type_check") not in {(v["feature_name"], v["constraint_check_type"])
                                            for v in _checks(current, loose, st)}
    off = json.loads(json.dumps(cons))
    off["monitoring_config"]["evaluate_constraints"] = "Disabled"
    assert _checks(current, off, st) == []
    typo = json.loads(json.dumps(cons))  # an override for a feature the data does not have: refused, named
    typo["features"][0]["name"] = "no_such_feature"
    typo["features"][0]["monitoringConfigOverrides"] = {"datatype_check_threshold": 0.5}
    with pytest.raises(ValidationError, match=r"features\[0\]\.monitoringConfigOverrides.*'no_such_feature'"):
        _checks(current, typo, st)
    bad_key = json.loads(json.dumps(cons))
    bad_key["features"][0]["monitoringConfigOverrides"] = {"datatype_threshold": 0.5}
    with pytest.raises(ValidationError, match="unknown setting.*datatype_threshold"):
        _checks(current, bad_key, st)


def _capture_line(values: list, output: str, event: str, when: str = "2024-05-01T12:30:00Z", b64=False) -> str:
    text = ",".join(str(v) for v in values)
    part = {"observedContentType": "text/csv", "mode": "INPUT", "data": text, "encoding": "CSV"}
    if b64:
        part = {"observedContentType": "application/octet-stream", "mode": "INPUT",
                "data": base64.b64encode(text.encode()).decode(), "encoding": "BASE64"}
    return json.dumps({"captureData": {"endpointInput": part, "endpointOutput": {
        "observedContentType": "text/csv", "mode": "OUTPUT", "data": output, "encoding": "CSV"}},
        "eventMetadata": {"eventId": event, "inferenceTime": when}, "eventVersion": "0"})


def test_capture_rows_output_first_base64_json_and_window(tmp_path):
    lines = [_capture_line([1, 2.5, "a"], "0.9", "e1"), _capture_line([2, 3.5, "b"], "0.1", "e2", b64=True),
             _capture_line([3, 4.5, "c"], "0.5", "e3", when="2024-05-01T14:00:00Z"),
             json.dumps({"captureData": {"endpointInput": {"observedContentType": "application/json", "mode": "INPUT",
                                                           "data": json.dumps({"instances": [[4, 5.5, "a"]]}),
                                                           "encoding": "JSON"}},
                         "eventMetadata": {"eventId": "e4", "inferenceTime": "2024-05-01T12:10:00Z"},
                         "eventVersion": "0"})]
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(lines) + "\nnot json\n")
    got = capture.read_captures([path], start=capture.parse_time("2024-05-01T12:00:00Z"),
                                end=capture.parse_time("2024-05-01T13:00:00Z"))
    assert got.skipped == 1 and [r.event_id for r in got.records] == ["e1", "e2", "e4"]
    assert got.table.column_names == ["_c0", "_c1", "_c2", "_c3"]
    assert got.table.column("_c0").to_pylist()[:2] == [0.9, 0.1]
    assert got.table.column("_c1").to_pylist()[:2] == [1, 2]


def test_monitoring_run_on_captures_ends_with_violations(tmp_path):
    rng = np.random.default_rng(3)
    rows = [[int(rng.integers(0, 2)), f"{rng.normal(10, 1):.3f}", "ab"[i % 2]] for i in range(2000)]
    base_dir = tmp_path / "baseline"
    write_csv(base_dir / "processing" / "input" / "baseline_dataset_input" / "t.csv", ["label", "x", "c"], rows)
    rc, docs, _ = run_analyzer(base_dir, {
        "dataset_format": '{"csv": {"header": true}}',
        "dataset_source": "/opt/ml/processing/input/baseline_dataset_input",
        "output_path": "/opt/ml/processing/output"})
    assert rc == 0
    run = tmp_path / "run"
    (run / "processing" / "baseline" / "constraints").mkdir(parents=True)
    (run / "processing" / "baseline" / "stats").mkdir(parents=True)
    (run / "processing" / "baseline" / "constraints" / "constraints.json").write_text(
        json.dumps(docs["constraints.json"]))
    (run / "processing" / "baseline" / "stats" / "statistics.json").write_text(json.dumps(docs["statistics.json"]))
    hour = run / "processing" / "input" / "endpoint" / "ep" / "AllTraffic" / "2024" / "05" / "01" / "12"
    hour.mkdir(parents=True)
    shifted = [_capture_line([f"{rng.normal(14, 1):.3f}", "ab"[i % 2]], str(i % 2), f"e{i}") for i in range(300)]
    (hour / "00-00-000-x.jsonl").write_text("\n".join(shifted) + "\n")
    env = {"dataset_format": '{"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput","endpointOutput"]}}',
           "dataset_source": "/opt/ml/processing/input/endpoint", "output_path": "/opt/ml/processing/output",
           "baseline_constraints": "/opt/ml/processing/baseline/constraints/constraints.json",
           "baseline_statistics": "/opt/ml/processing/baseline/stats/statistics.json",
           "start_time": "2024-05-01T12:00:00Z", "end_time": "2024-05-01T13:00:00Z",
           "publish_cloudwatch_metrics": "Enabled", "sagemaker_endpoint_name": "ep",
           "sagemaker_monitoring_schedule_name": "s"}
    rc, docs, message = run_analyzer(run, env)
    assert rc == 0
    assert message.startswith("CompletedWithViolations")
    found = docs["constraint_violations.json"]["violations"]
    assert {(v["feature_name"], v["constraint_check_type"]) for v in found} == {("x", "baseline_drift_check")}
    assert [f["name"] for f in docs["statistics.json"]["features"]] == ["label", "x", "c"]
    metrics = json.loads((run / "output" / "metrics" / "cloudwatch" / "cloudwatch_metrics.jsonl").read_text())
    assert any(m["MetricName"] == "feature_baseline_drift_x" and m["Value"] > 0.5 for m in metrics["MetricData"])
    # an empty window fails as AWS's does
    empty = dict(env, start_time="2030-01-01T00:00:00Z", end_time="2030-01-01T01:00:00Z")
    (run / "output" / "message").unlink()
    rc, _, message = run_analyzer(run, empty)
    assert rc == 1 and "no data" in message


PREPROCESSOR = '''
def preprocess_handler(inference_record):
    if inference_record.event_metadata.event_id.startswith("test-"):
        return None  # test traffic is left out
    values = inference_record.endpoint_input.data.split(",")
    return {"b_city": values[2], "a_num": float(values[1]), "prediction": inference_record.endpoint_output.data}
'''


def test_record_preprocessor_names_and_filters_records(tmp_path):
    script = tmp_path / "pre.py"
    script.write_text(PREPROCESSOR)
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join([_capture_line([1, 2.5, "a"], "0.9", "e1"), _capture_line([2, 3.5, "b"], "0.1", "test-1"),
                               _capture_line([3, 4.5, "c"], "0.5", "e3")]) + "\n")
    from shipyard.monitor.analyzer import scripts

    handler = scripts.load_handler(script, "preprocess_handler")
    got = capture.read_captures([path], preprocess=handler)
    assert [r.event_id for r in got.records] == ["e1", "e3"]
    assert got.table.column_names == ["a_num", "b_city", "prediction"]
    assert got.table.column("b_city").to_pylist() == ["a", "c"]
