"""Factorization machines training program: ``python -m shipyard.algorithms.factorization_machines.train``."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ...errors import ValidationError
from ..builtin import TrainingRun, main
from ..linear_learner.metrics import binary_report, sigmoid
from . import ALGORITHM


def fm_scores(X, w0: float, w: np.ndarray, V: np.ndarray):
    """Scores [n] and the cached XV [n, F] for CSR (or dense) X."""
    X = sp.csr_matrix(X)
    XV = np.asarray(X @ V)
    X2 = X.multiply(X).tocsr()
    pair = 0.5 * (XV * XV - np.asarray(X2 @ (V * V))).sum(axis=1)
    return w0 + np.asarray(X @ w).ravel() + pair, XV, X2


def _init(h, prefix, shape, rng):
    method = h[f"{prefix}_init_method"]
    if method == "normal":
        return rng.normal(0.0, h[f"{prefix}_init_sigma"], shape)
    if method == "uniform":
        s = h[f"{prefix}_init_scale"]
        return rng.uniform(-s, s, shape)
    return np.full(shape, h[f"{prefix}_init_value"], dtype=np.float64)


class Adam:
    def __init__(self, shape, lr, wd, eps, clip):
        self.m, self.v, self.t = np.zeros(shape), np.zeros(shape), 0
        self.lr, self.wd, self.eps, self.clip = lr, wd, eps, clip

    def step(self, param, grad):
        grad = grad + self.wd * param
        if self.clip > 0:
            grad = np.clip(grad, -self.clip, self.clip)
        self.t += 1
        self.m = 0.9 * self.m + 0.1 * grad
        self.v = 0.999 * self.v + 0.001 * grad * grad
        mh, vh = self.m / (1 - 0.9 ** self.t), self.v / (1 - 0.999 ** self.t)
        return param - self.lr * mh / (np.sqrt(vh) + self.eps)


def train(run: TrainingRun) -> None:
    h = run.hps
    D, F = h["feature_dim"], h["num_factors"]
    binary = h["predictor_type"] == "binary_classifier"
    rng = np.random.default_rng(0)
    w0 = float(_init(h, "bias", (), rng))
    w = _init(h, "linear", (D,), rng)
    V = _init(h, "factors", (D, F), rng)
    opts = {k: Adam(shape, h[f"{k}_lr"], h[f"{k}_wd"], h["eps"], h["clip_gradient"])
            for k, shape in (("bias", ()), ("linear", (D,)), ("factors", (D, F)))}
    seen = 0
    for epoch in range(h["epochs"]):
        total, n = 0.0, 0
        for b in run.batches("train", h["mini_batch_size"], epoch, feature_dim=D):
            if b.y is None:
                raise ValidationError("factorization-machines needs labels in label['values'].")
            if binary and not np.isin(b.y, (0.0, 1.0)).all():
                raise ValidationError("Labels must be 0 or 1 when predictor_type is binary_classifier.")
            X = sp.csr_matrix(b.X, dtype=np.float64)
            y = b.y.astype(np.float64)
            s, XV, X2 = fm_scores(X, w0, w, V)
            if binary:
                g = sigmoid(s) - y
                loss = np.logaddexp(0.0, s) - y * s
            else:
                g = s - y
                loss = 0.5 * g * g
            g = g * h["rescale_grad"] / len(y)
            gV = np.asarray(X.T @ (g[:, None] * XV)) - np.asarray(X2.T @ g)[:, None] * V
            w0 = float(opts["bias"].step(np.float64(w0), g.sum()))
            w = opts["linear"].step(w, np.asarray(X.T @ g).ravel())
            V = opts["factors"].step(V, gV)
            total += float(loss.sum())
            n += len(y)
        if n == 0:
            raise ValidationError("The train channel holds no data.")
        seen = max(seen, n)
        run.metric("train:objective_loss", total / n)
    if run.has("test"):
        test = run.load("test", feature_dim=D)
        if test is not None and test.y is not None:
            s, _, _ = fm_scores(test.X, w0, w, V)
            if binary:
                p = np.clip(sigmoid(s), 1e-12, 1 - 1e-12)
                rep = binary_report(p, test.y, 0.5)
                run.metric("test:binary_classification_accuracy", rep["binary_classification_accuracy"])
                run.metric("test:binary_f_beta", rep["binary_f_beta"])
                ce = -np.mean(test.y * np.log(p) + (1 - test.y) * np.log(1 - p))
                run.metric("test:binary_classification_cross_entropy", ce)
            else:
                run.metric("test:rmse", float(np.sqrt(np.mean((s - test.y) ** 2))))
    run.save({"feature_dim": D, "predictor_type": h["predictor_type"]},
             w0=np.array(w0), w=w.astype(np.float32), V=V.astype(np.float32))


if __name__ == "__main__":
    main(ALGORITHM, train)
