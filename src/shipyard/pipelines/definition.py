"""The pipeline definition JSON the SageMaker SDK 2.x emits, parsed into typed steps and validated once.

Everything a definition can get wrong is caught here, at ``CreatePipeline``/``UpdatePipeline`` time, with a
message naming the step and the field, so an execution never starts on a definition that cannot finish: unknown
step types, duplicate names, references to missing steps, parameters, properties or property files, cycles, a
step in both branches of a condition. The SDK (not AWS's outdated JSON schema) is the reference for the shape:
Condition steps carry their branches inside ``Arguments.IfSteps``/``ElseSteps``; Lambda and Callback steps carry
``FunctionArn``/``SqsQueueUrl``/``OutputParameters`` beside ``Arguments``.

The parsing is split along its seams: :mod:`.vocabulary` (the names a definition may use), :mod:`.parsed` (the
typed result), :mod:`.parameters`, :mod:`.step_parsing`, :mod:`.references` (expression walking and reference
checks) and :mod:`.step_graph` (edges, order, cycles). This module is the entry point, and re-exports the names
the rest of Shipyard imports from it.
"""

from __future__ import annotations

import json

from shipyard.errors import ValidationError
from shipyard.pipelines.parameters import bind_parameters, parse_parameters
from shipyard.pipelines.parsed import Definition, Parameter, PropertyFile, RetryPolicy, Step
from shipyard.pipelines.references import (
    Reference,
    check_references,
    is_expression,
    split_step_reference,
    step_references,
    walk,
)
from shipyard.pipelines.step_parsing import parse_steps
from shipyard.pipelines.vocabulary import (
    EXECUTION_VARIABLES,
    PARAMETER_TYPES,
    PROPERTY_ROOTS,
    RETRY_EXCEPTION_TYPES,
    STEP_TYPES,
)

__all__ = [
    "EXECUTION_VARIABLES",
    "PARAMETER_TYPES",
    "PROPERTY_ROOTS",
    "RETRY_EXCEPTION_TYPES",
    "STEP_TYPES",
    "Definition",
    "Parameter",
    "PropertyFile",
    "Reference",
    "RetryPolicy",
    "Step",
    "bind_parameters",
    "is_expression",
    "parse",
    "split_step_reference",
    "step_references",
    "walk",
]


def parse(text: str | dict) -> Definition:
    """Parse and validate the definition the SageMaker SDK 2.x emits; ValidationError naming the step and the
    field for anything that could not run."""
    raw = _load(text)
    version = raw.get("Version", "2020-12-01")
    if not isinstance(version, str):
        raise ValidationError("PipelineDefinition: Version must be a string like \"2020-12-01\".")
    parameters = parse_parameters(raw.get("Parameters", []))
    top = raw.get("Steps")
    if not isinstance(top, list) or not top:
        raise ValidationError("PipelineDefinition: Steps must be a non-empty list of steps.")
    steps: dict[str, Step] = {}
    parse_steps(top, "Steps", steps)
    check_references(steps, parameters)
    definition = Definition(version=version, parameters=parameters, steps=steps, raw=raw)
    return definition


def _load(text: str | dict) -> dict:
    if isinstance(text, dict):
        return text
    if isinstance(text, bytes | bytearray):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        raise ValidationError("PipelineDefinition must be a JSON document.")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"PipelineDefinition is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}.") from None
    if not isinstance(raw, dict):
        raise ValidationError("PipelineDefinition must be a JSON object with Version, Parameters and Steps.")
    return raw
