"""The JSONPath subset SageMaker's batch-transform ``DataProcessing`` filters accept.

``$`` | ``$.name`` | ``$.a.b`` | ``$['a','b']`` | ``$[1,3]`` (negative indexes count from the end) |
``$[1:4]`` (slice, end exclusive as in Python and the JSONPath spec) | ``$.a[0]`` | ``$.*`` / ``$[*]``.
Several names or indexes select several values, returned as a list; a single one returns the value itself.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import ValidationError

_STEP = re.compile(r"\.(\*|[A-Za-z_][\w-]*)|\[([^\]]*)\]")


def _parse(path: str) -> list[tuple[str, Any]]:
    path = path.strip()
    if not path.startswith("$"):
        raise ValidationError(f"JSONPath {path!r} must start with '$'.")
    steps, pos = [], 1
    while pos < len(path):
        m = _STEP.match(path, pos)
        if not m:
            raise ValidationError(f"JSONPath {path!r} is not supported at position {pos}: use $, .name, [i,j], "
                                  "['a','b'], [start:end] or [*].")
        pos = m.end()
        if m.group(1) is not None:
            steps.append(("all", None) if m.group(1) == "*" else ("keys", [m.group(1)]))
            continue
        inner = m.group(2).strip()
        if inner == "*":
            steps.append(("all", None))
        elif ":" in inner:
            a, _, b = inner.partition(":")
            try:
                steps.append(("slice", (int(a) if a.strip() else None, int(b) if b.strip() else None)))
            except ValueError:
                raise ValidationError(f"JSONPath {path!r}: slice bounds must be integers.") from None
        else:
            parts = [p.strip() for p in inner.split(",") if p.strip()]
            if all(p[0] in "'\"" for p in parts):
                steps.append(("keys", [p.strip("'\"") for p in parts]))
            else:
                try:
                    steps.append(("index", [int(p) for p in parts]))
                except ValueError:
                    raise ValidationError(f"JSONPath {path!r}: [{inner}] must hold integers or quoted names.") from None
    return steps


def select(value: Any, path: str) -> Any:
    """Apply ``path`` to ``value``. Raises ValidationError when the record has no such member."""
    for kind, arg in _parse(path):
        try:
            if kind == "all":
                value = list(value.values()) if isinstance(value, dict) else list(value)
            elif kind == "slice":
                value = value[arg[0]:arg[1]]
            elif kind == "index":
                picked = [value[i] for i in arg]
                value = picked[0] if len(picked) == 1 else picked
            else:
                picked = [value[k] for k in arg]
                value = picked[0] if len(picked) == 1 else picked
        except (KeyError, IndexError, TypeError):
            raise ValidationError(f"JSONPath {path!r} selects nothing in record {str(value)[:100]!r}.") from None
    return value
