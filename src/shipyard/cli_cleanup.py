"""``shipyard cleanup [--idle 1h] [--dry-run] [--yes]``: delete what costs and nothing uses.

Finds idle endpoints (no invocations in the ``--idle`` window), stopped notebook instances, endpoint configs
and models nothing uses, S3 prefixes of jobs the server no longer knows in the SageMaker default buckets, and
log streams past their group's retention (:mod:`shipyard.cleanup.plan` has the exact rules); prints them as a
table with the instance-hours, dollars per day (the price table of :mod:`shipyard.usage.prices`) and storage
each would save, and a total line. ``--dry-run`` stops there; otherwise it asks before deleting (``--yes``
skips the question; without a terminal and without ``--yes`` it refuses).

Everything goes through boto3 (SageMaker, CloudWatch, S3, CloudWatch Logs), like the other client commands.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Callable

from .cleanup import plan as P


def _cli() -> Any:
    from . import cli

    return cli


def _duration(text: str) -> float:
    try:
        return P.parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _price(args: argparse.Namespace) -> Callable[[str], float]:
    from .usage.prices import load_table, price_per_hour

    table = load_table(_cli()._home(args))
    return lambda instance_type: price_per_hour(instance_type, table)


def _as_json(p: P.Plan) -> dict:
    return {"Candidates": [{"Kind": c.kind, "Name": c.name, "Reason": c.reason,
                            "InstanceHoursPerDay": c.instance_hours_per_day, "CostPerDay": c.cost_per_day,
                            "Bytes": c.bytes, **({"Keys": list(c.keys)} if c.keys else {})}
                           for c in p.candidates],
            "InstanceHoursPerDay": p.instance_hours_per_day, "CostPerDay": round(p.cost_per_day, 4),
            "Bytes": p.bytes}


def _confirmed(args: argparse.Namespace, count: int) -> bool:
    if args.yes:
        return True
    if not sys.stdin.isatty():
        raise _cli().CliError("refusing to delete without confirmation: stdin is not a terminal. Rerun with "
                              "--yes to delete the resources listed above, or --dry-run to only list them", 2)
    answer = input(f"Delete these {count}? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def cmd_cleanup(args: argparse.Namespace) -> int:
    from .cleanup.apply import Applier
    from .cleanup.collect import collect

    cli = _cli()
    session = cli._session(args)
    price = _price(args)
    snap, warnings = collect(session.sagemaker_client, session.client("cloudwatch"), session.s3_client,
                             session.logs_client, session.account_id(), time.time(), args.idle, args.bucket)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    p = P.plan(snap, args.idle, price, args.log_retention_days)
    if args.json:
        print(json.dumps(_as_json(p), indent=2))
    elif p.candidates:
        print(cli.table(P.HEADERS, P.rows(p)))
        print(P.total_line(p))
    else:
        print(P.total_line(p))
    if args.dry_run or not p.candidates:
        return 0
    if not _confirmed(args, len(p.candidates)):
        print("nothing deleted")
        return 0
    failures = Applier(session.sagemaker_client, session.s3_client, session.logs_client,
                       say=lambda line: print(line, file=sys.stderr if args.json else sys.stdout,
                                              flush=True)).apply(p)
    if failures:
        raise cli.CliError(f"{len(failures)} of {len(p.candidates)} could not be deleted: {failures[0]}"
                           + (" (and more above)" if len(failures) > 1 else ""), 1)
    return 0


def add_cleanup_commands(sub: Any, client_opts: Callable[..., None]) -> None:
    """Add ``cleanup`` to the ``shipyard`` parser's subcommands."""
    p = sub.add_parser("cleanup", help="find idle endpoints, unused models and configs, stopped notebooks, "
                                       "orphaned S3 artifacts and expired logs; delete them on confirmation")
    p.add_argument("--idle", type=_duration, default=P.parse_duration("1h"), metavar="DURATION",
                   help="an endpoint with no invocations for this long is idle; nothing created or changed "
                        "within it is touched (30m, 1h, 7d; default 1h)")
    p.add_argument("--dry-run", action="store_true", help="print the plan only; delete nothing")
    p.add_argument("--yes", "-y", action="store_true", help="delete without asking")
    p.add_argument("--log-retention-days", type=int, default=None, metavar="DAYS",
                   help="also expire streams of log groups that have no retention policy of their own, "
                        "after this many days (default: such groups are kept)")
    p.add_argument("--bucket", action="append", default=[], metavar="NAME",
                   help="also look for orphaned job prefixes in this bucket (repeatable; the SageMaker default "
                        "buckets are always looked at)")
    client_opts(p)
    p.set_defaults(func=cmd_cleanup)
