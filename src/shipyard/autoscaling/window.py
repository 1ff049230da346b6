"""A sliding window of cumulative router readings for one variant, turned into target-tracking metrics.

The router keeps cumulative counters (invocations, busy request-seconds); the autoscaling controller adds a
:class:`Reading` every tick. Over the window, with ``instance_seconds`` = the integral of the running
instance count (so a fleet that grew mid-window is neither over- nor under-counted):

- ``SageMakerVariantInvocationsPerInstance`` = invocations / instance_seconds * 60 (per instance per minute,
  SageMaker's definition);
- ``SageMakerVariantConcurrentRequestsPerModelHighResolution`` = busy request-seconds / instance_seconds
  (the mean number of requests in flight per instance);
- ``Invocations`` = invocations per minute for the whole variant.

Counters that go backwards (the server restarted, the endpoint was re-created) restart the window.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

from .policy import CONCURRENCY, INVOCATIONS


@dataclass(frozen=True)
class Reading:
    t: float            # monotonic seconds
    invocations: int    # cumulative
    busy: float         # cumulative in-flight request-seconds
    instances: int      # running instances at this moment


class MetricWindow:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self.readings: collections.deque[Reading] = collections.deque()

    def add(self, r: Reading) -> None:
        q = self.readings
        if q and (r.invocations < q[-1].invocations or r.busy < q[-1].busy - 1e-9):
            q.clear()
        q.append(r)
        # keep one reading at or before the window's start, so the window is covered whole
        while len(q) >= 2 and q[1].t <= r.t - self.seconds:
            q.popleft()

    def span(self) -> float:
        q = self.readings
        return q[-1].t - q[0].t if len(q) >= 2 else 0.0

    def _instance_seconds(self) -> float:
        q = self.readings
        return sum((b.t - a.t) * a.instances for a, b in zip(q, list(q)[1:]))

    def value(self, metric: str) -> float | None:
        """The metric over the window, or None when there is too little data (or no instance ran)."""
        if metric not in (INVOCATIONS, CONCURRENCY, "Invocations"):
            raise ValueError(f"unsupported metric {metric!r}")
        q = self.readings
        if len(q) < 2 or self.span() <= 0:
            return None
        first, last = q[0], q[-1]
        if metric == "Invocations":
            return (last.invocations - first.invocations) / self.span() * 60.0
        inst = self._instance_seconds()
        if inst <= 0:
            return None
        if metric == INVOCATIONS:
            return (last.invocations - first.invocations) / inst * 60.0
        return (last.busy - first.busy) / inst  # CONCURRENCY
