"""Experiments: their runs side by side (a runs table, overlaid metric charts, the parameters that differ)."""

from __future__ import annotations

from typing import Any

ROUTES: list[tuple[str, Any, list[str]]] = []
