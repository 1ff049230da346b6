"""PutMetricData's series, kept in the metadata store: a server restart loses none of them (the Model Monitor's
per-feature metrics, a user's own), and every server on one PostgreSQL store sees the same series.

A series (namespace, metric name, dimensions) is one ``cloudwatch-metric`` resource, named by a digest of the
three, whose document holds them as ListMetrics shows them. Its samples are metric points of the job
``cloudwatch:<digest>`` in the metric store every backend already has (the one training jobs' metrics use):
one point per sample set, its name the set itself as JSON (unit, count, sum, minimum, maximum), so a
StatisticValues item comes back exactly, fractional SampleCount included; its value the set's average.
A Value is a set of one sample, each of Values (with its Counts) a set of its own, so a percentile can be
taken over them as CloudWatch does.

CloudWatch keeps custom metrics 15 months; these are kept until the store is deleted. A series is created on
its first sample (a lost race to create it is harmless: the other writer made the same document).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable

from ..context import Services
from ..errors import ResourceInUse
from ..metastore.base import ListQuery

KIND = "cloudwatch-metric"
JOB_PREFIX = "cloudwatch:"
StatSet = tuple[float, float, float, float]  # (sample count, sum, minimum, maximum)
_KNOWN = "cloudwatch_series_known"            # services.extras: digests this process saw created


def series_id(namespace: str, metric: str, dimensions: tuple) -> str:
    """The digest naming a series; ``dimensions`` sorted (name, value) pairs."""
    text = json.dumps([namespace, metric, [list(d) for d in dimensions]], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def put(services: Services, namespace: str, samples: Iterable[tuple[str, tuple, float, str, StatSet]]) -> None:
    """Store (metric, sorted dimensions, timestamp, unit, sample set) samples of one namespace."""
    by_series: dict[str, list[tuple[str, float, float, int]]] = {}
    known: set[str] = services.extras.setdefault(_KNOWN, set())  # set.add is atomic: no lock needed
    for metric, dims, ts, unit, (n, total, low, high) in samples:
        sid = series_id(namespace, metric, dims)
        if sid not in known:
            doc = {"Namespace": namespace, "MetricName": metric,
                   "Dimensions": [{"Name": k, "Value": v} for k, v in dims]}
            try:
                services.meta.create(KIND, sid, services.arn(KIND, sid), "Active", doc)
            except ResourceInUse:
                pass
            known.add(sid)
        point = json.dumps([unit, n, total, low, high])
        by_series.setdefault(sid, []).append((point, total / n, ts, 0))  # n > 0: the API checked it
    for sid, points in by_series.items():
        services.meta.append_metrics(JOB_PREFIX + sid, points)


def points(services: Services, namespace: str, metric: str, dimensions: tuple, start: float, end: float,
           unit: str | None) -> tuple[str, list[tuple[float, StatSet]]]:
    """The series' unit (its last sample's, or ``unit``) and its (timestamp, sample set) points within
    [start, end) whose unit is ``unit`` (any, when None)."""
    rows = services.meta.get_metrics(JOB_PREFIX + series_id(namespace, metric, dimensions))
    out, last_unit = [], "None"
    for encoded, _, ts, _ in rows:
        u, n, total, low, high = json.loads(encoded)
        last_unit = u
        if start <= ts < end and unit in (None, u):
            out.append((float(ts), (float(n), float(total), float(low), float(high))))
    return unit or last_unit, sorted(out)


def series(services: Services, namespace: str | None = None) -> list[dict[str, Any]]:
    """Every stored series of ``namespace`` (all when None) as ListMetrics shows it."""
    query = ListQuery(max_results=500, sort_by="created", descending=False)
    found = []
    while True:
        page = services.meta.list(KIND, query)
        found += [r.doc for r in page.items if namespace in (None, r.doc.get("Namespace"))]
        if not page.next_token:
            break
        query.next_token = page.next_token
    return sorted(found, key=lambda d: (d["Namespace"], d["MetricName"], [x["Name"] for x in d["Dimensions"]],
                                        [x["Value"] for x in d["Dimensions"]]))
