"""Notebooks: the notebook instances (ListNotebookInstances) with Start, Stop and Open, and the
``shipyard notebook`` JupyterLab of this server's home.

Open is CreatePresignedNotebookInstanceUrl, as the AWS console's "Open JupyterLab": the browser is sent to the
short-lived URL it returns. Each instance's code repositories are listed (its default one first), as
ListNotebookInstances answers them. It is a POST with the CSRF token like Start and Stop, because it mints a login.
The local lab is known from the record ``shipyard notebook`` keeps in ``<home>/notebook/lab.json`` while it
runs (:func:`shipyard.cli_notebook.read_lab_record`); its URL carries a token to a lab whose kernels hold the
server's keys, so only the server's own key sees it, never a job's scoped key or a user's.
"""

from __future__ import annotations

import asyncio
import shlex
from typing import TYPE_CHECKING, Any

from starlette.responses import RedirectResponse, Response

if TYPE_CHECKING:
    from .app import Context

MAX_INSTANCES = 100
STARTABLE = ("Stopped", "Failed")
STOPPABLE = ("Pending", "InService")  # as StopNotebookInstance allows
OPENABLE = ("InService",)


def _lab(ctx: Context) -> dict | None:
    from ..cli_notebook import read_lab_record

    return read_lab_record(ctx.ops.services.settings.home)


def start_command(home: Any) -> str:
    return f"shipyard notebook --home {shlex.quote(str(home))} --dir ."


async def notebooks(ctx: Context) -> Response:
    out = await ctx.ops.call(ctx.identity, "ListNotebookInstances", {
        "MaxResults": MAX_INSTANCES, "SortBy": "CreationTime", "SortOrder": "Descending"})
    server_key = ctx.identity.is_server_key
    lab = await asyncio.to_thread(_lab, ctx) if server_key else None
    live = any(i.get("NotebookInstanceStatus") in ("Pending", "Stopping", "Deleting", "Updating")
               for i in out["NotebookInstances"])
    return ctx.page("notebooks.html", instances=out["NotebookInstances"], lab=lab, server_key=server_key,
                    command=start_command(ctx.ops.services.settings.home), live=live,
                    startable=STARTABLE, stoppable=STOPPABLE, openable=OPENABLE)


def _back() -> RedirectResponse:
    return RedirectResponse("/studio/notebooks", status_code=303)


async def start(ctx: Context) -> Response:
    await ctx.ops.call(ctx.identity, "StartNotebookInstance",
                       {"NotebookInstanceName": ctx.request.path_params["name"]})
    return _back()


async def stop(ctx: Context) -> Response:
    await ctx.ops.call(ctx.identity, "StopNotebookInstance",
                       {"NotebookInstanceName": ctx.request.path_params["name"]})
    return _back()


async def open_instance(ctx: Context) -> Response:
    """The browser goes to the instance's JupyterLab through a presigned URL (the API refuses one for an
    instance that is not InService, and the console shows that refusal)."""
    out = await ctx.ops.call(ctx.identity, "CreatePresignedNotebookInstanceUrl",
                             {"NotebookInstanceName": ctx.request.path_params["name"]})
    return RedirectResponse(out["AuthorizedUrl"], status_code=303, headers={"cache-control": "no-store"})


ROUTES: list[tuple[str, Any, list[str]]] = [
    ("/notebooks", notebooks, ["GET"]),
    ("/notebooks/{name}/start", start, ["POST"]),
    ("/notebooks/{name}/stop", stop, ["POST"]),
    ("/notebooks/{name}/open", open_instance, ["POST"]),
]
