"""``shipyard registry watch``: follow the model registry's "SageMaker Model Package State Change" events.

The server appends each event (a package registered, an approval changed) as one JSON line to the log group
``/shipyard/events`` (:mod:`shipyard.resources.model_package_events`); this command polls CloudWatch Logs'
FilterLogEvents through boto3, as ``shipyard logs`` follows a job, and prints one line per event: time, package
ARN, approval status (``--json``: the whole event). ``--group`` keeps one model package group's events;
``--since SECONDS`` starts that far back (default: every recorded event); ``--timeout`` stops following.
Kept out of :mod:`shipyard.cli`; :func:`add_registry_commands` hangs it under ``registry``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable, Iterator

from . import cli_events

DETAIL_TYPE = "SageMaker Model Package State Change"


def _cli() -> Any:
    from . import cli

    return cli


def poll_events(logs: Any, start_ms: int, token: str | None) -> tuple[list[dict], str | None]:
    """One FilterLogEvents round over the registry's events (see :mod:`.cli_events`)."""
    return cli_events.poll_events(logs, start_ms, token, DETAIL_TYPE)


def follow(logs: Any, start_ms: int, timeout: float, interval: float = 1.0, once: bool = False
           ) -> Iterator[dict]:
    """Yield the registry's events as they are recorded (see :func:`.cli_events.follow`)."""
    return cli_events.follow(logs, start_ms, timeout, DETAIL_TYPE, interval=interval, once=once)


def event_line(event: dict) -> str:
    detail = event.get("detail") or {}
    version = detail.get("ModelPackageVersion")
    what = f"{detail.get('ModelPackageGroupName')} v{version}" if version else detail.get("ModelPackageName", "")
    note = f"  ({detail['ApprovalDescription']})" if detail.get("ApprovalDescription") else ""
    return (f"{event.get('time', '')}  {what}  {detail.get('ModelApprovalStatus', '')}  "
            f"{detail.get('ModelPackageArn', '')}{note}")


def cmd_registry_watch(args: argparse.Namespace) -> int:
    return cli_events.print_events(_cli()._session(args).logs_client, args, DETAIL_TYPE, None,
                                   "ModelPackageGroupName", args.group, event_line)


def add_registry_commands(sub: Any, client_opts: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``registry watch`` to the ``shipyard`` parser's subcommands."""
    reg = sub.add_parser("registry", help="the model registry").add_subparsers(dest="action", metavar="ACTION")
    reg.required = True
    p = reg.add_parser("watch", help="print model package state-change events (registrations, approvals)")
    p.add_argument("--group", help="only this model package group's events")
    cli_events.add_follow_options(p)
    client_opts(p)
    p.set_defaults(func=cmd_registry_watch)


def main(argv: list[str] | None = None) -> int:
    """``python -m shipyard.cli_registry watch ...``: the same command, with ``shipyard``'s error handling, for
    use before (or without) ``shipyard registry`` being wired into :mod:`shipyard.cli`."""
    cli = _cli()
    parser = argparse.ArgumentParser(prog="shipyard")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    add_registry_commands(sub, cli._client_opts)
    args = parser.parse_args(["registry", *(argv if argv is not None else sys.argv[1:])])
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the edge: one line, never a traceback
        explained = cli._explain(exc, args)
        message, code = explained if explained else (f"unexpected error: {type(exc).__name__}: {exc}", 1)
        print(f"shipyard: {message}", file=sys.stderr)
        return code


if __name__ == "__main__":  # pragma: no cover
    from shipyard.cli_registry import main as _main

    sys.exit(_main())
