"""Target tracking as Application Auto Scaling does it, as a pure function of observations.

``desired = ceil(current * metric / target)``, clamped to [min, max]; scale-out waits ``ScaleOutCooldown`` after
the last scale-out, scale-in waits ``ScaleInCooldown`` after any scaling and never happens with
``DisableScaleIn``. Scale-in also needs the metric to be below target by a margin (10%), so an endpoint that
sits near its target does not flap.

Metrics (per variant, measured by the router over the last window):
- ``SageMakerVariantInvocationsPerInstance``: invocations per instance per minute (SageMaker's definition).
- ``SageMakerVariantConcurrentRequestsPerModelHighResolution``: mean in-flight requests per instance — the
  queue-depth/concurrency target Ray Serve users ask for (ray#22601).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

INVOCATIONS = "SageMakerVariantInvocationsPerInstance"
CONCURRENCY = "SageMakerVariantConcurrentRequestsPerModelHighResolution"
SUPPORTED_METRICS = (INVOCATIONS, CONCURRENCY)
SCALE_IN_MARGIN = 0.9


@dataclass
class Observation:
    current: int               # instances now
    metric: float              # the policy's metric value (already per instance)
    now: float
    last_scale_out: float = 0.0
    last_scale_in: float = 0.0


@dataclass
class Decision:
    desired: int
    reason: str


def decide(obs: Observation, target: float, min_cap: int, max_cap: int, scale_out_cooldown: float = 300,
           scale_in_cooldown: float = 300, disable_scale_in: bool = False) -> Decision:
    current = max(1, obs.current)
    if target <= 0:
        return Decision(current, "target value must be positive")
    raw = math.ceil(current * obs.metric / target - 1e-9) if obs.metric > 0 else min_cap
    desired = min(max_cap, max(min_cap, raw))
    if desired > current:
        if obs.now - obs.last_scale_out < scale_out_cooldown:
            return Decision(current, "scale-out cooldown")
        return Decision(desired, f"metric {obs.metric:.2f} above target {target:g}")
    if desired < current:
        if disable_scale_in:
            return Decision(current, "scale-in disabled")
        if obs.metric > target * SCALE_IN_MARGIN * desired / current and raw >= min_cap:
            # only scale in when the smaller fleet would still sit below the target
            desired = max(desired, math.ceil(current * obs.metric / (target * SCALE_IN_MARGIN) - 1e-9))
            if desired >= current:
                return Decision(current, "within target margin")
        if obs.now - max(obs.last_scale_in, obs.last_scale_out) < scale_in_cooldown:
            return Decision(current, "scale-in cooldown")
        return Decision(desired, f"metric {obs.metric:.2f} below target {target:g}")
    if current < min_cap or current > max_cap:
        return Decision(min(max_cap, max(min_cap, current)), "capacity outside registered range")
    return Decision(current, "at target")
