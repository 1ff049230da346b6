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

from .metrics import sigmoid, softmax


@dataclass
class Scaler:
    mean: np.ndarray        # [D] (zeros when not centering)
    inv_std: np.ndarray     # [D]
    y_mean: float = 0.0
    y_std: float = 1.0

    def features(self, X):
        if sp.issparse(X):
            return (X @ sp.diags(self.inv_std.astype(np.float32))).tocsr()
        return ((X - self.mean) * self.inv_std).astype(np.float32, copy=False)

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


def loss_and_grad(S: np.ndarray, y: np.ndarray, loss: str, p: dict, weight: np.ndarray | None = None):
    """Per-row losses [B, M] and dLoss/dScore [B, M, K] for scores S [B, M, K] and labels y [B]."""
    if loss == "softmax_loss":
        P = softmax(S, axis=2)
        yi = y.astype(np.int64)
        rows = np.arange(len(y))
        L = -np.log(np.maximum(P[rows, :, yi], 1e-12))
        G = P.copy()
        G[rows, :, yi] -= 1.0
    else:
        s = S[:, :, 0]
        yy = y[:, None]
        if loss == "logistic":
            prob = sigmoid(s)
            L = np.logaddexp(0.0, s) - yy * s
            g = prob - yy
        elif loss == "hinge_loss":
            ypm = 2.0 * yy - 1.0
            viol = ypm * s < p["margin"]
            L = np.maximum(p["margin"] - ypm * s, 0.0)
            g = np.where(viol, -ypm, 0.0)
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
                L, g = np.maximum(a - e, 0.0), np.where(a > e, np.sign(r), 0.0)
            elif loss == "quantile_loss":
                q = p["quantile"]
                L = np.where(r < 0, -q * r, (1 - q) * r)  # r = pred - y
                g = np.where(r < 0, -q, 1 - q)
            elif loss == "huber_loss":
                d = p["huber_delta"]
                L = np.where(a <= d, 0.5 * r * r, d * (a - 0.5 * d))
                g = np.clip(r, -d, d)
            else:
                raise ValueError(f"unknown loss {loss}")
        G = g[:, :, None]
    if weight is not None:
        L = L * weight[:, None]
        G = G * weight[:, None, None]
    return L, G


class LinearModels:
    """M linear models with K outputs over D features, trained together."""

    def __init__(self, D: int, K: int, lr: np.ndarray, wd: np.ndarray, l1: np.ndarray, hp: dict,
                 rng: np.random.Generator):
        M = len(lr)
        self.D, self.K, self.M = D, K, M
        if hp["init_method"] == "normal":
            W = rng.normal(0.0, hp["init_sigma"], size=(D, M, K))
        else:
            W = rng.uniform(-hp["init_scale"], hp["init_scale"], size=(D, M, K))
        self.W = W.astype(np.float32)
        self.W[:, 0, :] = 0.0 if hp.get("zero_first") else self.W[:, 0, :]
        self.b = np.full((M, K), hp["init_bias"], dtype=np.float32)
        self.lr, self.wd, self.l1 = (np.asarray(v, dtype=np.float32) for v in (lr, wd, l1))
        self.hp = hp
        self.opt = hp["optimizer"]
        self.use_bias = hp["use_bias"]
        self.t = 0
        self.mW = np.zeros_like(self.W)
        self.vW = np.zeros_like(self.W)
        self.mb = np.zeros_like(self.b)
        self.vb = np.zeros_like(self.b)

    def scores(self, X) -> np.ndarray:
        S = X @ self.W.reshape(self.D, self.M * self.K)
        return np.asarray(S, dtype=np.float32).reshape(X.shape[0], self.M, self.K) + self.b[None]

    def _lr_now(self) -> np.ndarray:
        h = self.hp
        if not h["use_lr_scheduler"]:
            return self.lr
        factor = h["lr_scheduler_factor"] ** (self.t // h["lr_scheduler_step"])
        return np.maximum(self.lr * factor, h["lr_scheduler_minimum_lr"]).astype(np.float32)

    def step(self, X, y, loss: str, weight=None) -> np.ndarray:
        """One optimiser step for every model; returns the batch's mean loss per model [M]."""
        B = X.shape[0]
        S = self.scores(X)
        L, G = loss_and_grad(S, y, loss, self.hp, weight)
        gW = np.asarray(X.T @ G.reshape(B, self.M * self.K), dtype=np.float32).reshape(self.W.shape) / B
        gW += self.wd[None, :, None] * self.W
        gb = G.sum(axis=0).astype(np.float32) / B
        self.t += 1
        lr = self._lr_now()
        lrW = lr[None, :, None]
        lrb = lr[:, None] * self.hp["bias_lr_mult"]
        h = self.hp
        if self.opt == "sgd":
            mom = h["momentum"]
            self.mW = mom * self.mW - lrW * gW
            self.W += self.mW
            self.mb = mom * self.mb - lrb * gb
            db = self.mb
        elif self.opt == "rmsprop":
            rho = h["beta_2"]
            self.vW = rho * self.vW + (1 - rho) * gW * gW
            self.W -= lrW * gW / (np.sqrt(self.vW) + 1e-8)
            self.vb = rho * self.vb + (1 - rho) * gb * gb
            db = -lrb * gb / (np.sqrt(self.vb) + 1e-8)
        else:  # adam
            b1, b2 = h["beta_1"], h["beta_2"]
            c1, c2 = 1 - b1 ** self.t, 1 - b2 ** self.t
            self.mW = b1 * self.mW + (1 - b1) * gW
            self.vW = b2 * self.vW + (1 - b2) * gW * gW
            self.W -= lrW * (self.mW / c1) / (np.sqrt(self.vW / c2) + 1e-8)
            self.mb = b1 * self.mb + (1 - b1) * gb
            self.vb = b2 * self.vb + (1 - b2) * gb * gb
            db = -lrb * (self.mb / c1) / (np.sqrt(self.vb / c2) + 1e-8)
        if self.use_bias:
            self.b += db.astype(np.float32)
        if np.any(self.l1 > 0):  # proximal step: soft-threshold by lr * l1
            thr = (lrW * self.l1[None, :, None]).astype(np.float32)
            self.W = np.sign(self.W) * np.maximum(np.abs(self.W) - thr, 0.0)
        return L.mean(axis=0)

    def fold(self, scaler: Scaler) -> tuple[np.ndarray, np.ndarray]:
        """Weights and biases in raw-feature, raw-label space: W [D, M, K], b [M, K]."""
        W = self.W.astype(np.float64) * scaler.inv_std[:, None, None]
        shift = (scaler.mean @ W.reshape(self.D, -1)).reshape(self.M, self.K)
        b = self.b.astype(np.float64) - shift
        return W * scaler.y_std, b * scaler.y_std + scaler.y_mean
