"""TuningJobCompletionCriteria: when a tuning job may finish before MaxNumberOfTrainingJobs.

* ``TargetObjectiveMetricValue``: the best objective reached the target (>= when maximising, <= when
  minimising).
* ``BestObjectiveNotImproving.MaxNumberOfTrainingJobsNotImproving`` (N >= 3): the last N training jobs
  with an objective did not beat the best value seen before them.
* ``ConvergenceDetected.CompleteOnConvergence = Enabled``: AWS does not publish its test; ours says the
  search converged when, after at least 10 jobs with an objective, the best value improved by less than
  0.1% of the observed objective range over the last ``max(10, n / 4)`` such jobs.

Objective values are given in completion order, already *minimised* (callers negate maximised ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..errors import ValidationError


@dataclass
class CompletionCriteria:
    target: float | None = None          # in minimised units
    not_improving: int | None = None
    convergence: bool = False

    @classmethod
    def from_aws(cls, spec: dict | None, maximize: bool) -> "CompletionCriteria":
        spec = spec or {}
        target = spec.get("TargetObjectiveMetricValue")
        n = (spec.get("BestObjectiveNotImproving") or {}).get("MaxNumberOfTrainingJobsNotImproving")
        if n is not None and int(n) < 3:
            raise ValidationError(
                f"BestObjectiveNotImproving.MaxNumberOfTrainingJobsNotImproving must be at least 3; got {n}.")
        conv = (spec.get("ConvergenceDetected") or {}).get("CompleteOnConvergence") == "Enabled"
        return cls(target=None if target is None else (-float(target) if maximize else float(target)),
                   not_improving=None if n is None else int(n), convergence=conv)

    def jobs_not_improving(self, losses: Sequence[float]) -> int:
        """How many jobs since the best one (SageMaker's NumberOfTrainingJobsObjectiveNotImproving)."""
        if not losses:
            return 0
        best_at = min(range(len(losses)), key=lambda i: (losses[i], i))
        return len(losses) - 1 - best_at

    def converged(self, losses: Sequence[float]) -> bool:
        n = len(losses)
        if n < 10:
            return False
        window = max(10, n // 4)
        before = min(losses[: n - window]) if n > window else losses[0]
        spread = max(losses) - min(losses)
        return spread <= 0 or before - min(losses) < 1e-3 * spread

    def check(self, losses: Sequence[float]) -> str | None:
        """The reason to complete now, or None."""
        if not losses:
            return None
        if self.target is not None and min(losses) <= self.target:
            return "TargetObjectiveMetricValue reached"
        if self.not_improving is not None and self.jobs_not_improving(losses) >= self.not_improving:
            return f"Best objective did not improve for {self.not_improving} training jobs"
        if self.convergence and self.converged(losses):
            return "ConvergenceDetected"
        return None
