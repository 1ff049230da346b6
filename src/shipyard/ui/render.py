"""Templates: one Jinja2 environment over ``ui/templates`` (autoescaped), with the console's filters."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import jinja2

TEMPLATES = Path(__file__).resolve().parent / "templates"

STATUS_CLASS = {"Completed": "ok", "InService": "ok", "Approved": "ok", "Succeeded": "ok",
                "Failed": "bad", "Rejected": "bad", "Stopped": "warn", "Stopping": "warn",
                "InProgress": "run", "Creating": "run", "Updating": "run", "Executing": "run",
                "PendingManualApproval": "warn", "Deleting": "warn"}


def when(value: Any) -> str:
    """A timestamp (epoch seconds, datetime or ISO text) as ``YYYY-MM-DD HH:MM:SS`` UTC."""
    if value is None or value == "":
        return ""
    if isinstance(value, (int, float)):
        value = dt.datetime.fromtimestamp(float(value), dt.timezone.utc)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc)
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def millis(value: Any) -> str:
    return when(float(value) / 1000.0) if value is not None else ""


def status_class(value: Any) -> str:
    return STATUS_CLASS.get(str(value), "")


ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True, auto_reload=False)
ENV.filters["when"] = when
ENV.filters["millis"] = millis
ENV.filters["status_class"] = status_class


def render(template_name: str, **context: Any) -> str:
    return ENV.get_template(template_name).render(**context)
