"""A small Gaussian process with expected improvement, on numpy/scipy only (no torch).

Why our own: Optuna 5's GPSampler needs torch, which the core may not depend on; measured against
Optuna's multivariate TPE (bench/bench_tuning.py) it needs about a third of the jobs on Branin and
Hartmann-6, so the Bayesian strategy uses it (see :mod:`.bayesian`).

Model: Matern-5/2 kernel with one length scale per dimension (ARD), a signal variance and a small noise
variance, fitted by maximising the log marginal likelihood (L-BFGS-B from the previous fit plus one random
restart, analytic gradients); targets are standardised. Callers run it with one BLAS thread: the
matrices are small, and idle-spinning BLAS threads made it ten times slower on a busy 2-core machine. Acquisition: expected improvement over the best observed value,
maximised over random + local candidates and polished with L-BFGS-B in the unit cube.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import cho_factor, cho_solve, solve_triangular
from scipy.optimize import minimize
from scipy.special import erfc

_LOG_BOUNDS_LS = (math.log(0.01), math.log(10.0))
_LOG_BOUNDS_SIG = (math.log(0.05), math.log(20.0))
_LOG_BOUNDS_NOISE = (math.log(1e-6), math.log(0.5))


def _sqdist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared distances without an (n, m, d) intermediate (one-hot categoricals can make d large)."""
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d2, 0.0)


def matern52(a: np.ndarray, b: np.ndarray, ls: np.ndarray, sig: float) -> np.ndarray:
    s5 = np.sqrt(5.0 * _sqdist(a / ls, b / ls))
    return sig * (1.0 + s5 + s5 * s5 / 3.0) * np.exp(-s5)


class GP:
    def __init__(self, x: np.ndarray, y: np.ndarray, theta: np.ndarray | None = None, seed: int = 0,
                 refit: bool = True):
        self.x = np.asarray(x, float)
        y = np.asarray(y, float)
        self.mu, self.sd = float(y.mean()), float(y.std()) or 1.0
        self.y = (y - self.mu) / self.sd
        d = self.x.shape[1]
        self.rng = np.random.default_rng(seed)
        default = np.r_[np.full(d, math.log(0.3)), 0.0, math.log(1e-3)]
        known = theta is not None and len(theta) == d + 2
        start = np.asarray(theta, float) if known else default
        # refitting the kernel is the expensive part; callers may reuse the previous fit between refits
        self.theta = self._fit(start) if refit or not known else start
        self._factor()

    def _nll(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Negative log marginal likelihood (plus a weak length-scale prior) and its analytic gradient."""
        d = self.x.shape[1]
        ls, sig, noise = np.exp(theta[:d]), math.exp(theta[d]), math.exp(theta[d + 1])
        xs = self.x / ls
        s5 = np.sqrt(5.0 * _sqdist(xs, xs))
        e = np.exp(-s5)
        k0 = sig * (1.0 + s5 + s5 * s5 / 3.0) * e
        k = k0 + (noise + 1e-8) * np.eye(len(self.x))
        try:
            c, low = cho_factor(k, lower=True)
        except np.linalg.LinAlgError:
            return 1e10, np.zeros_like(theta)
        alpha = cho_solve((c, low), self.y)
        prior = (theta[:d] - math.log(0.3)) / 1.5
        nll = 0.5 * self.y @ alpha + np.log(np.diag(c)).sum() + 0.5 * (prior ** 2).sum()
        w = cho_solve((c, low), np.eye(len(self.x))) - np.outer(alpha, alpha)
        # dK/dlog(ls_k) = base * (x_ik - x_jk)^2 / ls_k^2; summed against w without an (n, n, d) array
        m = w * (sig * (1.0 + s5) * e * (5.0 / 3.0))
        grad = np.empty_like(theta)
        grad[:d] = (m.sum(1) @ (xs * xs) - ((m @ xs) * xs).sum(0)) + prior / 1.5
        grad[d] = 0.5 * (w * k0).sum()
        grad[d + 1] = 0.5 * noise * np.trace(w)
        return float(nll), grad

    def _fit(self, start: np.ndarray) -> np.ndarray:
        d = self.x.shape[1]
        bounds = [_LOG_BOUNDS_LS] * d + [_LOG_BOUNDS_SIG, _LOG_BOUNDS_NOISE]
        starts = [np.clip(start, [b[0] for b in bounds], [b[1] for b in bounds])]
        starts.append(np.array([self.rng.uniform(*b) for b in bounds]))
        best, best_val = starts[0], self._nll(starts[0])[0]
        for s in starts:
            res = minimize(self._nll, s, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": 100})
            if res.fun < best_val:
                best, best_val = res.x, res.fun
        return best

    def _factor(self) -> None:
        d = self.x.shape[1]
        self.ls, self.sig = np.exp(self.theta[:d]), math.exp(self.theta[d])
        noise = math.exp(self.theta[d + 1])
        k = matern52(self.x, self.x, self.ls, self.sig) + (noise + 1e-8) * np.eye(len(self.x))
        self.chol = np.linalg.cholesky(k)
        self.alpha = cho_solve((self.chol, True), self.y)

    def predict(self, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation in standardised units."""
        ks = matern52(np.atleast_2d(xs), self.x, self.ls, self.sig)
        mean = ks @ self.alpha
        v = solve_triangular(self.chol, ks.T, lower=True)
        var = np.maximum(self.sig - (v * v).sum(0), 1e-12)
        return mean, np.sqrt(var)

    def expected_improvement(self, xs: np.ndarray, best: float, xi: float = 0.01) -> np.ndarray:
        mean, sd = self.predict(xs)
        z = (best - xi - mean) / sd
        pdf = np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        cdf = 0.5 * erfc(-z / math.sqrt(2))
        return sd * (z * cdf + pdf)


def maximize_ei(gp: GP, dim: int, rng: np.random.Generator, n_random: int = 2000, n_polish: int = 3) -> np.ndarray:
    """The candidate with the highest EI: random points, jitter around the best observed points, then L-BFGS-B."""
    best = float(gp.y.min())
    order = np.argsort(gp.y)[:5]
    local = np.clip(np.repeat(gp.x[order], 100, axis=0) + rng.normal(0, 0.05, (len(order) * 100, dim)), 0, 1)
    cands = np.vstack([rng.random((n_random, dim)), local])
    ei = gp.expected_improvement(cands, best)
    top = cands[np.argsort(-ei)[:n_polish]]
    best_x, best_ei = top[0], -np.inf
    for x0 in top:
        res = minimize(lambda x: -float(gp.expected_improvement(x[None, :], best)[0]), x0, method="L-BFGS-B",
                       bounds=[(0.0, 1.0)] * dim, options={"maxiter": 30})
        if -res.fun > best_ei:
            best_x, best_ei = res.x, -res.fun
    return np.clip(best_x, 0, 1)
