"""The numeric core of k-means: distances, k-means++ seeding, mini-batch updates, weighted Lloyd's."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def sq_distances(X, C: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances [n, k] between rows of X (dense or CSR) and centers C."""
    if sp.issparse(X):
        xx = np.asarray(X.multiply(X).sum(axis=1)).ravel()
    else:
        xx = np.einsum("ij,ij->i", X, X)
    d = xx[:, None] - 2.0 * np.asarray(X @ C.T) + np.einsum("ij,ij->i", C, C)[None, :]
    return np.maximum(d, 0.0)


def kmeans_pp(X, k: int, rng: np.random.Generator, weights: np.ndarray | None = None) -> np.ndarray:
    """k-means++ seeding (weighted): each next center drawn with probability ~ weight * D(x)^2."""
    n = X.shape[0]
    w = np.ones(n) if weights is None else weights.astype(np.float64)
    dense = lambda i: np.asarray(X[i].toarray()).ravel() if sp.issparse(X) else X[i]  # noqa: E731
    first = rng.choice(n, p=w / w.sum())
    centers = [dense(first)]
    d2 = sq_distances(X, np.asarray(centers))[:, 0]
    for _ in range(1, k):
        p = w * d2
        total = p.sum()
        idx = rng.choice(n, p=p / total) if total > 0 else rng.choice(n)
        centers.append(dense(idx))
        d2 = np.minimum(d2, sq_distances(X, centers[-1][None, :])[:, 0])
    return np.asarray(centers, dtype=np.float64)


def random_init(X, k: int, rng: np.random.Generator) -> np.ndarray:
    idx = rng.choice(X.shape[0], size=k, replace=X.shape[0] < k)
    rows = X[idx]
    return np.asarray(rows.toarray() if sp.issparse(rows) else rows, dtype=np.float64)


class MiniBatchKMeans:
    """Sculley's mini-batch k-means: each center moves toward its batch mean with step n_c / count_c."""

    def __init__(self, centers: np.ndarray, half_life: int = 0):
        self.C = centers.astype(np.float64)
        self.counts = np.zeros(len(centers))
        self.decay = 0.5 ** (1.0 / half_life) if half_life > 0 else 1.0

    def partial_fit(self, X) -> float:
        d = sq_distances(X, self.C)
        a = d.argmin(axis=1)
        k = len(self.C)
        A = sp.csr_matrix((np.ones(len(a)), (a, np.arange(len(a)))), shape=(k, len(a)))
        sums = A @ X
        sums = sums.toarray() if sp.issparse(sums) else np.asarray(sums)
        n = np.bincount(a, minlength=k).astype(np.float64)
        self.counts = self.counts * (self.decay ** len(a)) + n
        hit = n > 0
        eta = n[hit] / self.counts[hit]
        self.C[hit] += eta[:, None] * (sums[hit] / n[hit, None] - self.C[hit])
        return float(d[np.arange(len(a)), a].sum())


def weighted_lloyd(P: np.ndarray, w: np.ndarray, k: int, init: str, max_iter: int, tol: float,
                   trials: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Reduce weighted points P to k centers; best of ``trials`` runs by weighted SSE."""
    keep = w > 0
    P, w = P[keep], w[keep]
    if len(P) <= k:
        C = np.vstack([P, np.repeat(P[:1], k - len(P), axis=0)]) if len(P) else np.zeros((k, P.shape[1]))
        return C, 0.0
    best, best_cost = None, np.inf
    for _ in range(trials):
        C = kmeans_pp(P, k, rng, w) if init == "kmeans++" else P[rng.choice(len(P), k, replace=False, p=w / w.sum())]
        prev = np.inf
        for _ in range(max_iter):
            d = sq_distances(P, C)
            a = d.argmin(axis=1)
            cost = float((w * d[np.arange(len(P)), a]).sum())
            for c in range(k):
                m = a == c
                if m.any():
                    C[c] = np.average(P[m], axis=0, weights=w[m])
            if prev - cost <= tol * max(prev, 1e-12):
                break
            prev = cost
        d = sq_distances(P, C)
        cost = float((w * d.min(axis=1)).sum())
        if cost < best_cost:
            best, best_cost = C.copy(), cost
    return best, best_cost


# ------------------------------------------------------------------ AWS's model_algo-1
def to_aws(centers: np.ndarray) -> bytes:
    """AWS's k-means artifact: an NDArray list holding the k x feature_dim centroids (float32)."""
    from ...io import ndarray

    return ndarray.dumps([np.asarray(centers, dtype=np.float32)])


def from_aws(data: bytes, meta: dict) -> tuple[dict, dict[str, np.ndarray]]:
    from ...io import ndarray

    arrays = ndarray.loads(data)
    values = list(arrays.values()) if isinstance(arrays, dict) else arrays
    if len(values) != 1 or values[0] is None or values[0].ndim != 2:
        shapes = [None if v is None else v.shape for v in values]
        raise ValueError(f"expected one k x feature_dim array of centroids, found arrays of shapes {shapes}")
    centers = values[0].astype(np.float32)
    return {"k": int(centers.shape[0]), "feature_dim": int(centers.shape[1]), **meta}, {"centers": centers}
