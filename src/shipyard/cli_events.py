"""Following Shipyard's events from the command line: `shipyard registry watch`, `shipyard monitor watch`.

Events are EventBridge-shaped JSON lines in the CloudWatch Logs group ``/shipyard/events`` (one stream per kind,
see resources/model_package_events.py); the CLI reads them with FilterLogEvents over boto3 only, like any client.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Iterator

LOG_GROUP = "/shipyard/events"  # resources/model_package_events.LOG_GROUP (the CLI speaks boto3 only)


def poll_events(logs: Any, start_ms: int, token: str | None, detail_type: str,
                stream: str | None = None) -> tuple[list[dict], str | None]:
    """One FilterLogEvents round: (the events of ``detail_type``, parsed from their JSON lines, the token to
    resume from). ``stream`` narrows it to one stream of the group."""
    kwargs: dict[str, Any] = {"logGroupName": LOG_GROUP, "startTime": start_ms}
    if stream:
        kwargs["logStreamNames"] = [stream]
    if token:
        kwargs["nextToken"] = token
    try:
        page = logs.filter_log_events(**kwargs)
    except logs.exceptions.ResourceNotFoundException:
        return [], token  # no event yet: the group appears with the first one
    events = []
    for e in page.get("events", []):
        try:
            event = json.loads(e.get("message", ""))
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("detail-type") == detail_type:
            events.append(event)
    return events, page.get("nextToken") or token


def follow(logs: Any, start_ms: int, timeout: float, detail_type: str, stream: str | None = None,
           interval: float = 1.0, once: bool = False) -> Iterator[dict]:
    """Yield events as they are recorded, until ``timeout`` seconds have passed (after one round if ``once``)."""
    deadline = time.monotonic() + timeout
    token: str | None = None
    while True:
        for _ in range(10_000):  # drain what is there now, page by page (up to 10,000 events a page)
            events, new_token = poll_events(logs, start_ms, token, detail_type, stream)
            yield from events
            moved = new_token != token
            token = new_token
            if not events or not moved:
                break
        if once or time.monotonic() >= deadline:
            return
        time.sleep(max(0.0, min(interval, deadline - time.monotonic())))


def print_events(logs: Any, args: Any, detail_type: str, stream: str | None, field: str, wanted: str | None,
                 line: Callable[[dict], str]) -> int:
    """The body of a `watch` command: follow the events (``args``: since, timeout, interval, once, json) whose
    ``detail[field]`` is ``wanted`` (any when empty), printing each as JSON or as ``line(event)``."""
    start_ms = int((time.time() - args.since) * 1000) if args.since is not None else 0
    wanted = (wanted or "").lower()
    for event in follow(logs, start_ms, args.timeout, detail_type, stream, interval=args.interval, once=args.once):
        if wanted and str((event.get("detail") or {}).get(field) or "").lower() != wanted:
            continue
        print(json.dumps(event, sort_keys=True) if args.json else line(event), flush=True)
    return 0


def add_follow_options(p: Any) -> None:
    """The options every `watch` command takes (what :func:`print_events` reads from ``args``)."""
    p.add_argument("--since", type=float, default=None, metavar="SECONDS",
                   help="start this many seconds back (default: every recorded event)")
    p.add_argument("--once", action="store_true", help="print the events recorded so far and exit")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between polls (default 1)")
    p.add_argument("--timeout", type=float, default=24 * 3600.0, help="stop following after this many seconds")
