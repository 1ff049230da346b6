"""PCA training program: ``python -m shipyard.algorithms.pca.train``."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ...errors import ValidationError
from .. import aws_artifacts
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
    # AWS's format (an NDArray dict mean / v / s), so the model also deploys on SageMaker
    aws_artifacts.write(run.env.model_dir, to_aws(mean, comps, sv))


def to_aws(mean: np.ndarray, comps: np.ndarray, sv: np.ndarray) -> bytes:
    """AWS's PCA artifact: {"mean": 1 x D, "v": D x k, "s": k}, components in ascending singular value."""
    from ...io import ndarray

    order = np.argsort(sv, kind="stable")
    return ndarray.dumps({"mean": np.asarray(mean, np.float32).reshape(1, -1),
                          "v": np.ascontiguousarray(comps[order].T, dtype=np.float32),
                          "s": np.asarray(sv, np.float32)[order]})


def from_aws(data: bytes, meta: dict) -> tuple[dict, dict[str, np.ndarray]]:
    """(meta, arrays) in Shipyard's form (components k x D by descending singular value) from AWS's."""
    from ...io import ndarray

    a = ndarray.loads(data)
    if not isinstance(a, dict) or "v" not in a:
        raise ValueError("expected an NDArray dict with keys 'v', 's' and optionally 'mean'"
                         + (f"; found keys {sorted(a)}" if isinstance(a, dict) else "; found an unnamed list"))
    v = np.asarray(a["v"], np.float64)
    s = np.asarray(a["s"], np.float64).ravel() if a.get("s") is not None else np.ones(min(v.shape))
    mean = a.get("mean")
    if v.ndim != 2:
        raise ValueError(f"'v' has shape {v.shape}; expected feature_dim x num_components")
    D = int(np.asarray(mean).size) if mean is not None else v.shape[0]
    comps = v.T if v.shape[0] == D and v.shape[1] == len(s) else v  # tolerate k x D
    if comps.shape[1] != D or comps.shape[0] != len(s):
        raise ValueError(f"'v' {v.shape}, 's' {s.shape} and 'mean' of {D} values do not fit together")
    order = np.argsort(-s, kind="stable")
    mean_vec = np.zeros(D) if mean is None else np.asarray(mean, np.float64).ravel()
    return ({"feature_dim": D, "num_components": int(len(s)), **meta},
            {"mean": mean_vec.astype(np.float32), "components": comps[order].astype(np.float32),
             "singular_values": s[order]})


if __name__ == "__main__":
    main(ALGORITHM, train)
