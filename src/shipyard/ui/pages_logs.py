"""Logs search: a log group, an optional stream prefix, a filter pattern and a time range, through CloudWatch
Logs' own DescribeLogGroups and FilterLogEvents as the signed-in key.

The pattern is FilterLogEvents's, as Shipyard serves it (``api/logs.py``): terms that must all appear,
``"quoted phrases"``, and ``?term`` for any-of. Results page with the operation's nextToken: "More" fetches
the next page's rows (htmx) and puts them under the ones shown. A stream of a SageMaker job's log group is
named ``<job>/...``, so each row links to the job (or endpoint, or notebook instance) it came from.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from starlette.responses import Response

from ..errors import ValidationError

if TYPE_CHECKING:
    from .app import Context

RESULTS_PAGE = 100
GROUP_PAGES = 10  # DescribeLogGroups pages (50 groups each) offered in the picker
RANGES = {"15m": ("15 minutes", 15 * 60), "1h": ("1 hour", 3600), "24h": ("24 hours", 24 * 3600),
          "7d": ("7 days", 7 * 24 * 3600), "all": ("all time", 0)}
DEFAULT_RANGE = "24h"
ENDPOINT_GROUP = "/aws/sagemaker/Endpoints/"


def source_link(group: str, stream: str) -> str:
    """The console page of what wrote a stream of a SageMaker log group, or "" for any other group."""
    owner = stream.split("/", 1)[0]
    if group.startswith(ENDPOINT_GROUP):
        return f"/studio/endpoints/{quote(group[len(ENDPOINT_GROUP):], safe='')}"
    if not owner:
        return ""
    if group == "/aws/sagemaker/TrainingJobs":
        return f"/studio/training-jobs/{quote(owner, safe='')}"
    if group == "/aws/sagemaker/ProcessingJobs":
        return f"/studio/processing-jobs?name={quote(owner, safe='')}"
    if group == "/aws/sagemaker/TransformJobs":
        return f"/studio/transform-jobs?name={quote(owner, safe='')}"
    if group == "/aws/sagemaker/NotebookInstances":
        return "/studio/notebooks"
    return ""


async def _groups(ctx: Context) -> list[str]:
    names: list[str] = []
    token = None
    for _ in range(GROUP_PAGES):
        params: dict[str, Any] = {"limit": 50}
        if token:
            params["nextToken"] = token
        out = await ctx.ops.call(ctx.identity, "DescribeLogGroups", params, service="logs")
        names += [g["logGroupName"] for g in out.get("logGroups", [])]
        token = out.get("nextToken")
        if not token:
            break
    return names


def _search_params(group: str, prefix: str, pattern: str, chosen: str, token: str, now: float) -> dict:
    params: dict[str, Any] = {"logGroupName": group, "limit": RESULTS_PAGE, "filterPattern": pattern}
    if prefix:
        params["logStreamNamePrefix"] = prefix
    seconds = RANGES[chosen][1]
    if seconds:
        params["startTime"] = int((now - seconds) * 1000)
    if token:
        params["nextToken"] = token
    return params


def _pinned_time(raw: str) -> float:
    if not raw:
        return time.time()
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 < value < 1e11:
        raise ValidationError(f"The search's time (at) must be epoch seconds; got {raw!r}. Search again.")
    return value


async def logs(ctx: Context) -> Response:
    """The search form and, once a group is chosen, the first page of matching events (or, for htmx's "More",
    only the next page's rows)."""
    q = ctx.request.query_params
    group, prefix = q.get("group", "").strip(), q.get("prefix", "").strip()
    pattern, chosen, token = q.get("pattern", ""), q.get("range", DEFAULT_RANGE), q.get("next", "")
    if chosen not in RANGES:
        raise ValidationError(f"Range must be one of {', '.join(RANGES)}; got {chosen!r}.")
    rows_only = bool(token) and "hx-request" in ctx.request.headers
    events: list[dict] = []
    more_url = ""
    searched = False
    if group:
        # "now" is pinned by the first page (``at``), so "More" continues the same search window
        now = _pinned_time(q.get("at", ""))
        out = await ctx.ops.call(ctx.identity, "FilterLogEvents",
                                 _search_params(group, prefix, pattern, chosen, token, now), service="logs")
        events = [{**e, "link": source_link(group, e.get("logStreamName", ""))} for e in out.get("events", [])]
        searched = True
        nxt = out.get("nextToken")
        if nxt and events:  # Shipyard, as CloudWatch, hands a token after every page that had events
            more_url = "?" + urlencode({"group": group, "prefix": prefix, "pattern": pattern, "range": chosen,
                                        "at": f"{now:.3f}", "next": nxt})
    if rows_only:
        return ctx.page("_log_results.html", events=events, more_url=more_url, first=False)
    groups = await _groups(ctx)
    return ctx.page("logs.html", groups=groups, group=group, stream_prefix=prefix, pattern=pattern,
                    chosen=chosen, ranges=RANGES, events=events, more_url=more_url, searched=searched, first=True)


ROUTES: list[tuple[str, Any, list[str]]] = [
    ("/logs", logs, ["GET"]),
]
