"""Tuning jobs: the list, and one job's leaderboard, objective over time and hyperparameters vs objective.

Reads are ListHyperParameterTuningJobs, DescribeHyperParameterTuningJob and
ListTrainingJobsForHyperParameterTuningJob; the Stop button is StopHyperParameterTuningJob. The charts come from
one JSON route (``trials.json``) built from the same trial summaries as the leaderboard, so the table and the
charts can never disagree about a trial's value.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.responses import JSONResponse, RedirectResponse, Response

from ..errors import ValidationError

if TYPE_CHECKING:
    from .app import Context

TUNING_STATUSES = ("InProgress", "Completed", "Failed", "Stopping", "Stopped")
LIVE_STATUSES = ("InProgress", "Stopping")
PAGE_SIZE = 50
TRIAL_PAGE = 100  # ListTrainingJobsForHyperParameterTuningJob's largest MaxResults
MAX_TRIAL_PAGES = 10  # a leaderboard of at most 1,000 trials: enough for any tuning job a page should show
RANGE_KINDS = (("IntegerParameterRanges", "Integer"), ("ContinuousParameterRanges", "Continuous"),
               ("CategoricalParameterRanges", "Categorical"))


def _epoch(value: Any) -> float | None:
    """Epoch seconds of a handler's timestamp (a number or a datetime), None when absent."""
    if isinstance(value, (int, float)):
        return float(value)
    timestamp = getattr(value, "timestamp", None)
    return float(timestamp()) if callable(timestamp) else None


async def tuning_jobs(ctx: Context) -> Response:
    """ListHyperParameterTuningJobs, newest first, with the name/status filters and paging of the job lists."""
    q = ctx.request.query_params
    status, name, token = q.get("status", ""), q.get("name", "").strip(), q.get("next", "")
    params: dict[str, Any] = {"MaxResults": PAGE_SIZE, "SortBy": "CreationTime", "SortOrder": "Descending"}
    if status:
        if status not in TUNING_STATUSES:
            raise ValidationError(f"Status must be one of {', '.join(TUNING_STATUSES)}.")
        params["StatusEquals"] = status
    if name:
        params["NameContains"] = name
    if token:
        params["NextToken"] = token
    out = await ctx.ops.call(ctx.identity, "ListHyperParameterTuningJobs", params)
    more = out.get("NextToken")
    next_url = f"?status={quote(status)}&name={quote(name)}&next={quote(more)}" if more else ""
    return ctx.page("tuning_jobs.html", jobs=out["HyperParameterTuningJobSummaries"], status=status, name=name,
                    statuses=TUNING_STATUSES, next_url=next_url)


def objective_of(desc: dict) -> dict[str, str]:
    """``{"MetricName", "Type"}`` of the job's objective (Minimize when the description names none)."""
    config = desc.get("HyperParameterTuningJobConfig") or {}
    objective = config.get("HyperParameterTuningJobObjective") or {}
    return {"MetricName": objective.get("MetricName", ""), "Type": objective.get("Type") or "Minimize"}


def parameter_ranges(desc: dict) -> list[dict[str, Any]]:
    """Every tuned range, ``{"name", "kind", "text", "scaling", "values"}``: the config's, then each
    training-job definition's (a multi-definition job keeps its ranges there)."""
    config = desc.get("HyperParameterTuningJobConfig") or {}
    sources = [config.get("ParameterRanges") or {}]
    sources += [d.get("HyperParameterRanges") or {} for d in desc.get("TrainingJobDefinitions") or []]
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for ranges in sources:
        for key, kind in RANGE_KINDS:
            for r in ranges.get(key) or []:
                if r.get("Name") in seen:
                    continue
                seen.add(r.get("Name", ""))
                values = list(r.get("Values") or [])
                text = (", ".join(values) if kind == "Categorical"
                        else f"{r.get('MinValue')} – {r.get('MaxValue')}")
                out.append({"name": r.get("Name", ""), "kind": kind, "text": text, "values": values,
                            "scaling": r.get("ScalingType") or ("" if kind == "Categorical" else "Auto")})
    return out


async def _trials(ctx: Context, name: str, objective: dict[str, str]) -> list[dict]:
    """Every launched trial, best first: the API sorts by the final objective (ascending for Minimize) and puts
    trials without a value last, whatever the order."""
    order = "Descending" if objective["Type"] == "Maximize" else "Ascending"
    params: dict[str, Any] = {"HyperParameterTuningJobName": name, "MaxResults": TRIAL_PAGE,
                              "SortBy": "FinalObjectiveMetricValue", "SortOrder": order}
    rows: list[dict] = []
    for _ in range(MAX_TRIAL_PAGES):
        out = await ctx.ops.call(ctx.identity, "ListTrainingJobsForHyperParameterTuningJob", params)
        rows += out.get("TrainingJobSummaries") or []
        if not out.get("NextToken"):
            break
        params["NextToken"] = out["NextToken"]
    return rows


def _value(trial: dict) -> float | None:
    value = (trial.get("FinalHyperParameterTuningJobObjectiveMetric") or {}).get("Value")
    return float(value) if value is not None and math.isfinite(float(value)) else None


async def tuning_job(ctx: Context) -> Response:
    name = ctx.request.path_params["name"]
    desc = await ctx.ops.call(ctx.identity, "DescribeHyperParameterTuningJob",
                              {"HyperParameterTuningJobName": name})
    objective = objective_of(desc)
    trials = await _trials(ctx, name, objective)
    ranges = parameter_ranges(desc)
    tuned = [r["name"] for r in ranges]
    tuned += sorted({k for t in trials for k in (t.get("TunedHyperParameters") or {})} - set(tuned))
    config = desc.get("HyperParameterTuningJobConfig") or {}
    return ctx.page("tuning_job.html", name=name, job=desc, config=config, objective=objective, ranges=ranges,
                    tuned=tuned, trials=trials, best=desc.get("BestTrainingJob") or {},
                    counters=desc.get("TrainingJobStatusCounters") or {},
                    limits=config.get("ResourceLimits") or {},
                    live=desc.get("HyperParameterTuningJobStatus") in LIVE_STATUSES)


async def tuning_job_trials(ctx: Context) -> Response:
    """The charts' data: ``{"objective", "live", "time": {"t", "v", "best", "names"}, "params": [...]}``.

    ``time`` is each finished trial's end time against its objective value, in end-time order, with the best
    value so far; ``params`` has one entry per tuned hyperparameter: ``{"name", "kind", "x", "v", "labels",
    "log"}`` with the trials' values of it (sorted by ``x``; a categorical value's ``x`` is its index in
    ``labels``) against their objective values."""
    name = ctx.request.path_params["name"]
    desc = await ctx.ops.call(ctx.identity, "DescribeHyperParameterTuningJob",
                              {"HyperParameterTuningJobName": name})
    objective = objective_of(desc)
    trials = [t for t in await _trials(ctx, name, objective) if _value(t) is not None]
    return JSONResponse({"objective": objective,
                         "live": desc.get("HyperParameterTuningJobStatus") in LIVE_STATUSES,
                         "time": objective_over_time(trials, maximize=objective["Type"] == "Maximize"),
                         "params": [_scatter(r, trials) for r in _chart_ranges(desc, trials)]})


def objective_over_time(trials: list[dict], maximize: bool) -> dict[str, list]:
    """Trials with a value and an end time, by end time, with the running best (min, or max to Maximize)."""
    timed = sorted(((_epoch(t.get("TrainingEndTime")), _value(t), t["TrainingJobName"]) for t in trials),
                   key=lambda p: (p[0] is None, p[0] or 0.0))
    out: dict[str, list] = {"t": [], "v": [], "best": [], "names": []}
    best: float | None = None
    for stamp, value, trial_name in timed:
        if stamp is None or value is None:
            continue
        best = value if best is None else (max(best, value) if maximize else min(best, value))
        out["t"].append(stamp)
        out["v"].append(value)
        out["best"].append(best)
        out["names"].append(trial_name)
    return out


def _chart_ranges(desc: dict, trials: list[dict]) -> list[dict[str, Any]]:
    """The described ranges, plus any tuned name the trials carry that no range names (as categorical)."""
    ranges = parameter_ranges(desc)
    named = {r["name"] for r in ranges}
    extra = sorted({k for t in trials for k in (t.get("TunedHyperParameters") or {})} - named)
    return ranges + [{"name": k, "kind": "Categorical", "values": [], "scaling": ""} for k in extra]


def _number(text: Any) -> float | None:
    try:
        value = float(str(text).strip().strip('"'))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _scatter(rng: dict[str, Any], trials: list[dict]) -> dict[str, Any]:
    """One hyperparameter's values against the objective. Numbers on their own axis (logarithmic when the
    range is); categorical values (or numbers that do not parse) on an index axis labelled with the values."""
    pairs = [((t.get("TunedHyperParameters") or {}).get(rng["name"]), _value(t)) for t in trials]
    pairs = [(raw, value) for raw, value in pairs if raw is not None]
    numeric = rng["kind"] != "Categorical" and all(_number(raw) is not None for raw, _ in pairs)
    out: dict[str, Any] = {"name": rng["name"], "kind": rng["kind"], "labels": None,
                           "log": numeric and rng.get("scaling") == "Logarithmic"}
    if numeric:
        points = sorted((_number(raw), value) for raw, value in pairs)
    else:
        labels = list(rng.get("values") or [])
        labels += sorted({str(raw) for raw, _ in pairs} - set(labels))
        out["labels"] = labels
        points = sorted((float(labels.index(str(raw))), value) for raw, value in pairs)
    out["x"] = [x for x, _ in points]
    out["v"] = [v for _, v in points]
    return out


async def stop_tuning_job(ctx: Context) -> Response:
    name = ctx.request.path_params["name"]
    await ctx.ops.call(ctx.identity, "StopHyperParameterTuningJob", {"HyperParameterTuningJobName": name})
    return RedirectResponse(f"/studio/tuning-jobs/{quote(name)}", status_code=303)


ROUTES: list[tuple[str, Any, list[str]]] = [
    ("/tuning-jobs", tuning_jobs, ["GET"]),
    ("/tuning-jobs/{name}", tuning_job, ["GET"]),
    ("/tuning-jobs/{name}/trials.json", tuning_job_trials, ["GET"]),
    ("/tuning-jobs/{name}/stop", stop_tuning_job, ["POST"]),
]
