"""Model quality (``analysis_type=MODEL_QUALITY``): metrics of predictions against labels, in AWS's schema.

Labels and predictions come either from one baseline table (columns named by ``ground_truth_attribute``,
``inference_attribute``, ``probability_attribute``) or, in a scheduled run, from captured responses joined to
ground-truth records (:mod:`.capture`). By ``problem_type``:

- ``Regression``: mae, mse, rmse, r2;
- ``BinaryClassification``: confusion matrix, accuracy, precision, recall, the four rates, f0_5/f1/f2, auc (from
  the probability when there is one), the ROC and precision-recall curves, and each score of the best constant
  classifier (always predicting the most frequent label) for comparison;
- ``MulticlassClassification``: confusion matrix, accuracy and weighted precision/recall/f0_5/f1/f2 (+ the best
  constant classifier's).

Each scalar metric is ``{value, standard_deviation}``; the deviation is a bootstrap estimate (10 resamples, fixed
seed) as AWS reports one. Constraints suggest each metric's baseline value as its threshold, with
``LessThanThreshold`` where higher is better and ``GreaterThanThreshold`` where lower is (errors, false rates).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ...errors import ValidationError

PROBLEM_TYPES = ("Regression", "BinaryClassification", "MulticlassClassification")
SECTION = {"Regression": "regression", "BinaryClassification": "binary_classification",
           "MulticlassClassification": "multiclass_classification"}
LOWER_IS_BETTER = {"mae", "mse", "rmse", "false_positive_rate", "false_negative_rate"}
CONSTRAINED = {
    "Regression": ("mae", "mse", "rmse", "r2"),
    "BinaryClassification": ("recall", "precision", "accuracy", "true_positive_rate", "true_negative_rate",
                             "false_positive_rate", "false_negative_rate", "auc", "f0_5", "f1", "f2"),
    "MulticlassClassification": ("accuracy", "weighted_recall", "weighted_precision", "weighted_f0_5",
                                 "weighted_f1", "weighted_f2"),
}
BOOTSTRAP = 10
BOOTSTRAP_ROWS = 50_000
CURVE_POINTS = 101


@dataclass
class Labelled:
    """Aligned ground truth and predictions (labels as text for classification, numbers for regression)."""

    truth: np.ndarray
    predicted: np.ndarray
    scores: np.ndarray | None = None  # binary: the probability of the positive label


def attribute_column(table: pa.Table, attribute: str | None) -> np.ndarray | None:
    """The column an attribute names: a column name, a ``$.name`` JSONPath, or a position (``0``)."""
    if attribute is None or attribute == "":
        return None
    name = str(attribute)
    if name in table.column_names:
        return np.asarray(table.column(name).to_pylist(), dtype=object)
    if name.startswith("$."):
        name = name[2:]
    if name in table.column_names:
        return np.asarray(table.column(name).to_pylist(), dtype=object)
    if name.isdigit() and int(name) < table.num_columns:
        return np.asarray(table.column(int(name)).to_pylist(), dtype=object)
    raise ValidationError(f"The attribute {attribute!r} names no column of the data set (columns: "
                          f"{', '.join(table.column_names[:20])}).")


def label_text(value) -> str:
    """A label as text, ``1.0`` and ``1`` alike (labels from CSV and from JSON must compare equal)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value).strip()
    return str(int(number)) if number.is_integer() else str(number)


def labelled(problem_type: str, truth, predicted, scores, threshold: float) -> Labelled:
    """Rows with a label and a prediction (or a probability to threshold), as arrays for the metrics."""
    if problem_type not in PROBLEM_TYPES:
        raise ValidationError(f"problem_type must be one of {', '.join(PROBLEM_TYPES)}; got {problem_type!r}.")
    if truth is None:
        raise ValidationError("Model quality needs ground_truth_attribute: the column of the true labels.")
    if predicted is None and scores is None:
        raise ValidationError("Model quality needs inference_attribute or probability_attribute: the column of "
                              "the predictions.")
    truth = np.asarray(truth, dtype=object)
    keep = np.array([t is not None and str(t).strip() != "" for t in truth], dtype=bool)
    score_values = None
    if scores is not None:
        score_values = np.array([_number(s) for s in scores], dtype=np.float64)
        keep &= np.isfinite(score_values)
    if predicted is not None:
        keep &= np.array([p is not None and str(p).strip() != "" for p in predicted], dtype=bool)
    if problem_type == "Regression":
        y = np.array([_number(t) for t in truth], dtype=np.float64)
        source = predicted if predicted is not None else scores
        yhat = np.array([_number(v) for v in source], dtype=np.float64)
        keep &= np.isfinite(y) & np.isfinite(yhat)
        return Labelled(y[keep], yhat[keep])
    y_text = np.array([label_text(t) for t in truth], dtype=object)
    if predicted is not None:
        yhat_text = np.array([label_text(v) for v in predicted], dtype=object)
    else:
        assert score_values is not None
        yhat_text = np.where(score_values >= threshold, "1", "0").astype(object)
    return Labelled(y_text[keep], yhat_text[keep], score_values[keep] if score_values is not None else None)


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


# --- metrics ---
def _regression(d: Labelled) -> dict[str, float]:
    err = d.truth - d.predicted
    mse = float(np.mean(err ** 2))
    var = float(np.var(d.truth))
    return {"mae": float(np.mean(np.abs(err))), "mse": mse, "rmse": math.sqrt(mse),
            "r2": 1.0 - mse / var if var > 0 else (1.0 if mse == 0 else 0.0)}


def _fbeta(precision: float, recall: float, beta: float) -> float:
    b2 = beta * beta
    denominator = b2 * precision + recall
    return (1 + b2) * precision * recall / denominator if denominator > 0 else 0.0


def positive_label(labels: np.ndarray) -> str:
    """The positive class: ``1`` where the labels are 0/1 (or ``true``), else the last in sorted order."""
    values = sorted({str(v) for v in labels})
    for candidate in ("1", "true", "True", "yes"):
        if candidate in values:
            return candidate
    return values[-1] if values else "1"


def _binary_scalars(truth: np.ndarray, predicted: np.ndarray, positive: str,
                    scores: np.ndarray | None) -> dict[str, float]:
    t = truth == positive
    p = predicted == positive
    tp = float(np.sum(t & p))
    fp = float(np.sum(~t & p))
    fn = float(np.sum(t & ~p))
    tn = float(np.sum(~t & ~p))
    n = max(len(truth), 1)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    out = {"recall": recall, "precision": precision, "accuracy": (tp + tn) / n,
           "true_positive_rate": recall, "true_negative_rate": tn / (tn + fp) if tn + fp else 0.0,
           "false_positive_rate": fp / (fp + tn) if fp + tn else 0.0,
           "false_negative_rate": fn / (fn + tp) if fn + tp else 0.0,
           "f0_5": _fbeta(precision, recall, 0.5), "f1": _fbeta(precision, recall, 1.0),
           "f2": _fbeta(precision, recall, 2.0)}
    out["auc"] = auc(t, scores if scores is not None else p.astype(np.float64))
    return out


def roc(positives: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False and true positive rates at each distinct score threshold (descending), with (0, 0) first."""
    order = np.argsort(-scores, kind="mergesort")
    s = scores[order]
    y = positives[order].astype(np.float64)
    distinct = np.where(np.diff(s))[0]
    ends = np.r_[distinct, len(s) - 1]
    tps = np.cumsum(y)[ends]
    fps = (ends + 1) - tps
    tpr = np.r_[0.0, tps / tps[-1]] if len(tps) and tps[-1] > 0 else np.zeros(len(ends) + 1)
    fpr = np.r_[0.0, fps / fps[-1]] if len(fps) and fps[-1] > 0 else np.zeros(len(ends) + 1)
    return fpr, tpr, np.r_[np.inf, s[ends]]


def auc(positives: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (trapezoids, ties handled as scikit-learn's ``roc_auc_score``)."""
    if positives.all() or not positives.any():
        return 0.0
    fpr, tpr, _ = roc(positives, scores)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def _thin(*arrays: np.ndarray) -> list[list[float]]:
    if len(arrays[0]) <= CURVE_POINTS:
        return [[float(v) for v in a] for a in arrays]
    index = np.unique(np.linspace(0, len(arrays[0]) - 1, CURVE_POINTS).astype(int))
    return [[float(v) for v in a[index]] for a in arrays]


def _confusion(truth: np.ndarray, predicted: np.ndarray) -> dict[str, dict[str, float]]:
    """``{actual: {predicted: count}}`` over every label seen on either side."""
    labels = sorted({str(v) for v in truth} | {str(v) for v in predicted})
    matrix = {a: dict.fromkeys(labels, 0.0) for a in labels}
    pairs, counts = np.unique(np.stack([truth.astype(str), predicted.astype(str)]), axis=1, return_counts=True)
    for (a, p), c in zip(pairs.T, counts):
        matrix[str(a)][str(p)] = float(c)
    return matrix


def _multiclass_scalars(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    labels, support = np.unique(truth, return_counts=True)
    n = max(len(truth), 1)
    weighted = {"recall": 0.0, "precision": 0.0, "f0_5": 0.0, "f1": 0.0, "f2": 0.0}
    for label, count in zip(labels, support):
        t = truth == label
        p = predicted == label
        tp = float(np.sum(t & p))
        precision = tp / float(np.sum(p)) if p.any() else 0.0
        recall = tp / float(count)
        w = count / n
        weighted["recall"] += w * recall
        weighted["precision"] += w * precision
        for key, beta in (("f0_5", 0.5), ("f1", 1.0), ("f2", 2.0)):
            weighted[key] += w * _fbeta(precision, recall, beta)
    out = {"accuracy": float(np.mean(truth == predicted))}
    out.update({f"weighted_{k}": v for k, v in weighted.items()})
    return out


def _scalars(problem_type: str, d: Labelled, positive: str | None) -> dict[str, float]:
    if problem_type == "Regression":
        return _regression(d)
    if problem_type == "BinaryClassification":
        assert positive is not None
        return _binary_scalars(d.truth, d.predicted, positive, d.scores)
    return _multiclass_scalars(d.truth, d.predicted)


def _bootstrap(problem_type: str, d: Labelled, positive: str | None) -> dict[str, float]:
    rng = np.random.default_rng(0)
    n = len(d.truth)
    size = min(n, BOOTSTRAP_ROWS)
    samples: dict[str, list[float]] = {}
    for _ in range(BOOTSTRAP):
        i = rng.integers(0, n, size)
        part = Labelled(d.truth[i], d.predicted[i], d.scores[i] if d.scores is not None else None)
        for key, value in _scalars(problem_type, part, positive).items():
            samples.setdefault(key, []).append(value)
    return {k: float(np.std(v)) for k, v in samples.items()}


def metrics(problem_type: str, d: Labelled) -> dict:
    """The ``<problem>_metrics`` section: each scalar as ``{value, standard_deviation}``, plus matrices/curves."""
    if len(d.truth) == 0:
        raise ValidationError("No row has both a ground-truth label and a prediction: nothing to measure.")
    positive = positive_label(d.truth) if problem_type == "BinaryClassification" else None
    values = _scalars(problem_type, d, positive)
    deviation = _bootstrap(problem_type, d, positive) if len(d.truth) > 1 else {}
    out: dict = {}
    if problem_type != "Regression":
        out["confusion_matrix"] = _confusion(d.truth, d.predicted)
    for key, value in values.items():
        out[key] = {"value": value, "standard_deviation": deviation.get(key, 0.0)}
    if problem_type != "Regression":
        labels, counts = np.unique(d.truth, return_counts=True)
        constant = labels[int(np.argmax(counts))]
        best = _scalars(problem_type, Labelled(d.truth, np.full(len(d.truth), constant, dtype=object),
                                               np.full(len(d.truth), 1.0 if constant == positive else 0.0)
                                               if problem_type == "BinaryClassification" else None), positive)
        for key, value in best.items():
            if key in ("accuracy", "recall", "precision", "f0_5", "f1", "f2") or key.startswith("weighted_"):
                out[f"{key}_best_constant_classifier"] = {"value": value, "standard_deviation": 0.0}
    if problem_type == "BinaryClassification":
        assert positive is not None
        t = d.truth == positive
        scores = d.scores if d.scores is not None else (d.predicted == positive).astype(np.float64)
        fpr, tpr, _ = roc(t, scores)
        fpr_l, tpr_l = _thin(fpr, tpr)
        out["receiver_operating_characteristic_curve"] = {"false_positive_rates": fpr_l, "true_positive_rates": tpr_l}
        order = np.argsort(-scores, kind="mergesort")
        hits = np.cumsum(t[order])
        precisions = hits / np.arange(1, len(t) + 1)
        recalls = hits / max(float(t.sum()), 1.0)
        p_l, r_l = _thin(precisions, recalls)
        out["precision_recall_curve"] = {"precisions": p_l, "recalls": r_l}
    return out


def statistics_document(problem_type: str, d: Labelled, extra_dataset: dict | None = None) -> dict:
    dataset = {"item_count": int(len(d.truth)), **(extra_dataset or {})}
    return {"version": 0.0, "dataset": dataset, f"{SECTION[problem_type]}_metrics": metrics(problem_type, d)}


def constraints_document(problem_type: str, stats: dict) -> dict:
    section = stats[f"{SECTION[problem_type]}_metrics"]
    suggested = {}
    for key in CONSTRAINED[problem_type]:
        if key in section:
            operator = "GreaterThanThreshold" if key in LOWER_IS_BETTER else "LessThanThreshold"
            suggested[key] = {"threshold": section[key]["value"], "comparison_operator": operator}
    return {"version": 0.0, f"{SECTION[problem_type]}_constraints": suggested}


_OPERATORS = {
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
    "GreaterThanThreshold": lambda v, t: v > t,
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
}


def check(problem_type: str, stats: dict, constraints: dict) -> list[dict]:
    """Violations: each constrained metric whose current value meets its ``comparison_operator``."""
    section = stats.get(f"{SECTION[problem_type]}_metrics") or {}
    out = []
    for key, rule in (constraints.get(f"{SECTION[problem_type]}_constraints") or {}).items():
        operator = str((rule or {}).get("comparison_operator") or "")
        if key not in section or operator not in _OPERATORS or (rule or {}).get("threshold") is None:
            continue
        value = float(section[key]["value"])
        deviation = float(section[key].get("standard_deviation") or 0.0)
        threshold = float(rule["threshold"])
        if _OPERATORS[operator](value, threshold):
            out.append({"constraint_check_type": operator, "metric_name": key,
                        "description": f"Metric {key} with {value:.4g} +/- {deviation:.4g} was {operator} "
                                       f"'{threshold:.4g}'"})
    return out
