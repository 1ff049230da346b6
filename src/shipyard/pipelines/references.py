"""The expressions inside a step's arguments (``Get``, ``Std:Join``, ``Std:JsonGet``): walking them, and
checking at parse time that every reference resolves: a declared parameter, a known execution variable, an
existing other step, a property that step type has (its Describe* output's top-level members), a declared
output parameter or property file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shipyard.errors import ValidationError
from shipyard.pipelines.paths import Index, Member, Named, Segment, parse_path
from shipyard.pipelines.vocabulary import EXECUTION_VARIABLES, PROPERTY_ROOTS

if TYPE_CHECKING:
    from shipyard.pipelines.parsed import Parameter, Step


@dataclass(frozen=True)
class Reference:
    """One ``Get`` found inside a value: where it sits (for messages) and what it names."""

    where: str
    target: str              # the Get text, e.g. "Steps.Prep.ProcessingOutputConfig.Outputs['train']..."
    property_file: bool      # the Get sits in a Std:JsonGet PropertyFile slot


def is_expression(value: Any) -> bool:
    """A dict that is a pipeline expression rather than a request structure."""
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in ("Get", "Std:Join", "Std:JsonGet")


def walk(value: Any, where: str = "") -> Iterator[Reference]:
    """Every ``Get`` inside `value` (deeply, through Join and JsonGet), with the JSON location it sits at."""
    if isinstance(value, dict):
        if is_expression(value):
            yield from _walk_expression(value, where)
            return
        for key, inner in value.items():
            yield from walk(inner, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from walk(inner, f"{where}[{i}]")


def _walk_expression(value: dict, where: str) -> Iterator[Reference]:
    (kind, body), = value.items()
    if kind == "Get":
        if not isinstance(body, str):
            raise ValidationError(f"{where}: Get must name Parameters.X, Execution.X or Steps.X.path.")
        yield Reference(where, body, False)
    elif kind == "Std:Join":
        if not isinstance(body, dict) or not isinstance(body.get("On", ""), str) \
                or not isinstance(body.get("Values"), list):
            raise ValidationError(f"{where}: Std:Join needs On (a string) and Values (a list).")
        yield from walk(body["Values"], f"{where}.Std:Join.Values")
    else:
        if not isinstance(body, dict) or not isinstance(body.get("Path"), str):
            raise ValidationError(f"{where}: Std:JsonGet needs a Path and a PropertyFile or an S3Uri.")
        if "PropertyFile" in body:
            target = body["PropertyFile"]
            if not (isinstance(target, dict) and isinstance(target.get("Get"), str)):
                raise ValidationError(
                    f"{where}: Std:JsonGet.PropertyFile must be {{\"Get\": \"Steps.<step>.PropertyFiles.<name>\"}}.")
            yield Reference(f"{where}.Std:JsonGet.PropertyFile", target["Get"], True)
        elif "S3Uri" in body:
            yield from walk(body["S3Uri"], f"{where}.Std:JsonGet.S3Uri")
        else:
            raise ValidationError(f"{where}: Std:JsonGet needs a PropertyFile or an S3Uri.")


def split_step_reference(target: str) -> tuple[str, str] | None:
    """``"Steps.Prep.ProcessingOutputConfig..."`` -> ("Prep", "ProcessingOutputConfig..."); None for a Get
    that names no step."""
    if not target.startswith("Steps."):
        return None
    rest = target[len("Steps."):]
    name, dot, path = rest.partition(".")
    bracket = name.find("[")
    if bracket >= 0:
        name, path = name[:bracket], name[bracket:] + dot + path
    return name, path


def step_references(value: Any) -> set[str]:
    """Step names referenced by the expressions inside value."""
    names = set()
    for ref in walk(value):
        split = split_step_reference(ref.target)
        if split is not None:
            names.add(split[0])
    return names


def _references_of(step: Step) -> Iterator[Reference]:
    yield from walk(step.arguments, "Arguments")


def check_references(steps: dict[str, Step], parameters: dict[str, Parameter]) -> None:
    for step in steps.values():
        for dep in step.depends_on:
            if dep not in steps:
                raise ValidationError(f"Step '{step.name}': DependsOn refers to step '{dep}' which does not exist.")
            if dep == step.name:
                raise ValidationError(f"Step '{step.name}': DependsOn names the step itself.")
        try:
            found = list(_references_of(step))
        except ValidationError as exc:
            raise ValidationError(f"Step '{step.name}': {exc.message}") from None
        for ref in found:
            _check_reference(step, ref, steps, parameters)


def _check_reference(step: Step, ref: Reference, steps: dict[str, Step], parameters: dict[str, Parameter]) -> None:
    head = f"Step '{step.name}': {ref.where}"
    kind, _, rest = ref.target.partition(".")
    if ref.property_file and kind != "Steps":
        raise ValidationError(f"{head} must be Steps.<step>.PropertyFiles.<name>, not {ref.target!r}.")
    if kind == "Parameters":
        if rest not in parameters:
            raise ValidationError(f"{head} refers to parameter '{rest}' which is not declared in Parameters.")
        return
    if kind == "Execution":
        if rest not in EXECUTION_VARIABLES:
            raise ValidationError(
                f"{head} refers to execution variable '{rest}'; known: {', '.join(sorted(EXECUTION_VARIABLES))}.")
        return
    split = split_step_reference(ref.target)
    if split is None:
        raise ValidationError(f"{head}: Get {ref.target!r} must start with Parameters., Execution. or Steps.")
    name, path = split
    target = steps.get(name)
    if target is None:
        raise ValidationError(f"{head} refers to step '{name}' which does not exist.")
    if target.type == "Fail":
        raise ValidationError(f"{head} refers to Fail step '{name}', which has no properties to refer to.")
    if name == step.name:
        raise ValidationError(f"{head} refers to the step's own properties.")
    try:
        segments = parse_path(path)
    except ValidationError as exc:
        raise ValidationError(f"{head}: {exc.message}") from None
    first = segments[0]
    if ref.property_file or (isinstance(first, Member) and first.name == "PropertyFiles"):
        _check_property_file(head, target, segments)
        return
    _check_property_path(head, target, segments)


def _check_property_file(head: str, target: Step, segments: tuple[Segment, ...]) -> None:
    if len(segments) != 2 or segments[0] != Member("PropertyFiles") or not isinstance(segments[1], Member):
        raise ValidationError(f"{head} must be Steps.{target.name}.PropertyFiles.<name>.")
    name = segments[1].name
    if name not in {f.name for f in target.property_files}:
        raise ValidationError(
            f"{head} refers to property file '{name}' which step '{target.name}' does not declare in PropertyFiles.")


def _check_property_path(head: str, target: Step, segments: tuple[Segment, ...]) -> None:
    roots = PROPERTY_ROOTS.get(target.type)
    if roots is None:
        return
    first = segments[0]
    assert isinstance(first, Member)
    if first.name not in roots:
        raise ValidationError(
            f"{head} refers to property '{first.name}' of {target.type} step '{target.name}', which has no such "
            f"property" + (f" (it has {', '.join(sorted(roots)[:12])}{', ...' if len(roots) > 12 else ''})."
                           if roots else "."))
    if first.name == "OutputParameters" and target.output_parameters and len(segments) > 1:
        key = segments[1]
        if isinstance(key, Named) and key.key not in target.output_parameters:
            raise ValidationError(
                f"{head} refers to output parameter '{key.key}' which step '{target.name}' does not declare "
                f"in OutputParameters ({', '.join(target.output_parameters)}).")
    if first.name == "TrainingJobSummaries" and len(segments) > 1 and not isinstance(segments[1], Index):
        raise ValidationError(f"{head}: TrainingJobSummaries is a list; index it like TrainingJobSummaries[0].")
