"""Log expected improvement and its maximisation over the unit cube.

Why log-EI (Ament et al., "Unexpected improvements to expected improvement", 2023): plain EI underflows to
exactly zero far from the incumbent, so most of a random candidate set and every gradient there is flat;
its logarithm stays finite and smooth, which lets multi-start L-BFGS climb from anywhere.

Maximisation: a candidate set of uniform points plus perturbations of the best observed points (at two
scales of their length scales, where the optimum usually is after a few dozen jobs); the best few overall
and the best few uniform ones are polished together by one L-BFGS-B run over all starting points at once
(the objective is a sum of independent terms, so its gradient is exact for each). A ``project`` hook maps
points to what the space can express (rounded integers, one-hot categoricals) before they are compared, so
the winner is a point that can actually run.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
from scipy.optimize import minimize
from scipy.special import erfcx, log_ndtr, ndtr

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_SQRT_PI_2 = math.sqrt(math.pi / 2)

# x (m, d), grad -> (mean, sd[, dmean, dsd]) in standardised units (smaller is better)
Model = Callable[..., tuple]


def log_h(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log(z Phi(z) + phi(z)) and its derivative Phi(z) / h(z), stable for very negative z."""
    z = np.asarray(z, float)
    out = np.empty_like(z)
    big = z > -1.0
    zb = z[big]
    out[big] = np.log(zb * ndtr(zb) + np.exp(-0.5 * zb * zb - _LOG_SQRT_2PI))
    zs = np.maximum(z[~big], -1e6)
    # h(z) = phi(z) (1 + z Phi(z)/phi(z)); Phi/phi = sqrt(pi/2) erfcx(-z/sqrt 2); 1 + z R ~ 1/z^2 far out
    r = _SQRT_PI_2 * erfcx(-zs / math.sqrt(2))
    tail = 1.0 + zs * r
    tail = np.where(tail > 1e-12, tail, 1.0 / (zs * zs))
    out[~big] = -0.5 * zs * zs - _LOG_SQRT_2PI + np.log(tail)
    # derivative: Phi(z) / h(z) = exp(log Phi(z) - log h(z))
    deriv = np.exp(log_ndtr(z) - out)
    return out, deriv


def log_ei(model: Model, xs: np.ndarray, best: float, grad: bool = False):
    """log EI of minimisation below ``best``; with ``grad`` also its gradient (m, d)."""
    if not grad:
        mean, sd = model(xs, False)
        lh, _ = log_h((best - mean) / sd)
        return lh + np.log(sd)
    mean, sd, dmean, dsd = model(xs, True)
    z = (best - mean) / sd
    lh, dlh = log_h(z)
    # d/dx [log h(z) + log sd], z = (best - mean)/sd
    dz = (-dmean - z[:, None] * dsd) / sd[:, None]
    return lh + np.log(sd), dlh[:, None] * dz + dsd / sd[:, None]


def local_candidates(rng: np.random.Generator, centres: np.ndarray, scales: np.ndarray, n_local: int) -> np.ndarray:
    """Gaussian perturbations of ``centres`` at per-dimension ``scales`` (and a tenth of them)."""
    parts = [np.empty((0, centres.shape[1]))]
    for s in (1.0, 0.1):
        reps = np.repeat(centres, n_local, axis=0)
        parts.append(np.clip(reps + rng.normal(0.0, 1.0, reps.shape) * scales * s, 0.0, 1.0))
    return np.vstack(parts)


def maximise(model: Model, best: float, uniform: np.ndarray, local: np.ndarray, n_starts: int = 4,
             maxiter: int = 100, project: Callable[[np.ndarray], np.ndarray] | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """All evaluated points and their log-EI, best first: the candidates and the L-BFGS-B results from the
    ``n_starts`` best of them plus the ``n_starts`` best uniform ones (so that a far basin gets polished
    too, not only the neighbourhood of the incumbent), projected when ``project`` is given."""
    cands = np.vstack([uniform, local])
    if project is not None:
        cands = project(cands)
    acq = log_ei(model, cands, best)
    order = np.argsort(-acq)
    glob = np.argsort(-acq[: len(uniform)])[:n_starts]
    picks = list(dict.fromkeys([int(i) for i in order[:n_starts]] + [int(i) for i in glob]))

    starts = cands[picks]
    m, dim = starts.shape

    def f(flat: np.ndarray) -> tuple[float, np.ndarray]:
        val, g = log_ei(model, flat.reshape(m, dim), best, grad=True)
        return -float(val.sum()), -g.ravel()

    res = minimize(f, starts.ravel(), jac=True, method="L-BFGS-B", bounds=[(0.0, 1.0)] * (m * dim),
                   options={"maxiter": maxiter})
    polished = np.clip(res.x.reshape(m, dim), 0.0, 1.0)
    if project is not None:
        polished = project(polished)
    pacq = log_ei(model, polished, best)
    xs = np.vstack([polished, cands[order]])
    vals = np.r_[pacq, acq[order]]
    keep = np.argsort(-vals, kind="stable")
    return xs[keep], vals[keep]
