"""Bayesian optimisation: a Gaussian process with expected improvement (default) or Optuna's TPE.

Why a GP of our own by default: Optuna 5's GPSampler needs torch, which the core may not depend on. We
measured our numpy/scipy GP (:mod:`.gp`) against Optuna's TPESampler(multivariate=True) with the same
suggest/observe loop (bench/bench_tuning.py, median of 5 seeds, jobs until regret <= target, cap 200):
Branin (0.01) GP 56 vs TPE 177 jobs; Hartmann-6 (0.05) GP 62 (4/5 seeds) vs TPE 143 (3/5). At a few
milliseconds to tens of milliseconds per suggestion the GP's cost is negligible next to a training job.
TPE stays available as ``engine="tpe"`` (strategy name ``BayesianTPE``).

Parallel jobs: the GP fits its kernel on finished jobs only, then adds every pending suggestion as a
*kriging believer* (the model's own prediction there, Ginsbourger et al. 2010): the predicted mean stays,
the uncertainty around the pending point collapses, so the next suggestion of a batch goes elsewhere.
Measured on Branin with 4 jobs in parallel (jobs to regret 0.01, 5 seeds, cap 120): kriging believer
reached it on 5/5 seeds (median 65); constant liars max / min / mean on 0/5, 3/5, 2/5 (option ``liar`` keeps
them for comparison). TPE uses Optuna's ``constant_liar``. The first ``n_init`` points come from a scrambled Sobol
sequence.

Multi-objective (Shipyard extension, see :mod:`shipyard.tuning.pareto`), option ``directions`` (one
"Minimize"/"Maximize" per objective, primary first): the GP scalarises the trials' ``values`` with fresh
random Chebyshev weights per suggestion (ParEGO); TPE runs a multi-objective Optuna study.
"""

from __future__ import annotations

import logging
import math
import warnings
from typing import Any

import numpy as np
from scipy.stats import qmc

from .gp import GP, maximize_ei
from .pareto import chebyshev
from .random_search import unit_point
from .strategy import Strategy, key_of


def _one_blas_thread():
    """Small matrices gain nothing from BLAS threads, and spinning threads slow every other process."""
    try:
        from threadpoolctl import threadpool_limits  # installed with scikit-learn

        return threadpool_limits(1, user_api="blas")
    except ImportError:  # pragma: no cover - scikit-learn is a core dependency
        import contextlib

        return contextlib.nullcontext()


class GPStrategy(Strategy):
    name = "Bayesian"

    def __init__(self, ranges, maximize=False, seed=0, **options):
        super().__init__(ranges, maximize=maximize, seed=seed, **options)
        self.theta: list[float] | None = None
        self.n_init = int(options.get("n_init") or min(max(5, self.space.dim + 1), 10))

    def _extra_state(self):
        return {"theta": self.theta}

    def _restore(self, state):
        super()._restore(state)
        self.theta = state.get("theta")

    def _sobol(self, i: int) -> list[float]:
        dim = max(1, self.space.dim)
        pts = qmc.Sobol(dim, scramble=True, seed=self.seed).random(2 ** max(1, math.ceil(math.log2(i + 1))))
        return pts[i].tolist()

    def _losses(self, rng: np.random.Generator) -> tuple[list[list[float]], list[float]]:
        xs, ys = [], []
        weights = None
        for t in self.trials:
            vec = t.get("values")
            if vec is not None and t["status"] not in ("InProgress", "Pending", "Stopping"):
                if weights is None:
                    weights = rng.dirichlet(np.ones(len(vec)))
                ys.append(chebyshev(vec, self.options.get("directions"), weights, self._bounds()))
                xs.append(self.space.encode(t["params"]))
                continue
            lv = self.loss(t)
            if lv is not None:
                xs.append(self.space.encode(t["params"]))
                ys.append(lv)
        return xs, ys

    def _bounds(self):
        vecs = np.array([t["values"] for t in self.trials if t.get("values") is not None], float)
        return vecs.min(0), vecs.max(0)

    def _next(self) -> dict[str, str]:
        dim = self.space.dim
        if dim == 0:
            return {}
        done = [t for t in self.trials if self.loss(t) is not None or t.get("values") is not None]
        if len(done) + len(self.pending()) < self.n_init or len(done) < 2:
            return self.space.decode(self._sobol(self.counter))
        rng = np.random.default_rng([self.seed, self.counter, 7])
        xs, ys = self._losses(rng)
        pending = [self.space.encode(t["params"]) for t in self.pending()]
        with warnings.catch_warnings(), _one_blas_thread():
            warnings.simplefilter("ignore")
            gp = GP(np.array(xs), np.array(ys), self.theta, seed=self.seed + self.counter)
            self.theta = [float(v) for v in gp.theta]
            if pending:
                liar = self.options.get("liar", "kb")
                if liar == "kb":  # kriging believer: pending points "return" the model's own prediction
                    mean, _ = gp.predict(np.array(pending))
                    lies = list(gp.mu + gp.sd * mean)
                else:
                    lies = [{"max": max, "min": min, "mean": np.mean}[liar](ys)] * len(pending)
                gp = GP(np.array(xs + pending), np.array(ys + lies), gp.theta, refit=False)
            x = maximize_ei(gp, dim, rng)
        params = self.space.decode(x)
        seen = {key_of(self.space.canonical(t["params"])) for t in self.trials}
        tries = 0
        while key_of(params) in seen and tries < 20:  # integer/categorical spaces: do not repeat a point
            params = self.space.decode(unit_point(self.seed, self.counter * 31 + tries, dim))
            tries += 1
        return params


class TPEStrategy(Strategy):
    """Optuna's TPESampler(multivariate, group, constant_liar) behind the same contract.

    The Optuna study lives in memory and is rebuilt from ``trials`` on restore (finished trials through
    ``add_trial``, pending ones through ``enqueue_trial`` + ``ask`` so constant liar still sees them).
    """

    name = "BayesianTPE"

    def __init__(self, ranges, maximize=False, seed=0, **options):
        super().__init__(ranges, maximize=maximize, seed=seed, **options)
        self._study = None
        self._numbers: dict[int, int] = {}  # index in self.trials -> optuna trial number

    def _dists(self):
        import optuna

        d: dict[str, Any] = {r.name: optuna.distributions.FloatDistribution(0.0, 1.0) for r in self.space.numeric}
        d.update({c.name: optuna.distributions.CategoricalDistribution(c.values) for c in self.space.categorical})
        return d

    def _to_optuna(self, params: dict[str, str]) -> dict[str, Any]:
        x = self.space.encode(params)
        out: dict[str, Any] = {r.name: x[i] for i, r in enumerate(self.space.numeric)}
        out.update({c.name: params.get(c.name, c.values[0]) for c in self.space.categorical})
        return out

    def study(self):
        if self._study is None:
            import optuna

            optuna.logging.set_verbosity(optuna.logging.WARNING)
            logging.getLogger("optuna").setLevel(logging.WARNING)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                # seeded by (seed, suggestions so far): a study rebuilt after a restart continues with a new
                # random stream instead of replaying the first suggestions
                sampler = optuna.samplers.TPESampler(seed=(self.seed * 1000003 + self.counter) % 2**31,
                                                     multivariate=True, group=True,
                                                     constant_liar=True, n_startup_trials=int(
                                                         self.options.get("n_init") or 10))
            directions = self.options.get("directions")
            if directions:
                self._study = optuna.create_study(sampler=sampler, directions=[d.lower() for d in directions])
            else:
                self._study = optuna.create_study(sampler=sampler)
            for i, t in enumerate(self.trials):
                self._sync(i, t)
        return self._study

    def _sync(self, index: int, trial: dict) -> None:
        import optuna

        study = self._study
        lv = self.loss(trial)
        if self.options.get("directions"):
            lv = trial.get("values") if trial["status"] not in ("InProgress", "Pending", "Stopping") else None
        if index in self._numbers:
            if trial["status"] not in ("InProgress", "Pending", "Stopping"):
                number = self._numbers.pop(index)
                state = optuna.trial.TrialState.COMPLETE if lv is not None else optuna.trial.TrialState.FAIL
                study.tell(number, lv, state=state)
            return
        if trial["status"] in ("InProgress", "Pending", "Stopping"):
            study.enqueue_trial(self._to_optuna(trial["params"]))
            ot = study.ask(self._dists())
            self._numbers[index] = ot.number
        elif lv is not None:
            multi = isinstance(lv, list)
            study.add_trial(optuna.trial.create_trial(params=self._to_optuna(trial["params"]),
                                                      distributions=self._dists(),
                                                      value=None if multi else lv, values=lv if multi else None))

    def _next(self) -> dict[str, str]:
        study = self.study()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ot = study.ask(self._dists())
        x = [ot.params[r.name] for r in self.space.numeric]
        for c in self.space.categorical:
            x.extend(1.0 if ot.params[c.name] == v else 0.0 for v in c.values)
        self._numbers[len(self.trials)] = ot.number  # the base class appends this suggestion next
        return self.space.decode(x)

    def _on_observe(self, trial):
        if self._study is not None:
            self._sync(self.trials.index(trial), trial)
