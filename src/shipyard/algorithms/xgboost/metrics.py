"""Evaluation metrics SageMaker's XGBoost container adds on top of xgboost's own (accuracy, f1, mse, r2...).

They are passed to ``xgboost.train`` as one ``custom_metric`` returning a list, so they print on the same
``[round]<TAB>train-accuracy:...`` lines as the built-in metrics.
"""

from __future__ import annotations

from typing import Callable

import numpy as np


def _labels(preds: np.ndarray, objective: str) -> np.ndarray:
    if preds.ndim == 2:
        return preds.argmax(axis=1)
    if objective == "multi:softmax" or objective == "binary:hinge":
        return preds
    if objective == "binary:logitraw":
        return (preds > 0).astype(np.float32)
    return (preds > 0.5).astype(np.float32)


def _binary_counts(y: np.ndarray, p: np.ndarray) -> tuple[float, float, float, float]:
    tp = float(np.sum((p == 1) & (y == 1)))
    fp = float(np.sum((p == 1) & (y != 1)))
    fn = float(np.sum((p != 1) & (y == 1)))
    tn = float(np.sum((p != 1) & (y != 1)))
    return tp, fp, fn, tn


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def make_custom_metric(names: list[str], objective: str) -> Callable | None:
    if not names:
        return None

    def metric(preds: np.ndarray, dmat) -> list[tuple[str, float]]:
        y = dmat.get_label()
        out = []
        for name in names:
            if name in ("mse", "r2"):
                p = preds if preds.ndim == 1 else preds.argmax(axis=1)
                err = float(np.mean((y - p) ** 2))
                if name == "mse":
                    out.append((name, err))
                else:
                    var = float(np.var(y))
                    out.append((name, 1.0 - err / var if var else 0.0))
                continue
            p = _labels(preds, objective)
            if name == "accuracy":
                out.append((name, float(np.mean(p == y))))
                continue
            tp, fp, fn, tn = _binary_counts(y, p)
            precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
            if name == "precision":
                out.append((name, precision))
            elif name == "recall":
                out.append((name, recall))
            elif name == "f1":
                out.append((name, _ratio(2 * precision * recall, precision + recall)))
            elif name == "balanced_accuracy":
                out.append((name, (recall + _ratio(tn, tn + fp)) / 2))
        return out

    return metric
