"""Model Monitor: schedules, their executions and violations, and the baseline vs current distribution per feature."""

from __future__ import annotations

from typing import Any

ROUTES: list[tuple[str, Any, list[str]]] = []
