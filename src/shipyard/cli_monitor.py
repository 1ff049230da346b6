"""`shipyard monitor ...`: Model Monitor from the command line."""

from __future__ import annotations

from typing import Any


def add_monitor_commands(sub: Any, client_opts: Any) -> None:
    """Register `shipyard monitor` and its subcommands."""
