"""Parsing the ``Steps`` of a definition into :class:`Step` values: names unique, types known, a Condition's
conditions well formed and its branches parsed in place, CacheConfig, RetryPolicies and PropertyFiles checked,
each error naming the step and the field.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from shipyard.errors import ValidationError
from shipyard.pipelines.durations import parse_duration
from shipyard.pipelines.parsed import PropertyFile, RetryPolicy, Step
from shipyard.pipelines.quality_check import check_step as check_quality_check_step
from shipyard.pipelines.vocabulary import RETRY_EXCEPTION_TYPES, STEP_TYPES


def parse_steps(items: Any, where: str, steps: dict[str, Step],
                 gate: tuple[str, bool] | None = None) -> list[str]:
    if not isinstance(items, list):
        raise ValidationError(f"PipelineDefinition: {where} must be a list of steps.")
    names = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("Name"), str) or not item["Name"]:
            raise ValidationError(f"PipelineDefinition: {where}[{i}] needs a Name.")
        name = item["Name"]
        if name in steps:
            raise ValidationError(f"Step '{name}': the name is used by more than one step; step names must be unique.")
        step = _parse_step(item)
        steps[name] = step
        names.append(name)
        if step.type == "Condition":
            _parse_branches(item, step, steps)
    return names


def _parse_step(item: dict) -> Step:
    name = item["Name"]
    kind = item.get("Type")
    if kind not in STEP_TYPES:
        raise ValidationError(
            f"Step '{name}': Type {kind!r} is not a step type Shipyard knows "
            f"(Processing, Training, Tuning, Transform, Model, RegisterModel, Condition, Fail, Callback, Lambda, ...).")
    arguments = item.get("Arguments", {})
    if kind == "Condition":
        if not isinstance(arguments, dict) or not isinstance(arguments.get("Conditions"), list):
            raise ValidationError(f"Step '{name}': Arguments.Conditions must be a list of conditions.")
        for i, condition in enumerate(arguments["Conditions"]):
            _check_condition(name, condition, f"Arguments.Conditions[{i}]")
        arguments = {"Conditions": arguments["Conditions"]}
    elif kind == "QualityCheck":
        check_quality_check_step(name, item, arguments)
    depends_on = item.get("DependsOn", [])
    if not isinstance(depends_on, list) or not all(isinstance(d, str) for d in depends_on):
        raise ValidationError(f"Step '{name}': DependsOn must be a list of step names.")
    cache_enabled, expire = _parse_cache(name, item.get("CacheConfig"))
    outputs = item.get("OutputParameters", [])
    if not isinstance(outputs, list) or not all(isinstance(o, dict) and isinstance(o.get("OutputName"), str)
                                                for o in outputs):
        raise ValidationError(f"Step '{name}': OutputParameters must be a list of {{OutputName, OutputType}}.")
    raw = {k: v for k, v in item.items() if k != "Arguments"}
    raw["Arguments"] = arguments
    return Step(
        name=name, type=kind, arguments=arguments, depends_on=tuple(depends_on),
        display_name=str(item.get("DisplayName", "") or ""), description=str(item.get("Description", "") or ""),
        cache_enabled=cache_enabled, cache_expire_after=expire,
        retry_policies=_parse_retry_policies(name, item.get("RetryPolicies", [])),
        property_files=_parse_property_files(name, kind, arguments, item.get("PropertyFiles", [])),
        output_parameters=tuple(o["OutputName"] for o in outputs), raw=raw,
    )


def _parse_branches(item: dict, condition: Step, steps: dict[str, Step]) -> None:
    arguments = item.get("Arguments", {})
    if_items, else_items = arguments.get("IfSteps", []), arguments.get("ElseSteps", [])
    if_names = {s.get("Name") for s in if_items if isinstance(s, dict)} if isinstance(if_items, list) else set()
    for other in else_items if isinstance(else_items, list) else []:
        if isinstance(other, dict) and other.get("Name") in if_names:
            raise ValidationError(
                f"Step '{other['Name']}' is in both Arguments.IfSteps and Arguments.ElseSteps of Condition step "
                f"'{condition.name}'; a step may sit in one branch only.")
    if_steps = parse_steps(if_items, f"Step '{condition.name}': Arguments.IfSteps", steps, (condition.name, True))
    else_steps = parse_steps(else_items, f"Step '{condition.name}': Arguments.ElseSteps", steps,
                              (condition.name, False))
    steps[condition.name] = replace(condition, if_steps=tuple(if_steps), else_steps=tuple(else_steps))


_BINARY_CONDITIONS = ("Equals", "GreaterThan", "GreaterThanOrEqualTo", "LessThan", "LessThanOrEqualTo")


def _check_condition(step: str, condition: Any, where: str) -> None:
    kind = condition.get("Type") if isinstance(condition, dict) else None
    if kind in _BINARY_CONDITIONS:
        for side in ("LeftValue", "RightValue"):
            if side not in condition:
                raise ValidationError(f"Step '{step}': {where}.{side} is missing for a {kind} condition.")
    elif kind == "In":
        if "QueryValue" not in condition or not isinstance(condition.get("Values"), list):
            raise ValidationError(f"Step '{step}': {where} (In) needs a QueryValue and a Values list.")
    elif kind == "Not":
        _check_condition(step, condition.get("Condition"), f"{where}.Condition")
    elif kind == "Or":
        if not isinstance(condition.get("Conditions"), list):
            raise ValidationError(f"Step '{step}': {where}.Conditions (Or) must be a list of conditions.")
        for i, inner in enumerate(condition["Conditions"]):
            _check_condition(step, inner, f"{where}.Conditions[{i}]")
    else:
        raise ValidationError(
            f"Step '{step}': {where}.Type {kind!r} is not a condition type (Equals, GreaterThan, "
            f"GreaterThanOrEqualTo, LessThan, LessThanOrEqualTo, In, Not, Or).")


def _parse_cache(step: str, config: Any) -> tuple[bool, float | None]:
    if config is None:
        return False, None
    if not isinstance(config, dict) or not isinstance(config.get("Enabled", False), bool):
        raise ValidationError(f"Step '{step}': CacheConfig must be {{Enabled: true|false, ExpireAfter: \"PT1H\"}}.")
    expire = config.get("ExpireAfter")
    if expire is None:
        return bool(config.get("Enabled", False)), None
    try:
        seconds = parse_duration(expire)
    except ValidationError as exc:
        raise ValidationError(f"Step '{step}': CacheConfig.ExpireAfter {exc.message}") from None
    return bool(config.get("Enabled", False)), seconds


def _number(step: str, where: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value) or not low <= value <= high:
        raise ValidationError(f"Step '{step}': {where} must be a number from {low:g} to {high:g}, not {value!r}.")
    return float(value)


def _parse_retry_policies(step: str, items: Any) -> tuple[RetryPolicy, ...]:
    if not isinstance(items, list):
        raise ValidationError(f"Step '{step}': RetryPolicies must be a list.")
    policies = []
    for i, item in enumerate(items):
        where = f"RetryPolicies[{i}]"
        if not isinstance(item, dict):
            raise ValidationError(f"Step '{step}': {where} must be an object.")
        types = item.get("ExceptionType")
        if not isinstance(types, list) or not types:
            raise ValidationError(f"Step '{step}': {where}.ExceptionType must be a non-empty list.")
        for t in types:
            if t not in RETRY_EXCEPTION_TYPES:
                raise ValidationError(
                    f"Step '{step}': {where}.ExceptionType {t!r} is not one of {sorted(RETRY_EXCEPTION_TYPES)}.")
        if "MaxAttempts" in item and "ExpireAfterMin" in item:
            raise ValidationError(f"Step '{step}': {where} sets both MaxAttempts and ExpireAfterMin; keep one.")
        interval = _number(step, f"{where}.IntervalSeconds", item.get("IntervalSeconds", 1), 0, 43200)
        backoff = _number(step, f"{where}.BackoffRate", item.get("BackoffRate", 2.0), 0, 1000)
        max_attempts: int | None = None
        expire: int | None = None
        if "ExpireAfterMin" in item:
            expire = int(_number(step, f"{where}.ExpireAfterMin", item["ExpireAfterMin"], 0, 14400))
        else:
            max_attempts = int(_number(step, f"{where}.MaxAttempts", item.get("MaxAttempts", 5), 1, 20))
        policies.append(RetryPolicy(exception_types=tuple(types), interval_seconds=interval, backoff_rate=backoff,
                                    max_attempts=max_attempts, expire_after_min=expire))
    return tuple(policies)


def _parse_property_files(step: str, kind: str, arguments: Any, items: Any) -> tuple[PropertyFile, ...]:
    if not isinstance(items, list):
        raise ValidationError(f"Step '{step}': PropertyFiles must be a list.")
    if items and kind != "Processing":
        raise ValidationError(f"Step '{step}': PropertyFiles are only allowed on Processing steps, not {kind}.")
    declared = _literal_output_names(arguments)
    files = []
    for i, item in enumerate(items):
        where = f"PropertyFiles[{i}]"
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) and item.get(k)
                                                 for k in ("PropertyFileName", "OutputName", "FilePath")):
            raise ValidationError(f"Step '{step}': {where} needs PropertyFileName, OutputName and FilePath.")
        if declared is not None and item["OutputName"] not in declared:
            raise ValidationError(
                f"Step '{step}': {where}.OutputName '{item['OutputName']}' is not one of the step's "
                f"ProcessingOutputConfig.Outputs ({', '.join(sorted(declared)) or 'none'}).")
        files.append(PropertyFile(name=item["PropertyFileName"], output_name=item["OutputName"],
                                  file_path=item["FilePath"]))
    return tuple(files)


def _literal_output_names(arguments: Any) -> set[str] | None:
    """The OutputName of each processing output, or None when they are not all literal strings."""
    config = arguments.get("ProcessingOutputConfig", {}) if isinstance(arguments, dict) else None
    outputs = config.get("Outputs", []) if isinstance(config, dict) else None
    if not isinstance(outputs, list):
        return None
    names = [o.get("OutputName") for o in outputs if isinstance(o, dict)]
    return {n for n in names if isinstance(n, str)} if all(isinstance(n, str) for n in names) else None
