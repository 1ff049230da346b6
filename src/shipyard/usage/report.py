"""Usage reports: the intervals of a window, grouped and priced (what ``shipyard usage`` and the console show).

Times are given as a duration back from now (``7d``, ``36h``, ``90m``, ``2w``), a date or an ISO 8601 time
(``2026-12-01``, ``2026-12-01T08:00:00Z``; UTC unless it says otherwise), or ``month`` (since the 1st, UTC).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path

from ..errors import ValidationError
from ..metastore.base import MetaStore
from . import prices, store
from .intervals import Row, aggregate, check_grouping, parse_tag

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_time(text: str, now: float) -> float:
    """A point in time from ``7d`` (seven days ago), ``month``, a date or an ISO 8601 time."""
    text = (text or "").strip()
    m = _DURATION.match(text.lower())
    if m:
        return now - float(m.group(1)) * _UNIT[m.group(2)]
    if text.lower() == "month":
        t = dt.datetime.fromtimestamp(now, dt.timezone.utc)
        return t.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()
    if text.lower() == "now":
        return now
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"Cannot read the time {text!r}: give a duration back from now (7d, 36h, 90m, 2w), "
                              "'month', a date (2026-12-01) or an ISO 8601 time (2026-12-01T08:00:00Z).") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.timestamp()


def usage_rows(meta: MetaStore, home: str | Path | None, by: str = "resource", since: float | None = None,
               until: float | None = None, tag: str | None = None, now: float | None = None) -> list[Row]:
    """The report's rows: instance-seconds and cost per group within [since, until] (costs from the price
    table of ``home``)."""
    now = time.time() if now is None else now
    try:
        check_grouping(by)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    if since is not None and until is not None and since > until:
        raise ValidationError("The report's start (--since) is after its end (--until).")
    table = prices.load_table(home)
    wanted = parse_tag(tag) if tag else None
    return aggregate(store.intervals(meta, since, until), by, since, until, now, table, wanted)
