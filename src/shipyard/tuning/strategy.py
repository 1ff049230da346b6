"""The strategy contract: small suggest/observe objects whose whole state is a JSON document.

A tuning job's controller asks ``suggest(n)`` for up to ``n`` hyperparameter sets (strings, tuned names
only), launches a training job per set, tells ``observe(trial_id, params, None, "InProgress")`` once the job
has a name, and ``observe(trial_id, params, value, status)`` when it ends (``value`` None for a job that
failed or emitted no objective). After every observation it stores ``state()`` in the tuning job's
document; after a restart, ``strategy_from_state(doc)`` rebuilds the same object and the run continues
(the idea of Ray Tune's Searcher.save/restore; Optuna's samplers likewise rebuild from the trial history).

Strategies always *minimise* internally; ``maximize=True`` flips the sign of observed values.
A suggestion that has not been observed yet is *pending*; Bayesian strategies account for pending points
(constant liar) so that parallel jobs do not all go to the same place. Warm starts are plain
``observe`` calls for the parents' jobs before the first suggestion.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..errors import ValidationError
from .space import SearchSpace

FINISHED_OK = "Completed"
RUNNING = ("InProgress", "Pending", "Stopping")


def key_of(params: dict[str, str]) -> str:
    return json.dumps(params, sort_keys=True)


class Strategy:
    """Base class: keeps the trial history (``trials``) and pending suggestions; subclasses pick points."""

    name = ""

    def __init__(self, ranges: dict | None, maximize: bool = False, seed: int = 0, **options: Any):
        self.ranges = ranges or {}
        self.space = SearchSpace.from_aws(self.ranges, strategy=self.name or "Bayesian")
        self.maximize = bool(maximize)
        self.seed = int(seed) & 0x7FFFFFFF
        self.options = options
        self.counter = 0                       # suggestions made so far (drives reproducible randomness)
        self.trials: list[dict[str, Any]] = []  # {id, params, value, status}; value as observed (not negated)

    # --- the contract ---
    def suggest(self, n: int) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        for _ in range(max(0, n)):
            params = self._next()
            if params is None:
                break
            self.counter += 1
            self.trials.append({"id": None, "params": params, "value": None, "status": "Pending"})
            out.append(params)
        return out

    def observe(self, trial_id: str | None, params: dict[str, str], value: float | None, status: str,
                values: list[float] | None = None) -> None:
        """Record what happened to a trial. Unknown ``trial_id`` and no matching pending suggestion = an
        outside observation (a warm-start parent's job), added to the history. ``values`` (the
        multi-objective extension) is the full vector of objectives, primary first."""
        if value is not None and not math.isfinite(float(value)):
            value = None
        trial = self._find(trial_id, params)
        if trial is None:
            trial = {"id": trial_id, "params": dict(params), "value": None, "status": "Pending"}
            self.trials.append(trial)
        trial["id"] = trial_id if trial_id is not None else trial["id"]
        trial["status"] = status
        trial["value"] = None if value is None else float(value)
        if values is not None:
            trial["values"] = [float(v) for v in values] if all(
                v is not None and math.isfinite(float(v)) for v in values) else None
        self._on_observe(trial)

    def state(self) -> dict[str, Any]:
        return {"strategy": self.name, "ranges": self.ranges, "maximize": self.maximize, "seed": self.seed,
                "options": self.options, "counter": self.counter, "trials": self.trials, **self._extra_state()}

    @property
    def exhausted(self) -> bool:
        """True when the strategy has nothing more to suggest (Grid ran out of points)."""
        return False

    # --- helpers for subclasses ---
    def _next(self) -> dict[str, str] | None:
        raise NotImplementedError

    def _on_observe(self, trial: dict[str, Any]) -> None:
        """Hook after a trial's record changed."""

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _restore(self, state: dict[str, Any]) -> None:
        self.counter = int(state.get("counter", 0))
        self.trials = [dict(t) for t in state.get("trials", [])]

    def _find(self, trial_id: str | None, params: dict[str, str]) -> dict | None:
        if trial_id is not None:
            for t in self.trials:
                if t["id"] == trial_id:
                    return t
        key = key_of(self.space.canonical(params)) if self.space.names else key_of({})
        for t in self.trials:
            if t["id"] is None and t["status"] == "Pending" and key_of(self.space.canonical(t["params"])) == key:
                return t
        return None

    def loss(self, trial: dict[str, Any]) -> float | None:
        """The minimised value of a finished trial with an objective, else None."""
        if trial["value"] is None or trial["status"] in RUNNING:
            return None
        return -trial["value"] if self.maximize else trial["value"]

    def pending(self) -> list[dict[str, Any]]:
        return [t for t in self.trials if t["status"] in RUNNING]

    def finished(self) -> list[tuple[dict[str, str], float]]:
        out = []
        for t in self.trials:
            lv = self.loss(t)
            if lv is not None:
                out.append((t["params"], lv))
        return out

    def best(self) -> dict[str, Any] | None:
        done = [t for t in self.trials if self.loss(t) is not None]
        return min(done, key=self.loss) if done else None


def make_strategy(name: str, ranges: dict | None, maximize: bool = False, seed: int = 0, **options: Any) -> Strategy:
    from .grid import GridStrategy
    from .hyperband import HyperbandStrategy
    from .random_search import RandomStrategy
    from .bayesian import GPStrategy, TPEStrategy

    if name == "Bayesian" and options.get("engine") == "tpe":
        name = "BayesianTPE"
    classes = {c.name: c for c in (RandomStrategy, GridStrategy, GPStrategy, HyperbandStrategy, TPEStrategy)}
    if name not in classes:
        raise ValidationError(f"Strategy '{name}' is not one of Bayesian, Random, Hyperband, Grid.")
    return classes[name](ranges, maximize=maximize, seed=seed, **options)


def strategy_from_state(state: dict[str, Any]) -> Strategy:
    s = make_strategy(state["strategy"], state.get("ranges"), maximize=state.get("maximize", False),
                      seed=state.get("seed", 0), **state.get("options", {}))
    s._restore(state)
    return s
