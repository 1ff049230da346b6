"""Model Monitor: schedules, their executions and violations, and the baseline vs current distribution per feature.

Reads are ListMonitoringSchedules, DescribeMonitoringSchedule, ListMonitoringExecutions and DescribeProcessingJob
(the latest analyzed execution's job says where its documents are: the ``baseline`` input, the first output);
Stop/Start are StopMonitoringSchedule/StartMonitoringSchedule, all through ``ctx.ops.call`` as the signed-in key.
The three JSON documents come from the object store after the same S3 check a GetObject gets. The charts are
:mod:`shipyard.monitor.report`'s inline SVG, the very ones ``shipyard monitor report`` writes, so the page and the
report cannot disagree.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from markupsafe import Markup
from starlette.responses import RedirectResponse, Response

from ..errors import ShipyardError
from ..monitor.report import LEGEND, feature_charts
from .operations import authorize_s3_request

if TYPE_CHECKING:
    from .app import Context

PAGE_SIZE = 100
ANALYZED = ("Completed", "CompletedWithViolations")


def _split(uri: str) -> tuple[str, str]:
    rest = uri[len("s3://"):] if uri.startswith("s3://") else uri
    bucket, _, key = rest.partition("/")
    return bucket, key


async def _read_json(ctx: Context, uri: str | None) -> dict[str, Any] | None:
    """A JSON document from the object store as the signed-in key may read it (None when absent)."""
    if not uri:
        return None
    bucket, key = _split(uri)
    try:
        authorize_s3_request(ctx.identity, "GET", bucket, key)
        raw = await asyncio.to_thread(ctx.ops.services.objects.get_bytes, bucket, key)
        doc = json.loads(raw)
    except (ShipyardError, ValueError, OSError):
        return None
    return doc if isinstance(doc, dict) else None


def documents_of(job: dict[str, Any]) -> dict[str, str]:
    """``{"baseline", "statistics", "violations", "output"}`` S3 URIs from an execution's processing job."""
    out: dict[str, str] = {}
    for i in job.get("ProcessingInputs") or []:
        uri = (i.get("S3Input") or {}).get("S3Uri")
        if i.get("InputName") == "baseline" and uri:
            uri = uri.rstrip("/")
            out["baseline"] = uri if uri.endswith(".json") else f"{uri}/statistics.json"
    outputs = (job.get("ProcessingOutputConfig") or {}).get("Outputs") or []
    folder = ((outputs[0].get("S3Output") or {}).get("S3Uri") or "").rstrip("/") if outputs else ""
    if folder:
        out.update(output=folder, statistics=f"{folder}/statistics.json",
                   violations=f"{folder}/constraint_violations.json")
    return out


async def schedules(ctx: Context) -> Response:
    """Every schedule with its endpoint, status and last execution's status."""
    out = await ctx.ops.call(ctx.identity, "ListMonitoringSchedules",
                             {"MaxResults": PAGE_SIZE, "SortBy": "CreationTime", "SortOrder": "Descending"})
    rows = []
    for s in out.get("MonitoringScheduleSummaries") or []:
        desc = await ctx.ops.call(ctx.identity, "DescribeMonitoringSchedule",
                                  {"MonitoringScheduleName": s["MonitoringScheduleName"]})
        rows.append({**s, "Last": desc.get("LastMonitoringExecutionSummary") or {}})
    return ctx.page("monitoring.html", schedules=rows)


async def schedule(ctx: Context) -> Response:
    """One schedule: facts, Stop/Start, executions, the latest analyzed execution's violations and charts."""
    name = ctx.request.path_params["name"]
    desc = await ctx.ops.call(ctx.identity, "DescribeMonitoringSchedule", {"MonitoringScheduleName": name})
    listed = await ctx.ops.call(ctx.identity, "ListMonitoringExecutions", {
        "MonitoringScheduleName": name, "SortBy": "ScheduledTime", "SortOrder": "Descending",
        "MaxResults": PAGE_SIZE})
    executions = listed.get("MonitoringExecutionSummaries") or []
    analyzed = next((e for e in executions if e.get("MonitoringExecutionStatus") in ANALYZED
                     and e.get("ProcessingJobArn")), None)
    docs: dict[str, str] = {}
    if analyzed is not None:
        job = await ctx.ops.call(ctx.identity, "DescribeProcessingJob",
                                 {"ProcessingJobName": analyzed["ProcessingJobArn"].rsplit("/", 1)[-1]})
        docs = documents_of(job)
    violations_doc = await _read_json(ctx, docs.get("violations")) or {}
    violations = [v for v in violations_doc.get("violations") or [] if isinstance(v, dict)]
    charts = feature_charts(await _read_json(ctx, docs.get("baseline")), await _read_json(ctx, docs.get("statistics")),
                            violations)
    tags = {t["Key"]: t["Value"] for t in (await ctx.ops.call(ctx.identity, "ListTags", {
        "ResourceArn": desc["MonitoringScheduleArn"]})).get("Tags") or []}
    status = desc.get("MonitoringScheduleStatus")
    return ctx.page("monitoring_schedule.html", name=name, schedule=desc, executions=executions,
                    analyzed=analyzed, docs=docs, violations=violations, legend=Markup(LEGEND),  # noqa: S704
                    charts=[{"name": c.name, "kind": c.kind, "svg": Markup(c.svg),  # noqa: S704 - our own SVG
                             "violations": c.violations} for c in charts],
                    retrain_pipeline=tags.get("shipyard:on-violation-pipeline", ""),
                    retrain_parameters=tags.get("shipyard:on-violation-parameters", ""),
                    can_stop=status in ("Pending", "Scheduled"), can_start=status == "Stopped",
                    live=any(e.get("MonitoringExecutionStatus") in ("Pending", "InProgress") for e in executions))


async def stop_schedule(ctx: Context) -> Response:
    name = ctx.request.path_params["name"]
    await ctx.ops.call(ctx.identity, "StopMonitoringSchedule", {"MonitoringScheduleName": name})
    return RedirectResponse(f"/studio/monitoring/{quote(name)}", status_code=303)


async def start_schedule(ctx: Context) -> Response:
    name = ctx.request.path_params["name"]
    await ctx.ops.call(ctx.identity, "StartMonitoringSchedule", {"MonitoringScheduleName": name})
    return RedirectResponse(f"/studio/monitoring/{quote(name)}", status_code=303)


ROUTES: list[tuple[str, Any, list[str]]] = [
    ("/monitoring", schedules, ["GET"]),
    ("/monitoring/{name}", schedule, ["GET"]),
    ("/monitoring/{name}/stop", stop_schedule, ["POST"]),
    ("/monitoring/{name}/start", start_schedule, ["POST"]),
]
