"""Labeling: the jobs (ListLabelingJobs, DescribeLabelingJob, Stop) and the worker portal.

The job pages go through the API like every other page. The worker portal does what AWS's worker portal does
and no SageMaker operation exists for (take the next task, submit an answer), so it calls the resource layer
directly with the signed-in console user's name; team membership is the authorization
(:func:`shipyard.resources.labeling_job.take` and ``submit`` refuse a user outside the job's team with 403), so
the server's own key and a user in no team get nothing. Answers are posted as a form (``answer`` = the JSON the
task's widget produced) with the page's CSRF token.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.responses import RedirectResponse, Response

from ..errors import AuthError, ValidationError
from ..resources import labeling_job as lj
from ..resources import workteam as wt

if TYPE_CHECKING:
    from .app import Context

MAX_JOBS = 100
STOPPABLE = ("Initializing", "InProgress")


def _worker(ctx: Context) -> str:
    """The signed-in console user's name; the portal is for users (workers), not for the server's key."""
    if ctx.identity.user is None:
        raise AuthError("The worker portal is for workers: sign in with a console user's key pair (shipyard users "
                        "add NAME) that a work team lists; the server's key and job keys have no tasks.",
                        code="AccessDeniedException", http_status=403)
    return ctx.identity.user_name


async def labeling_jobs(ctx: Context) -> Response:
    out = await ctx.ops.call(ctx.identity, "ListLabelingJobs", {"MaxResults": MAX_JOBS})
    jobs = out["LabelingJobSummaryList"]
    live = any(j["LabelingJobStatus"] in ("Initializing", "InProgress", "Stopping") for j in jobs)
    return ctx.page("labeling_jobs.html", jobs=jobs, live=live)


async def labeling_job(ctx: Context) -> Response:
    name = ctx.request.path_params["name"]
    job = await ctx.ops.call(ctx.identity, "DescribeLabelingJob", {"LabelingJobName": name})
    return ctx.page("labeling_job.html", job=job, stoppable=STOPPABLE)


async def stop_labeling_job(ctx: Context) -> Response:
    name = ctx.request.path_params["name"]
    await ctx.ops.call(ctx.identity, "StopLabelingJob", {"LabelingJobName": name})
    return RedirectResponse(f"/studio/labeling-jobs/{quote(name)}", status_code=303)


async def worker_home(ctx: Context) -> Response:
    user = _worker(ctx)
    services = ctx.ops.services
    jobs = await asyncio.to_thread(lj.queue, services, user)
    done = await asyncio.to_thread(lj.submissions, services, user)
    return ctx.page("worker.html", jobs=jobs, done=done, user=user, notice=ctx.request.query_params.get("notice", ""))


def _next_or_home(services: Any, user: str, job: str, notice: str = "") -> RedirectResponse:
    view = lj.take(services, user, job)
    if view is None:
        text = notice or f"No more tasks in {job} for you right now."
        return RedirectResponse(f"/studio/worker?notice={quote(text)}", status_code=303)
    return RedirectResponse(f"/studio/worker/tasks/{quote(view['task'])}", status_code=303)


async def take_next(ctx: Context) -> Response:
    user = _worker(ctx)
    return await asyncio.to_thread(_next_or_home, ctx.ops.services, user, ctx.request.path_params["job"])


async def task_page(ctx: Context) -> Response:
    user = _worker(ctx)
    name = ctx.request.path_params["task"]
    services = ctx.ops.services
    job, task = await asyncio.to_thread(lj.leased_task, services, user, name)
    view = lj.task_view(job, task, user)
    return ctx.page("worker_task.html", view=view, user=user)


async def task_object(ctx: Context) -> Response:
    user = _worker(ctx)
    data, kind = await asyncio.to_thread(lj.task_object, ctx.ops.services, user, ctx.request.path_params["task"])
    return Response(data, media_type=kind, headers={"cache-control": "private, max-age=300"})


async def submit(ctx: Context) -> Response:
    user = _worker(ctx)
    name = ctx.request.path_params["task"]
    try:
        answer = json.loads(ctx.form.get("answer", ""))
    except ValueError:
        raise ValidationError("answer: the form's answer must be the task widget's JSON.") from None
    services = ctx.ops.services
    job, _task = await asyncio.to_thread(lj.leased_task, services, user, name)
    await asyncio.to_thread(lj.submit, services, user, name, answer)
    if ctx.form.get("then") == "stop":
        return RedirectResponse(f"/studio/worker?notice={quote('Answer saved.')}", status_code=303)
    return await asyncio.to_thread(_next_or_home, services, user, job.name, "Answer saved; no more tasks for now.")


async def task_template(ctx: Context) -> Response:
    """A human task UI's template (DescribeHumanTaskUi's UiTemplate.Url), as text, for any signed-in key."""
    r = await asyncio.to_thread(wt.get_human_task_ui, ctx.ops.services, ctx.request.path_params["name"])
    return Response(r.doc["_Content"], media_type="text/plain; charset=utf-8")


ROUTES: list[tuple[str, Any, list[str]]] = [
    ("/labeling-jobs", labeling_jobs, ["GET"]),
    ("/labeling-jobs/{name}", labeling_job, ["GET"]),
    ("/labeling-jobs/{name}/stop", stop_labeling_job, ["POST"]),
    ("/worker", worker_home, ["GET"]),
    ("/worker/jobs/{job}/next", take_next, ["POST"]),
    ("/worker/tasks/{task}", task_page, ["GET"]),
    ("/worker/tasks/{task}/object", task_object, ["GET"]),
    ("/worker/tasks/{task}/submit", submit, ["POST"]),
    ("/worker/templates/{name}", task_template, ["GET"]),
]
