"""Notebooks: notebook instances with a link that opens each, and how to start `shipyard notebook`."""

from __future__ import annotations

from typing import Any

ROUTES: list[tuple[str, Any, list[str]]] = []
