"""Data flows (Data Wrangler in the browser): the flow list, a flow's page (node graph, the sample after a step,
an add-step form), its data quality and insights report, and its exports.

Flows are ``.flow`` objects in the object store, ``s3://sagemaker-<region>-<account>/data-wrangler-flows/
<name>.flow`` (the SDK's default bucket), read and written as the signed-in identity under the API's S3 rules,
as the S3 browser does. Editing a flow (:func:`shipyard.wrangle.new_flow`, ``add_step``) and the exports
(``processing_job_request``, ``pipeline_step``, ``python_code``) only build documents, so they run here; a
preview or a report executes the flow's steps (custom code included), so it runs in the job sandbox
(:mod:`.wrangle_sandbox`), and a failure is shown on the page. The processing job export is CreateProcessingJob
through the operations layer, the request the user's SDK would send.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from starlette.responses import RedirectResponse, Response

from ..errors import ShipyardError, ValidationError, no_such_key
from . import flow_view
from .operations import authorize_s3_request
from .wrangle_sandbox import evaluate

if TYPE_CHECKING:
    from .app import Context

FLOW_PREFIX = "data-wrangler-flows/"
EXPORT_PREFIX = "data-wrangler-exports/"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
DATA_SUFFIXES = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".jsonl": "jsonl", ".json": "json"}
GRID_ROWS = 50
MAX_GRID_ROWS = 500
SAMPLE_ROWS = 50_000
MAX_KEYS = 500          # data objects offered in the new-flow form
MAX_SCANNED = 20_000    # objects looked at to find them
FLOW_LIMIT = 4 * 1024 * 1024
DEFAULT_INSTANCE = "ml.m5.4xlarge"


def flows_bucket(ctx: Context) -> str:
    settings = ctx.ops.services.settings
    return f"sagemaker-{settings.region}-{settings.account}"


def _name(value: str | None) -> str:
    name = (value or "").strip().removesuffix(".flow")
    if not NAME.match(name):
        raise ValidationError(f"A flow's name is 1-100 letters, digits, '.', '_' or '-' (starting with a letter "
                              f"or digit), not {name!r}.")
    return name


def _flow_key(name: str) -> str:
    return f"{FLOW_PREFIX}{name}.flow"


# --- reading and writing flows as the signed-in identity -----------------------------------------------------
def _load(ctx: Context, name: str):
    """The stored flow (parsed and checked) and its version id (bucket/key/etag, for the preview cache)."""
    from ..wrangle import parse_flow

    bucket, key = flows_bucket(ctx), _flow_key(name)
    authorize_s3_request(ctx.identity, "GET", bucket, key)
    store = ctx.ops.services.objects
    if not store.bucket_exists(bucket):
        raise no_such_key(key)
    info = store.head_object(bucket, key)
    if info.size > FLOW_LIMIT:
        raise ValidationError(f"The flow {name} is {info.size} bytes; the console opens flows up to {FLOW_LIMIT}.")
    return parse_flow(store.get_bytes(bucket, key)), f"{bucket}/{key}/{info.etag}"


def _save(ctx: Context, name: str, flow) -> str:
    bucket, key = flows_bucket(ctx), _flow_key(name)
    authorize_s3_request(ctx.identity, "PUT", bucket, key)
    store = ctx.ops.services.objects
    if not store.bucket_exists(bucket):
        authorize_s3_request(ctx.identity, "PUT", bucket)
        store.create_bucket(bucket)
    body = (json.dumps(flow.to_doc(), indent=2) + "\n").encode()
    info = store.put_object(bucket, key, io.BytesIO(body), "application/json")
    return f"{bucket}/{key}/{info.etag}"


def _list_flows(ctx: Context) -> list[dict[str, Any]]:
    bucket = flows_bucket(ctx)
    authorize_s3_request(ctx.identity, "GET", bucket, query={"prefix": FLOW_PREFIX})
    store = ctx.ops.services.objects
    if not store.bucket_exists(bucket):
        return []
    page = store.list_objects(bucket, FLOW_PREFIX, "/", "", 1000)
    return [{"name": o.key[len(FLOW_PREFIX):-len(".flow")], "modified": o.last_modified, "size": o.size}
            for o in page.objects if o.key.endswith(".flow")]


def _data_keys(ctx: Context, bucket: str) -> list[dict[str, str]]:
    """The bucket's CSV, Parquet and JSON Lines objects (up to MAX_KEYS among its first MAX_SCANNED keys), for
    the new-flow form."""
    authorize_s3_request(ctx.identity, "GET", bucket)
    out: list[dict[str, str]] = []
    store = ctx.ops.services.objects
    for scanned, info in enumerate(store.iter_keys(bucket)):
        if scanned >= MAX_SCANNED:
            break
        for suffix, kind in DATA_SUFFIXES.items():
            if info.key.lower().endswith(suffix) and not info.key.startswith((FLOW_PREFIX, EXPORT_PREFIX)):
                out.append({"key": info.key, "type": kind})
                break
        if len(out) >= MAX_KEYS:
            break
    return out


# --- the flow list -------------------------------------------------------------------------------------------
async def flows(ctx: Context, error: str = "", http_status: int = 200) -> Response:
    q = ctx.request.query_params
    chosen = (ctx.form.get("bucket") if error else q.get("bucket")) or ""
    flows_list = await asyncio.to_thread(_list_flows, ctx)
    authorize_s3_request(ctx.identity, "GET", "")
    buckets = [n for n, _ in await asyncio.to_thread(ctx.ops.services.objects.list_buckets)]
    keys = await asyncio.to_thread(_data_keys, ctx, chosen) if chosen in buckets else []
    return ctx.page("flows.html", http_status=http_status, flows=flows_list, buckets=buckets, chosen=chosen,
                    keys=keys, error=error, form=ctx.form, flows_uri=f"s3://{flows_bucket(ctx)}/{FLOW_PREFIX}")


async def new_flow(ctx: Context) -> Response:
    """A flow importing the chosen object (and inferring its types), saved under its name."""
    from ..wrangle import new_flow as make

    form = ctx.form
    try:
        name = _name(form.get("name"))
        bucket, key = form.get("bucket", "").strip(), form.get("key", "").strip()
        if not bucket or not key:
            raise ValidationError("Choose the data: a bucket and the key of a CSV, Parquet or JSON Lines object "
                                  "(or a prefix of such objects).")
        kind = form.get("content_type", "") or next(
            (t for s, t in DATA_SUFFIXES.items() if key.lower().endswith(s)), "")
        if kind not in ("csv", "parquet", "json", "jsonl"):
            raise ValidationError(f"Say what {key} holds: csv, parquet or jsonl.")
        authorize_s3_request(ctx.identity, "GET", bucket, key)
        exists = await asyncio.to_thread(_exists, ctx, name)
        if exists:
            raise ValidationError(f"A flow named {name} exists; choose another name or open it.")
        flow = make(f"s3://{bucket}/{key}", content_type=kind, has_header=form.get("header", "on") == "on",
                    delimiter=form.get("delimiter") or ",", infer_types=form.get("infer", "on") == "on")
        await asyncio.to_thread(_save, ctx, name, flow)
    except ShipyardError as e:
        return await flows(ctx, error=f"{e.code}: {e.message or e}", http_status=e.http_status if 400 <= e.http_status
                           < 500 else 400)
    return RedirectResponse(f"/studio/wrangle/flows/{quote(name)}", status_code=303)


def _exists(ctx: Context, name: str) -> bool:
    bucket = flows_bucket(ctx)
    store = ctx.ops.services.objects
    if not store.bucket_exists(bucket):
        return False
    try:
        store.head_object(bucket, _flow_key(name))
    except ShipyardError:
        return False
    return True


# --- one flow ------------------------------------------------------------------------------------------------
def clean_grid(result: dict) -> dict[str, Any]:
    """The child's preview, trusted for nothing: names and cells as text, bounded in count and length."""
    columns = [{"name": str(c.get("name", ""))[:200], "dtype": str(c.get("dtype", ""))[:40]}
               for c in (result.get("columns") or [])[:1000] if isinstance(c, dict)]
    rows = [[None if v is None else str(v)[:400] for v in row[:len(columns)]]
            for row in (result.get("rows") or [])[:MAX_GRID_ROWS] if isinstance(row, list)]
    sample = result.get("sample_rows")
    return {"columns": columns, "rows": rows, "sample_rows": sample if isinstance(sample, int) else None}


def _selection(ctx: Context, flow) -> tuple[str, str]:
    q = ctx.request.query_params
    node_id = q.get("node") or ""
    if node_id not in flow.nodes:
        node_id = flow.last_data_node().node_id if flow.data_nodes() else ""
    outputs = flow.nodes[node_id].outputs if node_id else ["default"]
    output = q.get("output") or outputs[0]
    return node_id, output if output in outputs else outputs[0]


def _rows(ctx: Context) -> int:
    text = ctx.request.query_params.get("rows") or ""
    return max(1, min(MAX_GRID_ROWS, int(text))) if text.isdigit() else GRID_ROWS


async def flow_page(ctx: Context, error: str = "", http_status: int = 200) -> Response:
    name = _name(ctx.request.path_params["name"])
    flow, version = await asyncio.to_thread(_load, ctx, name)
    node_id, output = _selection(ctx, flow)
    grid: dict[str, Any] = {}
    preview_error = ""
    node = flow.nodes.get(node_id)
    if node is not None and not node.is_analysis:
        request = {"mode": "preview", "node": node_id, "output": output, "rows": _rows(ctx),
                   "sample_rows": SAMPLE_ROWS}
        result = await asyncio.to_thread(evaluate, ctx.ops.services, ctx.identity, flow, request, version,
                                         ctx.request.query_params.get("fresh") == "1")
        preview_error = str(result.get("error") or "")
        grid = {} if preview_error else clean_grid(result)
    form = dict(ctx.form)
    if not form.get("after"):
        form["after"] = node_id
    return ctx.page("flow.html", http_status=http_status, name=name, flow=flow, graph=flow_view.layout(flow, node_id),
                    node=node, output=output, grid=grid, preview_error=preview_error, error=error, form=form,
                    operators=flow_view.step_operators(_first_column(grid)), data_nodes=flow.data_nodes(),
                    short=flow_view.short_name,
                    flow_uri=f"s3://{flows_bucket(ctx)}/{_flow_key(name)}", rows=_rows(ctx),
                    default_role=_default_role(ctx), default_instance=DEFAULT_INSTANCE)


def _first_column(grid: dict[str, Any]) -> str:
    columns = grid.get("columns") or []
    return str(columns[0]["name"]) if columns else ""


def _parameters(text: str) -> dict:
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValidationError(f"The parameters are not valid JSON: {e.msg} (line {e.lineno}, column {e.colno}).")
    if not isinstance(value, dict):
        raise ValidationError("The parameters must be a JSON object ({...}).")
    return value


async def add_step(ctx: Context) -> Response:
    """Append a step; it is saved only once its preview runs on the sample (else the page says why)."""
    from ..wrangle import add_step as append

    name = _name(ctx.request.path_params["name"])
    flow, _version = await asyncio.to_thread(_load, ctx, name)
    form = ctx.form
    try:
        operator = form.get("operator", "").strip()
        if not operator:
            raise ValidationError("Choose an operator for the step.")
        params = _parameters(form.get("parameters", ""))
        inputs = [v for v in (form.get("after", ""), form.get("second", "")) if v.strip()]
        full = _full_name(operator)
        count = _input_count(full)
        node_id = append(flow, operator, params, inputs=inputs[:count] if count else None)
    except ShipyardError as e:
        return await flow_page(ctx, error=f"{e.code}: {e.message or e}", http_status=400)
    request = {"mode": "preview", "node": node_id, "output": flow.nodes[node_id].outputs[0], "rows": GRID_ROWS,
               "sample_rows": SAMPLE_ROWS}
    if not flow.nodes[node_id].is_analysis:
        result = await asyncio.to_thread(evaluate, ctx.ops.services, ctx.identity, flow, request)
        if result.get("error"):
            return await flow_page(ctx, error=f"The step was not added: {result['error']}", http_status=400)
        version = await asyncio.to_thread(_save, ctx, name, flow)
        from .wrangle_sandbox import cache_key, remember

        remember(cache_key(version, request), result)
    else:
        await asyncio.to_thread(_save, ctx, name, flow)
    return RedirectResponse(f"/studio/wrangle/flows/{quote(name)}?node={quote(node_id)}", status_code=303)


def _full_name(operator: str) -> str:
    from ..wrangle.operators import resolve

    try:
        return resolve(operator)
    except KeyError:
        return operator  # add_step refuses it with the list of operators


def _input_count(full: str) -> int:
    from ..wrangle.operators import OPERATORS

    op = OPERATORS.get(full)
    return op.inputs if op is not None else 1


async def delete_step(ctx: Context) -> Response:
    """Remove a step no other node reads (the last one of a branch)."""
    from ..wrangle import parse_flow

    name = _name(ctx.request.path_params["name"])
    flow, _version = await asyncio.to_thread(_load, ctx, name)
    node_id = ctx.form.get("node", "")
    if node_id not in flow.nodes:
        raise ValidationError(f"No node {node_id!r} in the flow {name}.")
    if flow.nodes[node_id].type == "SOURCE":
        raise ValidationError(f"Node {node_id} is the flow's source; start a new flow for other data.")
    readers = [n.node_id for n in flow.nodes.values() if any(p == node_id for p, _ in n.inputs)]
    if readers:
        raise ValidationError(f"Node {node_id} is read by {', '.join(readers)}; remove those steps first.")
    doc = flow.to_doc()
    doc["nodes"] = [n for n in doc["nodes"] if n.get("node_id") != node_id]
    await asyncio.to_thread(_save, ctx, name, parse_flow(doc))
    return RedirectResponse(f"/studio/wrangle/flows/{quote(name)}", status_code=303)


async def report(ctx: Context) -> Response:
    """The data quality and insights report of the sample after a node (run in the sandbox); its HTML is shown
    in a frame with scripts off (it is the child's output, not a page of the console)."""
    name = _name(ctx.request.path_params["name"])
    flow, version = await asyncio.to_thread(_load, ctx, name)
    node_id, output = _selection(ctx, flow)
    target = (ctx.request.query_params.get("target") or "").strip()
    node = flow.nodes.get(node_id)
    result: dict[str, Any] = {"error": "The flow has no data node to report on."}
    if node is not None and not node.is_analysis:
        request = {"mode": "report", "node": node_id, "output": output, "sample_rows": SAMPLE_ROWS,
                   "target": target, "title": f"Data quality and insights: {name}"}
        result = await asyncio.to_thread(evaluate, ctx.ops.services, ctx.identity, flow, request, version)
    found = result.get("report")
    summary: dict[str, Any] = found if isinstance(found, dict) else {}
    warnings = [w for w in (summary.get("warnings") or []) if isinstance(w, dict)][:100]
    html = result.get("html") if isinstance(result.get("html"), str) else ""
    return ctx.page("flow_report.html", http_status=400 if result.get("error") else 200, name=name, node=node,
                    output=output, target=target, error=str(result.get("error") or ""), summary=summary,
                    warnings=warnings, report_html=html, node_id=node_id)


# --- exports -------------------------------------------------------------------------------------------------
def _default_role(ctx: Context) -> str:
    return f"arn:aws:iam::{ctx.ops.services.settings.account}:role/ShipyardDataWrangler"


def _export_kwargs(ctx: Context, name: str, job_name: str, source: dict[str, str]) -> dict[str, Any]:
    base = f"s3://{flows_bucket(ctx)}/{EXPORT_PREFIX}{name}/{job_name}"
    return {"role": (source.get("role") or "").strip() or _default_role(ctx),
            "flow_s3_uri": f"{base}/flow/flow.flow", "output_s3_uri": f"{base}/output",
            "instance_type": (source.get("instance_type") or "").strip() or DEFAULT_INSTANCE,
            "region": ctx.ops.services.settings.region,
            "content_type": "PARQUET" if source.get("content_type") == "PARQUET" else "CSV"}


def _job_name(name: str, given: str) -> str:
    given = given.strip()
    if given:
        return given
    return f"wrangle-{re.sub(r'[^A-Za-z0-9-]', '-', name)[:40].strip('-') or 'flow'}-{uuid.uuid4().hex[:8]}"


async def export_job(ctx: Context) -> Response:
    """Upload the flow beside the job's output and CreateProcessingJob on Data Wrangler's image, as the user's
    SDK would (the operations layer: the same validation and authorization); then the job list."""
    from ..wrangle import processing_job_request

    name = _name(ctx.request.path_params["name"])
    flow, _version = await asyncio.to_thread(_load, ctx, name)
    job_name = _job_name(name, ctx.form.get("job_name", ""))
    kwargs = _export_kwargs(ctx, name, job_name, ctx.form)
    request = processing_job_request(flow, job_name=job_name, **kwargs)
    bucket, _, key = kwargs["flow_s3_uri"][len("s3://"):].partition("/")
    authorize_s3_request(ctx.identity, "PUT", bucket, key)
    body = (json.dumps(flow.to_doc(), indent=1) + "\n").encode()
    await asyncio.to_thread(ctx.ops.services.objects.put_object, bucket, key, io.BytesIO(body), "application/json")
    await ctx.ops.call(ctx.identity, "CreateProcessingJob", request)
    return RedirectResponse(f"/studio/processing-jobs?{urlencode({'name': job_name})}", status_code=303)


async def pipeline_step(ctx: Context) -> Response:
    from ..wrangle import pipeline_step as step

    name = _name(ctx.request.path_params["name"])
    flow, _version = await asyncio.to_thread(_load, ctx, name)
    q = ctx.request.query_params
    kwargs = _export_kwargs(ctx, name, "pipeline", dict(q))
    kwargs["flow_s3_uri"] = f"s3://{flows_bucket(ctx)}/{_flow_key(name)}"  # the saved flow: edits reach the pipeline
    definition = step(flow, name=(q.get("step") or "DataWranglerProcessingStep"), **kwargs)
    return ctx.page("flow_step.html", name=name, definition=json.dumps(definition, indent=2),
                    flow_uri=kwargs["flow_s3_uri"])


async def python_code(ctx: Context) -> Response:
    from ..wrangle import python_code as code

    name = _name(ctx.request.path_params["name"])
    flow, _version = await asyncio.to_thread(_load, ctx, name)
    text = code(flow, name=f"{name}.flow", script=f"{name}.py")
    return Response(text, media_type="text/x-python; charset=utf-8", headers={
        "content-disposition": f'attachment; filename="{name}.py"', "x-content-type-options": "nosniff"})


async def flow_document(ctx: Context) -> Response:
    name = _name(ctx.request.path_params["name"])
    flow, _version = await asyncio.to_thread(_load, ctx, name)
    return Response(json.dumps(flow.to_doc(), indent=2) + "\n", media_type="application/json", headers={
        "content-disposition": f'attachment; filename="{name}.flow"', "x-content-type-options": "nosniff"})


ROUTES: list[tuple[str, Any, list[str]]] = [
    ("/wrangle", flows, ["GET"]),
    ("/wrangle/new", new_flow, ["POST"]),
    ("/wrangle/flows/{name}", flow_page, ["GET"]),
    ("/wrangle/flows/{name}/steps", add_step, ["POST"]),
    ("/wrangle/flows/{name}/delete-step", delete_step, ["POST"]),
    ("/wrangle/flows/{name}/report", report, ["GET"]),
    ("/wrangle/flows/{name}/export/processing-job", export_job, ["POST"]),
    ("/wrangle/flows/{name}/export/pipeline-step", pipeline_step, ["GET"]),
    ("/wrangle/flows/{name}/export/code.py", python_code, ["GET"]),
    ("/wrangle/flows/{name}/flow.flow", flow_document, ["GET"]),
]
