"""Hyperparameter tuning, pure: search spaces, strategies, early stopping, completion criteria.

Nothing here does I/O; the tuning controller (:mod:`shipyard.controllers.tuning`) drives these objects
and stores their JSON state in the tuning job's document.

- :mod:`.space`: SageMaker ParameterRanges <-> the unit cube, with validation.
- :mod:`.strategy`: the suggest/observe/state contract, ``make_strategy``, ``strategy_from_state``.
- :mod:`.random_search`, :mod:`.grid`, :mod:`.bayesian` (GP-EI default, Optuna TPE), :mod:`.hyperband`;
  the GP's numerics in :mod:`.gp` (Matérn-5/2 ARD, maximum likelihood) and :mod:`.acquisition` (log-EI and
  its optimisation).
- :mod:`.early_stopping` (median rule), :mod:`.completion` (TuningJobCompletionCriteria),
  :mod:`.pareto` (the multi-objective Shipyard extension), :mod:`.testfunctions` (Branin, Hartmann-6, noisy,
  mixed-space and related variants).
"""

from .space import SearchSpace
from .strategy import Strategy, make_strategy, strategy_from_state

__all__ = ["SearchSpace", "Strategy", "make_strategy", "strategy_from_state"]
