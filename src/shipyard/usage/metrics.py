"""Usage as CloudWatch metrics, namespace ``AWS/Usage``, derived from the stored usage intervals.

AWS publishes service usage to ``AWS/Usage`` with dimensions ``Service``, ``Type``, ``Resource`` and ``Class``;
here ``Service`` is ``SageMaker``, ``Type`` is ``Resource``, ``Resource`` the kind (``TrainingJob``,
``Endpoint``, ...) and ``Class`` the instance type. Three metrics, one sample per minute that has usage:

- ``InstanceSeconds`` (unit Seconds): instance-seconds used in the minute (its Sum over a period is the usage);
- ``ResourceCount`` (unit Count): the average number of instances running in the minute (its Maximum over a
  period is the peak);
- ``EstimatedCost`` (unit None): the minute's cost estimate in US dollars, from the price table.

Derived on read from the intervals, so they survive a restart and nothing is stored twice. The CloudWatch
handlers (:mod:`shipyard.api.cloudwatch`) call :func:`points` and :func:`list_metrics` for this namespace.
"""

from __future__ import annotations

import math
from typing import Iterable

from ..metastore.base import MetaStore
from . import prices, store
from .intervals import Interval

NAMESPACE = "AWS/Usage"
SERVICE = "SageMaker"
DIMENSIONS = ("Service", "Type", "Resource", "Class")
UNITS = {"InstanceSeconds": "Seconds", "ResourceCount": "Count", "EstimatedCost": "None"}

StatSet = tuple[float, float, float, float]


def _selected(dimensions: list[dict]) -> tuple[str, str] | None:
    """(resource kind, instance type) the dimensions select, or None if they select no usage series."""
    dims = {d.get("Name"): d.get("Value") for d in dimensions or []}
    if len(dimensions or []) != len(DIMENSIONS) or set(dims) != set(DIMENSIONS):
        return None
    if dims["Service"] != SERVICE or dims["Type"] != "Resource" or not dims["Resource"] or not dims["Class"]:
        return None
    return str(dims["Resource"]), str(dims["Class"])


def minute_usage(intervals: Iterable[Interval], start: float, end: float, now: float) -> dict[float, float]:
    """Instance-seconds per whole minute (keyed by the minute's start) within [start, end)."""
    out: dict[float, float] = {}
    for iv in intervals:
        lo = max(iv.start, start)
        hi = min(iv.end if iv.end is not None else now, end)
        minute = math.floor(lo / 60.0) * 60.0
        while minute < hi:
            used = min(hi, minute + 60.0) - max(lo, minute)
            if used > 0:
                out[minute] = out.get(minute, 0.0) + used * iv.count
            minute += 60.0
    return out


def points(meta: MetaStore, metric: str, dimensions: list[dict], start: float, end: float, unit: str | None,
           now: float, table: dict[str, float] | None = None) -> tuple[str, list[tuple[float, StatSet]]]:
    """The unit and the (timestamp, sample set) points of one usage series in [start, end)."""
    own = UNITS.get(metric)
    selected = _selected(dimensions)
    if own is None or selected is None:
        return unit or "None", []
    if unit not in (None, own):
        return unit, []
    kind, itype = selected
    chosen = [iv for iv in store.intervals(meta, start, end) if iv.resource_kind == kind and iv.instance_type == itype]
    out = []
    for minute, used in sorted(minute_usage(chosen, start, end, now).items()):
        value = {"InstanceSeconds": used, "ResourceCount": used / 60.0,
                 "EstimatedCost": prices.cost(itype, used, table)}[metric]
        out.append((max(minute, start), (1.0, value, value, value)))
    return own, out


def list_metrics(meta: MetaStore) -> list[dict]:
    """One entry per metric and (kind, instance type) that has ever been metered."""
    classes = sorted({(iv.resource_kind, iv.instance_type) for iv in store.intervals(meta)})
    return [{"Namespace": NAMESPACE, "MetricName": name,
             "Dimensions": [{"Name": "Service", "Value": SERVICE}, {"Name": "Type", "Value": "Resource"},
                            {"Name": "Resource", "Value": kind}, {"Name": "Class", "Value": itype}]}
            for kind, itype in classes for name in UNITS]
