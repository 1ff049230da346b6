"""An endpoint's traffic: invocations, latency and errors per variant, charted from the metrics already recorded.

The router records every request of an endpoint's variants, and CloudWatch's GetMetricData serves them under
namespace ``AWS/SageMaker`` (dimensions EndpointName and VariantName): the console reads them the way a boto3
user's dashboard would, through that operation as the signed-in key, so a key that may not read metrics sees
none here either. The endpoint page includes ``_endpoint_traffic.html``; its script (``static/traffic.js``)
polls :func:`traffic_json` every few seconds and redraws one uPlot chart per metric, one line per variant.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, Response

from ..errors import ValidationError

if TYPE_CHECKING:
    from .app import Context

NAMESPACE = "AWS/SageMaker"


@dataclass(frozen=True)
class Metric:
    """One charted metric: its CloudWatch name and statistic, and how its values are shown."""

    name: str
    stat: str
    unit: str
    scale: float = 1.0  # CloudWatch's value times this is what the chart shows
    count: bool = False  # a count: a period without requests is 0, not a gap
    optional: bool = False  # charted only when the router recorded some


METRICS = (
    Metric("Invocations", "Sum", "requests", count=True),
    Metric("ModelLatency", "Average", "ms", scale=1e-3),  # recorded in microseconds
    Metric("OverheadLatency", "Average", "ms", scale=1e-3, optional=True),
    Metric("Invocation4XXErrors", "Sum", "errors", count=True),
    Metric("Invocation5XXErrors", "Sum", "errors", count=True),
)

# range -> (seconds, period): periods CloudWatch accepts, a few hundred points at most per line
RANGES = {"15m": (15 * 60, 10), "1h": (3600, 60), "24h": (24 * 3600, 600)}
DEFAULT_RANGE = "1h"


def _variant_names(endpoint: dict) -> list[str]:
    variants = (endpoint.get("ProductionVariants") or []) + (endpoint.get("ShadowProductionVariants") or [])
    return [v["VariantName"] for v in variants if v.get("VariantName")]


def _queries(endpoint: str, variants: list[str], period: int) -> list[dict]:
    """One MetricStat per (metric, variant); the Id says which (``m<metric>_<variant>`` by index)."""
    return [{"Id": f"m{i}_{j}", "ReturnData": True, "MetricStat": {
        "Metric": {"Namespace": NAMESPACE, "MetricName": metric.name, "Dimensions": [
            {"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]},
        "Period": period, "Stat": metric.stat}}
        for i, metric in enumerate(METRICS) for j, variant in enumerate(variants)]


def _grid(start: float, end: float, period: int) -> list[float]:
    """Every period's start in the window, as CloudWatch aligns them (so its timestamps fall on the grid)."""
    step = period if period < 60 else 60
    first = math.floor(start / step) * step
    return [first + k * period for k in range(int(math.ceil((end - first) / period)))]


def traffic_series(endpoint: str, variants: list[str], out: dict, start: float, end: float,
                   period: int) -> dict[str, Any]:
    """GetMetricData's answer as the charts draw it: a shared time axis and, per metric, one value list per
    variant (None where a latency has no sample; 0 where a count has none), plus each variant's totals."""
    grid = _grid(start, end, period)
    index = {t: k for k, t in enumerate(grid)}
    by_id = {r["Id"]: r for r in out.get("MetricDataResults", [])}
    charts = []
    totals: dict[str, dict[str, float]] = {v: {} for v in variants}
    for i, metric in enumerate(METRICS):
        lines: dict[str, list[float | None]] = {}
        recorded = False
        for j, variant in enumerate(variants):
            values: list[float | None] = [0.0 if metric.count else None] * len(grid)
            result = by_id.get(f"m{i}_{j}") or {}
            for ts, value in zip(result.get("Timestamps", []), result.get("Values", [])):
                k = index.get(float(ts))
                if k is not None and value is not None:
                    values[k] = float(value) * metric.scale
                    recorded = True
            lines[variant] = values
            if metric.count:
                totals[variant][metric.name] = float(sum(v or 0.0 for v in values))
        if metric.optional and not recorded:
            continue
        charts.append({"metric": metric.name, "unit": metric.unit, "stat": metric.stat, "lines": lines})
    return {"endpoint": endpoint, "start": start, "end": end, "period": period, "t": grid,
            "variants": variants, "charts": charts, "totals": totals}


async def traffic_json(ctx: Context) -> Response:
    """The endpoint's traffic over the chosen range (``?range=15m|1h|24h``) as JSON for ``traffic.js``.

    The endpoint is described first, as the signed-in key: reading its traffic is reading the endpoint."""
    name = ctx.request.path_params["name"]
    chosen = ctx.request.query_params.get("range", DEFAULT_RANGE)
    if chosen not in RANGES:
        raise ValidationError(f"Range must be one of {', '.join(RANGES)}; got {chosen!r}.")
    seconds, period = RANGES[chosen]
    endpoint = await ctx.ops.call(ctx.identity, "DescribeEndpoint", {"EndpointName": name})
    variants = _variant_names(endpoint)
    end = float(math.ceil(time.time() / period) * period)
    start = end - seconds
    out: dict = {"MetricDataResults": []}
    if variants:
        out = await ctx.ops.call(ctx.identity, "GetMetricData", {
            "MetricDataQueries": _queries(name, variants, period), "StartTime": start, "EndTime": end,
            "ScanBy": "TimestampAscending"}, service="cloudwatch")
    body = traffic_series(name, variants, out, start, end, period)
    body["range"] = chosen
    return JSONResponse(body, headers={"cache-control": "no-store"})


ROUTES: list[tuple[str, Any, list[str]]] = [
    ("/endpoints/{name}/traffic.json", traffic_json, ["GET"]),
]
