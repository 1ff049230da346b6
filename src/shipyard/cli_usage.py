"""``shipyard usage``: instance-hours and cost estimates by job, endpoint, user, tag or instance type; budgets.

    shipyard usage [--since 7d] [--until now] [--by resource|job|endpoint|notebook|kind|user|tag|tag:KEY|instance-type]
                   [--tag KEY=VALUE] [--csv | --json]
    shipyard usage budget set --tag team=vision --limit-usd 50 [--period day|week|month|total] [--name NAME]
    shipyard usage budget list [--json]
    shipyard usage budget delete NAME

Kept out of :mod:`shipyard.cli`; :func:`add_usage_commands` adds the commands. Like ``shipyard users`` these
work on a home's own state, not through the AWS API (there is no AWS operation to speak for them): they open the
metadata store the home's server uses (its ``server.json`` names it; else ``$SHIPYARD_DATABASE_URL``; else the
home's SQLite file), where the server's meter keeps the usage intervals and reads the budgets on every Create
call, so a budget set here applies to the next request, with no restart. Deciding budgets is the operator's job.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Any

from .errors import ShipyardError

GROUPINGS_HELP = "resource (default), job, endpoint, notebook, kind, user, tag, tag:KEY or instance-type"


def _cli() -> Any:
    from . import cli

    return cli


def database_url(home: Path) -> str:
    """The metadata store of ``home``'s server: its running server's, else the environment's, else the file's."""
    cli = _cli()
    info = cli.local_server(home, wait=0.0)
    if info and info.get("database_url"):
        return str(info["database_url"])
    url = os.environ.get("SHIPYARD_DATABASE_URL")
    if url:
        return url
    db = home / "shipyard.db"
    if not db.exists():
        raise cli.CliError(f"no Shipyard state in {home} (no {db}): pass --home, or start `shipyard server` once", 2)
    return f"sqlite:///{db}"


def _open(args: argparse.Namespace) -> tuple[Any, Path]:
    from .metastore import open_metastore

    home = _cli()._home(args)
    return open_metastore(database_url(home)), home


def _refused(exc: ShipyardError) -> Exception:
    return _cli().CliError(exc.message or str(exc))


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def cmd_usage(args: argparse.Namespace) -> int:
    from .usage import intervals, report

    meta, home = _open(args)
    try:
        now = time.time()
        since = report.parse_time(args.since, now) if args.since else None
        until = report.parse_time(args.until, now) if args.until else None
        rows = report.usage_rows(meta, home, by=args.by, since=since, until=until, tag=args.tag, now=now)
    except ShipyardError as exc:
        raise _refused(exc) from None
    finally:
        meta.close()
    if args.csv:
        print(intervals.to_csv(rows, args.by), end="")
        return 0
    if args.json:
        print(json.dumps([{"Group": r.key, "InstanceTypes": sorted(r.instance_types),
                           "InstanceSeconds": round(r.instance_seconds, 3), "CostUsd": round(r.cost_usd, 6),
                           "Running": r.running} for r in rows], indent=2))
        return 0
    window = f"{_when(since) if since else 'the beginning'} to {_when(until) if until else 'now'}"
    print(f"usage by {args.by}, {window} (cost estimates in US dollars from the price table; * = running)")
    if not rows:
        print("no usage in this window")
        return 0
    cells = [intervals.row_cells(r) for r in rows] + [intervals.row_cells(intervals.total(rows))]
    print(_cli().table(intervals.HEADERS, cells))
    if args.by == "tag" and len(rows) > 1:
        print("(an interval with several tags counts under each: the rows may add up to more than the total)")
    return 0


def cmd_budget_set(args: argparse.Namespace) -> int:
    from .usage import budgets

    meta, _ = _open(args)
    try:
        b = budgets.put(meta, budgets.make(args.tag, args.limit_usd, args.period, args.name))
    except ShipyardError as exc:
        raise _refused(exc) from None
    finally:
        meta.close()
    print(f"budget {b.name}: new work tagged {b.tag} is refused once {budgets.usd(b.limit_usd)} is spent "
          f"{'in total' if b.period == 'total' else 'per ' + b.period + ' (UTC)'}")
    return 0


def cmd_budget_list(args: argparse.Namespace) -> int:
    from .usage import budgets, prices

    meta, home = _open(args)
    try:
        listed = budgets.status(meta, time.time(), prices.load_table(home))
    except ShipyardError as exc:
        raise _refused(exc) from None
    finally:
        meta.close()
    if args.json:
        print(json.dumps([{**b.to_doc(), "SpentUsd": round(spent, 6), "Exceeded": spent >= b.limit_usd}
                          for b, spent in listed], indent=2))
        return 0
    if not listed:
        print("no budgets (shipyard usage budget set --tag KEY=VALUE --limit-usd N adds one)")
        return 0
    rows = [[b.name, b.tag, b.period, f"{spent:.4f}", f"{b.limit_usd:.2f}",
             "EXCEEDED" if spent >= b.limit_usd else "ok"] for b, spent in listed]
    print(_cli().table(["NAME", "TAG", "PERIOD", "SPENT (USD)", "LIMIT (USD)", "STATE"], rows))
    return 0


def cmd_budget_delete(args: argparse.Namespace) -> int:
    from .usage import budgets

    meta, _ = _open(args)
    try:
        budgets.delete(meta, args.name)
    except ShipyardError as exc:
        raise _refused(exc) from None
    finally:
        meta.close()
    print(f"budget {args.name} deleted")
    return 0


def add_usage_commands(sub: Any) -> None:
    """Add ``usage`` (the report) and ``usage budget set|list|delete`` to the ``shipyard`` parser."""
    home_help = "state folder (default $SHIPYARD_HOME or ~/.shipyard)"
    grp = sub.add_parser("usage", help="instance-hours and cost estimates; budgets per tag")
    grp.add_argument("--since", default="30d", help="from when: 7d, 36h, 2w, month, a date or an ISO time "
                                                    "(default 30d)")
    grp.add_argument("--until", default=None, help="until when (default now)")
    grp.add_argument("--by", default="resource", help=f"group by {GROUPINGS_HELP}")
    grp.add_argument("--tag", default=None, help="only resources tagged KEY=VALUE (or KEY)")
    out = grp.add_mutually_exclusive_group()
    out.add_argument("--csv", action="store_true", help="print CSV")
    out.add_argument("--json", action="store_true", help="print JSON")
    grp.add_argument("--home", default=None, help=home_help)
    grp.set_defaults(func=cmd_usage)
    actions = grp.add_subparsers(dest="action", metavar="ACTION")
    budget = actions.add_parser("budget", help="budgets per tag that refuse new work once spent")
    verbs = budget.add_subparsers(dest="verb", metavar="VERB")
    verbs.required = True
    p = verbs.add_parser("set", help="create or replace a budget")
    p.add_argument("--tag", required=True, help="KEY=VALUE (or KEY: any value) the budget covers")
    p.add_argument("--limit-usd", type=float, required=True, help="US dollars per period")
    p.add_argument("--period", default="month", choices=("day", "week", "month", "total"),
                   help="the period the limit applies to, in UTC (default month)")
    p.add_argument("--name", default=None, help="the budget's name (default: its tag)")
    p.add_argument("--home", default=None, help=home_help)
    p.set_defaults(func=cmd_budget_set)
    p = verbs.add_parser("list", help="budgets with their spend this period")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--home", default=None, help=home_help)
    p.set_defaults(func=cmd_budget_list)
    p = verbs.add_parser("delete", help="delete a budget")
    p.add_argument("name")
    p.add_argument("--home", default=None, help=home_help)
    p.set_defaults(func=cmd_budget_delete)
