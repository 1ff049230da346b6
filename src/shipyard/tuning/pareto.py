"""Two-or-more-objective tuning (a Shipyard extension; AWS tunes one objective).

How a user asks for it without breaking the AWS shapes: a tag on CreateHyperParameterTuningJob,
``{"Key": "shipyard:secondary-objectives", "Value": "Minimize:latency_ms"}`` (several separated by ``,``).
Tags are part of the AWS request shape, so boto3 and the SageMaker SDK send it unchanged, and AWS itself
would just store it. The tuning job then minimises/maximises the primary ``HyperParameterTuningJobObjective``
and the listed metrics together: the Bayesian strategy scalarises them with random Chebyshev weights per
suggestion (ParEGO, Knowles 2006), and the controller keeps the non-dominated training jobs in the job's
document (DescribeHyperParameterTuningJob returns it as the extra key ``ShipyardParetoFront``, which
botocore ignores and a plain HTTP client can read).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

TAG_KEY = "shipyard:secondary-objectives"


def parse_tag(value: str) -> list[tuple[str, str]]:
    """``"Minimize:latency,Maximize:acc"`` -> [("Minimize", "latency"), ("Maximize", "acc")]."""
    from ..errors import ValidationError

    out = []
    for part in (p.strip() for p in value.split(",") if p.strip()):
        kind, _, metric = part.partition(":")
        if kind not in ("Minimize", "Maximize") or not metric:
            raise ValidationError(
                f"Tag {TAG_KEY} must look like 'Minimize:<metric>' or 'Maximize:<metric>' (comma-separated); "
                f"got '{part}'.")
        out.append((kind, metric))
    return out


def _as_losses(points: np.ndarray, directions: Sequence[str] | None) -> np.ndarray:
    signs = np.array([-1.0 if d == "Maximize" else 1.0 for d in (directions or ["Minimize"] * points.shape[1])])
    return points * signs


def chebyshev(vec: Sequence[float], directions: Sequence[str] | None, weights: np.ndarray,
              bounds: tuple[np.ndarray, np.ndarray]) -> float:
    """Augmented Chebyshev scalarisation of one point, each objective normalised to [0, 1] over ``bounds``."""
    v = _as_losses(np.asarray([vec], float), directions)[0]
    lo, hi = _as_losses(np.vstack(bounds), directions)
    lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
    z = (v - lo) / np.where(hi > lo, hi - lo, 1.0)
    return float((weights * z).max() + 0.05 * (weights * z).sum())


def pareto_front(points: Sequence[Sequence[float]], directions: Sequence[str] | None = None) -> list[int]:
    """Indices of the non-dominated points (every objective at least as good, one strictly better)."""
    if not len(points):
        return []
    p = _as_losses(np.asarray(points, float), directions)
    front = []
    for i in range(len(p)):
        dominated = np.any(np.all(p <= p[i], axis=1) & np.any(p < p[i], axis=1))
        if not dominated:
            front.append(i)
    return front
