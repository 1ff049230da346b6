"""Tuning jobs: the list, and one job's leaderboard, objective over time and hyperparameters vs objective."""

from __future__ import annotations

from typing import Any

ROUTES: list[tuple[str, Any, list[str]]] = []
