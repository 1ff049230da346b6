"""Logs search: CloudWatch Logs events across groups and streams, filtered by a pattern and a time range."""

from __future__ import annotations

from typing import Any

ROUTES: list[tuple[str, Any, list[str]]] = []
