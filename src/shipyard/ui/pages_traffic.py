"""An endpoint's traffic: invocations, latency and errors per variant, charted from the metrics already recorded."""

from __future__ import annotations

from typing import Any

ROUTES: list[tuple[str, Any, list[str]]] = []
