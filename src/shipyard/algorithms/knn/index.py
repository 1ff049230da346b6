"""Reduction, index and search for kNN (see the package docstring for the FAISS mapping)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..kmeans.model import MiniBatchKMeans, random_init, sq_distances


def make_reducer(kind: str | None, D: int, target: int | None, rng: np.random.Generator) -> dict:
    if not kind:
        return {}
    if kind == "sign":
        return {"proj": (rng.choice([-1.0, 1.0], size=(D, target)) / np.sqrt(target)).astype(np.float32)}
    from scipy.linalg import hadamard
    n = 1 << (D - 1).bit_length()
    H = hadamard(n) / np.sqrt(n)
    signs = rng.choice([-1.0, 1.0], size=D)
    cols = rng.choice(n, size=target, replace=False)
    # x -> sqrt(n/target) * (H diag(signs) x_padded)[cols]: one D x target matrix
    proj = (signs[:, None] * H[:D][:, cols]) * np.sqrt(n / target)
    return {"proj": proj.astype(np.float32)}


def reduce(X, reducer: dict) -> np.ndarray:
    Xd = np.asarray(X @ reducer["proj"]) if reducer else (X.toarray() if sp.issparse(X) else np.asarray(X))
    return Xd.astype(np.float32)


def prepare(X: np.ndarray, metric: str) -> np.ndarray:
    if metric == "COSINE":
        return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    return X


def _dist(Q: np.ndarray, P: np.ndarray, metric: str) -> np.ndarray:
    """Smaller is nearer."""
    if metric in ("INNER_PRODUCT", "COSINE"):
        return -(Q @ P.T)
    return sq_distances(Q.astype(np.float64), P.astype(np.float64))


def build_ivf(P: np.ndarray, nlists: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Coarse centroids and each point's list."""
    nlists = max(1, min(nlists, len(P)))
    km = MiniBatchKMeans(random_init(P, nlists, rng))
    for _ in range(10):
        km.partial_fit(P.astype(np.float64))
    assign = sq_distances(P.astype(np.float64), km.C).argmin(axis=1)
    return km.C.astype(np.float32), assign.astype(np.int32)


def search(Q: np.ndarray, P: np.ndarray, k: int, metric: str, centroids=None, assign=None, nprobe: int = 1
           ) -> np.ndarray:
    """Indices [n, k] of the k nearest points of P to each query (exact, or within the probed lists)."""
    k = min(k, len(P))
    if centroids is None:
        out = np.empty((len(Q), k), dtype=np.int64)
        for s in range(0, len(Q), 1024):
            d = _dist(Q[s:s + 1024], P, metric)
            part = np.argpartition(d, k - 1, axis=1)[:, :k]
            order = np.take_along_axis(d, part, axis=1).argsort(axis=1, kind="stable")
            out[s:s + 1024] = np.take_along_axis(part, order, axis=1)
        return out
    probes = np.argsort(sq_distances(Q.astype(np.float64), centroids.astype(np.float64)), axis=1)[:, :nprobe]
    out = np.empty((len(Q), k), dtype=np.int64)
    for i, q in enumerate(Q):
        cand = np.flatnonzero(np.isin(assign, probes[i]))
        if len(cand) < k:  # too few in the probed lists: widen to everything, as FAISS would return fewer
            cand = np.arange(len(P))
        d = _dist(q[None], P[cand], metric)[0]
        top = np.argsort(d, kind="stable")[:k]
        out[i] = cand[top]
    return out


def vote(labels: np.ndarray, classifier: bool) -> np.ndarray:
    """Majority label per row (ties: the smallest label) or the mean for regression."""
    if not classifier:
        return labels.mean(axis=1)
    out = np.empty(len(labels))
    for i, row in enumerate(labels):
        vals, counts = np.unique(row, return_counts=True)
        out[i] = vals[counts.argmax()]
    return out
