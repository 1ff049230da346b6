"""Factorization machines training program: ``python -m shipyard.algorithms.factorization_machines.train``."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ...errors import ValidationError
from .. import aws_artifacts
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


def to_aws(meta: dict, w0: float, w: np.ndarray, V: np.ndarray) -> bytes:
    """AWS's factorization machines artifact: a zip of ``symbol.json`` + ``params`` (an MXNet checkpoint:
    ``arg:w0_weight`` [1], ``arg:w1_weight`` [D, 1], ``arg:v`` [D, F]), which the AWS examples load with
    ``mx.module.Module.load`` after renaming them to ``<prefix>-symbol.json`` / ``<prefix>-0000.params``.
    The graph: out = w0 + x.w1 + 0.5 * sum((xV)^2 - x^2 V^2), through a logistic output for binary; the
    parameters carry ``__shape__`` so that binding with only the data shape infers everything."""
    w = np.asarray(w, np.float32).reshape(-1, 1)
    D, F = np.shape(V)
    out_op = "LogisticRegressionOutput" if meta.get("predictor_type") == "binary_classifier" \
        else "LinearRegressionOutput"
    symbol = aws_artifacts.symbol_json([
        {"op": "null", "name": "data"},                                                  # 0
        {"op": "null", "name": "w1_weight", "attrs": {"__shape__": (D, 1)}},             # 1
        {"op": "dot", "name": "linear", "inputs": [0, 1]},                               # 2
        {"op": "null", "name": "w0_weight", "attrs": {"__shape__": (1,)}},               # 3
        {"op": "broadcast_add", "name": "linear_bias", "inputs": [2, 3]},                # 4
        {"op": "null", "name": "v", "attrs": {"__shape__": (D, F)}},                     # 5
        {"op": "dot", "name": "xv", "inputs": [0, 5]},                                   # 6
        {"op": "square", "name": "xv_sq", "inputs": [6]},                                # 7
        {"op": "square", "name": "x_sq", "inputs": [0]},                                 # 8
        {"op": "square", "name": "v_sq", "inputs": [5]},                                 # 9
        {"op": "dot", "name": "x_sq_v_sq", "inputs": [8, 9]},                            # 10
        {"op": "elemwise_sub", "name": "pair_diff", "inputs": [7, 10]},                  # 11
        {"op": "sum", "name": "pair_sum", "attrs": {"axis": 1, "keepdims": True}, "inputs": [11]},  # 12
        {"op": "_mul_scalar", "name": "pair", "attrs": {"scalar": 0.5}, "inputs": [12]},  # 13
        {"op": "elemwise_add", "name": "score", "inputs": [4, 13]},                      # 14
        {"op": "null", "name": "out_label"},                                             # 15
        {"op": out_op, "name": "out", "inputs": [14, 15]},                               # 16
    ], heads=[16])
    params = aws_artifacts.params_bytes({"w0_weight": np.array([w0], np.float32), "w1_weight": w,
                               "v": np.asarray(V, np.float32)})
    return aws_artifacts.zip_bytes({"symbol.json": symbol, "params": params})


def from_aws(data: bytes, meta: dict) -> tuple[dict, dict[str, np.ndarray]]:
    """(meta, {"w0", "w" [D], "V" [D, F]}) from AWS's zip (or a bare params NDArray file)."""
    params, symbol, hints = aws_artifacts.read_checkpoint(
        data, "a zip holding symbol.json and params (an MXNet checkpoint)")
    missing = [k for k in ("w0_weight", "w1_weight", "v") if k not in params]
    if missing:
        raise ValueError(f"the parameters lack {', '.join(missing)} (found {sorted(params)})")
    V = np.asarray(params["v"], np.float32)
    w = np.asarray(params["w1_weight"], np.float32).ravel()
    if V.shape[0] != len(w) and V.shape[1] == len(w):
        V = V.T
    if V.shape[0] != len(w):
        raise ValueError(f"v {V.shape} and w1_weight ({len(w)} values) disagree on the feature count")
    ops = " ".join(aws_artifacts.symbol_ops(symbol)).lower()
    ptype = meta.get("predictor_type") or hints.get("predictor_type") or (
        "binary_classifier" if "logistic" in ops or "sigmoid" in ops else "regressor")
    out = {**meta, "feature_dim": int(len(w)), "predictor_type": ptype}
    return out, {"w0": np.asarray(params["w0_weight"], np.float32).reshape(-1)[:1].reshape(()), "w": w, "V": V}


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
    # AWS's format (a zip of symbol.json + params), so the model also deploys on SageMaker
    meta = {"feature_dim": D, "predictor_type": h["predictor_type"]}
    aws_artifacts.write(run.env.model_dir, to_aws(meta, float(w0), w, V), meta)


if __name__ == "__main__":
    main(ALGORITHM, train)
