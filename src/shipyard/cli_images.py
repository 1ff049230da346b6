"""``shipyard images list|prepare|prune``: the framework environments on this machine.

A framework image (``sagemaker-scikit-learn:1.2-1-cpu-py3``, ``sagemaker-xgboost:1.7-1``, ``pytorch-training:2.1``)
runs as a venv built on first use (see :mod:`shipyard.environments`). These commands work on the local
folder (``<home>/environments`` or ``$SHIPYARD_ENVIRONMENTS_CACHE``), not through the API: ``list`` shows what
is built, ``prepare IMAGE`` builds ahead of the first job (printing pip's progress lines), ``prune`` removes
half-built folders, environments whose package list changed since, and (``--unused-days N``) those no job used
for N days; ``--all`` removes everything.

A user error is a ValueError (printed as one line by :mod:`shipyard.cli`).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any


def _root(args: argparse.Namespace) -> Path:
    from .environments import root_for

    home = Path(args.home).expanduser() if getattr(args, "home", None) else None
    return root_for(home)


def _stale(row: dict) -> bool:
    """An environment whose image now maps to another package list (another folder name)."""
    from .environments import spec_for_image

    if row.get("state") != "ready" or not row.get("image"):
        return row.get("state") != "ready"
    try:
        spec = spec_for_image(row["image"])
    except Exception:  # noqa: BLE001 - an image no longer valid: stale
        return True
    return spec is None or spec.dirname != row["folder"]


def cmd_list(args: argparse.Namespace) -> int:
    from .environments import list_environments

    root = _root(args)
    rows = list_environments(root)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    if not rows:
        print(f"no environments in {root} (they are built on first use, or with `shipyard images prepare IMAGE`)")
        return 0
    print(f"{'ENVIRONMENT':<22} {'STATE':<11} {'SIZE':>9}  {'LAST USED':<17} PACKAGES")
    for r in rows:
        used = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["last_used"])) if r.get("last_used") else "-"
        key = r.get("key") or r["folder"]
        state = "stale" if r["state"] == "ready" and _stale(r) else r["state"]
        print(f"{key:<22} {state:<11} {r['size_mb']:>7.0f}MB  {used:<17} {' '.join(r.get('packages', [])[:2])}")
    print(f"({root})")
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from .environments import EnvironmentError_, prepare, root_for, spec_for_image

    try:
        spec = spec_for_image(args.image)
    except Exception as e:  # noqa: BLE001 - ValidationError: the tag AWS never published
        raise ValueError(getattr(e, "message", None) or str(e)) from None
    if spec is None:
        raise ValueError(f"{args.image} is not a framework image: it needs no environment "
                         "(built-in algorithms and the python image run on the server's own Python).")
    root = _root(args) if args.home else root_for(None)
    try:
        prepared = prepare(spec, root, log=lambda m: print(m, flush=True), force=args.force)
    except EnvironmentError_ as e:
        raise ValueError(f"environment {spec.key} could not be built: {e}") from None
    print(f"{spec.key}: {prepared.python}" + ("" if prepared.built else " (already built)"))
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    from .environments import list_environments, remove

    root = _root(args)
    now = time.time()
    removed = 0
    for r in list_environments(root):
        why = None
        if args.all:
            why = "--all"
        elif r["state"] != "ready":
            why = "incomplete"
        elif _stale(r):
            why = "stale (its image now maps to other packages)"
        elif args.unused_days is not None and now - float(r.get("last_used") or 0) > args.unused_days * 86400:
            why = f"unused for more than {args.unused_days:g} days"
        if why is None:
            continue
        print(f"{'would remove' if args.dry_run else 'removing'} {r['folder']} ({r['size_mb']:.0f} MB): {why}")
        if not args.dry_run:
            remove(root, r["folder"])
        removed += 1
    if not removed:
        print(f"nothing to prune in {root}")
    return 0


def add_images_commands(sub: Any) -> None:
    """Add ``images list|prepare|prune`` to the ``shipyard`` parser's subcommands."""
    images = sub.add_parser("images", help="framework image environments (venvs built on first use)"
                            ).add_subparsers(dest="action", metavar="ACTION")
    images.required = True

    def home(p: argparse.ArgumentParser) -> None:
        p.add_argument("--home", default=None, help="state folder (default $SHIPYARD_HOME or ~/.shipyard); "
                       "$SHIPYARD_ENVIRONMENTS_CACHE overrides where environments live")

    p = images.add_parser("list", help="list the environments built on this machine")
    home(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_list)
    p = images.add_parser("prepare", help="build the environment of a framework image now")
    p.add_argument("image", help="e.g. sagemaker-scikit-learn:1.2-1-cpu-py3 or a full ECR URI")
    p.add_argument("--force", action="store_true", help="rebuild even if it is built")
    home(p)
    p.set_defaults(func=cmd_prepare)
    p = images.add_parser("prune", help="remove half-built, stale (or with --all: every) environment")
    p.add_argument("--all", action="store_true", help="remove every environment")
    p.add_argument("--unused-days", type=float, default=None, help="also remove those unused for N days")
    p.add_argument("--dry-run", action="store_true", help="only say what would be removed")
    home(p)
    p.set_defaults(func=cmd_prune)
