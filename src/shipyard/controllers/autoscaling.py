"""The autoscaling controller: applies target-tracking policies to endpoint variants' instance counts.

Every tick, for each registered scalable target (``endpoint/<ep>/variant/<v>``), it reads the router's
cumulative counters for the variant (same process: ``services.router``) into a sliding window
(:mod:`shipyard.autoscaling.window`; ``SHIPYARD_AUTOSCALING_WINDOW`` seconds, 60 by default, as SageMaker's
one-minute metrics), evaluates each TargetTrackingScaling policy with
:func:`shipyard.autoscaling.policy.decide` and, when the desired count differs from the variant's current
one, applies it through UpdateEndpointWeightsAndCapacities (the same operation a user's request calls,
:func:`shipyard.resources.endpoint.update_weights_and_capacities`; the hosting controller then starts or
stops model servers) and records a scaling activity (:mod:`shipyard.resources.scaling_policy`).

Several policies on one target combine as Application Auto Scaling does: scale out if any policy asks for
more (to the largest request), scale in only if every policy asks for less. ``SuspendedState`` switches
off either direction. A target whose current count lies outside [MinCapacity, MaxCapacity] is brought
inside even without a policy. Cooldowns are measured from the last recorded activity, so they survive a
server restart.
"""

from __future__ import annotations

import logging
import os
import re
import time
from typing import TYPE_CHECKING

from ..autoscaling.policy import Observation, decide
from ..autoscaling.window import MetricWindow, Reading
from ..errors import ConflictError, MissingResource, ValidationError
from ..metastore.base import ListQuery
from ..resources.endpoint import update_weights_and_capacities, variant_count
from ..resources.scaling_policy import ACTIVITY, POLICY, TARGET, all_of, endpoint_variant, record_activity
from .base import Controller

if TYPE_CHECKING:
    from ..context import Services

log = logging.getLogger("shipyard.controllers.autoscaling")

_DETAILS = re.compile(r"^from (\d+) to (\d+)$")
DEFAULT_COOLDOWN = 300.0


class AutoscalingController(Controller):
    kind = "autoscaling"
    tick = 1.0

    def __init__(self, services: Services):
        super().__init__(services)
        self.services: Services = services
        self.window = float(os.environ.get("SHIPYARD_AUTOSCALING_WINDOW") or 60.0)
        self._windows: dict[str, MetricWindow] = {}
        self._last: dict[str, list[float]] = {}  # target -> [last scale-out, last scale-in] (epoch seconds)

    # --- observation ---
    def _observe(self, key: str, endpoint: str, variant: str) -> MetricWindow:
        w = self._windows.get(key)
        if w is None:
            w = self._windows[key] = MetricWindow(self.window)
        route = self.services.router.routes.get(endpoint.lower())
        v = next((x for x in route.variants if x.name == variant), None) if route is not None else None
        if v is None:
            w.readings.clear()
            return w
        m = v.metrics
        w.add(Reading(time.monotonic(), m.invocations, m.busy_seconds(), len(v.instances)))
        return w

    def _last_times(self, key: str) -> list[float]:
        """[last scale-out, last scale-in], read once from the recorded activities."""
        last = self._last.get(key)
        if last is None:
            last = [0.0, 0.0]
            page = self.services.meta.list(ACTIVITY, ListQuery(parent=key, sort_by="created", descending=True,
                                                               max_results=50))
            for a in page.items:
                m = _DETAILS.match(a.doc.get("Details", ""))
                if not m:
                    continue
                i = 0 if int(m.group(2)) > int(m.group(1)) else 1
                last[i] = max(last[i], float(a.doc.get("StartTime", 0)))
            self._last[key] = last
        return last

    # --- the loop ---
    def reconcile_all(self) -> None:
        meta = self.services.meta
        targets = all_of(meta, TARGET)
        keys = {t.name for t in targets}
        for stale in [k for k in self._windows if k not in keys]:
            self._windows.pop(stale, None)
            self._last.pop(stale, None)
        if not targets:
            return
        policies: dict[str, list] = {}
        for p in all_of(meta, POLICY):
            policies.setdefault(f"{p.doc['ResourceId']}|{p.doc['ScalableDimension']}", []).append(p.doc)
        for t in targets:
            try:
                self._reconcile(t.name, t.doc, policies.get(t.name, []))
            except Exception:  # noqa: BLE001 - one target's trouble must not stop the others
                log.exception("autoscaling %s failed", t.name)

    def _reconcile(self, key: str, target: dict, policies: list[dict]) -> None:
        ev = endpoint_variant(target["ResourceId"])
        if ev is None:
            return
        endpoint, variant = ev
        window = self._observe(key, endpoint, variant)
        ep = self.services.meta.find("endpoint", endpoint)
        if ep is None or ep.status != "InService":
            return
        count = variant_count(ep, variant)
        if count is None:
            return
        current = int(count)
        lo, hi = int(target["MinCapacity"]), int(target["MaxCapacity"])
        suspended = target.get("SuspendedState") or {}
        now = time.time()
        last = self._last_times(key)
        desired, cause = current, ""
        if policies and window.span() >= min(self.window, 10.0) / 2:
            wants = []
            for p in policies:
                cfg = p["TargetTrackingScalingPolicyConfiguration"]
                metric = ((cfg.get("PredefinedMetricSpecification") or {}).get("PredefinedMetricType")
                          or (cfg.get("CustomizedMetricSpecification") or {}).get("MetricName"))
                value = window.value(metric)
                if value is None:
                    continue
                d = decide(Observation(current, value, now, last[0], last[1]), float(cfg["TargetValue"]), lo, hi,
                           float(cfg.get("ScaleOutCooldown", DEFAULT_COOLDOWN)),
                           float(cfg.get("ScaleInCooldown", DEFAULT_COOLDOWN)),
                           bool(cfg.get("DisableScaleIn")) or bool(suspended.get("DynamicScalingInSuspended")))
                wants.append((d.desired, p["PolicyName"], d.reason, metric, value))
            ups = [w for w in wants if w[0] > current]
            if ups and not suspended.get("DynamicScalingOutSuspended"):
                best = max(ups)
                desired, cause = best[0], self._cause(target, best, high=True)
            elif wants and all(w[0] < current for w in wants):
                best = max(wants)
                desired, cause = best[0], self._cause(target, best, high=False)
        if desired == current and not lo <= current <= hi:
            desired = min(hi, max(lo, current))
            cause = f"scalable target {target['ResourceId']} capacity range [{lo}, {hi}] excludes {current}"
        if desired != current:
            self._apply(key, target, endpoint, variant, current, desired, cause, now)

    @staticmethod
    def _cause(target: dict, want: tuple, high: bool) -> str:
        desired, policy, reason, metric, value = want
        alarm = f"TargetTracking-{target['ResourceId']}-Alarm{'High' if high else 'Low'}"
        return (f"monitor alarm {alarm} in state ALARM triggered policy {policy} ({metric} = {value:.3g}; "
                f"{reason})")

    def _apply(self, key: str, target: dict, endpoint: str, variant: str, current: int, desired: int,
               cause: str, now: float) -> None:
        try:
            update_weights_and_capacities(self.services, {
                "EndpointName": endpoint,
                "DesiredWeightsAndCapacities": [{"VariantName": variant, "DesiredInstanceCount": desired}]})
        except (ValidationError, ConflictError, MissingResource) as e:  # became busy meanwhile: next tick
            log.info("autoscaling %s: could not set %d instances now: %s", key, desired, e)
            return
        record_activity(self.services.meta, target, current, desired, cause)
        self._last_times(key)[0 if desired > current else 1] = now
        log.info("autoscaling %s: %d -> %d (%s)", key, current, desired, cause)
