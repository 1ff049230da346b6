"""Hyperband (Li et al., 2018): brackets of successive halving over a resource hyperparameter.

The resource (epochs, num_round, ...) is passed to each training job as an ordinary hyperparameter, as
SageMaker does: a promoted configuration runs again as a new job with ``eta`` times more resource. With
``R = MaxResource / MinResource`` and ``s_max = floor(log_eta R)``, bracket ``s`` (``s_max .. 0``) starts
``ceil((s_max + 1) / (s + 1) * eta**s)`` random configurations at ``MaxResource * eta**-s`` and keeps the
best ``1/eta`` at each rung. Several brackets may run at once: ``suggest`` takes work from the oldest
bracket that has some and opens the next bracket while older ones wait for their rung to finish, so
parallel slots stay busy. After the last bracket a new round starts with fresh configurations.
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import ValidationError
from .random_search import unit_point
from .strategy import Strategy, key_of

RESOURCE_NAMES = ("epochs", "numepochs", "n-epochs", "n_epochs", "num_epochs", "num_round")


class HyperbandStrategy(Strategy):
    name = "Hyperband"

    def __init__(self, ranges, maximize=False, seed=0, **options):
        super().__init__(ranges, maximize=maximize, seed=seed, **options)
        self.resource = options.get("resource_name") or "epochs"
        if self.resource in self.space.names:
            raise ValidationError(
                f"Hyperband sets the resource hyperparameter '{self.resource}' itself; it cannot also be tuned.")
        self.r_min = int(options.get("min_resource") or 1)
        self.r_max = int(options.get("max_resource") or 0)
        if not 1 <= self.r_min < self.r_max:
            raise ValidationError(
                f"Hyperband needs 1 <= MinResource < MaxResource; got MinResource {self.r_min}, "
                f"MaxResource {self.r_max}.")
        self.eta = int(options.get("eta") or 3)
        self.s_max = int(math.floor(math.log(self.r_max / self.r_min) / math.log(self.eta) + 1e-9))
        self.brackets: list[dict[str, Any]] = []

    def _extra_state(self):
        return {"brackets": self.brackets}

    def _restore(self, state):
        super()._restore(state)
        self.brackets = [dict(b) for b in state.get("brackets", [])]

    def _new_bracket(self) -> dict[str, Any]:
        k = len(self.brackets)
        s = self.s_max - (k % (self.s_max + 1))
        n = int(math.ceil((self.s_max + 1) / (s + 1) * self.eta ** s))
        resource = max(self.r_min, int(round(self.r_max * self.eta ** (-s))))
        configs = []
        for i in range(n):
            x = unit_point(self.seed, 1_000_003 * (k + 1) + i, self.space.dim)
            configs.append(self.space.decode(x))
        bracket = {"s": s, "rung": 0, "resource": resource, "queue": configs, "running": [], "results": []}
        self.brackets.append(bracket)
        return bracket

    def _next(self) -> dict[str, str] | None:
        for b in self.brackets:
            if b["queue"]:
                return self._take(b)
        # every open bracket waits for results (or is done): open a new one
        return self._take(self._new_bracket())

    def _take(self, b: dict[str, Any]) -> dict[str, str]:
        cfg = b["queue"].pop(0)
        params = {**cfg, self.resource: str(b["resource"])}
        b["running"].append(key_of(params))
        return params

    def _on_observe(self, trial):
        if trial["status"] in ("InProgress", "Pending", "Stopping"):
            return
        key = key_of({**self.space.canonical(trial["params"]), self.resource: str(trial["params"].get(self.resource))})
        for b in self.brackets:
            if key in b["running"]:
                b["running"].remove(key)
                lv = self.loss(trial)
                cfg = self.space.canonical(trial["params"])
                b["results"].append([cfg, math.inf if lv is None else lv])
                self._maybe_promote(b)
                return

    def _maybe_promote(self, b: dict[str, Any]) -> None:
        if b["queue"] or b["running"] or b["rung"] >= b["s"]:
            return
        keep = len(b["results"]) // self.eta
        if keep < 1:
            b["rung"] = b["s"]  # nothing left to promote: bracket done
            return
        ranked = sorted(b["results"], key=lambda r: r[1])[:keep]
        b["rung"] += 1
        b["resource"] = min(self.r_max, b["resource"] * self.eta) if b["rung"] < b["s"] else self.r_max
        b["queue"] = [cfg for cfg, _ in ranked]
        b["results"] = []

    def static_resource(self) -> str:
        return self.resource
