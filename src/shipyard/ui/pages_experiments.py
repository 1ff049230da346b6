"""Experiments: the list, and one experiment's runs side by side (table, chosen runs' curves, differing params).

An experiment's runs are its trial components (ListTrialComponents with ExperimentName, then
DescribeTrialComponent each for parameters and metric summaries). Runs are chosen with checkboxes in a GET
form, so a comparison is a link (``?run=a&run=b``) that can be shared and reloaded. The chosen runs' curves
come from the ``sagemaker-metrics`` service's BatchGetMetrics, called through the same operations layer as
every SageMaker read (botocore's model of that service validates the queries); the parameters table keeps
only what differs, as :mod:`shipyard.experiments.compare` decides for ``shipyard experiments compare``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.responses import JSONResponse, Response

from ..experiments.compare import RunSummary, differing_parameters

if TYPE_CHECKING:
    from .app import Context

PAGE_SIZE = 50
RUN_PAGE = 100  # ListTrialComponents' largest MaxResults
MAX_RUN_PAGES = 5  # an experiment page shows at most 500 runs
MAX_CHOSEN = 8  # runs overlaid on one chart: more is unreadable (and one BatchGetMetrics call per run)
METRIC_QUERIES = 100  # BatchGetMetrics' largest MetricQueries


async def experiments(ctx: Context) -> Response:
    """ListExperiments, newest first, a page at a time."""
    token = ctx.request.query_params.get("next", "")
    params: dict[str, Any] = {"MaxResults": PAGE_SIZE, "SortBy": "CreationTime", "SortOrder": "Descending"}
    if token:
        params["NextToken"] = token
    out = await ctx.ops.call(ctx.identity, "ListExperiments", params)
    more = out.get("NextToken")
    return ctx.page("experiments.html", experiments=out["ExperimentSummaries"],
                    next_url=f"?next={quote(more)}" if more else "")


async def _run_names(ctx: Context, experiment: str) -> list[str]:
    """The experiment's runs (trial components), oldest first: the order they were started in."""
    params: dict[str, Any] = {"ExperimentName": experiment, "MaxResults": RUN_PAGE, "SortBy": "CreationTime",
                              "SortOrder": "Ascending"}
    names: list[str] = []
    for _ in range(MAX_RUN_PAGES):
        out = await ctx.ops.call(ctx.identity, "ListTrialComponents", params)
        names += [s["TrialComponentName"] for s in out.get("TrialComponentSummaries") or []]
        if not out.get("NextToken"):
            break
        params["NextToken"] = out["NextToken"]
    return names


async def _describe(ctx: Context, names: list[str]) -> list[dict]:
    return list(await asyncio.gather(*(
        ctx.ops.call(ctx.identity, "DescribeTrialComponent", {"TrialComponentName": n}) for n in names)))


def run_label(describe: dict, experiment_name: str) -> str:
    """What a person calls the run: its DisplayName when one was given, else the SDK's run name (``Run`` names
    the component ``<experiment>-<run name>``), else the component's name."""
    name = describe["TrialComponentName"]
    display = describe.get("DisplayName") or ""
    if display and display != name:
        return display
    prefix = f"{experiment_name}-"
    return name[len(prefix):] if name.lower().startswith(prefix.lower()) and len(name) > len(prefix) else name


def shown(value: Any) -> str:
    """A parameter's value as people typed it: NumberValue is a double, so ``3`` comes back as ``3.0``."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return "" if value is None else str(value)


def _row(describe: dict, experiment_name: str) -> dict[str, Any]:
    """One runs-table row: name, label, status, times, parameters and each metric's last value."""
    summary = RunSummary.of(describe)
    return {"name": summary.name, "display": run_label(describe, experiment_name), "status": summary.status,
            "start": describe.get("StartTime"), "end": describe.get("EndTime"),
            "parameters": sorted((k, shown(v)) for k, v in summary.parameters.items()),
            "metrics": {m: s.get("Last") for m, s in summary.metrics.items()}, "summary": summary}


def chosen_runs(ctx: Context) -> list[str]:
    """The runs named in the query (``run=...``, repeatable), each once, in the order given."""
    out: list[str] = []
    for name in ctx.request.query_params.getlist("run"):
        if name and name not in out:
            out.append(name)
    return out[:MAX_CHOSEN]


async def experiment(ctx: Context) -> Response:
    name = ctx.request.path_params["name"]
    described = await ctx.ops.call(ctx.identity, "DescribeExperiment", {"ExperimentName": name})
    rows = [_row(d, name) for d in await _describe(ctx, await _run_names(ctx, name))]
    wanted = chosen_runs(ctx)
    chosen = [r for r in rows if r["name"] in wanted]
    metric_names = sorted({m for r in rows for m in r["metrics"]})
    differing = differing_parameters([r["summary"] for r in chosen]) if len(chosen) > 1 else []
    choice = "&".join(f"run={quote(r['name'], safe='')}" for r in chosen)
    return ctx.page("experiment.html", name=name, exp=described, rows=rows, chosen=chosen,
                    chosen_names=[r["name"] for r in chosen], metric_names=metric_names, differing=differing,
                    metrics_src=f"/studio/experiments/{quote(name, safe='')}/metrics.json?{choice}",
                    max_chosen=MAX_CHOSEN, shown=shown)


async def experiment_metrics(ctx: Context) -> Response:
    """The chosen runs' curves: ``{"metrics": {name: {"x": [steps], "series": [{"run", "v"}]}}}``.

    One series per run on the union of the runs' steps (None where a run has no value at a step), each point
    the average of the run's values at that step (BatchGetMetrics, ``Avg`` per ``IterationNumber``). Only runs of
    this experiment are drawn, each described first as the signed-in key (its ARN and metric names)."""
    name = ctx.request.path_params["name"]
    members = set(await _run_names(ctx, name))
    runs = await _describe(ctx, [r for r in chosen_runs(ctx) if r in members])
    curves: dict[str, list[tuple[str, dict[int, float]]]] = {}  # metric -> [(run's label, step -> value)]
    for run in runs:
        label = run_label(run, name)
        for metric, points in (await _curves_of(ctx, run)).items():
            curves.setdefault(metric, []).append((label, points))
    out: dict[str, Any] = {}
    for metric, by_run in sorted(curves.items()):
        steps = sorted({step for _, points in by_run for step in points})
        out[metric] = {"x": steps, "series": [{"run": label, "v": [points.get(step) for step in steps]}
                                              for label, points in by_run]}
    return JSONResponse({"metrics": out, "live": False})


async def _curves_of(ctx: Context, run: dict) -> dict[str, dict[int, float]]:
    """metric -> step -> value of one run (every metric its Describe summarises), via BatchGetMetrics."""
    metrics = sorted({m["MetricName"] for m in run.get("Metrics") or [] if m.get("MetricName")})
    out: dict[str, dict[int, float]] = {}
    for start in range(0, len(metrics), METRIC_QUERIES):
        chunk = metrics[start:start + METRIC_QUERIES]
        answer = await ctx.ops.call(ctx.identity, "BatchGetMetrics", {"MetricQueries": [
            {"MetricName": m, "ResourceArn": run["TrialComponentArn"], "MetricStat": "Avg",
             "Period": "IterationNumber", "XAxisType": "IterationNumber"} for m in chunk]},
            service="sagemaker-metrics")
        for metric, result in zip(chunk, answer.get("MetricQueryResults") or []):
            if result.get("Status") == "Complete" and result.get("XAxisValues"):
                out[metric] = {int(x): float(v) for x, v in zip(result["XAxisValues"], result["MetricValues"])}
    return out


ROUTES: list[tuple[str, Any, list[str]]] = [
    ("/experiments", experiments, ["GET"]),
    ("/experiments/{name}", experiment, ["GET"]),
    ("/experiments/{name}/metrics.json", experiment_metrics, ["GET"]),
]
