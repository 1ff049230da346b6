"""The pipeline and pipeline-execution resources: what CreatePipeline, StartPipelineExecution & co. do.

A pipeline is a stored definition (validated by :func:`shipyard.pipelines.definition.parse` at create and
update, so a bad definition never gets stored) with its version history. An execution is created here with
its definition and bound parameters fixed, status ``Executing``; :class:`shipyard.controllers.pipeline.
PipelineController` runs its steps. Stop, retry and the callback answers only change the stored execution and
wake the controller: the controller is the one writer of step progress.

ARNs: ``...:pipeline/<name>`` and ``...:pipeline/<name>/execution/<id>``, the id a short random lower-case
string as on AWS (derived from the ClientRequestToken when one is given, which makes Start idempotent even
between two concurrent calls: the second create of the same id finds the first).

Callers: :mod:`shipyard.api.pipelines` (the wire adapters), the pipeline controller, ``shipyard pipelines``.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import string
import time
from typing import Any

from ..context import Services
from ..domain.acting import stamp
from ..domain.arns import make_arn, name_from
from ..domain.pipeline_state import ExecutionState, PipelineState, StepRecord
from ..domain.status import PIPELINE_EXECUTION_ACTIVE, PIPELINE_EXECUTION_TERMINAL
from ..errors import ConflictError, MissingResource, ResourceInUse, ValidationError
from ..metastore.base import ListQuery, Resource
from ..pipelines.definition import Definition, Step, bind_parameters, parse

KIND = "pipeline"
EXEC_KIND = "pipeline-execution"
_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$")
_ID_CHARS = string.ascii_lowercase + string.digits
# Step types SageMaker has that Shipyard cannot run yet: refused at CreatePipeline, naming the step and why.
UNSUPPORTED_STEPS = {
    "RegisterModel": "needs the model registry (model packages), which Shipyard does not have yet",
    "Lambda": "needs AWS Lambda, which Shipyard does not provide",
    "ClarifyCheck": ("needs SageMaker Clarify's bias and explainability analysis (the sagemaker-clarify-processing "
                     "container), which Shipyard does not have; data and model quality checks are supported: use a "
                     "QualityCheckStep"),
    "EMR": "needs Amazon EMR, which Shipyard does not provide",
    "EMRServerless": "needs Amazon EMR Serverless, which Shipyard does not provide",
    "AutoML": "needs Autopilot, which Shipyard does not have yet",
}


def public(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


# ------------------------------------------------------------------ definitions
# The input channel through which the SDK hands a remote function's bootstrap scripts to its training job
# (sagemaker.remote_function.job.RUNTIME_SCRIPTS_CHANNEL_NAME): what marks an @step-decorated function's step.
REMOTE_FUNCTION_CHANNEL = "sagemaker_remote_function_bootstrap"


def is_remote_function_step(step: Step) -> bool:
    """Whether a Training step is the SDK's ``@step`` (a remote function run as a training job)."""
    if step.type != "Training" or not isinstance(step.arguments, dict):
        return False
    channels = step.arguments.get("InputDataConfig")
    return isinstance(channels, list) and any(
        isinstance(c, dict) and c.get("ChannelName") == REMOTE_FUNCTION_CHANNEL for c in channels)


def check_definition(text: str) -> Definition:
    """Parse and validate a definition; also refuse the step types Shipyard cannot run."""
    defn = parse(text)
    for step in defn.steps.values():
        if is_remote_function_step(step):
            raise ValidationError(
                f"Step '{step.name}': @step-decorated Python functions (SageMaker remote-function steps) are not "
                "supported by Shipyard yet: the SDK runs them as a training job whose ContainerEntrypoint bootstraps "
                "the SDK's remote-function runtime inside the job's image. Write the function as a script and use "
                "a TrainingStep or ProcessingStep instead.")
        if step.type == "RegisterModel" and registry_available():
            continue
        why = UNSUPPORTED_STEPS.get(step.type)
        if why:
            raise ValidationError(f"Step '{step.name}': step type {step.type} is not supported by Shipyard: it {why}.")
    return defn


def registry_available() -> bool:
    """Whether this server has the model registry (RegisterModel steps create model packages through it)."""
    import importlib.util

    return importlib.util.find_spec("shipyard.resources.model_package") is not None


def definition_text(services: Services, req: dict) -> str:
    """The definition of a Create/UpdatePipeline request: inline, or read from PipelineDefinitionS3Location."""
    inline = req.get("PipelineDefinition")
    location = req.get("PipelineDefinitionS3Location")
    if inline and location:
        raise ValidationError("Specify either PipelineDefinition or PipelineDefinitionS3Location, not both.")
    if inline:
        return str(inline)
    if not location:
        raise ValidationError("A pipeline needs a PipelineDefinition or a PipelineDefinitionS3Location.")
    bucket, key = location.get("Bucket", ""), location.get("ObjectKey", "")
    try:
        body = services.objects.get_bytes(bucket, key)
    except Exception as e:  # noqa: BLE001 - any failure to read is the caller's location being wrong
        raise ValidationError(f"PipelineDefinitionS3Location s3://{bucket}/{key} cannot be read: "
                              f"{getattr(e, 'message', '') or e}") from None
    return body.decode("utf-8", errors="replace")


# ------------------------------------------------------------------ pipelines
def get(services: Services, name: str) -> Resource:
    res = services.meta.find(KIND, pipeline_name_of(name or ""))
    if res is None:
        raise _missing(services, name)
    return res


def _missing(services: Services, name: str) -> MissingResource:
    return MissingResource("pipeline", make_arn(KIND, pipeline_name_of(name), services.region, services.account))


def pipeline_name_of(name_or_arn: str) -> str:
    """A pipeline's name from its name or ARN (an execution ARN names its pipeline too)."""
    n = name_from(name_or_arn)
    return n.split("/execution/", 1)[0]


def _version_record(version: int, req: dict, text: str, now: float) -> dict:
    rec = {"PipelineVersionId": version, "CreationTime": now, "LastModifiedTime": now, "PipelineDefinition": text}
    if req.get("PipelineVersionDescription"):
        rec["PipelineVersionDescription"] = req["PipelineVersionDescription"]
    if req.get("PipelineVersionDisplayName"):
        rec["PipelineVersionDisplayName"] = req["PipelineVersionDisplayName"]
    return rec


def create(services: Services, req: dict) -> dict:
    name = req.get("PipelineName") or ""
    if not _NAME.match(name):
        raise ValidationError(f"PipelineName '{name}' must be 1-256 letters, digits and hyphens, starting and "
                              "ending with a letter or digit.")
    text = definition_text(services, req)
    check_definition(text)
    if not req.get("RoleArn"):
        raise ValidationError("CreatePipeline needs a RoleArn.")
    arn = services.arn(KIND, name)
    now = time.time()
    doc: dict[str, Any] = {
        "PipelineArn": arn, "PipelineName": name, "PipelineDisplayName": req.get("PipelineDisplayName") or name,
        "PipelineDefinition": text, "RoleArn": req["RoleArn"], "PipelineStatus": "Active",
        "CreationTime": now, "LastModifiedTime": now, "PipelineVersionId": 1,
        "CreatedBy": {}, "LastModifiedBy": {},
    }
    for key in ("PipelineDescription", "ParallelismConfiguration"):
        if req.get(key):
            doc[key] = req[key]
    state = PipelineState(versions=[_version_record(1, req, text, now)],
                          tags=list(req["Tags"]) if req.get("Tags") else None)
    doc.update(state.to_doc())
    try:
        services.meta.create(KIND, name, arn, "Active", doc)
    except ResourceInUse:
        raise ValidationError(f"Pipeline names must be unique within an AWS account and region. Pipeline "
                              f"with name {name} already exists.") from None
    return {"PipelineArn": arn}


def update(services: Services, req: dict) -> dict:
    """UpdatePipeline: a new definition (or only metadata) makes a new version; running executions keep the
    definition they started with."""
    res = get(services, req.get("PipelineName", ""))
    state = PipelineState.from_doc(res.doc)
    versions = list(state.versions or [])
    changes: dict[str, Any] = {}
    now = time.time()
    if req.get("PipelineDefinition") or req.get("PipelineDefinitionS3Location"):
        text = definition_text(services, req)
        check_definition(text)
        changes["PipelineDefinition"] = text
    for key in ("PipelineDisplayName", "PipelineDescription", "RoleArn", "ParallelismConfiguration"):
        if req.get(key):
            changes[key] = req[key]
    version = int(res.doc.get("PipelineVersionId") or len(versions) or 1) + 1
    versions.append(_version_record(version, req, changes.get("PipelineDefinition", res.doc["PipelineDefinition"]),
                                    now))
    changes.update(PipelineVersionId=version, LastModifiedTime=now, **state.changes(versions=versions))
    services.meta.update(KIND, res.name, changes)
    return {"PipelineArn": res.arn, "PipelineVersionId": version}


def describe(services: Services, req: dict) -> dict:
    res = get(services, req.get("PipelineName", ""))
    doc = public(res.doc)
    wanted = req.get("PipelineVersionId")
    if wanted is not None and int(wanted) != int(doc.get("PipelineVersionId") or 1):
        rec = _version(res, int(wanted))
        doc.update(PipelineDefinition=rec["PipelineDefinition"], PipelineVersionId=rec["PipelineVersionId"])
    last = _last_execution(services, res.arn)
    if last is not None:
        doc["LastRunTime"] = last.created
    return doc


def _version(res: Resource, version: int) -> dict:
    for rec in PipelineState.from_doc(res.doc).versions or []:
        if int(rec["PipelineVersionId"]) == version:
            return rec
    raise ValidationError(f"Pipeline {res.name} has no version {version}.")


def _last_execution(services: Services, pipeline_arn: str) -> Resource | None:
    page = services.meta.list(EXEC_KIND, ListQuery(parent=pipeline_arn, max_results=1))
    return page.items[0] if page.items else None


def delete(services: Services, req: dict) -> dict:
    """DeletePipeline: as on AWS its running executions are stopped; their records stay readable."""
    res = get(services, req.get("PipelineName", ""))
    for ex in services.meta.list_in_status(EXEC_KIND, ("Executing",)):
        if ex.parent == res.arn:
            try:
                services.meta.update(EXEC_KIND, ex.name, status="Stopping", expect_status={"Executing"},
                                     changes={"PipelineExecutionStatus": "Stopping"})
            except ConflictError:
                pass
    services.meta.delete(KIND, res.name)
    services.wake(EXEC_KIND)
    return {"PipelineArn": res.arn}


def list_pipelines(services: Services, req: dict) -> dict:
    prefix = req.get("PipelineNamePrefix") or ""
    sort = {"Name": "name", "CreationTime": "created"}.get(req.get("SortBy") or "CreationTime")
    if sort is None:
        raise ValidationError("SortBy must be Name or CreationTime.")
    q = ListQuery(name_contains=prefix or None, created_after=_ts(req.get("CreatedAfter")),
                  created_before=_ts(req.get("CreatedBefore")), sort_by=sort,
                  descending=(req.get("SortOrder") or "Descending") == "Descending",
                  max_results=int(req.get("MaxResults") or 50), next_token=req.get("NextToken"))
    page = services.meta.list(KIND, q)
    out: dict[str, Any] = {"PipelineSummaries": [
        {"PipelineArn": r.arn, "PipelineName": r.name, "PipelineDisplayName": r.doc.get("PipelineDisplayName", r.name),
         "PipelineDescription": r.doc.get("PipelineDescription", ""), "RoleArn": r.doc.get("RoleArn", ""),
         "CreationTime": r.created, "LastModifiedTime": r.modified}
        for r in page.items if r.name.lower().startswith(prefix.lower())]}
    if page.next_token:
        out["NextToken"] = page.next_token
    return out


def list_versions(services: Services, req: dict) -> dict:
    res = get(services, req.get("PipelineName", ""))
    versions = list(PipelineState.from_doc(res.doc).versions or [])
    after, before = _ts(req.get("CreatedAfter")), _ts(req.get("CreatedBefore"))
    versions = [v for v in versions if (after is None or v["CreationTime"] > after)
                and (before is None or v["CreationTime"] < before)]
    versions.sort(key=lambda v: v["PipelineVersionId"], reverse=(req.get("SortOrder") or "Descending") == "Descending")
    start = _offset(req.get("NextToken"))
    size = int(req.get("MaxResults") or 10)
    out: dict[str, Any] = {"PipelineVersionSummaries": [
        {"PipelineArn": res.arn, **{k: v for k, v in rec.items() if k != "PipelineDefinition"}}
        for rec in versions[start:start + size]]}
    if start + size < len(versions):
        out["NextToken"] = str(start + size)
    return out


def _offset(token: str | None) -> int:
    if not token:
        return 0
    if not str(token).isdigit():
        raise ValidationError("The NextToken is not valid.")
    return int(token)


def _ts(value: Any) -> float | None:
    if value is None:
        return None
    return float(value.timestamp()) if hasattr(value, "timestamp") else float(value)


# ------------------------------------------------------------------ executions
def execution_arn(services: Services, pipeline: str, exec_id: str) -> str:
    return f"{make_arn(KIND, pipeline, services.region, services.account)}/execution/{exec_id}"


def _new_id(pipeline_arn: str, token: str | None) -> str:
    if token:
        digest = hashlib.sha256(f"{pipeline_arn}\n{token}".encode()).digest()
        return "".join(_ID_CHARS[b % len(_ID_CHARS)] for b in digest[:12])
    return "".join(secrets.choice(_ID_CHARS) for _ in range(12))


def get_execution(services: Services, arn: str) -> Resource:
    exec_id = (arn or "").rsplit("/execution/", 1)[-1] if "/execution/" in (arn or "") else ""
    res = services.meta.find(EXEC_KIND, exec_id) if exec_id else None
    if res is None:
        raise MissingResource("pipeline execution", arn)
    return res


def _parallelism(req: dict) -> dict | None:
    cfg = req.get("ParallelismConfiguration")
    if cfg is None:
        return None
    n = cfg.get("MaxParallelExecutionSteps")
    if not isinstance(n, int) or n < 1:
        raise ValidationError("ParallelismConfiguration.MaxParallelExecutionSteps must be at least 1.")
    return {"MaxParallelExecutionSteps": n}


def start(services: Services, req: dict) -> dict:
    """StartPipelineExecution: bind the parameters, fix the definition, store the execution as Executing."""
    pipe = get(services, req.get("PipelineName", ""))
    text = pipe.doc["PipelineDefinition"]
    version = int(pipe.doc.get("PipelineVersionId") or 1)
    if req.get("PipelineVersionId") is not None:
        rec = _version(pipe, int(req["PipelineVersionId"]))
        text, version = rec["PipelineDefinition"], int(rec["PipelineVersionId"])
    defn = check_definition(text)
    params = bind_parameters(defn, req.get("PipelineParameters"))
    token = req.get("ClientRequestToken")
    exec_id = _new_id(pipe.arn, token)
    arn = execution_arn(services, pipe.name, exec_id)
    if token:
        existing = services.meta.find(EXEC_KIND, exec_id)
        if existing is not None:
            return {"PipelineExecutionArn": existing.arn}
    steps = _selective_steps(services, pipe, defn, req.get("SelectiveExecutionConfig"))
    now = time.time()
    doc: dict[str, Any] = {
        "PipelineArn": pipe.arn, "PipelineExecutionArn": arn,
        "PipelineExecutionDisplayName": req.get("PipelineExecutionDisplayName") or f"execution-{int(now * 1000)}",
        "PipelineExecutionStatus": "Executing", "CreationTime": now, "LastModifiedTime": now,
        "PipelineExperimentConfig": {"ExperimentName": pipe.name, "TrialName": exec_id},
        "PipelineVersionId": version, "CreatedBy": {}, "LastModifiedBy": {},
    }
    if req.get("PipelineExecutionDescription"):
        doc["PipelineExecutionDescription"] = req["PipelineExecutionDescription"]
    parallelism = _parallelism(req) or pipe.doc.get("ParallelismConfiguration")
    if parallelism:
        doc["ParallelismConfiguration"] = parallelism
    if req.get("SelectiveExecutionConfig"):
        doc["SelectiveExecutionConfig"] = req["SelectiveExecutionConfig"]
    state = ExecutionState(definition=text, parameters=params, token=token, steps=steps, pipeline_name=pipe.name)
    doc.update(state.to_doc())
    try:
        services.meta.create(EXEC_KIND, exec_id, arn, "Executing", stamp(doc), parent=pipe.arn)
    except ResourceInUse:
        if token:  # the same token raced us: the other call created it
            return {"PipelineExecutionArn": arn}
        raise
    services.wake(EXEC_KIND)
    return {"PipelineExecutionArn": arn}


def selected_steps(doc: dict) -> set[str] | None:
    cfg = doc.get("SelectiveExecutionConfig")
    if not cfg:
        return None
    return {s["StepName"] for s in cfg.get("SelectedSteps") or []}


def _selective_steps(services: Services, pipe: Resource, defn: Definition, cfg: dict | None
                     ) -> dict[str, StepRecord] | None:
    """Selective execution: the records of the steps it reuses from the source execution (every step upstream
    of a selected one that is not selected itself), each of which must have succeeded there."""
    if not cfg:
        return None
    selected = [s.get("StepName", "") for s in cfg.get("SelectedSteps") or []]
    if not selected:
        raise ValidationError("SelectiveExecutionConfig.SelectedSteps must name at least one step.")
    for name in selected:
        if name not in defn.steps:
            raise ValidationError(f"SelectiveExecutionConfig.SelectedSteps: step '{name}' is not in the pipeline.")
    source_arn = cfg.get("SourcePipelineExecutionArn") or ""
    if not source_arn:
        raise ValidationError("SelectiveExecutionConfig needs a SourcePipelineExecutionArn.")
    source = get_execution(services, source_arn)
    if source.parent != pipe.arn:
        raise ValidationError(f"SourcePipelineExecutionArn {source_arn} is an execution of another pipeline.")
    if source.status in PIPELINE_EXECUTION_ACTIVE:
        raise ValidationError(f"SourcePipelineExecutionArn {source_arn} is still {source.status}; select steps "
                              "of a finished execution.")
    src_steps = ExecutionState.from_doc(source.doc).step_map
    needed: set[str] = set()
    todo = list(selected)
    while todo:
        for up in defn.upstream(todo.pop()):
            if up not in needed and up not in selected:
                needed.add(up)
                todo.append(up)
    out = {}
    for name in sorted(needed):
        rec = src_steps.get(name)
        if rec is None or rec.status != "Succeeded":
            raise ValidationError(f"SelectiveExecutionConfig: step '{name}', which the selected steps depend on, "
                                  f"did not succeed in the source execution {source_arn}; select it too.")
        out[name] = StepRecord.from_dict({**rec.to_dict(), "reused_from": rec.reused_from or source.arn})
    return out


def describe_execution(services: Services, arn: str) -> dict:
    res = get_execution(services, arn)
    doc = public(res.doc)
    doc["PipelineExecutionStatus"] = res.status
    doc["LastModifiedTime"] = res.modified
    return doc


def list_executions(services: Services, req: dict) -> dict:
    pipe = get(services, req.get("PipelineName", ""))
    q = ListQuery(parent=pipe.arn, created_after=_ts(req.get("CreatedAfter")),
                  created_before=_ts(req.get("CreatedBefore")),
                  sort_by="name" if req.get("SortBy") == "PipelineExecutionArn" else "created",
                  descending=(req.get("SortOrder") or "Descending") == "Descending",
                  max_results=int(req.get("MaxResults") or 50), next_token=req.get("NextToken"))
    page = services.meta.list(EXEC_KIND, q)
    summaries = []
    for r in page.items:
        s = {"PipelineExecutionArn": r.arn, "StartTime": r.created, "PipelineExecutionStatus": r.status,
             "PipelineExecutionDisplayName": r.doc.get("PipelineExecutionDisplayName", "")}
        if r.doc.get("PipelineExecutionDescription"):
            s["PipelineExecutionDescription"] = r.doc["PipelineExecutionDescription"]
        if r.doc.get("FailureReason"):
            s["PipelineExecutionFailureReason"] = r.doc["FailureReason"]
        summaries.append(s)
    out: dict[str, Any] = {"PipelineExecutionSummaries": summaries}
    if page.next_token:
        out["NextToken"] = page.next_token
    return out


def stop_execution(services: Services, arn: str) -> dict:
    """StopPipelineExecution: Executing -> Stopping; the controller stops the running steps' jobs."""
    res = get_execution(services, arn)
    if res.status == "Stopping":
        return {"PipelineExecutionArn": res.arn}
    if res.status in PIPELINE_EXECUTION_TERMINAL:
        raise ValidationError(f"Pipeline execution {res.arn} is {res.status}; only an Executing execution can "
                              "be stopped.")
    try:
        services.meta.update(EXEC_KIND, res.name, {"PipelineExecutionStatus": "Stopping"}, status="Stopping",
                             expect_status={"Executing"})
    except ConflictError:
        now = services.meta.get(EXEC_KIND, res.name)
        if now.status != "Stopping":
            raise ValidationError(f"Pipeline execution {res.arn} is {now.status}; only an Executing execution "
                                  "can be stopped.") from None
    services.wake(EXEC_KIND)
    return {"PipelineExecutionArn": res.arn}


def retry_execution(services: Services, req: dict) -> dict:
    """RetryPipelineExecution: a Failed or Stopped execution resumes; its failed and stopped steps run again
    (their records are cleared), the steps that succeeded keep their results."""
    res = get_execution(services, req.get("PipelineExecutionArn", ""))
    if res.status not in ("Failed", "Stopped"):
        raise ValidationError(f"Pipeline execution {res.arn} is {res.status}; only a Failed or Stopped execution "
                              "can be retried.")
    state = ExecutionState.from_doc(res.doc)
    steps = {k: v for k, v in state.step_map.items() if v.status == "Succeeded"}
    changes: dict[str, Any] = {"PipelineExecutionStatus": "Executing", "FailureReason": None,
                               **state.changes(steps=steps)}
    parallelism = _parallelism(req)
    if parallelism:
        changes["ParallelismConfiguration"] = parallelism
    try:
        services.meta.update(EXEC_KIND, res.name, changes, status="Executing", expect_status={res.status})
    except ConflictError:
        raise ValidationError(f"Pipeline execution {res.arn} changed while it was being retried; try again.") \
            from None
    services.wake(EXEC_KIND)
    return {"PipelineExecutionArn": res.arn}


def _step_time(rec: StepRecord) -> float:
    return rec.start or 0.0


def list_steps(services: Services, req: dict) -> dict:
    res = get_execution(services, req.get("PipelineExecutionArn", ""))
    state = ExecutionState.from_doc(res.doc)
    defn_steps = _definition_steps(state)
    records = sorted(state.step_map.values(), key=_step_time,
                     reverse=(req.get("SortOrder") or "Descending") == "Descending")
    start = _offset(req.get("NextToken"))
    size = int(req.get("MaxResults") or 50)
    out: dict[str, Any] = {"PipelineExecutionSteps": [step_summary(r, defn_steps.get(r.name, {}))
                                                      for r in records[start:start + size]]}
    if start + size < len(records):
        out["NextToken"] = str(start + size)
    return out


def _definition_steps(state: ExecutionState) -> dict[str, dict]:
    """name -> the raw step JSON (display names and descriptions), nested Condition branches included."""
    out: dict[str, dict] = {}

    def walk(steps: list) -> None:
        for s in steps or []:
            out[s.get("Name", "")] = s
            args = s.get("Arguments") or {}
            if s.get("Type") == "Condition" and isinstance(args, dict):
                walk(args.get("IfSteps") or [])
                walk(args.get("ElseSteps") or [])

    try:
        walk(json.loads(state.definition or "{}").get("Steps") or [])
    except (ValueError, AttributeError):
        pass
    return out


def step_summary(rec: StepRecord, raw: dict) -> dict:
    """One ListPipelineExecutionSteps entry."""
    status = rec.status
    out: dict[str, Any] = {"StepName": rec.name, "StepStatus": status, "AttemptCount": rec.attempt,
                           "Metadata": dict(rec.metadata)}
    if raw.get("DisplayName"):
        out["StepDisplayName"] = raw["DisplayName"]
    if raw.get("Description"):
        out["StepDescription"] = raw["Description"]
    if rec.start is not None:
        out["StartTime"] = rec.start
    if rec.end is not None:
        out["EndTime"] = rec.end
    if rec.failure:
        out["FailureReason"] = rec.failure
    if rec.cache_source:
        out["CacheHitResult"] = {"SourcePipelineExecutionArn": rec.cache_source}
    if rec.reused_from:
        out["SelectiveExecutionResult"] = {"SourcePipelineExecutionArn": rec.reused_from}
    return out


def list_parameters(services: Services, req: dict) -> dict:
    res = get_execution(services, req.get("PipelineExecutionArn", ""))
    params = ExecutionState.from_doc(res.doc).parameters or {}
    items = [{"Name": k, "Value": _wire_value(v)} for k, v in params.items()]
    start = _offset(req.get("NextToken"))
    size = int(req.get("MaxResults") or 50)
    out: dict[str, Any] = {"PipelineParameters": items[start:start + size]}
    if start + size < len(items):
        out["NextToken"] = str(start + size)
    return out


def _wire_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def definition_for_execution(services: Services, arn: str) -> dict:
    res = get_execution(services, arn)
    return {"PipelineDefinition": res.doc.get("_definition", ""), "CreationTime": res.created}


# ------------------------------------------------------------------ callbacks
def _find_callback(services: Services, token: str) -> tuple[Resource, StepRecord]:
    for ex in services.meta.list_in_status(EXEC_KIND, ("Executing", "Stopping")):
        for rec in ExecutionState.from_doc(ex.doc).step_map.values():
            if rec.callback_token == token:
                return ex, rec
    raise ValidationError(f"CallbackToken {token!r} names no Callback step that is waiting: it is wrong, or the "
                          "step has already ended.")


def send_step_result(services: Services, req: dict, success: bool) -> dict:
    """SendPipelineExecutionStepSuccess/Failure: end the waiting Callback step that holds this token."""
    token = req.get("CallbackToken") or ""
    for _ in range(5):  # compare-and-set against the controller's writes
        ex, rec = _find_callback(services, token)
        if rec.status != "Executing":
            raise ValidationError(f"The Callback step '{rec.name}' is {rec.status}; it no longer takes a result.")
        state = ExecutionState.from_doc(ex.doc)
        mine = state.step_map[rec.name]
        mine.end = time.time()
        if success:
            outputs = [{"Name": p.get("Name", ""), "Value": p.get("Value", "")}
                       for p in req.get("OutputParameters") or []]
            mine.status = "Succeeded"
            mine.properties = {"OutputParameters": outputs}
            mine.metadata = {"Callback": {**mine.metadata.get("Callback", {}), "OutputParameters": outputs}}
        else:
            mine.status = "Failed"
            mine.failure = req.get("FailureReason") or "The callback reported a failure."
        try:
            services.meta.update(EXEC_KIND, ex.name, state.to_changes("steps"), expect_version=ex.version)
        except ConflictError:
            continue
        services.wake(EXEC_KIND)
        return {"PipelineExecutionArn": ex.arn}
    raise ConflictError("The pipeline execution kept changing; send the callback result again.")
