"""Property paths as the SageMaker SDK writes them: ``Outputs['train'].S3Output.S3Uri``, ``TrainingJobSummaries[0]``.

One parser shared by definition validation (is the first member one the step's Describe* output has?) and
run-time look-ups (walk the properties), so both read a path the same way. A ``JsonGet`` ``Path`` uses the same
grammar (``metrics.auc.value``, ``a.b[0].c``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shipyard.errors import ValidationError

_SEGMENT = re.compile(r"(?P<member>[^.\[\]]+)(?P<brackets>(?:\[(?:-?\d+|'[^']*'|\"[^\"]*\")\])*)")
_BRACKET = re.compile(r"\[(-?\d+|'[^']*'|\"[^\"]*\")\]")


@dataclass(frozen=True)
class Member:
    """``.Name``: a field of a structure (a dict key)."""

    name: str


@dataclass(frozen=True)
class Index:
    """``[0]``: a position in a list."""

    position: int


@dataclass(frozen=True)
class Named:
    """``['train']``: the list member whose name field (OutputName, InputName, Name, ...) is ``key``; on a dict,
    the key itself."""

    key: str


Segment = Member | Index | Named


def parse_path(path: str) -> tuple[Segment, ...]:
    """Split ``a.b[0].c['x']`` into segments; ValidationError (without context: the caller adds the step and
    the field) when the path is empty or malformed."""
    if not isinstance(path, str) or not path:
        raise ValidationError(f"property path {path!r} is empty")
    segments: list[Segment] = []
    for part in path.split(".") if "'" not in path and '"' not in path else _split_outside_quotes(path):
        match = _SEGMENT.fullmatch(part)
        if match is None:
            raise ValidationError(f"property path {path!r} is malformed at {part!r}")
        segments.append(Member(match["member"]))
        for accessor in _BRACKET.findall(match["brackets"]):
            if accessor[0] in "'\"":
                segments.append(Named(accessor[1:-1]))
            else:
                segments.append(Index(int(accessor)))
    return tuple(segments)


def _split_outside_quotes(path: str) -> list[str]:
    """Split on the dots that are not inside a quoted ``['a.b']`` key."""
    parts: list[str] = []
    current: list[str] = []
    quote = ""
    for char in path:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == ".":
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def render(segments: tuple[Segment, ...]) -> str:
    """The path back as text, for messages."""
    out = ""
    for segment in segments:
        if isinstance(segment, Member):
            out += ("." if out else "") + segment.name
        elif isinstance(segment, Index):
            out += f"[{segment.position}]"
        else:
            out += f"['{segment.key}']"
    return out
