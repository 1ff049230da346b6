"""PCA training program: ``python -m shipyard.algorithms.pca.train``."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ...errors import ValidationError
from ..builtin import TrainingRun, main
from . import ALGORITHM


def _gram(X, right=None):
    """X^T X (or X^T X right) as a dense float64 array, for dense or sparse X."""
    XR = X if right is None else X @ right
    G = X.T @ XR
    return G.toarray() if sp.issparse(G) else np.asarray(G, dtype=np.float64)


def principal_axes(h: dict, batches) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean [D], components [k, D] by descending variance, singular values [k])."""
    D, k = h["feature_dim"], h["num_components"]
    if k > D:
        raise ValidationError(f"Hyperparameter 'num_components' is {k}; expected int in [1, feature_dim={D}].")
    extra = h["extra_components"]
    randomized = h["algorithm_mode"] == "randomized"
    width = min(D, k + (max(extra, 0) if extra != -1 else max(10, k)))
    omega = np.random.default_rng(0).normal(size=(D, width)) if randomized else None
    n, col_sum = 0, np.zeros(D)
    acc = None
    for b in batches:
        X = b.X.astype(np.float64)
        n += X.shape[0]
        col_sum += np.asarray(X.sum(axis=0)).ravel()
        part = _gram(X, omega)
        acc = part if acc is None else acc + part
    if n == 0:
        raise ValidationError("The train channel holds no data.")
    mean = col_sum / n if h["subtract_mean"] else np.zeros(D)
    if not randomized:
        cov = acc - n * np.outer(mean, mean)
        vals, vecs = np.linalg.eigh((cov + cov.T) / 2)
    else:
        S = acc - n * np.outer(mean, mean @ omega)          # centred X^T X Omega
        core = omega.T @ S
        core = (core + core.T) / 2
        w, V = np.linalg.eigh(core)
        keep = w > w.max() * 1e-10
        half = V[:, keep] / np.sqrt(w[keep])                 # core^{-1/2}
        F = S @ half                                         # Nystrom: X^T X ~ F F^T
        U, s, _ = np.linalg.svd(F, full_matrices=False)
        vals, vecs = s ** 2, U
    order = np.argsort(vals)[::-1][:k]
    comps = vecs[:, order].T
    signs = np.sign(comps[np.arange(len(comps)), np.abs(comps).argmax(axis=1)])
    comps *= signs[:, None]
    return mean, comps, np.sqrt(np.maximum(vals[order], 0.0))


def train(run: TrainingRun) -> None:
    h = run.hps
    mean, comps, sv = principal_axes(h, run.batches("train", h["mini_batch_size"], 0, label_size=0,
                                                    feature_dim=h["feature_dim"]))
    run.log(f"singular values: {np.round(sv, 4).tolist()}")
    run.save({"feature_dim": h["feature_dim"], "num_components": h["num_components"]},
             mean=mean.astype(np.float32), components=comps.astype(np.float32), singular_values=sv)


if __name__ == "__main__":
    main(ALGORITHM, train)
