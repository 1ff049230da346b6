"""The console's pages and actions: each a thin view over API operations run as the signed-in key.

Reads call List*/Describe* operations; actions (stop or clone a training job, change variant weights, delete an
endpoint, approve a model package) call the same operations a boto3 user would, so validation, authorization and the
controllers' reactions are the API's. Live parts (dashboard panels, job rows, the log tail) are polled by
htmx; metric curves come as JSON for uPlot.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse

from ..errors import ShipyardError, ValidationError
from ..wire.models import operation_model

if TYPE_CHECKING:
    from .app import Context

TRAINING_STATUSES = ("InProgress", "Completed", "Failed", "Stopping", "Stopped")
LOG_GROUP = "/aws/sagemaker/TrainingJobs"
PAGE_SIZE = 50
LOG_LINES = 200


async def dashboard(ctx: Context) -> Response:
    panels = await _dashboard_panels(ctx)
    template = "_dashboard_panels.html" if "hx-request" in ctx.request.headers else "dashboard.html"
    return ctx.page(template, **panels)


async def _dashboard_panels(ctx: Context) -> dict[str, Any]:
    """Running training jobs, endpoints in service, and the latest failed training/processing/transform jobs."""
    recent = {"StatusEquals": "Failed", "MaxResults": 10, "SortBy": "CreationTime", "SortOrder": "Descending"}
    running, endpoints, training, processing, transform = await asyncio.gather(
        ctx.ops.call(ctx.identity, "ListTrainingJobs", {"StatusEquals": "InProgress", "MaxResults": 20}),
        ctx.ops.call(ctx.identity, "ListEndpoints", {"StatusEquals": "InService", "MaxResults": 20}),
        ctx.ops.call(ctx.identity, "ListTrainingJobs", recent),
        ctx.ops.call(ctx.identity, "ListProcessingJobs", recent),
        ctx.ops.call(ctx.identity, "ListTransformJobs", recent))
    failed = [{"kind": "training", "name": j["TrainingJobName"], "when": j.get("LastModifiedTime"),
               "url": f"/studio/training-jobs/{quote(j['TrainingJobName'])}"} for j in training["TrainingJobSummaries"]]
    for kind, out in ((PROCESSING, processing), (TRANSFORM, transform)):
        failed += [{"kind": kind.path.split("-")[0], "name": j[kind.name], "when": j.get("LastModifiedTime"),
                    "url": f"/studio/{kind.path}?status=Failed&name={quote(j[kind.name])}"} for j in out[kind.items]]
    failed.sort(key=lambda f: _epoch(f["when"]), reverse=True)
    return {"running": running["TrainingJobSummaries"], "endpoints": endpoints["Endpoints"], "failed": failed[:10]}


def _epoch(value: Any) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    timestamp = getattr(value, "timestamp", None)
    return float(timestamp()) if callable(timestamp) else 0.0


async def _list_jobs(ctx: Context, operation: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """One page of a List*Jobs operation, newest first, with the query's status and name filters and its paging
    token; returns the operation's output and the filter values every job list template shows."""
    q = ctx.request.query_params
    status, name, token = q.get("status", ""), q.get("name", "").strip(), q.get("next", "")
    params: dict[str, Any] = {"MaxResults": PAGE_SIZE, "SortBy": "CreationTime", "SortOrder": "Descending"}
    if status:
        if status not in TRAINING_STATUSES:
            raise ValidationError(f"Status must be one of {', '.join(TRAINING_STATUSES)}.")
        params["StatusEquals"] = status
    if name:
        params["NameContains"] = name
    if token:
        params["NextToken"] = token
    out = await ctx.ops.call(ctx.identity, operation, params)
    more = out.get("NextToken")
    next_url = (f"?status={quote(status)}&name={quote(name)}&next={quote(more)}" if more else "")
    return out, {"status": status, "name": name, "statuses": TRAINING_STATUSES, "next_url": next_url}


async def training_jobs(ctx: Context) -> Response:
    out, filters = await _list_jobs(ctx, "ListTrainingJobs")
    return ctx.page("training_jobs.html", jobs=out["TrainingJobSummaries"], **filters)


async def training_job(ctx: Context) -> Response:
    name = ctx.request.path_params["name"]
    job = await ctx.ops.call(ctx.identity, "DescribeTrainingJob", {"TrainingJobName": name})
    artifact = (job.get("ModelArtifacts") or {}).get("S3ModelArtifacts", "")
    return ctx.page("training_job.html", job=job, name=name, artifact=artifact, clone_name=await _clone_name(ctx, name),
                    hyperparameters=sorted((job.get("HyperParameters") or {}).items()),
                    channels=job.get("InputDataConfig") or [],
                    transitions=job.get("SecondaryStatusTransitions") or [],
                    live=job.get("TrainingJobStatus") in ("InProgress", "Stopping"))


async def training_job_logs(ctx: Context) -> Response:
    """The last lines of the job's log streams (CloudWatch Logs' operations, as ``shipyard logs`` reads)."""
    name = ctx.request.path_params["name"]
    streams = await ctx.ops.call(ctx.identity, "DescribeLogStreams", {
        "logGroupName": LOG_GROUP, "logStreamNamePrefix": name + "/"}, service="logs")
    lines: list[dict] = []
    for stream in streams.get("logStreams", []):
        out = await ctx.ops.call(ctx.identity, "GetLogEvents", {
            "logGroupName": LOG_GROUP, "logStreamName": stream["logStreamName"], "startFromHead": False,
            "limit": LOG_LINES}, service="logs")
        lines.extend({"stream": stream["logStreamName"], **e} for e in out.get("events", []))
    lines.sort(key=lambda e: e["timestamp"])
    return ctx.page("_log_tail.html", lines=lines[-LOG_LINES:], name=name)


async def training_job_metrics(ctx: Context) -> Response:
    """The job's stored metric series as ``{metric: {"t": [...], "v": [...]}}`` (for the charts).

    Reading them is reading the job: DescribeTrainingJob is asked first, as the signed-in key."""
    name = ctx.request.path_params["name"]
    await ctx.ops.call(ctx.identity, "DescribeTrainingJob", {"TrainingJobName": name})
    points = await asyncio.to_thread(ctx.ops.services.meta.get_metrics, name)
    series: dict[str, dict[str, list[float]]] = {}
    for metric, value, timestamp, _step in sorted(points, key=lambda p: (p[0], p[2], p[3])):
        s = series.setdefault(metric, {"t": [], "v": []})
        s["t"].append(timestamp)
        s["v"].append(value)
    return JSONResponse(series)


async def stop_training_job(ctx: Context) -> Response:
    name = ctx.request.path_params["name"]
    await ctx.ops.call(ctx.identity, "StopTrainingJob", {"TrainingJobName": name})
    return RedirectResponse(f"/studio/training-jobs/{quote(name)}", status_code=303)


# --- Clone: a new training job from a finished (or any) job's definition, its hyperparameters edited ---
CLONE_HP = "hp:"  # form fields ``hp:<name>``: one per hyperparameter; a cleared value drops it
MAX_JOB_NAME = 63


async def _clone_name(ctx: Context, name: str) -> str:
    """``<name>-clone-<n>`` with the first ``n`` above every existing clone's (ListTrainingJobs by name); ``n`` is
    1 when the key may not list jobs (a job's scoped key), and the name is cut to the API's 63 characters."""
    stem = f"{name}-clone-"
    taken = [0]
    try:
        out = await ctx.ops.call(ctx.identity, "ListTrainingJobs", {"NameContains": stem, "MaxResults": 100})
    except ShipyardError:
        out = {}
    for j in out.get("TrainingJobSummaries") or []:
        suffix = j["TrainingJobName"][len(stem):] if j["TrainingJobName"].startswith(stem) else ""
        if suffix.isdigit():
            taken.append(int(suffix))
    n = str(max(taken) + 1)
    return name[:MAX_JOB_NAME - len("-clone-") - len(n)] + "-clone-" + n


def clone_request(job: dict, new_name: str, hyperparameters: dict[str, str]) -> dict:
    """CreateTrainingJob's input from a DescribeTrainingJob answer: the members CreateTrainingJob's input shape
    has (at every depth: output-only members such as the ARN, status, times or TuningJobArn go), without
    empty values (Describe's defaults such as ``KmsKeyId: ""`` or ``MetricDefinitions: []``), with the new name
    and the edited hyperparameters."""
    model = operation_model("sagemaker", "CreateTrainingJob")
    assert model is not None, "botocore's SageMaker model has CreateTrainingJob"
    shape = model.input_shape
    params = {k: v for k, v in _fit(job, shape).items() if k not in ("TrainingJobName", "HyperParameters")}
    params["TrainingJobName"] = new_name
    if hyperparameters:
        params["HyperParameters"] = hyperparameters
    return params


def _fit(value: Any, shape: Any) -> Any:
    """``value`` reduced to what ``shape`` (a botocore input shape) accepts; None/empty parts dropped."""
    if shape.type_name == "structure":
        if not isinstance(value, dict):
            return None
        fitted = {k: _fit(v, shape.members[k]) for k, v in value.items() if k in shape.members}
        return {k: v for k, v in fitted.items() if v is not None and v != "" and v != [] and v != {}}
    if shape.type_name == "list":
        if not isinstance(value, list):
            return None
        return [f for f in (_fit(v, shape.member) for v in value) if f is not None and f != {}]
    return value


async def clone_training_job(ctx: Context) -> Response:
    """CreateTrainingJob from the described job, named and with hyperparameters as the Clone form says."""
    name = ctx.request.path_params["name"]
    new_name = ctx.form.get("new_name", "").strip()
    if not new_name:
        raise ValidationError("Give the clone a name (the new training job's TrainingJobName).")
    job = await ctx.ops.call(ctx.identity, "DescribeTrainingJob", {"TrainingJobName": name})
    hyperparameters = {field[len(CLONE_HP):]: value for field, value in ctx.form.items()
                       if field.startswith(CLONE_HP) and field[len(CLONE_HP):] and value != ""}
    extra_key, extra_value = ctx.form.get("new_hp_name", "").strip(), ctx.form.get("new_hp_value", "")
    if extra_key:
        hyperparameters[extra_key] = extra_value
    await ctx.ops.call(ctx.identity, "CreateTrainingJob", clone_request(job, new_name, hyperparameters))
    return RedirectResponse(f"/studio/training-jobs/{quote(new_name)}", status_code=303)


@dataclass(frozen=True)
class JobKind:
    """A List*Jobs operation and the summary fields one row of its page shows."""

    title: str
    path: str
    operation: str
    items: str
    name: str
    status: str
    ended: str


PROCESSING = JobKind("Processing jobs", "processing-jobs", "ListProcessingJobs", "ProcessingJobSummaries",
                     "ProcessingJobName", "ProcessingJobStatus", "ProcessingEndTime")
TRANSFORM = JobKind("Transform jobs", "transform-jobs", "ListTransformJobs", "TransformJobSummaries",
                    "TransformJobName", "TransformJobStatus", "TransformEndTime")


def job_list(kind: JobKind):
    """The page of one List*Jobs operation, with the status and name filters and paging."""
    async def handler(ctx: Context) -> Response:
        out, filters = await _list_jobs(ctx, kind.operation)
        rows = [{"name": j.get(kind.name, ""), "status": j.get(kind.status, ""), "created": j.get("CreationTime"),
                 "ended": j.get(kind.ended), "reason": j.get("FailureReason", "")} for j in out[kind.items]]
        return ctx.page("jobs_list.html", kind=kind, rows=rows, **filters)
    return handler


async def pipelines(ctx: Context) -> Response:
    out = await ctx.ops.call(ctx.identity, "ListPipelines", {"MaxResults": 100, "SortBy": "CreationTime",
                                                            "SortOrder": "Descending"})
    return ctx.page("pipelines.html", pipelines=out["PipelineSummaries"])


async def pipeline(ctx: Context) -> Response:
    """A pipeline's recent executions, each with its steps (status, cache hits, failure)."""
    name = ctx.request.path_params["name"]
    out = await ctx.ops.call(ctx.identity, "ListPipelineExecutions", {
        "PipelineName": name, "MaxResults": 20, "SortBy": "CreationTime", "SortOrder": "Descending"})
    executions = out["PipelineExecutionSummaries"]
    step_lists = await asyncio.gather(*(
        ctx.ops.call(ctx.identity, "ListPipelineExecutionSteps", {
            "PipelineExecutionArn": e["PipelineExecutionArn"], "MaxResults": 100, "SortOrder": "Ascending"})
        for e in executions))
    rows = [{"execution": e, "steps": s.get("PipelineExecutionSteps", [])} for e, s in zip(executions, step_lists)]
    live = any(e.get("PipelineExecutionStatus") in ("Executing", "Stopping") for e in executions)
    return ctx.page("pipeline.html", name=name, rows=rows, live=live)


async def endpoints(ctx: Context) -> Response:
    out = await ctx.ops.call(ctx.identity, "ListEndpoints", {"MaxResults": 100, "SortBy": "CreationTime",
                                                            "SortOrder": "Descending"})
    return ctx.page("endpoints.html", endpoints=out["Endpoints"])


async def endpoint(ctx: Context) -> Response:
    name = ctx.request.path_params["name"]
    ep = await ctx.ops.call(ctx.identity, "DescribeEndpoint", {"EndpointName": name})
    return ctx.page("endpoint.html", ep=ep, name=name, variants=ep.get("ProductionVariants") or [])


async def endpoint_weights(ctx: Context) -> Response:
    """UpdateEndpointWeightsAndCapacities with the weights typed into the form (``weight:<variant>``)."""
    name = ctx.request.path_params["name"]
    desired = []
    for field, raw in ctx.form.items():
        if field.startswith("weight:") and raw.strip():
            try:
                weight = float(raw)
            except ValueError:
                raise ValidationError(f"The weight of {field[7:]} must be a number, not {raw!r}.") from None
            desired.append({"VariantName": field[7:], "DesiredWeight": weight})
    if not desired:
        raise ValidationError("Give at least one variant a weight.")
    await ctx.ops.call(ctx.identity, "UpdateEndpointWeightsAndCapacities",
                       {"EndpointName": name, "DesiredWeightsAndCapacities": desired})
    return RedirectResponse(f"/studio/endpoints/{quote(name)}", status_code=303)


async def delete_endpoint(ctx: Context) -> Response:
    name = ctx.request.path_params["name"]
    await ctx.ops.call(ctx.identity, "DeleteEndpoint", {"EndpointName": name})
    return RedirectResponse("/studio/endpoints", status_code=303)


async def model_groups(ctx: Context) -> Response:
    out = await ctx.ops.call(ctx.identity, "ListModelPackageGroups", {"MaxResults": 100})
    return ctx.page("model_groups.html", groups=out["ModelPackageGroupSummaryList"])


async def model_group(ctx: Context) -> Response:
    name = ctx.request.path_params["name"]
    group = await ctx.ops.call(ctx.identity, "DescribeModelPackageGroup", {"ModelPackageGroupName": name})
    out = await ctx.ops.call(ctx.identity, "ListModelPackages", {
        "ModelPackageGroupName": name, "MaxResults": 100, "SortBy": "CreationTime", "SortOrder": "Descending"})
    return ctx.page("model_group.html", group=group, name=name, packages=out["ModelPackageSummaryList"])


async def model_package_approval(ctx: Context) -> Response:
    """UpdateModelPackage: approve or reject a version, with the comment as its ApprovalDescription."""
    arn, decision = ctx.form.get("arn", ""), ctx.form.get("decision", "")
    if decision not in ("Approved", "Rejected", "PendingManualApproval"):
        raise ValidationError("Choose Approved, Rejected or PendingManualApproval.")
    params = {"ModelPackageArn": arn, "ModelApprovalStatus": decision}
    if ctx.form.get("comment", "").strip():
        params["ApprovalDescription"] = ctx.form["comment"].strip()
    await ctx.ops.call(ctx.identity, "UpdateModelPackage", params)
    described = await ctx.ops.call(ctx.identity, "DescribeModelPackage", {"ModelPackageName": arn})
    group = described.get("ModelPackageGroupName", "")
    return RedirectResponse(f"/studio/models/{quote(group)}" if group else "/studio/models", status_code=303)


async def download(ctx: Context) -> Response:
    """An S3 object (a job's artifacts) streamed to the browser, as S3 GetObject would serve it."""
    uri = ctx.request.query_params.get("uri", "")
    if not uri.startswith("s3://"):
        raise ValidationError("Name an object to download: s3://bucket/key.")
    bucket, _, key = uri[5:].partition("/")
    ctx.ops.authorize_read(ctx.identity, bucket, key)
    objects = ctx.ops.services.objects
    _info, chunks = await asyncio.to_thread(objects.open_object, bucket, key)  # S3Error NoSuchKey if absent
    filename = key.rsplit("/", 1)[-1] or "download"
    return StreamingResponse(chunks, media_type="application/octet-stream",
                             headers={"content-disposition": f'attachment; filename="{filename}"'})


ROUTES: list[tuple[str, Any, list[str]]] = [
    ("", dashboard, ["GET"]),
    ("/", dashboard, ["GET"]),
    ("/training-jobs", training_jobs, ["GET"]),
    ("/training-jobs/{name}", training_job, ["GET"]),
    ("/training-jobs/{name}/logs", training_job_logs, ["GET"]),
    ("/training-jobs/{name}/metrics.json", training_job_metrics, ["GET"]),
    ("/training-jobs/{name}/stop", stop_training_job, ["POST"]),
    ("/training-jobs/{name}/clone", clone_training_job, ["POST"]),
    ("/processing-jobs", job_list(PROCESSING), ["GET"]),
    ("/transform-jobs", job_list(TRANSFORM), ["GET"]),
    ("/pipelines", pipelines, ["GET"]),
    ("/pipelines/{name}", pipeline, ["GET"]),
    ("/endpoints", endpoints, ["GET"]),
    ("/endpoints/{name}", endpoint, ["GET"]),
    ("/endpoints/{name}/weights", endpoint_weights, ["POST"]),
    ("/endpoints/{name}/delete", delete_endpoint, ["POST"]),
    ("/models", model_groups, ["GET"]),
    ("/models/{name}", model_group, ["GET"]),
    ("/model-packages/approval", model_package_approval, ["POST"]),
    ("/download", download, ["GET"]),
]

# The console's other page modules, each with its own ROUTES (paths under /studio): one module per area.
PAGE_MODULES = ("pages_tuning", "pages_experiments", "pages_traffic", "pages_storage", "pages_logs",
                "pages_notebooks", "pages_monitoring", "pages_usage", "pages_labeling",
                "pages_wrangle", "pages_debugger")


def all_routes() -> list[tuple[str, Any, list[str]]]:
    """This module's routes, then each page module's."""
    import importlib

    routes = list(ROUTES)
    for name in PAGE_MODULES:
        routes += importlib.import_module(f"{__package__}.{name}").ROUTES
    return routes
