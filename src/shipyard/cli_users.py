"""``shipyard users add|list|remove``: people with key pairs of their own on a home's server.

Kept out of :mod:`shipyard.cli`; :func:`add_users_commands` hangs the commands under ``users``. Unlike the client
commands these work on the home folder itself (``<home>/users.json``, see :mod:`shipyard.domain.users`), as
``shipyard env`` reads its credentials: managing who may sign is the operator's job, not an API call, and a
running server sees the change on the next request without a restart. ``add`` prints the new secret once, as
AWS's CreateAccessKey does: it cannot be shown again (remove the user and add it again for a new pair).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

from .domain import users as _users
from .errors import ShipyardError


def _cli() -> Any:
    from . import cli

    return cli


def _store(args: argparse.Namespace) -> _users.Users:
    return _users.Users(_cli()._home(args))


def _refused(exc: ShipyardError) -> Exception:
    return _cli().CliError(exc.message or str(exc))


def cmd_users_add(args: argparse.Namespace) -> int:
    try:
        user = _store(args).add(args.name, args.role)
    except ShipyardError as exc:
        raise _refused(exc) from None
    if args.json:
        print(json.dumps({"UserName": user.name, "Role": user.role, "AccessKeyId": user.access_key_id,
                          "SecretAccessKey": user.secret_access_key}, indent=2))
        return 0
    print(f"user {user.name} ({user.role}) added. Its key pair is shown only now: keep the secret safe.")
    print(f"AWS_ACCESS_KEY_ID={user.access_key_id}")
    print(f"AWS_SECRET_ACCESS_KEY={user.secret_access_key}")
    return 0


def cmd_users_list(args: argparse.Namespace) -> int:
    users = _store(args).list()
    if args.json:
        print(json.dumps([u.public() for u in users], indent=2))
        return 0
    if not users:
        print("no users: only the server's key signs (shipyard users add NAME adds one)")
        return 0
    rows = [("NAME", "ROLE", "ACCESS KEY ID", "CREATED")]
    for u in users:
        created = dt.datetime.fromtimestamp(u.created, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
        rows.append((u.name, u.role, u.access_key_id, created))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
    return 0


def cmd_users_remove(args: argparse.Namespace) -> int:
    try:
        user = _store(args).remove(args.name)
    except ShipyardError as exc:
        raise _refused(exc) from None
    print(f"user {user.name} removed: its key {user.access_key_id} is refused from now on")
    return 0


def add_users_commands(sub: Any) -> None:
    """Add ``users add|list|remove`` to the ``shipyard`` parser's subcommands."""
    grp = sub.add_parser("users", help="users with their own key pairs (admin or read-only viewer)")
    users = grp.add_subparsers(dest="action", metavar="ACTION")
    users.required = True
    home_help = "state folder (default $SHIPYARD_HOME or ~/.shipyard)"
    p = users.add_parser("add", help="add a user and print its new key pair (once)")
    p.add_argument("name", help="user name (IAM's rule: 1-64 of letters, digits and +=,.@_-)")
    p.add_argument("--role", choices=_users.ROLES, default="admin",
                   help="admin: everything the server's key may do; viewer: reads only (default admin)")
    p.add_argument("--home", default=None, help=home_help)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=cmd_users_add)
    p = users.add_parser("list", help="list users (never their secrets)")
    p.add_argument("--home", default=None, help=home_help)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_users_list)
    p = users.add_parser("remove", help="remove a user: its key is refused from the next request on")
    p.add_argument("name")
    p.add_argument("--home", default=None, help=home_help)
    p.set_defaults(func=cmd_users_remove)
