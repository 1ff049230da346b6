"""Random cut trees as flat arrays, built from samples and scored for many points at once."""

from __future__ import annotations

import numpy as np


class Tree:
    """Nodes in arrays: cut dim/value, children (-1 at leaves), subtree size, bounding box."""

    def __init__(self, P: np.ndarray, rng: np.random.Generator):
        self.dim, self.val, self.left, self.right, self.size, self.lo, self.hi = [], [], [], [], [], [], []
        self._build(P, rng)
        self.dim, self.left, self.right = (np.asarray(a, np.int64) for a in (self.dim, self.left, self.right))
        self.val, self.size = np.asarray(self.val), np.asarray(self.size, np.float64)
        self.lo, self.hi = np.asarray(self.lo), np.asarray(self.hi)

    def _node(self, P):
        self.dim.append(-1)
        self.val.append(0.0)
        self.left.append(-1)
        self.right.append(-1)
        self.size.append(len(P))
        self.lo.append(P.min(axis=0))
        self.hi.append(P.max(axis=0))
        return len(self.dim) - 1

    def _build(self, P, rng):
        stack = [(P, None, None)]
        while stack:
            pts, parent, side = stack.pop()
            i = self._node(pts)
            if parent is not None:
                (self.left if side == 0 else self.right)[parent] = i
            span = self.hi[i] - self.lo[i]
            total = span.sum()
            if len(pts) <= 1 or total <= 0:
                continue  # a leaf (one point, or identical points)
            d = rng.choice(len(span), p=span / total)
            cut = rng.uniform(self.lo[i][d], self.hi[i][d])
            mask = pts[:, d] <= cut
            if mask.all() or not mask.any():  # cut at the max: put it just under
                cut = np.nextafter(self.hi[i][d], -np.inf)
                mask = pts[:, d] <= cut
            self.dim[i], self.val[i] = int(d), float(cut)
            stack.append((pts[~mask], i, 1))
            stack.append((pts[mask], i, 0))

    def codisp(self, X: np.ndarray) -> np.ndarray:
        """Expected displacement of inserting each row of X, walking all rows down together."""
        n = len(X)
        node = np.zeros(n, dtype=np.int64)
        alive = np.ones(n)
        score = np.zeros(n)
        active = np.arange(n)
        while active.size:
            nd = node[active]
            x = X[active]
            lo, hi = self.lo[nd], self.hi[nd]
            span = (hi - lo).sum(axis=1)
            grown = (np.maximum(hi, x) - np.minimum(lo, x)).sum(axis=1)
            p_sep = np.where(grown > 0, (grown - span) / np.maximum(grown, 1e-300), 0.0)
            score[active] += alive[active] * p_sep * self.size[nd]
            alive[active] *= 1.0 - p_sep
            leaf = self.dim[nd] < 0
            # reaching a leaf unseparated: the point joins it and displaces the leaf's points
            score[active[leaf]] += alive[active[leaf]] * self.size[nd[leaf]]
            go = active[~leaf]
            ndg = nd[~leaf]
            right = X[go, self.dim[ndg]] > self.val[ndg]
            node[go] = np.where(right, self.right[ndg], self.left[ndg])
            active = go
        return score


def forest_scores(trees: list[Tree], X: np.ndarray, sample_size: int) -> np.ndarray:
    """Mean CoDisp over trees, divided by log2 of the sample size so scores sit near 1 for normal points."""
    s = np.mean([t.codisp(X) for t in trees], axis=0)
    return s / max(np.log2(max(sample_size, 2)), 1.0)


def to_arrays(trees: list[Tree]) -> dict[str, np.ndarray]:
    """Concatenate trees into flat arrays (offsets index them) for the model file."""
    offs = np.cumsum([0] + [len(t.dim) for t in trees])
    out = {"offsets": offs}
    for name in ("dim", "val", "size", "lo", "hi"):
        out[name] = np.concatenate([getattr(t, name) for t in trees])
    for name in ("left", "right"):
        out[name] = np.concatenate([np.where(getattr(t, name) >= 0, getattr(t, name), -1) for t in trees])
    return out


def from_arrays(a: dict[str, np.ndarray]) -> list[Tree]:
    trees = []
    offs = a["offsets"]
    for s, e in zip(offs[:-1], offs[1:]):
        t = Tree.__new__(Tree)
        for name in ("dim", "val", "size", "lo", "hi", "left", "right"):
            setattr(t, name, a[name][s:e])
        trees.append(t)
    return trees
