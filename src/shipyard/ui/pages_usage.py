"""Usage: instance-hours and cost estimates by resource (or instance type, tag, user) over a window, and the
budgets with their spend, read from the usage intervals the server's meter keeps (:mod:`shipyard.usage`).

The same rows as ``shipyard usage`` (:func:`shipyard.usage.report.usage_rows`). A job's scoped key sees no
usage: it may read only what its own job needs.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from ..errors import ShipyardError
from ..usage import budgets, prices, report
from ..usage.intervals import GROUPINGS, total

if TYPE_CHECKING:
    from .app import Context

WINDOWS = ("1d", "7d", "30d", "month", "90d")


def _read(ctx: Context, by: str, since_text: str, tag: str) -> dict[str, Any]:
    services = ctx.ops.services
    now = time.time()
    since = report.parse_time(since_text, now)
    rows = report.usage_rows(services.meta, services.settings.home, by=by, since=since, tag=tag or None, now=now)
    table = prices.load_table(services.settings.home)
    return {"rows": rows, "total": total(rows), "since": since,
            "budgets": budgets.status(services.meta, now, table)}


async def usage(ctx: Context) -> Response:
    q = ctx.request.query_params
    by, since_text, tag = q.get("by") or "resource", q.get("since") or "30d", (q.get("tag") or "").strip()
    values: dict[str, Any] = {"by": by, "since_text": since_text, "tag": tag, "groupings": GROUPINGS,
                              "windows": WINDOWS, "error": "", "rows": [], "budgets": [], "total": None}
    if ctx.identity.job is not None:
        values["error"] = "A job's key sees no usage: sign in with the server's key or a user's."
        return ctx.page("usage.html", http_status=403, **values)
    try:
        values.update(await asyncio.to_thread(_read, ctx, by, since_text, tag))
    except ShipyardError as exc:
        values["error"] = exc.message or str(exc)
        return ctx.page("usage.html", http_status=400, **values)
    return ctx.page("usage.html", **values)


ROUTES: list[tuple[str, Any, list[str]]] = [
    ("/usage", usage, ["GET"]),
]
