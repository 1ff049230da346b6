"""Early stopping ``Auto``: the median stopping rule over intermediate objective values.

SageMaker's rule (developer guide, "Stop training jobs early"): after each epoch, take the running average
of the objective of every earlier training job up to that epoch, and stop the current job if its objective
at that epoch is worse than the median of those running averages. Here an "epoch" is the metric point's
step when the job reports steps, else the point's position in the series (the n-th value emitted).
A job is never stopped before ``min_step`` points or while fewer than ``min_peers`` earlier jobs reached
the same step — with too little evidence the rule would kill good jobs at random.
"""

from __future__ import annotations

import statistics
from typing import Sequence

Series = Sequence[tuple[int, float]]  # (step, value) in emission order


def normalise(points: Sequence[tuple[int, float]]) -> list[tuple[int, float]]:
    """Use the reported steps when they increase, else 1, 2, 3, ... by position."""
    steps = [s for s, _ in points]
    if len(set(steps)) == len(steps) and steps == sorted(steps) and steps and max(steps) > 0:
        return [(int(s), float(v)) for s, v in points]
    return [(i + 1, float(v)) for i, (_, v) in enumerate(points)]


def running_average_at(series: Series, step: int) -> float | None:
    values = [v for s, v in series if s <= step]
    if not values or max(s for s, _ in series) < step:
        return None
    return sum(values) / len(values)


def should_stop(current: Series, peers: Sequence[Series], maximize: bool,
                min_peers: int = 3, min_step: int = 2) -> bool:
    current = normalise(current)
    if len(current) < min_step:
        return False
    step, value = current[-1]
    averages = [a for a in (running_average_at(normalise(p), step) for p in peers if p) if a is not None]
    if len(averages) < min_peers:
        return False
    median = statistics.median(averages)
    return value < median if maximize else value > median
