"""Labeling jobs (Ground Truth with a private workforce): Create, Describe, List, Stop, the work team's view,
and what a worker does in the portal (take the next task, submit an answer, see their queue).

A job is one record (kind ``labeling-job``, shaped like DescribeLabelingJob); each data object of its manifest
is one task record (kind ``labeling-task``, named ``<job>.<index>``, parent the job) holding the object, the
workers' answers and their leases. Statuses of a task: ``Pending`` (open to workers) -> ``Answered`` (it has
NumberOfHumanWorkersPerDataObject answers) -> ``Labeled`` (consolidated), or ``Expired`` (the job's
TaskAvailabilityLifetimeInSeconds passed first). :mod:`shipyard.controllers.labeling` moves the job: it creates
the tasks (Initializing -> InProgress, pre-labeling them when asked), consolidates answered tasks, keeps the
LabelCounters, honours StoppingConditions and StopLabelingJob and writes the output manifest.

A worker takes a task with a lease of TaskTimeLimitInSeconds; a lease not followed by a submission in time
lapses, and the task goes back to the queue for anyone (the late answer is refused). Each worker answers a data
object at most once, so N answers come from N different workers. Leases and answers are written with a
compare-and-set on the task's version, so two workers never take the last place on one task.

Create validates what AWS validates up front, each refusal naming the field: the work team (and that it has
members), the built-in task type (PRE-/ACS- Lambda ARNs and the template's element must agree), the template and
labels, the manifest (JSON Lines with ``source-ref``/``source``) and the output bucket.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import orjson

from ..context import Services
from ..domain.acting import stamp
from ..domain.s3_uri import parse_s3_uri
from ..errors import AuthError, ConflictError, ResourceInUse, ResourceNotFound, S3Error, ValidationError
from ..labeling import output as layout
from ..labeling.consolidation import validate_answer
from ..labeling.manifest import FIELD as MANIFEST_FIELD
from ..labeling.manifest import parse_manifest
from ..labeling.prelabel import TAG as PRELABEL_TAG
from ..labeling.tasks import ACS_FIELD, PRE_FIELD, TASK_TYPES, Template, from_lambda, parse_label_categories, \
    parse_template
from ..metastore.base import ListQuery, Resource
from . import workteam as teams
from .job_listing import list_page

KIND = "labeling-job"
TASK = "labeling-task"
ACTIVE = ("Initializing", "InProgress", "Stopping")
TERMINAL = ("Completed", "Failed", "Stopped")
DEFAULT_LIFETIME_S = 864000  # AWS's longest (and Shipyard's default) availability for a private workforce
CAS_TRIES = 8
MAX_INPUT_BYTES = 256 * 1024 * 1024  # a manifest of 100,000 lines (AWS's cap) stays far below this


def public(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def _read(services: Services, uri: str, field_name: str, limit: int = MAX_INPUT_BYTES) -> bytes:
    """An input object (manifest, template, label config), refused naming the field when missing or over
    ``limit`` bytes (read whole into memory, so it is capped)."""
    try:
        bucket, key = parse_s3_uri(uri)
    except ValidationError as e:
        raise ValidationError(f"{field_name}: {e.message}") from None
    try:
        size = services.objects.head_object(bucket, key).size
        if size > limit:
            raise ValidationError(f"{field_name}: {uri} is {size} bytes; Shipyard reads at most {limit}.")
        return services.objects.get_bytes(bucket, key)
    except S3Error as e:
        raise ValidationError(f"{field_name}: cannot read {uri} ({e.code}); upload it first.") from None


def _task_type(params: dict, template: Template):
    htc = params["HumanTaskConfig"]
    task = template.task
    pre = htc.get("PreHumanTaskLambdaArn")
    if pre and from_lambda(pre, "PRE-", PRE_FIELD) != task:
        raise ValidationError(f"{PRE_FIELD} {pre!r} names another task type than the template's "
                              f"<{template.element}> (PRE-{task.lambda_name}).")
    acs = (htc.get("AnnotationConsolidationConfig") or {}).get("AnnotationConsolidationLambdaArn")
    if acs and from_lambda(acs, "ACS-", ACS_FIELD) != task:
        raise ValidationError(f"{ACS_FIELD} {acs!r} names another task type than the template's "
                              f"<{template.element}> (ACS-{task.lambda_name}).")
    return task


def load_template(services: Services, params: dict) -> Template:
    """The job's template and labels, from UiTemplateS3Uri or HumanTaskUiArn and LabelCategoryConfigS3Uri."""
    htc = params["HumanTaskConfig"]
    ui = htc.get("UiConfig") or {}
    # The PRE- Lambda is checked first: an unknown task type is the clearer message.
    if htc.get("PreHumanTaskLambdaArn"):
        from_lambda(htc["PreHumanTaskLambdaArn"], "PRE-", PRE_FIELD)
    if ui.get("UiTemplateS3Uri") and ui.get("HumanTaskUiArn"):
        raise ValidationError("HumanTaskConfig.UiConfig: give UiTemplateS3Uri or HumanTaskUiArn, not both.")
    if ui.get("UiTemplateS3Uri"):
        content = _read(services, ui["UiTemplateS3Uri"], "HumanTaskConfig.UiConfig.UiTemplateS3Uri").decode(
            "utf-8", "replace")
    elif ui.get("HumanTaskUiArn"):
        content = teams.template_content(services, ui["HumanTaskUiArn"])
    else:
        raise ValidationError("HumanTaskConfig.UiConfig: give UiTemplateS3Uri (a task template in S3) or "
                              "HumanTaskUiArn (from CreateHumanTaskUi).")
    labels: list[str] = []
    header = ""
    if params.get("LabelCategoryConfigS3Uri"):
        labels, header = parse_label_categories(_read(services, params["LabelCategoryConfigS3Uri"],
                                                      "LabelCategoryConfigS3Uri"))
    template = parse_template(content, labels, header or htc["TaskDescription"])
    _task_type(params, template)
    return template


def _tag(params: dict, key: str) -> str | None:
    for tag in params.get("Tags") or []:
        if tag.get("Key") == key:
            return tag.get("Value")
    return None


def create(services: Services, params: dict) -> dict:
    name = params["LabelingJobName"]
    htc = params["HumanTaskConfig"]
    if services.meta.find(KIND, name) is not None:
        raise ResourceInUse(f"LabelingJobName: a labeling job named {name} already exists.")
    team = teams.get_workteam(services, htc["WorkteamArn"], "HumanTaskConfig.WorkteamArn")
    if not teams.members(services, team):
        raise ValidationError(f"HumanTaskConfig.WorkteamArn: work team {team.name} has no members (its groups name "
                              "no console user); add users to it first.")
    template = load_template(services, params)
    source = params["InputConfig"]["DataSource"]
    if not source.get("S3DataSource"):
        raise ValidationError("InputConfig.DataSource.S3DataSource: give ManifestS3Uri; streaming jobs "
                              "(SnsDataSource) are not supported by Shipyard.")
    manifest_uri = source["S3DataSource"]["ManifestS3Uri"]
    objects = parse_manifest(_read(services, manifest_uri, MANIFEST_FIELD), manifest_uri, template.task.media)
    out_bucket, out_prefix = parse_s3_uri(params["OutputConfig"]["S3OutputPath"])
    if not services.objects.bucket_exists(out_bucket):
        raise ValidationError(f"OutputConfig.S3OutputPath: bucket {out_bucket} does not exist; create it first.")
    endpoint = _tag(params, PRELABEL_TAG)
    if endpoint and services.meta.find("endpoint", endpoint) is None:
        raise ValidationError(f"Tags: {PRELABEL_TAG} names endpoint {endpoint!r}, which does not exist.")
    arn = services.arn(KIND, name)
    now = time.time()
    doc: dict[str, Any] = {
        "LabelingJobName": name, "LabelingJobArn": arn, "LabelAttributeName": params["LabelAttributeName"],
        "InputConfig": params["InputConfig"], "OutputConfig": params["OutputConfig"], "RoleArn": params["RoleArn"],
        "HumanTaskConfig": htc, "CreationTime": now, "LastModifiedTime": now,
        "JobReferenceCode": secrets.token_hex(16),
        "LabelCounters": {"TotalLabeled": 0, "HumanLabeled": 0, "MachineLabeled": 0,
                          "FailedNonRetryableError": 0, "Unlabeled": len(objects)},
        "_Template": template.to_doc(), "_Task": template.task.lambda_name, "_Objects": len(objects),
        "_OutPrefix": layout.job_prefix(out_prefix, name), "_OutBucket": out_bucket,
        "_WorkteamName": team.name,
    }
    for key in ("LabelCategoryConfigS3Uri", "StoppingConditions", "LabelingJobAlgorithmsConfig", "Tags"):
        if key in params:
            doc[key] = params[key]
    if endpoint:
        doc["_PrelabelEndpoint"] = endpoint
    try:
        services.meta.create(KIND, name, arn, "Initializing", stamp(doc))
    except ResourceInUse:
        raise ResourceInUse(f"LabelingJobName: a labeling job named {name} already exists.") from None
    services.wake(KIND)
    return {"LabelingJobArn": arn}


def get(services: Services, name: str) -> Resource:
    found = services.meta.find(KIND, name)
    if found is None:
        raise ResourceNotFound(f"LabelingJobName: labeling job {name} does not exist.")
    return found


def describe(r: Resource) -> dict:
    doc = public(r.doc)
    doc["LabelingJobStatus"] = r.status
    doc["LastModifiedTime"] = r.modified
    return doc


def _summary(r: Resource) -> dict:
    htc = r.doc["HumanTaskConfig"]
    out: dict[str, Any] = {"LabelingJobName": r.name, "LabelingJobArn": r.arn, "CreationTime": r.created,
                           "LastModifiedTime": r.modified, "LabelingJobStatus": r.status,
                           "LabelCounters": r.doc["LabelCounters"], "WorkteamArn": htc["WorkteamArn"],
                           "InputConfig": r.doc["InputConfig"]}
    if htc.get("PreHumanTaskLambdaArn"):
        out["PreHumanTaskLambdaArn"] = htc["PreHumanTaskLambdaArn"]
    acs = (htc.get("AnnotationConsolidationConfig") or {}).get("AnnotationConsolidationLambdaArn")
    if acs:
        out["AnnotationConsolidationLambdaArn"] = acs
    for key in ("FailureReason", "LabelingJobOutput"):
        if key in r.doc:
            out[key] = r.doc[key]
    return out


def list_jobs(services: Services, params: dict) -> dict:
    return list_page(services, KIND, params, "LabelingJobSummaryList", _summary)


def stop(services: Services, name: str) -> None:
    r = get(services, name)
    if r.status in ("Stopping",) + TERMINAL:
        return  # AWS accepts a stop of a job that is already stopping or done
    try:
        services.meta.update(KIND, r.name, status="Stopping", expect_status=("Initializing", "InProgress"))
    except ConflictError:
        pass  # it finished meanwhile
    services.wake(KIND)


def list_for_workteam(services: Services, params: dict) -> dict:
    team = teams.get_workteam(services, params["WorkteamArn"], "WorkteamArn")
    contains = params.get("JobReferenceCodeContains")

    def summary(r: Resource) -> dict:
        counters = r.doc["LabelCounters"]
        return {"LabelingJobName": r.name, "JobReferenceCode": r.doc["JobReferenceCode"],
                "WorkRequesterAccountId": services.account, "CreationTime": r.created,
                "LabelCounters": {"HumanLabeled": counters["HumanLabeled"], "PendingHuman": counters["Unlabeled"],
                                  "Total": r.doc["_Objects"]},
                "NumberOfHumanWorkersPerDataObject": r.doc["HumanTaskConfig"]["NumberOfHumanWorkersPerDataObject"]}
    jobs = [r for r in services.meta.list_in_status(KIND, ("InProgress",))
            if r.doc.get("_WorkteamName") == team.name
            and (not contains or contains in r.doc["JobReferenceCode"])]
    after = params.get("CreationTimeAfter")
    before = params.get("CreationTimeBefore")
    if after is not None:
        jobs = [r for r in jobs if r.created > _seconds(after)]
    if before is not None:
        jobs = [r for r in jobs if r.created < _seconds(before)]
    jobs.sort(key=lambda r: r.created, reverse=params.get("SortOrder", "Descending") != "Ascending")
    start = int(params["NextToken"]) if str(params.get("NextToken") or "").isdigit() else 0
    size = int(params.get("MaxResults") or 10)
    out: dict[str, Any] = {"LabelingJobSummaryList": [summary(r) for r in jobs[start:start + size]]}
    if start + size < len(jobs):
        out["NextToken"] = str(start + size)
    return out


def _seconds(value: Any) -> float:
    return float(value.timestamp()) if hasattr(value, "timestamp") else float(value)


# -- tasks ----------------------------------------------------------------------------------------------------
def task_name(job: str, index: int) -> str:
    return f"{job}.{index}"


def tasks_of(services: Services, job: str, status: str | None = None) -> list[Resource]:
    """The job's tasks in manifest order (read a store page at a time; ordered by index, since tasks created
    in one tick may share a creation time)."""
    out: list[Resource] = []
    token = None
    while True:
        page = services.meta.list(TASK, ListQuery(parent=job, status_equals=status, sort_by="created",
                                                  descending=False, max_results=500, next_token=token))
        out.extend(page.items)
        token = page.next_token
        if not token:
            return sorted(out, key=lambda t: int(t.doc["Index"]))


def template_of(job: Resource) -> Template:
    return Template.from_doc(job.doc["_Template"])


def _worker_jobs(services: Services, user: str, statuses: tuple[str, ...] = ("InProgress",)) -> list[Resource]:
    """The jobs (InProgress by default) of the teams this console user is in; refused (403) for a user in no
    team."""
    my_teams = {t.name for t in teams.teams_of(services, user)}
    if not my_teams:
        raise AuthError(f"User {user or '(not a console user)'} is in no work team, so has no labeling tasks: ask "
                        "an admin to add you to a team (CreateWorkteam or UpdateWorkteam MemberDefinitions).",
                        code="AccessDeniedException", http_status=403)
    return [r for r in services.meta.list_in_status(KIND, statuses) if r.doc.get("_WorkteamName") in my_teams]


def _live_leases(task: Resource, now: float) -> dict[str, float]:
    return {u: d for u, d in (task.doc.get("Leases") or {}).items() if d > now}


def queue(services: Services, user: str) -> list[dict]:
    """What the worker's portal lists: per job of their teams, the tasks open to them and those they did."""
    now = time.time()
    out = []
    for job in _worker_jobs(services, user):
        n = job.doc["HumanTaskConfig"]["NumberOfHumanWorkersPerDataObject"]
        open_, mine, held = 0, 0, 0
        for t in tasks_of(services, job.name):
            answers = t.doc.get("Answers") or {}
            if user in answers:
                mine += 1
                continue
            leases = _live_leases(t, now)
            if user in leases:
                held += 1
            elif t.status == "Pending" and len(answers) + len(leases) < n:
                open_ += 1
        out.append({"job": job.name, "title": job.doc["HumanTaskConfig"]["TaskTitle"],
                    "description": job.doc["HumanTaskConfig"]["TaskDescription"], "available": open_ + held,
                    "held": held, "done": mine, "total": job.doc["_Objects"]})
    return out


def _update_task(services: Services, task: Resource, changes: dict, status: str | None = None) -> Resource | None:
    try:
        return services.meta.update(TASK, task.name, changes, status=status, expect_version=task.version)
    except ConflictError:
        return None


def take(services: Services, user: str, job_name: str) -> dict | None:
    """Lease the worker the next task of a job (their own unexpired lease first); None when nothing is open."""
    job = next((j for j in _worker_jobs(services, user) if j.name.lower() == job_name.lower()), None)
    if job is None:
        raise AuthError(f"Labeling job {job_name} is not open to {user}: it is not in progress or belongs to "
                        "another team.", code="AccessDeniedException", http_status=403)
    htc = job.doc["HumanTaskConfig"]
    n, limit = htc["NumberOfHumanWorkersPerDataObject"], htc["TaskTimeLimitInSeconds"]
    for _ in range(CAS_TRIES):
        now = time.time()
        pending = list(tasks_of(services, job.name, "Pending"))
        held = next((t for t in pending if user in _live_leases(t, now)), None)
        if held is not None:
            return task_view(job, held, user)
        for t in pending:
            answers, leases = t.doc.get("Answers") or {}, _live_leases(t, now)
            if user in answers or len(answers) + len(leases) >= n:
                continue
            updated = _update_task(services, t, {"Leases": {**leases, user: now + limit}})
            if updated is not None:
                return task_view(job, updated, user)
            break  # someone else changed it: look again
        else:
            return None
    return None


def task_view(job: Resource, task: Resource, user: str) -> dict:
    template = template_of(job)
    obj = task.doc["Object"]
    return {"task": task.name, "job": job.name, "index": task.doc["Index"], "element": template.element,
            "shape": template.task.shape, "labels": template.labels, "header": template.header,
            "short_instructions": template.short_instructions, "full_instructions": template.full_instructions,
            "title": job.doc["HumanTaskConfig"]["TaskTitle"], "source": obj.get("source"),
            "source_ref": obj.get("source-ref"), "prelabel": task.doc.get("Prelabel"),
            "deadline": (task.doc.get("Leases") or {}).get(user)}


def leased_task(services: Services, user: str, name: str) -> tuple[Resource, Resource]:
    """(job, task) for a task this worker holds an unexpired lease on; refused otherwise."""
    task = services.meta.find(TASK, name)
    if task is None:
        raise ResourceNotFound(f"Task {name} does not exist.")
    job = get(services, task.parent)
    if job.name not in {j.name for j in _worker_jobs(services, user)}:
        raise AuthError(f"Task {name} is not open to {user}.", code="AccessDeniedException", http_status=403)
    if user not in _live_leases(task, time.time()):
        raise ValidationError(f"Task {name}: your time limit ({job.doc['HumanTaskConfig']['TaskTimeLimitInSeconds']}"
                              " s) passed or you never took it; it went back to the queue. Take the next task.")
    return job, task


def submit(services: Services, user: str, name: str, answer: Any) -> None:
    """Record a worker's answer (validated against the task type and labels) and write their worker-response
    file; the task becomes Answered with its last needed answer, and the controller consolidates it."""
    for _ in range(CAS_TRIES):
        job, task = leased_task(services, user, name)
        template = template_of(job)
        content = validate_answer(template.task, template.labels, answer)
        now = time.time()
        answers = {**(task.doc.get("Answers") or {}), user: {"answer": content, "submitted": now}}
        leases = {u: d for u, d in _live_leases(task, now).items() if u != user}
        n = job.doc["HumanTaskConfig"]["NumberOfHumanWorkersPerDataObject"]
        status = "Answered" if len(answers) >= n else None
        if _update_task(services, task, {"Answers": answers, "Leases": leases}, status=status) is None:
            continue
        stamp = time.strftime("%Y-%m-%d_%H-%M-%S", time.gmtime(now)) + f"-{secrets.token_hex(3)}"
        body = {"answers": [layout.worker_response(template.name, content, user, now)]}
        services.objects.put_object(job.doc["_OutBucket"], layout.worker_response_key(
            job.doc["_OutPrefix"], task.doc["Index"], stamp), orjson.dumps(body), content_type="application/json")
        if status:
            services.wake(KIND)
        return
    raise ConflictError(f"Task {name} kept changing while your answer was saved; submit it again.")


def submissions(services: Services, user: str, limit: int = 50) -> list[dict]:
    """The worker's latest answers across their teams' jobs, newest first."""
    out = []
    for job in _worker_jobs(services, user, ACTIVE + TERMINAL):
        for t in tasks_of(services, job.name):
            mine = (t.doc.get("Answers") or {}).get(user)
            if mine:
                out.append({"job": job.name, "task": t.name, "index": t.doc["Index"], "submitted": mine["submitted"],
                            "status": t.status})
    out.sort(key=lambda x: x["submitted"], reverse=True)
    return out[:limit]


def task_object(services: Services, user: str, name: str) -> tuple[bytes, str]:
    """The image (or text file) a worker's leased task shows, read for them from the object store."""
    _job, task = leased_task(services, user, name)
    ref = task.doc["Object"].get("source-ref")
    if not ref:
        raise ValidationError(f"Task {name} has no source-ref object.")
    bucket, key = parse_s3_uri(ref)
    data = services.objects.get_bytes(bucket, key)
    lower = key.lower()
    kind = ("image/png" if lower.endswith(".png") else "image/jpeg" if lower.endswith((".jpg", ".jpeg"))
            else "image/gif" if lower.endswith(".gif") else "image/webp" if lower.endswith(".webp")
            else "text/plain; charset=utf-8" if lower.endswith(".txt") else "application/octet-stream")
    return data, kind


__all__ = ["KIND", "TASK", "TASK_TYPES", "create", "describe", "get", "list_jobs", "stop", "list_for_workteam",
           "take", "submit", "queue", "submissions", "task_object", "tasks_of", "template_of"]
