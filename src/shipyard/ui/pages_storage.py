"""The S3 browser: buckets, prefixes, an object's preview, upload and download."""

from __future__ import annotations

from typing import Any

ROUTES: list[tuple[str, Any, list[str]]] = []
