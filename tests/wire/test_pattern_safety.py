"""No AWS pattern that the server checks can stall it: every string pattern in the input of every operation
Shipyard serves fullmatches adversarial values (runs of each class it accepts, then a character it refuses)
quickly. Python's ``re`` holds the GIL while it backtracks, so one slow pattern would freeze every request;
operations Shipyard does not serve are refused before their input is validated (``server/app.py``).
"""

from __future__ import annotations

import time

from botocore.model import ListShape, MapShape, StructureShape

from shipyard.api import registry
from shipyard.wire.models import operation_model
from shipyard.wire.validate import _compiled

BUDGET_S = 0.05  # per (pattern, value); a catastrophic pattern takes seconds at 30 characters


def _string_patterns(shape, seen: set[str], out: dict[str, int | None]) -> None:
    if shape is None or shape.name in seen:
        return
    seen.add(shape.name)
    if isinstance(shape, StructureShape):
        for member in shape.members.values():
            _string_patterns(member, seen, out)
    elif isinstance(shape, ListShape):
        _string_patterns(shape.member, seen, out)
    elif isinstance(shape, MapShape):
        _string_patterns(shape.key, seen, out)
        _string_patterns(shape.value, seen, out)
    elif shape.type_name == "string" and shape.metadata.get("pattern"):
        out[shape.metadata["pattern"]] = shape.metadata.get("max")


def _served_patterns() -> dict[str, int | None]:
    registry.load_all()
    out: dict[str, int | None] = {}
    for service, action in registry.registered():
        model = operation_model(service, action)
        if model is not None and model.input_shape is not None:
            _string_patterns(model.input_shape, set(), out)
    return out


def _adversarial(max_len: int | None) -> list[str]:
    """Values from short to long (up to 64 or the shape's maximum), so a backtracking pattern is caught while
    it still takes milliseconds rather than hours: time grows exponentially with the length."""
    out = []
    for n in range(8, min(max_len or 64, 64) + 1, 4):
        runs = ["a" * n, "A" * n, "0" * n, "-" * n, "a-" * (n // 2), "a." * (n // 2), "a/" * (n // 2), " " * n]
        out += [r[: n - 1] + tail for r in runs for tail in ("!", "\u00e9", "\n")]
    return out


def test_served_operations_have_patterns_to_check():
    assert len(_served_patterns()) > 20  # the walk really reaches the models' patterns


def test_no_served_pattern_backtracks_for_long():
    slow = []
    for pattern, max_len in _served_patterns().items():
        rx = _compiled(pattern)
        if rx is None:
            continue
        for value in _adversarial(max_len):
            start = time.perf_counter()
            rx.fullmatch(value)
            took = time.perf_counter() - start
            if took > BUDGET_S:
                slow.append((pattern, value[:20], round(took, 3)))
                break
    assert not slow, f"patterns that backtrack: {slow}"
