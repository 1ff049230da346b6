"""Step cache keys and ISO-8601 durations.

A step's cache key is a hash of its type and the request fields AWS lists as the step type's "default cache key
attributes", taken from the *resolved* arguments: what the job computes from. Fields that only say where results
go or how they are run (output paths, instance types, job names) stay out, so a re-run with a new execution id
in its output paths still hits. A step type not listed keys on all its arguments.

The trap of sagemaker-python-sdk#3392 (a Transform after a ModelStep never hits on AWS because the model gets a
new name each run) is avoided by the engine caching the Model step too: a hit reuses the source execution's
model, so the Transform's resolved ModelName, and its key, are unchanged.

One deliberate difference from AWS: the SDK copies a training step's output path into
``DebugHookConfig.S3OutputPath`` (and rule configurations), so an ``output_path`` that contains the execution id
would change the key of every run. Where debug output is written is not what the job computes from, so those
locations are left out of the key and such a step still hits.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from shipyard.pipelines.definition import Step
from shipyard.pipelines.durations import parse_duration

__all__ = ["CACHE_KEY_FIELDS", "cache_key", "parse_duration"]

CACHE_KEY_FIELDS: dict[str, tuple[str, ...]] = {
    "Processing": ("AppSpecification", "Environment", "ProcessingInputs"),
    "Training": ("AlgorithmSpecification", "CheckpointConfig", "DebugHookConfig", "DebugRuleConfigurations",
                 "Environment", "HyperParameters", "InputDataConfig"),
    "Tuning": ("HyperParameterTuningJobConfig", "TrainingJobDefinition", "TrainingJobDefinitions"),
    "AutoML": ("AutoMLJobConfig", "AutoMLJobObjective", "InputDataConfig", "ProblemType"),
    "Transform": ("DataProcessing", "Environment", "ModelName", "TransformInput"),
    "Model": ("PrimaryContainer", "Containers", "InferenceExecutionConfig", "ExecutionRoleArn", "VpcConfig",
              "EnableNetworkIsolation"),
    "CreateModel": ("PrimaryContainer", "Containers", "InferenceExecutionConfig", "ExecutionRoleArn", "VpcConfig",
                    "EnableNetworkIsolation"),
    "ClarifyCheck": ("ClarifyCheckConfig", "CheckJobConfig", "SkipCheck", "RegisterNewBaseline",
                     "ModelPackageGroupName", "SuppliedBaselineConstraints"),
    "QualityCheck": ("QualityCheckConfig", "CheckJobConfig", "SkipCheck", "RegisterNewBaseline",
                     "ModelPackageGroupName", "SuppliedBaselineConstraints", "SuppliedBaselineStatistics"),
    "EMR": ("ClusterId", "StepConfig"),
}


# Locations inside key fields that only say where output goes (see the module docstring).
_OUTPUT_LOCATIONS = {"DebugHookConfig": ("S3OutputPath", "LocalPath"),
                     "DebugRuleConfigurations": ("S3OutputPath", "LocalPath")}


def _without_output_locations(name: str, value: Any) -> Any:
    drop = _OUTPUT_LOCATIONS.get(name)
    if drop is None:
        return value
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k not in drop}
    if isinstance(value, list):
        return [_without_output_locations(name, v) for v in value]
    return value


def cache_key(step: Step, resolved_arguments: dict) -> str:
    """sha256 hex of the canonical JSON of (step type, the cache-key fields of the resolved arguments)."""
    fields = CACHE_KEY_FIELDS.get(step.type)
    arguments = resolved_arguments if isinstance(resolved_arguments, dict) else {}
    keyed: Any = arguments if fields is None else {
        f: _without_output_locations(f, arguments[f]) for f in fields if f in arguments}
    if fields is None and step.type in ("Lambda", "Callback") and isinstance(step.raw, dict):
        # Their target lives beside Arguments: the same inputs sent to another function are another result.
        keyed = {"Arguments": arguments, "FunctionArn": step.raw.get("FunctionArn"),
                 "SqsQueueUrl": step.raw.get("SqsQueueUrl")}
    canonical = json.dumps({"StepType": step.type, "Key": keyed}, sort_keys=True, separators=(",", ":"),
                           default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
