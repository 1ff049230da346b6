"""Pipeline parameters: the declared ``Parameters`` (types, defaults, EnumValues) parsed at definition time,
and an execution's ``PipelineParameters`` (all strings on the wire) bound to typed values at start time.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from shipyard.errors import ValidationError
from shipyard.pipelines.parsed import Parameter
from shipyard.pipelines.vocabulary import PARAMETER_TYPES

if TYPE_CHECKING:
    from shipyard.pipelines.parsed import Definition


def parse_parameters(items: Any) -> dict[str, Parameter]:
    if not isinstance(items, list):
        raise ValidationError("PipelineDefinition: Parameters must be a list of {Name, Type, DefaultValue}.")
    parameters: dict[str, Parameter] = {}
    for i, item in enumerate(items):
        where = f"Parameters[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("Name"), str) or not item["Name"]:
            raise ValidationError(f"PipelineDefinition: {where} needs a Name.")
        name = item["Name"]
        if name in parameters:
            raise ValidationError(f"Parameter '{name}': the name is declared twice in Parameters.")
        kind = item.get("Type", "String")
        if kind not in PARAMETER_TYPES:
            raise ValidationError(
                f"Parameter '{name}': Type {kind!r} is not one of {', '.join(PARAMETER_TYPES)}.")
        default = item.get("DefaultValue")
        if default is not None:
            default = _typed_default(name, kind, default)
        enum = item.get("EnumValues") or []
        if not isinstance(enum, list):
            raise ValidationError(f"Parameter '{name}': EnumValues must be a list.")
        enum_values = tuple(_typed_default(name, kind, v) for v in enum)
        if enum_values and default is not None and default not in enum_values:
            raise ValidationError(
                f"Parameter '{name}': DefaultValue {default!r} is not one of its EnumValues {list(enum_values)}.")
        parameters[name] = Parameter(name=name, type=kind, default=default, enum_values=enum_values)
    return parameters


def _typed_default(name: str, kind: str, value: Any) -> Any:
    ok = {
        "String": isinstance(value, str),
        "Integer": isinstance(value, int) and not isinstance(value, bool),
        "Float": isinstance(value, int | float) and not isinstance(value, bool),
        "Boolean": isinstance(value, bool),
    }[kind]
    if not ok:
        raise ValidationError(f"Parameter '{name}': value {value!r} is not a {kind}.")
    return float(value) if kind == "Float" else value


def bind_parameters(defn: Definition, given: list[dict] | None) -> dict[str, Any]:
    """PipelineParameters [{Name, Value(str)}] -> {name: typed value}, defaults applied. ValidationError for an
    unknown name, a value that does not parse as the type, a value outside EnumValues, or a parameter with no
    default and no value."""
    values: dict[str, Any] = {}
    for i, item in enumerate(given or []):
        if not isinstance(item, dict) or not isinstance(item.get("Name"), str):
            raise ValidationError(f"PipelineParameters[{i}] needs a Name and a Value.")
        name = item["Name"]
        parameter = defn.parameters.get(name)
        if parameter is None:
            raise ValidationError(
                f"PipelineParameters[{i}]: parameter '{name}' is not declared by the pipeline "
                f"(declared: {', '.join(defn.parameters) or 'none'}).")
        if name in values:
            raise ValidationError(f"PipelineParameters[{i}]: parameter '{name}' is given twice.")
        values[name] = _parse_value(parameter, item.get("Value"))
    for parameter in defn.parameters.values():
        if parameter.name not in values:
            if parameter.default is None:
                raise ValidationError(
                    f"Parameter '{parameter.name}' has no DefaultValue; give it a Value in PipelineParameters.")
            values[parameter.name] = parameter.default
        if parameter.enum_values and values[parameter.name] not in parameter.enum_values:
            raise ValidationError(
                f"Parameter '{parameter.name}': value {values[parameter.name]!r} is not one of its EnumValues "
                f"{list(parameter.enum_values)}.")
    return values


def _parse_value(parameter: Parameter, value: Any) -> Any:
    if value is None:
        raise ValidationError(f"Parameter '{parameter.name}': Value is missing.")
    text = value if isinstance(value, str) else json.dumps(value)
    bad = ValidationError(f"Parameter '{parameter.name}': Value {text!r} is not a valid {parameter.type}.")
    if parameter.type == "String":
        return text
    if parameter.type == "Boolean":
        lowered = text.strip().lower()
        if lowered not in ("true", "false"):
            raise bad
        return lowered == "true"
    try:
        number: float = int(text) if parameter.type == "Integer" else float(text)
    except ValueError:
        raise bad from None
    if parameter.type == "Float" and not math.isfinite(number):
        raise bad
    return number
