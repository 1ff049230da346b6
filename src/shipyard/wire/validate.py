"""Validate a JSON request against an operation's input shape, the way the AWS front end does.

botocore's own ``ParamValidator`` checks only types, required members and minimums on the client side; a
server must also enforce maximums, patterns and enums, and must survive anything a raw client sends. This
module walks the botocore shape and reports every problem at once in AWS's wording::

    1 validation error detected: Value 'a_b' at 'trainingJobName' failed to satisfy constraint:
    Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}

It also normalizes values the JSON wire cannot carry natively: timestamps (epoch numbers, or ISO-8601
strings from lenient clients) become float epoch seconds, blobs (base64 text) become ``bytes``.

An enum with a long value set (``InstanceType`` has hundreds) is not listed in full, which would make a
message of thousands of characters; the message names what was expected and the closest allowed value::

    Value 'ml.m5.larg' at 'resourceConfig.instanceType' failed to satisfy constraint: Member must satisfy
    enum value set: ml.m5.larg is not a valid instance type; did you mean ml.m5.large?

Model patterns are Java regular expressions. They are matched against the whole value (Java's
``matches()``); a pattern Python's ``re`` cannot compile (``\\p{L}`` classes, say) is skipped rather than
guessed at.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import difflib
import functools
import math
import re
from typing import Any

from botocore.model import Shape

from ..errors import ValidationError


@functools.lru_cache(maxsize=8192)
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern, re.DOTALL)
    except (re.error, OverflowError, RecursionError):
        return None


# An enum value set longer than this (joined) is summarised instead of listed.
ENUM_LIST_MAX_CHARS = 200


def _words(name: str) -> str:
    """``instanceType`` / ``TrainingInstanceType`` -> ``instance type`` / ``training instance type``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).lower()


def closest(value: str, allowed: list[str]) -> str | None:
    """The allowed value closest to ``value`` (case-insensitive), or None when none is close."""
    by_lower: dict[str, str] = {}
    for a in allowed:
        by_lower.setdefault(a.lower(), a)
    if value.lower() in by_lower:
        return by_lower[value.lower()]
    match = difflib.get_close_matches(value.lower(), list(by_lower), n=1)
    return by_lower[match[0]] if match else None


def enum_constraint(value: Any, enum: list[str], what: str, sensitive: bool = False) -> str:
    """The constraint text for a value outside an enum: AWS's full list when it is short, else a summary
    naming ``what`` was expected and the closest allowed value."""
    listed = ", ".join(enum)
    if len(listed) <= ENUM_LIST_MAX_CHARS:
        return f"Member must satisfy enum value set: [{listed}]"
    if sensitive or not isinstance(value, str):
        return f"Member must satisfy enum value set: not a valid {what} (one of {len(enum)} values)"
    shown = value if len(value) <= 64 else value[:64] + "..."
    guess = closest(value, enum)
    hint = f"; did you mean {guess}?" if guess else f" (one of {len(enum)} values, such as {', '.join(enum[:3])})"
    return f"Member must satisfy enum value set: {shown} is not a valid {what}{hint}"


def _wire_name(name: str) -> str:
    """AWS reports member paths in lower camel case: ``TrainingJobName`` -> ``trainingJobName``."""
    return name[:1].lower() + name[1:] if name else name


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "'true'" if value else "'false'"
    text = value if isinstance(value, str) else repr(value)
    if len(text) > 256:
        text = text[:256] + "..."
    return f"'{text}'"


class _Walker:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, value: Any, path: str, constraint: str, sensitive: bool = False) -> None:
        shown = "" if sensitive else " " + _show(value)
        where = f" at '{path}'" if path else ""
        self.errors.append(f"Value{shown}{where} failed to satisfy constraint: {constraint}")

    # Each check_* returns the normalized value.
    def check(self, shape: Shape, value: Any, path: str) -> Any:
        kind = shape.type_name
        if kind == "structure":
            return self.check_structure(shape, value, path)
        if kind == "list":
            return self.check_list(shape, value, path)
        if kind == "map":
            return self.check_map(shape, value, path)
        if kind == "string":
            return self.check_string(shape, value, path)
        if kind in ("integer", "long"):
            return self.check_number(shape, value, path, integral=True)
        if kind in ("float", "double"):
            return self.check_number(shape, value, path, integral=False)
        if kind == "boolean":
            if not isinstance(value, bool):
                self.fail(value, path, "Member must be a boolean")
            return value
        if kind == "timestamp":
            return self.check_timestamp(value, path)
        if kind == "blob":
            return self.check_blob(value, path)
        return value  # unknown kinds (documents) pass through

    def check_structure(self, shape: Shape, value: Any, path: str) -> Any:
        if shape.metadata.get("document"):
            return value
        if not isinstance(value, dict):
            self.fail(value, path, "Member must be a structure (a JSON object)")
            return value
        members = shape.members
        out: dict[str, Any] = {}
        for name, item in value.items():
            member = members.get(name)
            sub = f"{path}.{_wire_name(name)}" if path else _wire_name(name)
            if member is None:
                self.errors.append(f"Unknown parameter '{sub}': it is not a member of {shape.name}")
                continue
            if item is None:
                continue  # JSON null is the same as absent
            out[name] = self.check(member, item, sub)
        for name in shape.required_members:
            if value.get(name) is None:
                sub = f"{path}.{_wire_name(name)}" if path else _wire_name(name)
                self.fail(None, sub, "Member must not be null")
        if shape.metadata.get("union") and len(out) > 1:
            self.fail(value, path, "Member must have exactly one member set")
        return out

    def _size(self, shape: Shape, value: Any, n: int, path: str, what: str) -> None:
        lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
        if lo is not None and n < lo:
            self.fail(value, path, f"Member must have {what} greater than or equal to {lo}")
        if hi is not None and n > hi:
            self.fail(value, path, f"Member must have {what} less than or equal to {hi}")

    def check_list(self, shape: Shape, value: Any, path: str) -> Any:
        if not isinstance(value, list):
            self.fail(value, path, "Member must be a list")
            return value
        self._size(shape, value, len(value), path, "length")
        return [self.check(shape.member, item, f"{path}.{i + 1}.member") for i, item in enumerate(value)]

    def check_map(self, shape: Shape, value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            self.fail(value, path, "Member must be a map (a JSON object)")
            return value
        self._size(shape, value, len(value), path, "length")
        out = {}
        for k, v in value.items():
            key_errors = _Walker()
            key_errors.check(shape.key, k, "")
            val_errors = _Walker()
            out[k] = val_errors.check(shape.value, v, "") if v is not None else v
            for label, walker in (("Map keys", key_errors), ("Map value", val_errors)):
                if walker.errors:
                    inner = ", ".join(e.split("constraint: ", 1)[-1] for e in walker.errors)
                    self.fail(value, path, f"{label} must satisfy constraint: [{inner}]")
        return out

    def check_string(self, shape: Shape, value: Any, path: str) -> Any:
        if not isinstance(value, str):
            self.fail(value, path, "Member must be a string")
            return value
        sensitive = bool(shape.metadata.get("sensitive"))
        lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
        if lo is not None and len(value) < lo:
            self.fail(value, path, f"Member must have length greater than or equal to {lo}", sensitive)
        if hi is not None and len(value) > hi:
            self.fail(value, path, f"Member must have length less than or equal to {hi}", sensitive)
        enum = shape.enum
        if enum and value not in enum:
            last = path.rsplit(".", 1)[-1]
            what = _words(last if last and last != "member" else shape.name)
            self.fail(value, path, enum_constraint(value, list(enum), what, sensitive), sensitive)
        pattern = shape.metadata.get("pattern")
        if pattern and (hi is None or len(value) <= hi):
            rx = _compiled(pattern)
            if rx is not None and rx.fullmatch(value) is None:
                self.fail(value, path, f"Member must satisfy regular expression pattern: {pattern}", sensitive)
        return value

    def check_number(self, shape: Shape, value: Any, path: str, integral: bool) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(value, path, "Member must be a number")
            return value
        if isinstance(value, float) and not math.isfinite(value):
            self.fail(value, path, "Member must be a finite number")
            return value
        if integral:
            if isinstance(value, float):
                if not value.is_integer():
                    self.fail(value, path, "Member must be an integer")
                    return value
                value = int(value)
        else:
            value = float(value)
        lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
        if lo is not None and value < lo:
            self.fail(value, path, f"Member must have value greater than or equal to {lo}")
        if hi is not None and value > hi:
            self.fail(value, path, f"Member must have value less than or equal to {hi}")
        return value

    def check_timestamp(self, value: Any, path: str) -> Any:
        if isinstance(value, bool):
            self.fail(value, path, "Member must be a timestamp")
            return value
        if isinstance(value, (int, float)):
            if not math.isfinite(value):
                self.fail(value, path, "Member must be a timestamp")
                return value
            return float(value)
        if isinstance(value, str):
            try:
                dt = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                self.fail(value, path, "Member must be a timestamp (epoch seconds or ISO-8601)")
                return value
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=_dt.timezone.utc)
            return dt.timestamp()
        self.fail(value, path, "Member must be a timestamp")
        return value

    def check_blob(self, value: Any, path: str) -> Any:
        if not isinstance(value, str):
            self.fail(value, path, "Member must be base64-encoded binary data")
            return value
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            self.fail(value, path, "Member must be base64-encoded binary data")
            return value


def validation_message(errors: list[str]) -> str:
    n = len(errors)
    noun = "error" if n == 1 else "errors"
    return f"{n} validation {noun} detected: " + "; ".join(errors)


def validate_input(shape: Shape | None, params: Any) -> dict[str, Any]:
    """Check ``params`` against ``shape``; return the normalized dict or raise ``ValidationError``."""
    if shape is None:
        if params not in (None, {}):
            if not isinstance(params, dict):
                raise ValidationError("The request body must be a JSON object.")
        return dict(params or {})
    if not isinstance(params, dict):
        raise ValidationError("The request body must be a JSON object.")
    walker = _Walker()
    out: dict[str, Any] = walker.check_structure(shape, params, "")
    if walker.errors:
        raise ValidationError(validation_message(walker.errors))
    return out
