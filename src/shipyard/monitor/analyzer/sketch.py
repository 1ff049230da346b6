"""The KLL quantile sketch of a numeric feature, as ``statistics.json`` carries it, and the distance between two.

AWS's analyzer summarises each numeric feature with a KLL sketch (Apache DataSketches) and writes its
compactor levels as ``sketch.data``: level *i* holds items that each stand for ``2**i`` values. Building the
sketch uses the real library (``datasketches``' ``kll_doubles_sketch``); reading one back (ours or one AWS
wrote) needs only those levels, so a baseline from either side compares with a current sketch from either.

The drift distance is AWS's: the largest absolute difference between the two cumulative distributions
(the Kolmogorov-Smirnov statistic of the two sketches), evaluated at every item either sketch retains.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# AWS's statistics.json reports these parameters for its sketches (k = 2048; c = 0.64, the compaction ratio
# of the KLL paper). DataSketches' KLL has a fixed ratio; k is the one parameter it takes.
SKETCH_K = 2048
SKETCH_C = 0.64
BUCKETS = 10  # AWS: "By default, the distribution is materialized in 10 buckets. You can't change this."


@dataclass(frozen=True)
class WeightedSample:
    """A sketch's retained items with their weights, sorted by item: enough for its CDF."""

    items: np.ndarray
    weights: np.ndarray

    @property
    def total(self) -> float:
        return float(self.weights.sum())

    def cdf(self, points: np.ndarray) -> np.ndarray:
        """P(X <= p) for each point (the inclusive rank, normalised)."""
        if self.total <= 0:
            return np.zeros(len(points))
        cumulative = np.cumsum(self.weights)
        index = np.searchsorted(self.items, points, side="right")
        out = np.where(index > 0, cumulative[np.maximum(index - 1, 0)], 0.0)
        return out / self.total


def build(values: np.ndarray):
    """A ``kll_doubles_sketch`` of ``values`` (finite float64, no missing)."""
    from datasketches import kll_doubles_sketch

    sketch = kll_doubles_sketch(SKETCH_K)
    if len(values):
        array = np.ascontiguousarray(values, dtype=np.float64)
        sketch.update(array if array.flags.writeable else array.copy())  # the binding takes writable arrays
    return sketch


def levels(sketch) -> list[list[float]]:
    """The sketch's items grouped by weight, level i = weight 2**i (``sketch.data`` in statistics.json)."""
    by_level: dict[int, list[float]] = {}
    for item, weight in sketch:
        by_level.setdefault(int(weight).bit_length() - 1, []).append(float(item))
    top = max(by_level) if by_level else -1
    return [by_level.get(i, []) for i in range(top + 1)]


def buckets(sketch, low: float, high: float, count: int) -> list[dict]:
    """10 equal-width buckets between min and max, counts from the sketch's CDF (AWS's ``kll.buckets``)."""
    if count == 0:
        return []
    if high <= low:
        return [{"lower_bound": low, "upper_bound": high, "count": float(count)}]
    edges = np.linspace(low, high, BUCKETS + 1)
    inner = [float(e) for e in edges[1:-1]]
    ranks = np.asarray(sketch.get_cdf(inner, True))[:-1]  # P(X <= edge) at each inner edge
    cumulative = np.concatenate([[0.0], ranks, [1.0]]) * count
    counts = np.diff(cumulative)
    return [{"lower_bound": float(edges[i]), "upper_bound": float(edges[i + 1]), "count": float(round(counts[i]))}
            for i in range(BUCKETS)]


def document(sketch) -> dict:
    """The ``sketch`` member of ``distribution.kll``."""
    return {"parameters": {"c": SKETCH_C, "k": float(SKETCH_K)}, "data": levels(sketch)}


def sample_of(kll: dict | None) -> WeightedSample | None:
    """The weighted sample a ``distribution.kll`` member describes (its sketch levels; failing those, its
    buckets, each bucket's count at its midpoint), or None when it has neither."""
    if not kll:
        return None
    data = ((kll.get("sketch") or {}).get("data")) or []
    items: list[float] = []
    weights: list[float] = []
    for level, values in enumerate(data):
        for v in values or []:
            items.append(float(v))
            weights.append(float(2 ** level))
    if not items:
        for b in kll.get("buckets") or []:
            if b.get("count"):
                items.append((float(b["lower_bound"]) + float(b["upper_bound"])) / 2)
                weights.append(float(b["count"]))
    if not items:
        return None
    order = np.argsort(np.asarray(items), kind="stable")
    return WeightedSample(np.asarray(items)[order], np.asarray(weights)[order])


def distance(a: WeightedSample, b: WeightedSample) -> float:
    """The largest absolute CDF difference between two samples (0 for identical, 1 for disjoint)."""
    points = np.union1d(a.items, b.items)
    if not len(points):
        return 0.0
    return float(np.max(np.abs(a.cdf(points) - b.cdf(points))))


def significant(dist: float, n: float, m: float) -> bool:
    """Whether a KS distance between samples of sizes n and m is beyond chance at the 99% level: what the
    ``Robust`` comparison adds to ``Simple`` (a small current window's noise is not drift)."""
    if n <= 0 or m <= 0:
        return False
    return dist > 1.628 * float(np.sqrt((n + m) / (n * m)))
