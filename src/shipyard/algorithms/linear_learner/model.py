"""``num_models`` linear models trained at once, in one pass over each mini-batch.

Weights live in one tensor ``W[feature, model, output]`` (output = 1, or the number of classes), so a
mini-batch costs one ``X @ W.reshape(D, M*K)`` for the scores and one ``X.T @ G`` for every model's gradient
— sparse X included. Learning rate, L1 and weight decay are per-model vectors broadcast over that tensor,
which is how the variants "close to" the given settings (SageMaker's description of ``num_models``) are
trained side by side for little more than the cost of one.

Training happens on standardised features (and labels, for regression); ``fold`` turns the weights back
into raw-feature, raw-label space so inference needs no scaler.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .. import aws_artifacts
from .metrics import sigmoid, softmax


@dataclass
class Scaler:
    mean: np.ndarray        # [D] (zeros when not centering)
    inv_std: np.ndarray     # [D]
    y_mean: float = 0.0
    y_std: float = 1.0

    def features(self, X, with_ones: bool = False):
        """Standardised features; dense ones get a trailing column of ones when ``with_ones`` (the bias
        input of :class:`LinearModels`), written straight into the output buffer."""
        if sp.issparse(X):
            return (X @ sp.diags(self.inv_std.astype(np.float32))).tocsr()
        if not with_ones:
            return ((X - self.mean) * self.inv_std).astype(np.float32, copy=False)
        B, D = X.shape
        out = np.empty((B, D + 1), dtype=np.float32)
        np.subtract(X, self.mean.astype(np.float32), out=out[:, :D])
        out[:, :D] *= self.inv_std.astype(np.float32)
        out[:, D] = 1.0
        return out

    def label(self, y):
        return (y - self.y_mean) / self.y_std


def fit_scaler(X, y, normalize_data: bool, center: bool, normalize_label: bool) -> Scaler:
    D = X.shape[1]
    if not normalize_data:
        mean, inv = np.zeros(D), np.ones(D)
    elif sp.issparse(X):
        m1 = np.asarray(X.mean(axis=0)).ravel()
        m2 = np.asarray(X.multiply(X).mean(axis=0)).ravel()
        sd = np.sqrt(np.maximum(m2 - m1 * m1, 0.0))
        mean, inv = np.zeros(D), np.where(sd > 1e-12, 1.0 / np.maximum(sd, 1e-12), 1.0)
    else:
        Xd = np.asarray(X, dtype=np.float64)
        mean = Xd.mean(axis=0) if center else np.zeros(D)
        sd = Xd.std(axis=0)
        inv = np.where(sd > 1e-12, 1.0 / np.maximum(sd, 1e-12), 1.0)
    ym, ys = 0.0, 1.0
    if normalize_label and y is not None and len(y):
        ym, ys = float(np.mean(y)), float(np.std(y)) or 1.0
    return Scaler(mean, inv, ym, ys)


def _logistic(s: np.ndarray, y: np.ndarray, want_loss: bool):
    """Logistic loss and gradient from one ``exp``: softplus(s) - y*s = max(s, 0) + log1p(e^-|s|) - y*s and
    sigmoid(s) = 1/(1+e^-|s|) (or e^-|s|/(1+e^-|s|) for s < 0). numpy's ``logaddexp`` costs ~20x more."""
    e = np.exp(-np.abs(s))
    inv = 1.0 / (1.0 + e)
    prob = np.where(s >= 0, inv, e * inv)
    L = None
    if want_loss:
        L = np.maximum(s, 0.0) + np.log1p(e) - y * s
    return L, prob - y


def loss_and_grad(S: np.ndarray, y: np.ndarray, loss: str, p: dict, weight: np.ndarray | None = None,
                  want_loss: bool = True):
    """Per-row losses [B, M] and dLoss/dScore [B, M, K] for scores S [B, M, K] and labels y [B].

    Everything stays in the dtype of ``S`` (float32 in training: half the memory traffic of float64, which
    is what bounds these element-wise passes once the matrix products are batched over models)."""
    dt = S.dtype
    y = np.asarray(y, dtype=dt)
    if loss == "softmax_loss":
        P = softmax(S, axis=2)
        yi = y.astype(np.int64)
        rows = np.arange(len(y))
        L = -np.log(np.maximum(P[rows, :, yi], 1e-12)) if want_loss else None
        G = P
        G[rows, :, yi] -= 1.0
    else:
        s = S[:, :, 0]
        yy = y[:, None]
        if loss == "logistic":
            L, g = _logistic(s, yy, want_loss)
        elif loss == "hinge_loss":
            ypm = 2.0 * yy - 1.0
            viol = ypm * s < p["margin"]
            L = np.maximum(p["margin"] - ypm * s, 0.0)
            g = np.where(viol, -ypm, 0.0).astype(dt, copy=False)
        else:
            r = s - yy
            a = np.abs(r)
            if loss == "squared_loss":
                L, g = 0.5 * r * r, r
            elif loss == "absolute_loss":
                L, g = a, np.sign(r)
            elif loss == "eps_insensitive_squared_loss":
                e = p["loss_insensitivity"]
                over = np.maximum(a - e, 0.0)
                L, g = 0.5 * over * over, over * np.sign(r)
            elif loss == "eps_insensitive_absolute_loss":
                e = p["loss_insensitivity"]
                L, g = np.maximum(a - e, 0.0), np.where(a > e, np.sign(r), 0.0).astype(dt, copy=False)
            elif loss == "quantile_loss":
                q = p["quantile"]
                L = np.where(r < 0, -q * r, (1 - q) * r).astype(dt, copy=False)  # r = pred - y
                g = np.where(r < 0, -q, 1 - q).astype(dt, copy=False)
            elif loss == "huber_loss":
                d = p["huber_delta"]
                L = np.where(a <= d, 0.5 * r * r, d * (a - 0.5 * d)).astype(dt, copy=False)
                g = np.clip(r, -d, d)
            else:
                raise ValueError(f"unknown loss {loss}")
        G = g[:, :, None]
    if weight is not None:
        weight = np.asarray(weight, dtype=dt)
        L = None if L is None else L * weight[:, None]
        G = G * weight[:, None, None]
    return L, G


def _logistic_train(s: np.ndarray, y: np.ndarray, w: np.ndarray | None, ones: np.ndarray):
    """Training-time logistic loss sum per model [M] and gradient [B, M] for scores s [B, M] (float32).

    softplus(s) = (s + |s|)/2 + log1p(e^-|s|), so the loss needs one exp and one log1p pass; every per-model
    sum is a BLAS matrix-vector product (``ones @ x``, ``y @ s``) rather than numpy's strided axis-0 reduce;
    the gradient sigmoid(s) - y comes from one tanh pass. All passes are in place."""
    wy = y if w is None else w * y
    wt = ones if w is None else w
    a = np.abs(s)
    lin = 0.5 * (wt @ s + wt @ a) - wy @ s
    np.negative(a, out=a)
    np.exp(a, out=a)
    np.log1p(a, out=a)
    total = lin + wt @ a
    g = np.multiply(s, 0.5)
    np.tanh(g, out=g)
    g *= 0.5
    g += 0.5
    g -= y[:, None]
    if w is not None:
        g *= w[:, None]
    return total, g


def mean_losses(S: np.ndarray, y: np.ndarray, loss: str, p: dict) -> np.ndarray:
    """Mean loss per model [M] of scores S [N, M, K] (model selection, early stopping): the logistic case
    uses the gemv-reduced softplus of :func:`_logistic_train`, others :func:`loss_and_grad`."""
    N = S.shape[0]
    if loss == "logistic":
        s = S[:, :, 0]
        y = np.asarray(y, dtype=S.dtype)
        ones = np.ones(N, dtype=S.dtype)
        a = np.abs(s)
        lin = 0.5 * (ones @ s + ones @ a) - y @ s
        np.negative(a, out=a)
        np.exp(a, out=a)
        np.log1p(a, out=a)
        return (lin + ones @ a) / N
    L, _ = loss_and_grad(S, y, loss, p)
    return L.mean(axis=0)


class LinearModels:
    """M linear models with K outputs over D features, trained together.

    Parameters live in one matrix ``P[D + 1, M*K]`` (row D: the biases; column m*K + k: model m, output k),
    with matching per-entry learning-rate, weight-decay and L1 matrices. A mini-batch is then two BLAS
    products for every model at once (``X @ P[:D]`` for scores, ``X.T @ G`` for gradients), a gemv for the
    bias gradients, and a fixed number of in-place element-wise passes over ``P``-sized arrays for the
    optimiser — no Python loop over models, no temporary per operation.
    """

    def __init__(self, D: int, K: int, lr: np.ndarray, wd: np.ndarray, l1: np.ndarray, hp: dict,
                 rng: np.random.Generator):
        M = len(lr)
        self.D, self.K, self.M, self.C = D, K, M, M * K
        if hp["init_method"] == "normal":
            W = rng.normal(0.0, hp["init_sigma"], size=(D, M, K))
        else:
            W = rng.uniform(-hp["init_scale"], hp["init_scale"], size=(D, M, K))
        self.P = np.empty((D + 1, self.C), dtype=np.float32)
        self.P[:D] = W.reshape(D, self.C)
        self.P[D] = hp["init_bias"]
        self.lr = np.asarray(lr, dtype=np.float32)
        self.hp = hp
        self.opt = hp["optimizer"]
        self.use_bias = hp["use_bias"]
        col = lambda v: np.repeat(np.asarray(v, dtype=np.float32), K)  # noqa: E731 - per model -> per column
        bias_wd = hp.get("bias_wd_mult")
        bias_wd = 0.0 if bias_wd in (None, "auto") else float(bias_wd)
        self.wdP = np.vstack([np.tile(col(wd), (D, 1)), col(wd)[None] * bias_wd]).astype(np.float32)
        self.l1W = col(l1)[None, :]
        self.has_wd, self.has_l1 = bool(np.any(self.wdP)), bool(np.any(self.l1W))
        self.t = 0
        self.m = np.zeros_like(self.P)
        self.v = np.zeros_like(self.P)
        self.g = np.zeros_like(self.P)
        self.tmp = np.zeros_like(self.P)
        self._lr_key = None
        self.lrP = np.zeros_like(self.P)
        self._ones = np.ones(0, dtype=np.float32)

    @property
    def W(self) -> np.ndarray:
        return self.P[:self.D].reshape(self.D, self.M, self.K)

    @property
    def b(self) -> np.ndarray:
        return self.P[self.D].reshape(self.M, self.K)

    def scores(self, X) -> np.ndarray:
        """Scores [B, M, K]; ``X`` is [B, D], or [B, D + 1] with a trailing column of ones (see
        :meth:`Scaler.features`), which folds the bias into the one matrix product."""
        if X.shape[1] == self.D + 1:
            return np.asarray(X @ self.P, dtype=np.float32).reshape(X.shape[0], self.M, self.K)
        S = np.asarray(X @ self.P[:self.D], dtype=np.float32)
        S += self.P[self.D]
        return S.reshape(X.shape[0], self.M, self.K)

    def _lr_matrix(self) -> np.ndarray:
        """Per-entry learning rates (bias row times bias_lr_mult), rebuilt only when the schedule moves."""
        h = self.hp
        key = self.t // h["lr_scheduler_step"] if h["use_lr_scheduler"] else 0
        if key != self._lr_key:
            lr = self.lr
            if h["use_lr_scheduler"]:
                lr = np.maximum(lr * h["lr_scheduler_factor"] ** key, h["lr_scheduler_minimum_lr"])
            c = np.repeat(lr.astype(np.float32), self.K)
            self.lrP[:self.D] = c
            self.lrP[self.D] = c * h["bias_lr_mult"] if self.use_bias else 0.0
            self._lr_key = key
        return self.lrP

    def _ones_for(self, B: int) -> np.ndarray:
        if self._ones.shape[0] != B:
            self._ones = np.ones(B, dtype=np.float32)
        return self._ones

    def step(self, X, y, loss: str, weight=None) -> np.ndarray:
        """One optimiser step for every model; returns the batch's summed loss per model [M]."""
        B, D = X.shape[0], self.D
        ones = self._ones_for(B)
        S = self.scores(X)
        y = np.asarray(y, dtype=np.float32)
        w = None if weight is None else np.asarray(weight, dtype=np.float32)
        if loss == "logistic":
            total, G = _logistic_train(S.reshape(B, self.C), y, w, ones)
        else:
            L, G3 = loss_and_grad(S, y, loss, self.hp, w)
            total = ones @ L
            G = G3.reshape(B, self.C)
        g, tmp = self.g, self.tmp
        if sp.issparse(X):
            g[:D] = X.T @ G
            np.matmul(ones, G, out=g[D])
        elif X.shape[1] == D + 1:  # the ones column gives the bias gradient in the same product
            np.matmul(X.T, G, out=g)
        else:
            np.matmul(X.T, G, out=g[:D])
            np.matmul(ones, G, out=g[D])
        g *= 1.0 / B
        P = self.P
        if self.has_wd:
            np.multiply(P, self.wdP, out=tmp)
            g += tmp
        self.t += 1
        lrP = self._lr_matrix()
        h = self.hp
        if self.opt == "sgd":  # momentum: m = mom*m - lr*g; P += m
            self.m *= h["momentum"]
            np.multiply(g, lrP, out=tmp)
            self.m -= tmp
            P += self.m
        elif self.opt == "rmsprop":
            rho = h["beta_2"]
            self.v *= rho
            np.multiply(g, g, out=tmp)
            tmp *= 1 - rho
            self.v += tmp
            np.sqrt(self.v, out=tmp)
            tmp += 1e-8
            np.divide(g, tmp, out=tmp)
            tmp *= lrP
            P -= tmp
        else:  # adam
            b1, b2 = h["beta_1"], h["beta_2"]
            c1, c2 = 1 - b1 ** self.t, 1 - b2 ** self.t
            self.m *= b1
            np.multiply(g, 1 - b1, out=tmp)
            self.m += tmp
            self.v *= b2
            np.multiply(g, g, out=tmp)
            tmp *= 1 - b2
            self.v += tmp
            np.sqrt(self.v, out=tmp)                    # sqrt(v / c2) + eps = sqrt(v) / sqrt(c2) + eps
            tmp *= 1.0 / np.sqrt(c2)
            tmp += 1e-8
            np.divide(self.m, tmp, out=tmp)
            tmp *= lrP
            tmp *= 1.0 / c1
            P -= tmp
        if self.has_l1:  # proximal step on the weights: soft-threshold by lr * l1
            Wv, t = P[:D], tmp[:D]
            np.multiply(lrP[:D], self.l1W, out=t)
            np.subtract(np.abs(Wv), t, out=t)
            np.maximum(t, 0.0, out=t)
            np.copysign(t, Wv, out=Wv)
        return total

    def fold(self, scaler: Scaler) -> tuple[np.ndarray, np.ndarray]:
        """Weights and biases in raw-feature, raw-label space: W [D, M, K], b [M, K]."""
        W = self.W.astype(np.float64) * scaler.inv_std[:, None, None]
        shift = (scaler.mean @ W.reshape(self.D, -1)).reshape(self.M, self.K)
        b = self.b.astype(np.float64) - shift
        return W * scaler.y_std, b * scaler.y_std + scaler.y_mean


# ------------------------------------------------------------------ AWS's model_algo-1
def to_aws(meta: dict, W: np.ndarray, b: np.ndarray) -> bytes:
    """AWS's linear learner artifact: a zip of an MXNet module checkpoint (``mx-mod-symbol.json`` +
    ``mx-mod-0000.params``) that ``mx.module.Module.load('mx-mod', 0, label_names=['out_label'])`` reads:
    ``fc0 = FullyConnected(data, fc0_weight [K, D], fc0_bias [K])`` into a logistic (binary, logistic loss),
    softmax (multiclass) or linear (regression, hinge) output named ``out``."""
    W = np.asarray(W, np.float32).reshape(W.shape[0], -1)
    K = W.shape[1]
    ptype = meta.get("predictor_type", "regressor")
    out_op = ("SoftmaxOutput" if ptype == "multiclass_classifier"
              else "LogisticRegressionOutput" if ptype == "binary_classifier" and meta.get("loss") == "logistic"
              else "LinearRegressionOutput")
    symbol = aws_artifacts.symbol_json([
        {"op": "null", "name": "data"},
        {"op": "null", "name": "fc0_weight", "attrs": {"num_hidden": K}},
        {"op": "null", "name": "fc0_bias", "attrs": {"num_hidden": K}},
        {"op": "FullyConnected", "name": "fc0", "attrs": {"num_hidden": K}, "inputs": [0, 1, 2]},
        {"op": "null", "name": "out_label"},
        {"op": out_op, "name": "out", "inputs": [3, 4]},
    ], heads=[5])
    params = aws_artifacts.params_bytes({"fc0_weight": W.T, "fc0_bias": np.asarray(b, np.float32).reshape(K)})
    return aws_artifacts.zip_bytes({"mx-mod-symbol.json": symbol, "mx-mod-0000.params": params})


def from_aws(data: bytes, meta: dict) -> tuple[dict, dict[str, np.ndarray]]:
    """(meta, {"weights" [D, K], "bias" [K]}) from AWS's zip (or a bare .params NDArray file)."""
    params, symbol, hints = aws_artifacts.read_checkpoint(data, "a zip of an MXNet module (mx-mod-symbol.json, mx-mod-0000.params)")
    wkey = "fc0_weight" if "fc0_weight" in params else next((k for k in params if k.endswith("weight")), None)
    if wkey is None:
        raise ValueError(f"no fc0_weight among the parameters {sorted(params)}")
    bkey = wkey[: -len("weight")] + "bias"
    weight = np.asarray(params[wkey], np.float32)
    weight = weight.reshape(1, -1) if weight.ndim == 1 else weight
    D = meta.get("feature_dim") or hints.get("feature_dim")
    # FullyConnected stores [K, D]; accept [D, K] too when the feature count says so
    W = weight if (D and weight.shape[0] == int(D) and weight.shape[1] != int(D)) else weight.T
    K = W.shape[1]
    bias = np.asarray(params[bkey], np.float32).reshape(K) if bkey in params else np.zeros(K, np.float32)
    ops = " ".join(aws_artifacts.symbol_ops(symbol)).lower()
    ptype = meta.get("predictor_type") or hints.get("predictor_type") or (
        "multiclass_classifier" if "softmax" in ops or K > 1
        else "binary_classifier" if "logistic" in ops or "sigmoid" in ops else "regressor")
    sigmoid_out = "logistic" in ops or "sigmoid" in ops
    loss = meta.get("loss") or hints.get("loss") or (
        "softmax_loss" if ptype == "multiclass_classifier" else "squared_loss" if ptype == "regressor"
        else "logistic" if sigmoid_out or not ops else "hinge_loss")
    threshold = meta.get("threshold", hints.get("threshold", 0.5 if loss == "logistic" else 0.0))
    out = {**meta, "predictor_type": ptype, "loss": loss, "threshold": float(threshold),
           "feature_dim": int(W.shape[0]), "num_classes": int(meta.get("num_classes", K if K > 1 else 2))}
    return out, {"weights": W, "bias": bias}
