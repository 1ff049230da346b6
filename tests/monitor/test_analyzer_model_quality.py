"""Model quality metrics against scikit-learn's, AWS's ModelQuality schema, suggested constraints and their
violations, and a scheduled run that joins captured predictions to ground truth by eventId / inferenceId."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm

sys.path.insert(0, str(Path(__file__).parent))
from analyzer_helpers import run_analyzer, write_csv  # noqa: E402

from shipyard.monitor.analyzer import model_quality as mq  # noqa: E402

RNG = np.random.default_rng(11)


def _binary(n=3000):
    y = RNG.integers(0, 2, n)
    p = np.clip(y * 0.35 + RNG.random(n) * 0.65, 0, 1)
    return y, p


def test_binary_metrics_match_scikit_learn():
    y, p = _binary()
    d = mq.labelled("BinaryClassification", y, None, p, 0.5)
    m = mq.metrics("BinaryClassification", d)
    yhat = (p >= 0.5).astype(int)
    assert m["accuracy"]["value"] == pytest.approx(skm.accuracy_score(y, yhat))
    assert m["precision"]["value"] == pytest.approx(skm.precision_score(y, yhat))
    assert m["recall"]["value"] == pytest.approx(skm.recall_score(y, yhat))
    assert m["f1"]["value"] == pytest.approx(skm.f1_score(y, yhat))
    assert m["f0_5"]["value"] == pytest.approx(skm.fbeta_score(y, yhat, beta=0.5))
    assert m["f2"]["value"] == pytest.approx(skm.fbeta_score(y, yhat, beta=2))
    assert m["auc"]["value"] == pytest.approx(skm.roc_auc_score(y, p))
    tn, fp, fn, tp = skm.confusion_matrix(y, yhat).ravel()
    assert m["confusion_matrix"] == {"0": {"0": tn, "1": fp}, "1": {"0": fn, "1": tp}}
    assert m["false_positive_rate"]["value"] == pytest.approx(fp / (fp + tn))
    assert 0 < m["accuracy"]["standard_deviation"] < 0.05
    assert set(m["receiver_operating_characteristic_curve"]) == {"false_positive_rates", "true_positive_rates"}
    assert "accuracy_best_constant_classifier" in m
    # ties in the scores (predicted labels only) are handled as scikit-learn does
    assert mq.auc(y == 1, yhat.astype(float)) == pytest.approx(skm.roc_auc_score(y, yhat))


def test_regression_and_multiclass_match_scikit_learn():
    y = RNG.normal(size=1000)
    yhat = y + RNG.normal(scale=0.3, size=1000)
    m = mq.metrics("Regression", mq.labelled("Regression", y, yhat, None, 0.5))
    assert m["mae"]["value"] == pytest.approx(skm.mean_absolute_error(y, yhat))
    assert m["mse"]["value"] == pytest.approx(skm.mean_squared_error(y, yhat))
    assert m["rmse"]["value"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, yhat)))
    assert m["r2"]["value"] == pytest.approx(skm.r2_score(y, yhat))
    c = RNG.integers(0, 3, 1500)
    chat = np.where(RNG.random(1500) < 0.7, c, RNG.integers(0, 3, 1500))
    m = mq.metrics("MulticlassClassification", mq.labelled("MulticlassClassification", c, chat, None, 0.5))
    assert m["accuracy"]["value"] == pytest.approx(skm.accuracy_score(c, chat))
    for key, fn in (("weighted_recall", skm.recall_score), ("weighted_precision", skm.precision_score),
                    ("weighted_f1", skm.f1_score)):
        assert m[key]["value"] == pytest.approx(fn(c, chat, average="weighted")), key
    assert m["weighted_f2"]["value"] == pytest.approx(skm.fbeta_score(c, chat, beta=2, average="weighted"))


def test_constraints_and_violations_schema():
    y, p = _binary()
    d = mq.labelled("BinaryClassification", y, None, p, 0.5)
    stats = mq.statistics_document("BinaryClassification", d)
    assert set(stats) == {"version", "dataset", "binary_classification_metrics"}
    cons = mq.constraints_document("BinaryClassification", stats)
    assert cons["binary_classification_constraints"]["auc"]["comparison_operator"] == "LessThanThreshold"
    assert cons["binary_classification_constraints"]["false_positive_rate"]["comparison_operator"] == \
        "GreaterThanThreshold"
    worse = mq.statistics_document("BinaryClassification",
                                   mq.labelled("BinaryClassification", y, None, RNG.random(len(y)), 0.5))
    found = mq.check("BinaryClassification", worse, cons)
    assert {"auc", "accuracy"} <= {v["metric_name"] for v in found}
    auc_v = next(v for v in found if v["metric_name"] == "auc")
    assert auc_v["constraint_check_type"] == "LessThanThreshold"
    assert auc_v["description"].startswith("Metric auc with ") and "was LessThanThreshold" in auc_v["description"]
    assert mq.check("BinaryClassification", stats, cons) == []


def test_baseline_and_scheduled_model_quality_runs(tmp_path):
    y, p = _binary(500)
    base = tmp_path / "base"
    write_csv(base / "processing" / "input" / "baseline_dataset_input" / "v.csv", ["probability", "label"],
              [[f"{pi:.4f}", yi] for pi, yi in zip(p, y)])
    env = {"dataset_format": '{"csv": {"header": true}}', "analysis_type": "MODEL_QUALITY",
           "problem_type": "BinaryClassification", "probability_attribute": "probability",
           "ground_truth_attribute": "label", "probability_threshold_attribute": "0.5",
           "dataset_source": "/opt/ml/processing/input/baseline_dataset_input",
           "output_path": "/opt/ml/processing/output"}
    rc, docs, _ = run_analyzer(base, env)
    assert rc == 0
    assert docs["statistics.json"]["binary_classification_metrics"]["auc"]["value"] == \
        pytest.approx(skm.roc_auc_score(y, p), abs=1e-3)
    run = tmp_path / "run"
    hour = run / "processing" / "input" / "endpoint" / "ep" / "AllTraffic" / "2024" / "05" / "01" / "12"
    truth = run / "processing" / "groundtruth" / "2024" / "05" / "01" / "13"
    hour.mkdir(parents=True)
    truth.mkdir(parents=True)
    (run / "processing" / "baseline").mkdir(parents=True)
    (run / "processing" / "baseline" / "constraints.json").write_text(json.dumps(docs["constraints.json"]))
    captured, labels = [], []
    for i in range(400):  # the model now guesses: its probabilities ignore the label
        key = {"inferenceId": f"inf-{i}"} if i % 2 else {}
        captured.append(json.dumps({"captureData": {"endpointOutput": {
            "observedContentType": "text/csv", "mode": "OUTPUT", "data": f"{RNG.random():.4f}", "encoding": "CSV"}},
            "eventMetadata": {"eventId": f"ev-{i}", "inferenceTime": "2024-05-01T12:05:00Z", **key},
            "eventVersion": "0"}))
        labels.append(json.dumps({"groundTruthData": {"data": str(i % 2), "encoding": "CSV"},
                                  "eventMetadata": {"eventId": f"inf-{i}" if i % 2 else f"ev-{i}"},
                                  "eventVersion": "0"}))
    (hour / "a.jsonl").write_text("\n".join(captured) + "\n")
    (truth / "labels.jsonl").write_text("\n".join(labels) + "\n")
    scheduled = dict(env, dataset_format='{"sagemakerCaptureJson": {"captureIndexNames": ["endpointOutput"]}}',
                     dataset_source="/opt/ml/processing/input/endpoint", probability_attribute="0",
                     output_path="/opt/ml/processing/resultdata",
                     baseline_constraints="/opt/ml/processing/baseline/constraints.json")
    rc = run_analyzer(run, scheduled)[0]
    assert rc == 0
    result = json.loads((run / "processing" / "resultdata" / "statistics.json").read_text())
    assert result["dataset"]["item_count"] == 400
    found = json.loads((run / "processing" / "resultdata" / "constraint_violations.json").read_text())
    assert "auc" in {v["metric_name"] for v in found["violations"]}
    assert (run / "output" / "message").read_text().startswith("CompletedWithViolations")


def test_scheduled_run_reads_json_predictions_by_jsonpath(tmp_path):
    hour = tmp_path / "processing" / "input" / "endpoint" / "ep" / "v" / "2024" / "05" / "01" / "12"
    truth = tmp_path / "processing" / "groundtruth" / "2024" / "05" / "01" / "12"
    hour.mkdir(parents=True)
    truth.mkdir(parents=True)
    captured, labels = [], []
    for i in range(40):
        body = json.dumps({"predictions": [{"score": 0.9 if i % 2 else 0.2}]})
        captured.append(json.dumps({"captureData": {"endpointOutput": {
            "observedContentType": "application/json", "mode": "OUTPUT", "data": body, "encoding": "JSON"}},
            "eventMetadata": {"eventId": f"ev-{i}", "inferenceTime": "2024-05-01T12:05:00Z"}, "eventVersion": "0"}))
        labels.append(json.dumps({"groundTruthData": {"data": str(i % 2), "encoding": "CSV"},
                                  "eventMetadata": {"eventId": f"ev-{i}"}, "eventVersion": "0"}))
    (hour / "a.jsonl").write_text("\n".join(captured) + "\n")
    (truth / "l.jsonl").write_text("\n".join(labels) + "\n")
    rc, _, message = run_analyzer(tmp_path, {
        "dataset_format": '{"sagemakerCaptureJson": {"captureIndexNames": ["endpointOutput"]}}',
        "dataset_source": "/opt/ml/processing/input/endpoint", "output_path": "/opt/ml/processing/output",
        "analysis_type": "MODEL_QUALITY", "problem_type": "BinaryClassification",
        "probability_attribute": "$.predictions[0].score", "probability_threshold_attribute": "0.5"})
    assert rc == 0, message
    stats = json.loads((tmp_path / "processing" / "output" / "statistics.json").read_text())
    assert stats["binary_classification_metrics"]["accuracy"]["value"] == 1.0
