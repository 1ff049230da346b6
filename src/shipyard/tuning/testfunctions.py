"""Standard optimisation test functions, with their AWS-style ranges, for tests, benchmarks and demos.

Branin (2-d, global minimum 0.397887) and Hartmann-6 (6-d on [0, 1]^6, global minimum -3.32237).
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


def objective_of(name: str) -> tuple[Callable[[dict[str, str]], float], dict, float]:
    if name == "branin":
        return (lambda p: branin(float(p["x1"]), float(p["x2"]))), BRANIN_RANGES, BRANIN_MIN
    if name == "hartmann6":
        return (lambda p: hartmann6(*(float(p[f"x{i}"]) for i in range(1, 7)))), HARTMANN6_RANGES, HARTMANN6_MIN
    raise KeyError(name)


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
