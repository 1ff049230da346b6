"""Standard optimisation test functions, with their AWS-style ranges, for tests, benchmarks and demos.

Branin (2-d, global minimum 0.397887) and Hartmann-6 (6-d on [0, 1]^6, global minimum -3.32237); a
Hartmann-6 with Gaussian noise on every observation (``hartmann6_noisy``, its regret measured on the true
value); a mixed space declared the way SageMaker tuning jobs declare one (log-scaled learning rate and
number of rounds, an integer depth, a categorical booster; ``mixed``, minimum 0); and a *related* Hartmann-6
(shifted by 0.05 in every coordinate, scaled and offset: ``hartmann6_related``) as the child task of a
transfer-learning warm start whose parent tuned ``hartmann6``.
``run_loop`` drives any strategy in-process through the suggest/observe contract, as the controller does,
with ``parallel`` suggestions outstanding at a time.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

BRANIN_MIN = 0.397887
HARTMANN6_MIN = -3.32237

BRANIN_RANGES = {"ContinuousParameterRanges": [
    {"Name": "x1", "MinValue": "-5", "MaxValue": "10", "ScalingType": "Linear"},
    {"Name": "x2", "MinValue": "0", "MaxValue": "15", "ScalingType": "Linear"}]}
HARTMANN6_RANGES = {"ContinuousParameterRanges": [
    {"Name": f"x{i}", "MinValue": "0", "MaxValue": "1", "ScalingType": "Linear"} for i in range(1, 7)]}


def branin(x1: float, x2: float) -> float:
    a, b, c, r, s, t = 1.0, 5.1 / (4 * math.pi ** 2), 5 / math.pi, 6.0, 10.0, 1 / (8 * math.pi)
    return a * (x2 - b * x1 ** 2 + c * x1 - r) ** 2 + s * (1 - t) * math.cos(x1) + s


_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
               [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                      [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(*x: float) -> float:
    xv = np.asarray(x, float)
    return float(-(_ALPHA * np.exp(-(_A * (xv - _P) ** 2).sum(1))).sum())


MIXED_RANGES = {
    "ContinuousParameterRanges": [
        {"Name": "learning_rate", "MinValue": "0.0001", "MaxValue": "1", "ScalingType": "Logarithmic"},
        {"Name": "subsample", "MinValue": "0.5", "MaxValue": "1", "ScalingType": "Linear"}],
    "IntegerParameterRanges": [
        {"Name": "max_depth", "MinValue": "1", "MaxValue": "12", "ScalingType": "Linear"},
        {"Name": "num_round", "MinValue": "10", "MaxValue": "1000", "ScalingType": "Logarithmic"}],
    "CategoricalParameterRanges": [{"Name": "booster", "Values": ["gbtree", "dart", "gblinear"]}]}
_BOOSTER_PENALTY = {"gbtree": 0.0, "dart": 0.05, "gblinear": 0.5}
NOISE_SD = 0.1
RELATED_SHIFT, RELATED_SCALE, RELATED_OFFSET = 0.05, 1.2, 0.3


def mixed(p: dict[str, str]) -> float:
    """A validation-loss-like surface: learning rate and rounds trade off (a lower rate wants more rounds),
    depth has an interior optimum, one booster is clearly worse; 0 at (0.0316, 0.8, 6, 200, gbtree)."""
    u = math.log10(float(p["learning_rate"])) + 1.5
    v = math.log10(float(p["num_round"]) / 200.0)
    return (0.6 * (u + v) ** 2 + 0.15 * (u - v) ** 2 + 0.04 * (int(p["max_depth"]) - 6) ** 2
            + 2.0 * (float(p["subsample"]) - 0.8) ** 2 + _BOOSTER_PENALTY[p["booster"]])


def hartmann6_related(*x: float) -> float:
    return RELATED_SCALE * hartmann6(*(v - RELATED_SHIFT for v in x)) + RELATED_OFFSET


def objective_of(name: str) -> tuple[Callable[[dict[str, str]], float], dict, float]:
    """(true objective of a params dict, AWS ranges, global minimum). Noise is added by the caller
    (``noisy_objective``) so that regret can be measured on the true value."""
    if name == "branin":
        return (lambda p: branin(float(p["x1"]), float(p["x2"]))), BRANIN_RANGES, BRANIN_MIN
    if name == "hartmann6":
        return (lambda p: hartmann6(*(float(p[f"x{i}"]) for i in range(1, 7)))), HARTMANN6_RANGES, HARTMANN6_MIN
    if name == "hartmann6_noisy":
        return objective_of("hartmann6")
    if name == "hartmann6_related":
        return ((lambda p: hartmann6_related(*(float(p[f"x{i}"]) for i in range(1, 7)))), HARTMANN6_RANGES,
                RELATED_SCALE * HARTMANN6_MIN + RELATED_OFFSET)
    if name == "mixed":
        return mixed, MIXED_RANGES, 0.0
    raise KeyError(name)


def noisy_objective(fn: Callable[[dict[str, str]], float], sd: float, seed: int) -> Callable[[dict[str, str]], float]:
    """``fn`` plus Gaussian noise of standard deviation ``sd`` from a stream seeded by ``seed``."""
    rng = np.random.default_rng([seed, 99])
    return lambda p: fn(p) + float(rng.normal(0.0, sd))


def run_loop(strategy, fn: Callable[[dict[str, str]], float], budget: int, parallel: int = 1,
             stop_at: float | None = None) -> list[float]:
    """Run ``budget`` trials; return the objective values in completion order (FIFO completion)."""
    values: list[float] = []
    running: list[tuple[str, dict[str, str]]] = []
    launched = 0
    while len(values) < budget:
        want = min(parallel - len(running), budget - launched)
        for p in strategy.suggest(want) if want > 0 else []:
            tid = f"t{launched}"
            launched += 1
            strategy.observe(tid, p, None, "InProgress")
            running.append((tid, p))
        if not running:
            break
        tid, p = running.pop(0)
        v = fn(p)
        strategy.observe(tid, p, v, "Completed")
        values.append(v)
        if stop_at is not None and v <= stop_at:
            break
    return values
