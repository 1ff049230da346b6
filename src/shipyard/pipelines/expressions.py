"""Pipeline expressions, evaluated: ``Get``, ``Std:Join``, ``Std:JsonGet`` and the Condition step's conditions.

Pure: the engine supplies the I/O (parameter values, execution variables, each finished step's Describe*-shaped
properties, S3 reads) through :class:`Resolver`, so the semantics here are testable without a server and the
same at run time and in tests. The SageMaker SDK's local mode (``sagemaker/local/pipeline.py``) is the reference
for how values evaluate: Join stringifies its values, JsonGet reads a JSON document and walks a dotted path,
conditions compare the evaluated operands.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from shipyard.errors import ValidationError
from shipyard.pipelines.definition import Definition, Step, is_expression, split_step_reference, step_references
from shipyard.pipelines.paths import Index, Member, Named, Segment, parse_path, render

# The member that names an element of a list, tried in this order for a ``['name']`` look-up.
_NAME_FIELDS = ("OutputName", "InputName", "ChannelName", "Name", "MetricName", "VariantName", "ContainerHostname",
                "Key")


class Resolver(Protocol):
    """What the engine supplies: the I/O behind expressions."""

    def parameter(self, name: str) -> Any: ...

    def execution_variable(self, name: str) -> Any: ...

    def step_properties(self, step: str) -> dict: ...

    def read_json(self, s3_uri: str) -> Any: ...


def evaluate(value: Any, defn: Definition, resolver: Resolver, *, where: str = "") -> Any:
    """Resolve every expression inside `value` (deeply) and return a plain JSON-like value. `where` (optional)
    names the step being evaluated, for messages. ValidationError naming the step and the path when a referenced
    property, output or JSON member does not exist."""
    if isinstance(value, dict):
        if is_expression(value):
            return _expression(value, defn, resolver, where)
        return {key: evaluate(inner, defn, resolver, where=where) for key, inner in value.items()}
    if isinstance(value, list):
        return [evaluate(inner, defn, resolver, where=where) for inner in value]
    return value


def references(value: Any) -> set[str]:
    """Step names referenced by the expressions inside value (used for DAG edges and by the engine)."""
    return step_references(value)


def _expression(value: dict, defn: Definition, resolver: Resolver, where: str) -> Any:
    (kind, body), = value.items()
    if kind == "Get":
        return _get(body, defn, resolver, where)
    if kind == "Std:Join":
        values = evaluate(body.get("Values", []), defn, resolver, where=where)
        return str(body.get("On", "")).join(_text(v) for v in values)
    return _json_get(body, defn, resolver, where)


def _text(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _get(target: str, defn: Definition, resolver: Resolver, where: str) -> Any:
    kind, _, rest = target.partition(".")
    if kind == "Parameters":
        return resolver.parameter(rest)
    if kind == "Execution":
        return resolver.execution_variable(rest)
    split = split_step_reference(target)
    if split is None:
        raise ValidationError(f"{_prefix(where)}Get {target!r} must start with Parameters., Execution. or Steps.")
    step, path = split
    segments = parse_path(path)
    if segments[0] == Member("PropertyFiles") and len(segments) == 2 and isinstance(segments[1], Member):
        return property_file_uri(defn, resolver, step, segments[1].name, where=where)
    return lookup(resolver.step_properties(step), segments, f"{_prefix(where)}step '{step}' property")


def property_file_uri(defn: Definition, resolver: Resolver, step: str, name: str, *, where: str = "") -> str:
    """The S3 URI of property file `name` of `step`: the step's output's S3Uri + "/" + the file's path."""
    owner = defn.steps.get(step)
    found = next((f for f in owner.property_files if f.name == name), None) if owner else None
    if found is None:
        raise ValidationError(f"{_prefix(where)}step '{step}' declares no property file '{name}'.")
    path = (Member("ProcessingOutputConfig"), Member("Outputs"), Named(found.output_name), Member("S3Output"),
            Member("S3Uri"))
    base = lookup(resolver.step_properties(step), path, f"{_prefix(where)}step '{step}' property")
    return f"{str(base).rstrip('/')}/{found.file_path.lstrip('/')}"


def _json_get(body: dict, defn: Definition, resolver: Resolver, where: str) -> Any:
    if "PropertyFile" in body:
        split = split_step_reference(body["PropertyFile"]["Get"])
        segments = parse_path(split[1]) if split else ()
        if split is None or len(segments) != 2 or not isinstance(segments[1], Member):
            raise ValidationError(
                f"{_prefix(where)}Std:JsonGet.PropertyFile must be Steps.<step>.PropertyFiles.<name>.")
        uri = property_file_uri(defn, resolver, split[0], segments[1].name, where=where)
    else:
        uri = evaluate(body["S3Uri"], defn, resolver, where=where)
    document = resolver.read_json(str(uri))
    try:
        segments = parse_path(body["Path"])
    except ValidationError as exc:
        raise ValidationError(f"{_prefix(where)}Std:JsonGet.Path: {exc.message}") from None
    return lookup(document, segments, f"{_prefix(where)}Std:JsonGet of {uri}: JSON path")


def lookup(data: Any, segments: tuple[Segment, ...], what: str) -> Any:
    """Walk `segments` through `data`. ``['name']`` on a list picks the member whose name field matches (and
    yields its ``Value`` when the members are ``{Name, Value}`` pairs, as OutputParameters are); on a dict it is a
    key. ValidationError "<what> <path> does not exist" otherwise."""
    current = data
    for i, segment in enumerate(segments):
        found, current = _step_into(current, segment)
        if not found:
            raise ValidationError(f"{what} {render(segments[:i + 1])} does not exist.")
    return current


def _step_into(current: Any, segment: Segment) -> tuple[bool, Any]:
    if isinstance(segment, Member):
        if isinstance(current, dict) and segment.name in current:
            return True, current[segment.name]
        return False, None
    if isinstance(segment, Index):
        if isinstance(current, list) and -len(current) <= segment.position < len(current):
            return True, current[segment.position]
        return False, None
    if isinstance(current, dict):
        return (True, current[segment.key]) if segment.key in current else (False, None)
    if isinstance(current, list):
        for element in current:
            if not isinstance(element, dict):
                continue
            for name_field in _NAME_FIELDS:
                if element.get(name_field) == segment.key:
                    if set(element) == {"Name", "Value"}:
                        return True, element["Value"]
                    return True, element
    return False, None


def _prefix(where: str) -> str:
    return f"Step '{where}': " if where else ""


# -------------------------------------------------------------------------------------------------- conditions


def condition_holds(step: Step, defn: Definition, resolver: Resolver) -> bool:
    """A Condition step's Arguments.Conditions (a list = AND): Equals, GreaterThan, GreaterThanOrEqualTo, LessThan,
    LessThanOrEqualTo {LeftValue, RightValue}; In {QueryValue, Values}; Not {Condition}; Or {Conditions}."""
    conditions = (step.arguments or {}).get("Conditions", [])
    return all(_holds(c, defn, resolver, step.name, f"Arguments.Conditions[{i}]") for i, c in enumerate(conditions))


def _holds(condition: dict, defn: Definition, resolver: Resolver, step: str, where: str) -> bool:
    kind = condition.get("Type")
    if kind == "Not":
        return not _holds(condition["Condition"], defn, resolver, step, f"{where}.Condition")
    if kind == "Or":
        return any(_holds(c, defn, resolver, step, f"{where}.Conditions[{i}]")
                   for i, c in enumerate(condition["Conditions"]))
    if kind == "In":
        query = evaluate(condition["QueryValue"], defn, resolver, where=step)
        values = evaluate(condition["Values"], defn, resolver, where=step)
        return any(_equal(query, v) for v in values)
    left = evaluate(condition["LeftValue"], defn, resolver, where=step)
    right = evaluate(condition["RightValue"], defn, resolver, where=step)
    if kind == "Equals":
        return _equal(left, right)
    a, b = _comparable(left, right, step, where, str(kind))
    if kind == "GreaterThan":
        return a > b
    if kind == "GreaterThanOrEqualTo":
        return a >= b
    if kind == "LessThan":
        return a < b
    if kind == "LessThanOrEqualTo":
        return a <= b
    raise ValidationError(f"Step '{step}': {where}.Type {kind!r} is not a condition type.")


def _number(value: Any) -> float | None:
    """A number, or a string that spells one (Lambda/Callback outputs arrive as text); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return _boolean(left) is not None and _boolean(left) == _boolean(right)
    if isinstance(left, int | float) or isinstance(right, int | float):
        a, b = _number(left), _number(right)
        return a is not None and a == b
    return bool(left == right)


def _boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _comparable(left: Any, right: Any, step: str, where: str, kind: str) -> tuple[Any, Any]:
    if isinstance(left, str) and isinstance(right, str) and (_number(left) is None or _number(right) is None):
        return left, right
    a, b = _number(left), _number(right)
    if a is None or b is None:
        raise ValidationError(
            f"Step '{step}': {where} ({kind}) cannot compare LeftValue {left!r} with RightValue {right!r}; "
            f"both must be numbers or both strings.")
    return a, b
