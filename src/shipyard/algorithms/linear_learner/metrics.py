"""Evaluation metrics of linear learner (also used by factorization machines), vectorised over models.

Scores arrive as ``[n_models, n_rows]`` (binary, regression) or ``[n_models, n_rows, n_classes]`` so every
candidate model is evaluated in one numpy pass — that is what makes picking the best of ``num_models``
cheap.
"""

from __future__ import annotations

import numpy as np


def sigmoid(s: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * s))  # overflow-free logistic


def softmax(s: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(s - s.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def roc_auc(scores: np.ndarray, y: np.ndarray) -> np.ndarray:
    """AUC per model via the rank-sum (Mann-Whitney) statistic; scores [M, N], y in {0,1}."""
    pos = y > 0.5
    n_pos, n_neg = pos.sum(), (~pos).sum()
    if n_pos == 0 or n_neg == 0:
        return np.full(scores.shape[0], np.nan)
    order = scores.argsort(axis=1, kind="stable")
    ranks = np.empty_like(order, dtype=np.float64)
    np.put_along_axis(ranks, order, np.arange(1, scores.shape[1] + 1, dtype=np.float64)[None, :], axis=1)
    # average ranks of ties
    out = np.empty(scores.shape[0])
    for m in range(scores.shape[0]):
        s = scores[m]
        _, inv, counts = np.unique(s, return_inverse=True, return_counts=True)
        if counts.max() > 1:
            sums = np.bincount(inv, weights=ranks[m])
            r = (sums / counts)[inv]
        else:
            r = ranks[m]
        out[m] = (r[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return out


def threshold_curves(scores: np.ndarray, y: np.ndarray):
    """For every model and every candidate threshold (each distinct score), TP, FP and the threshold.

    Predict positive when score >= threshold. Returns (thresholds [M, N], tp [M, N], fp [M, N]) in
    descending-threshold order.
    """
    order = np.argsort(-scores, axis=1, kind="stable")
    s_sorted = np.take_along_axis(scores, order, axis=1)
    y_sorted = (y[order] > 0.5).astype(np.float64)
    tp = np.cumsum(y_sorted, axis=1)
    fp = np.cumsum(1.0 - y_sorted, axis=1)
    return s_sorted, tp, fp


def _criterion(tp, fp, n: int, n_pos: float, criterion: str, beta: float, target_recall: float,
               target_precision: float) -> np.ndarray:
    tn = (n - n_pos) - fp
    precision = tp / np.maximum(tp + fp, 1)
    recall = tp / max(n_pos, 1)
    if criterion == "accuracy":
        return (tp + tn) / n
    if criterion == "f_beta":
        b2 = beta * beta
        return (1 + b2) * precision * recall / np.maximum(b2 * precision + recall, 1e-12)
    if criterion == "precision_at_target_recall":
        return np.where(recall >= target_recall, precision, -1.0)
    if criterion == "recall_at_target_precision":
        return np.where(precision >= target_precision, recall, -1.0)
    raise ValueError(criterion)


def binned_calibrate(scores: np.ndarray, y: np.ndarray, criterion: str, beta: float = 1.0,
                     target_recall: float = 0.8, target_precision: float = 0.8, bins: int = 1024):
    """Thresholds and criterion values with cuts restricted to ``bins`` evenly spaced edges per model.

    No sort: one ``bincount`` over (model, bin) ids gives every model's positives and negatives per bin,
    and reversed cumulative sums give TP/FP at each edge. Each edge is a genuine cut (predict positive when
    score >= edge), so a value here never exceeds the exact best: it is a lower bound for screening."""
    M, n = scores.shape
    lo = scores.min(axis=1, keepdims=True)
    span = np.maximum(scores.max(axis=1, keepdims=True) - lo, 1e-12)
    pos = y > 0.5
    n_pos = float(pos.sum())
    # one id per (model, bin, label): a single bincount yields positives and negatives of every bin
    idx = ((scores - lo) * (bins / span)).astype(np.int32)
    np.minimum(idx, bins - 1, out=idx)
    idx *= 2
    idx += pos
    idx += (np.arange(M, dtype=np.int32) * (2 * bins))[:, None]
    counts = np.bincount(idx.ravel(), minlength=M * bins * 2).reshape(M, bins, 2)[:, ::-1]
    tp = np.cumsum(counts[:, :, 1], axis=1, dtype=np.float64)[:, ::-1]      # score >= edge j
    fp = np.cumsum(counts[:, :, 0], axis=1, dtype=np.float64)[:, ::-1]
    value = _criterion(tp, fp, n, n_pos, criterion, beta, target_recall, target_precision)
    edges = lo + span * (np.arange(bins)[None, :] / bins)
    best = value.argmax(axis=1)
    rows = np.arange(M)
    return edges[rows, best], value[rows, best]


def calibrate(scores: np.ndarray, y: np.ndarray, criterion: str, beta: float = 1.0,
              target_recall: float = 0.8, target_precision: float = 0.8, default: float = 0.5,
              exact_top: int = 4):
    """Pick each model's decision threshold for ``criterion``; returns (thresholds [M], criterion value [M]).

    With many models, :func:`binned_calibrate` screens them all without sorting, and only the
    ``exact_top`` best are calibrated exactly over every distinct score (a sort per model); the others
    keep their screening values, which can only understate them."""
    M = scores.shape[0]
    if M > exact_top:
        thr, value = binned_calibrate(scores, y, criterion, beta, target_recall, target_precision)
        top = np.argsort(-value, kind="stable")[:exact_top]
        t_top, v_top = calibrate(scores[top], y, criterion, beta, target_recall, target_precision, default,
                                 exact_top)
        better = v_top >= value[top]
        thr[top] = np.where(better, t_top, thr[top])
        value[top] = np.maximum(v_top, value[top])
        return thr, value
    s_sorted, tp, fp = threshold_curves(scores, y)
    n = y.shape[0]
    n_pos = float((y > 0.5).sum())
    # only the last index of a run of equal scores is a valid cut
    valid = np.ones_like(s_sorted, dtype=bool)
    valid[:, :-1] = s_sorted[:, :-1] != s_sorted[:, 1:]
    value = _criterion(tp, fp, n, n_pos, criterion, beta, target_recall, target_precision)
    value = np.where(valid, value, -np.inf)
    best = value.argmax(axis=1)
    rows = np.arange(scores.shape[0])
    thr = s_sorted[rows, best]
    # predicting all-negative (threshold above every score) may beat every cut for accuracy
    if criterion == "accuracy":
        all_neg = (n - n_pos) / n
        better = all_neg > value[rows, best]
        thr = np.where(better, s_sorted[:, 0] + 1e-6, thr)
        return thr, np.maximum(value[rows, best], all_neg)
    return thr, value[rows, best]


def binary_report(prob: np.ndarray, y: np.ndarray, threshold: float, beta: float = 1.0) -> dict[str, float]:
    pred = prob >= threshold
    pos = y > 0.5
    tp = float((pred & pos).sum())
    fp = float((pred & ~pos).sum())
    fn = float((~pred & pos).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    b2 = beta * beta
    f_beta = (1 + b2) * precision * recall / (b2 * precision + recall) if precision + recall else 0.0
    return {
        "binary_classification_accuracy": float((pred == pos).mean()),
        "binary_f_beta": f_beta,
        "precision": precision,
        "recall": recall,
        "roc_auc_score": float(roc_auc(prob[None, :], y)[0]),
    }


def regression_report(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    err = pred - y
    mse = float((err ** 2).mean())
    return {"mse": mse, "rmse": float(np.sqrt(mse)), "absolute_loss": float(np.abs(err).mean())}


def multiclass_report(prob: np.ndarray, y: np.ndarray, top_k: int = 3, beta: float = 1.0) -> dict[str, float]:
    yi = y.astype(np.int64)
    pred = prob.argmax(axis=1)
    k = min(top_k, prob.shape[1])
    topk = np.argsort(-prob, axis=1)[:, :k]
    classes = range(prob.shape[1])
    precisions, recalls, fbetas = [], [], []
    b2 = beta * beta
    for c in classes:
        tp = float(((pred == c) & (yi == c)).sum())
        p = tp / max(float((pred == c).sum()), 1.0)
        r = tp / max(float((yi == c).sum()), 1.0)
        precisions.append(p)
        recalls.append(r)
        fbetas.append((1 + b2) * p * r / (b2 * p + r) if p + r else 0.0)
    return {
        "multiclass_accuracy": float((pred == yi).mean()),
        "multiclass_top_k_accuracy": float((topk == yi[:, None]).any(axis=1).mean()),
        "macro_precision": float(np.mean(precisions)),
        "macro_recall": float(np.mean(recalls)),
        "macro_f_beta": float(np.mean(fbetas)),
    }
