"""A training job's Debugger page: its rules, its saved tensors (one chart per scalar series, against the step)
and its profiler timeline (CPU per core, memory, GPU, against time), drawn with the vendored uPlot.

The data route reads the job's ``debug-output/`` and ``profiler-output/`` through the server's object store,
after DescribeTrainingJob as the signed-in key (reading them is reading the job, as the metrics route does).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:
    from .app import Context

MAX_TENSORS = 40        # charts on one page: the first tensors by name (metrics, losses...)
MAX_POINTS = 2000       # points per series, the latest kept


def _tensor_series(store, job: dict) -> list[dict[str, Any]]:
    from ..debugger.job_side import tensors_uri
    from ..debugger.trial import StoreSource, Trial

    if not (job.get("DebugHookConfig") or {}).get("S3OutputPath"):
        return []
    trial = Trial(StoreSource(store, tensors_uri(job)))
    trial.refresh()
    out = []
    for name in trial.tensor_names()[:MAX_TENSORS]:
        steps = trial.steps(name)[-MAX_POINTS:]
        values = []
        for step in steps:
            v = trial.value(name, step)
            values.append(float(v.mean()) if v.size and v.dtype.kind in "biuf" else None)
        out.append({"name": name, "steps": steps, "values": values})
    return out


def _system_series(store, job: dict) -> dict[str, dict[str, list[float]]]:
    from ..debugger.job_side import profiler_uri
    from ..debugger.profiler import read_system_metrics
    from ..debugger.trial import StoreSource

    if not (job.get("ProfilerConfig") or {}).get("S3OutputPath"):
        return {}
    source = StoreSource(store, profiler_uri(job))
    lines: list[str] = []
    for key in source.list("system/incremental/"):
        lines += source.read(key).decode("utf-8", "replace").splitlines()
    return {k: {"t": [p[0] for p in v[-MAX_POINTS:]], "v": [p[1] for p in v[-MAX_POINTS:]]}
            for k, v in sorted(read_system_metrics(lines).items())}


async def debugger(ctx: Context) -> Response:
    name = ctx.request.path_params["name"]
    job = await ctx.ops.call(ctx.identity, "DescribeTrainingJob", {"TrainingJobName": name})
    rules = (job.get("DebugRuleEvaluationStatuses") or []) + (job.get("ProfilerRuleEvaluationStatuses") or [])
    return ctx.page("debugger.html", job=job, name=name, rules=rules,
                    live=job.get("TrainingJobStatus") in ("InProgress", "Stopping"))


async def debugger_data(ctx: Context) -> Response:
    """``{"tensors": [{name, steps, values}], "system": {"cpu0/CPUUtilization": {t, v}}, "live": bool}``."""
    name = ctx.request.path_params["name"]
    job = await ctx.ops.call(ctx.identity, "DescribeTrainingJob", {"TrainingJobName": name})
    store = ctx.ops.services.objects
    tensors, system = await asyncio.gather(asyncio.to_thread(_tensor_series, store, job),
                                           asyncio.to_thread(_system_series, store, job))
    return JSONResponse({"tensors": tensors, "system": system,
                         "live": job.get("TrainingJobStatus") in ("InProgress", "Stopping")})


ROUTES: list[tuple[str, Any, list[str]]] = [
    ("/training-jobs/{name}/debugger", debugger, ["GET"]),
    ("/training-jobs/{name}/debugger/data", debugger_data, ["GET"]),
]
