"""The pipeline definition JSON the SageMaker SDK 2.x emits, parsed into typed steps and validated once.

Everything a definition can get wrong is caught here, at ``CreatePipeline``/``UpdatePipeline`` time, with a
message naming the step and the field, so an execution never starts on a definition that cannot finish: unknown
step types, duplicate names, references to missing steps, parameters, properties or property files, cycles, a
step in both branches of a condition. The SDK (not AWS's outdated JSON schema) is the reference for the shape:
Condition steps carry their branches inside ``Arguments.IfSteps``/``ElseSteps``; Lambda and Callback steps carry
``FunctionArn``/``SqsQueueUrl``/``OutputParameters`` beside ``Arguments``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from shipyard.errors import ValidationError
from shipyard.pipelines.durations import parse_duration
from shipyard.pipelines.paths import Index, Member, Named, Segment, parse_path

# Every step type the SDK's StepTypeEnum can emit, plus EMRServerless. The engine decides which it can run;
# a type outside this set is a typo or a newer SDK, rejected here.
STEP_TYPES = frozenset({
    "Processing", "Training", "Tuning", "Transform", "Model", "CreateModel", "RegisterModel", "Condition", "Fail",
    "Callback", "Lambda", "QualityCheck", "ClarifyCheck", "EMR", "EMRServerless", "AutoML", "EndpointConfig",
    "Endpoint", "InferenceComponent", "Lineage", "BedrockCustomModel", "BedrockCustomModelDeployment",
    "BedrockModelImport", "BedrockProvisionedModelThroughput",
})

PARAMETER_TYPES = ("String", "Integer", "Float", "Boolean")

EXECUTION_VARIABLES = frozenset({
    "PipelineName", "PipelineArn", "PipelineExecutionId", "PipelineExecutionArn", "StartDateTime",
    "CurrentDateTime", "TrainingJobName", "ProcessingJobName",
})

RETRY_EXCEPTION_TYPES = frozenset({
    "Step.SERVICE_FAULT", "Step.THROTTLING", "SageMaker.JOB_INTERNAL_ERROR", "SageMaker.CAPACITY_ERROR",
    "SageMaker.RESOURCE_LIMIT",
})

# The first member of a property path, per step type: the top-level members of the step's Describe* output
# (botocore's sagemaker model). Types not listed are not checked (their properties are the engine's business).
_DESCRIBE_TRAINING = frozenset({
    "AlgorithmSpecification", "AutoMLJobArn", "BillableTimeInSeconds", "BillableTokenCount", "CheckpointConfig",
    "CreationTime", "DebugHookConfig", "DebugRuleConfigurations", "DebugRuleEvaluationStatuses",
    "EnableInterContainerTrafficEncryption", "EnableManagedSpotTraining", "EnableNetworkIsolation", "Environment",
    "ExperimentConfig", "FailureReason", "FinalMetricDataList", "HyperParameters", "InfraCheckConfig",
    "InputDataConfig", "LabelingJobArn", "LastModifiedTime", "MlflowConfig", "MlflowDetails", "ModelArtifacts",
    "ModelPackageConfig", "OutputDataConfig", "OutputModelPackageArn", "ProfilerConfig",
    "ProfilerRuleConfigurations", "ProfilerRuleEvaluationStatuses", "ProfilingStatus", "ProgressInfo",
    "RemoteDebugConfig", "ResourceConfig", "RetryStrategy", "RoleArn", "SecondaryStatus",
    "SecondaryStatusTransitions", "ServerlessJobConfig", "StoppingCondition", "TensorBoardOutputConfig",
    "TrainingEndTime", "TrainingJobArn", "TrainingJobName", "TrainingJobStatus", "TrainingStartTime",
    "TrainingTimeInSeconds", "TuningJobArn", "VpcConfig", "WarmPoolStatus",
})
_DESCRIBE_PROCESSING = frozenset({
    "AppSpecification", "AutoMLJobArn", "CreationTime", "Environment", "ExitMessage", "ExperimentConfig",
    "FailureReason", "LastModifiedTime", "MonitoringScheduleArn", "NetworkConfig", "ProcessingEndTime",
    "ProcessingInputs", "ProcessingJobArn", "ProcessingJobName", "ProcessingJobStatus", "ProcessingOutputConfig",
    "ProcessingResources", "ProcessingStartTime", "RoleArn", "StoppingCondition", "TrainingJobArn",
})
_DESCRIBE_TRANSFORM = frozenset({
    "AutoMLJobArn", "BatchStrategy", "CreationTime", "DataCaptureConfig", "DataProcessing", "Environment",
    "ExperimentConfig", "FailureReason", "LabelingJobArn", "MaxConcurrentTransforms", "MaxPayloadInMB",
    "ModelClientConfig", "ModelName", "TransformEndTime", "TransformInput", "TransformJobArn", "TransformJobName",
    "TransformJobStatus", "TransformOutput", "TransformResources", "TransformStartTime",
})
_DESCRIBE_MODEL = frozenset({
    "Containers", "CreationTime", "DeploymentRecommendation", "EnableNetworkIsolation", "ExecutionRoleArn",
    "InferenceExecutionConfig", "ModelArn", "ModelName", "PrimaryContainer", "VpcConfig",
})
_DESCRIBE_MODEL_PACKAGE = frozenset({
    "AdditionalInferenceSpecifications", "ApprovalDescription", "CertifyForMarketplace", "CreatedBy",
    "CreationTime", "CustomerMetadataProperties", "Domain", "DriftCheckBaselines", "InferenceSpecification",
    "LastModifiedBy", "LastModifiedTime", "ManagedStorageType", "MetadataProperties", "ModelApprovalStatus",
    "ModelCard", "ModelLifeCycle", "ModelMetrics", "ModelPackageArn", "ModelPackageDescription",
    "ModelPackageGroupName", "ModelPackageName", "ModelPackageRegistrationType", "ModelPackageStatus",
    "ModelPackageStatusDetails", "ModelPackageVersion", "SamplePayloadUrl", "SecurityConfig",
    "SkipModelValidation", "SourceAlgorithmSpecification", "SourceUri", "Task", "ValidationSpecification",
})
_DESCRIBE_TUNING = frozenset({
    "Autotune", "BestTrainingJob", "ConsumedResources", "CreationTime", "FailureReason",
    "HyperParameterTuningEndTime", "HyperParameterTuningJobArn", "HyperParameterTuningJobConfig",
    "HyperParameterTuningJobName", "HyperParameterTuningJobStatus", "LastModifiedTime", "ObjectiveStatusCounters",
    "OverallBestTrainingJob", "TrainingJobDefinition", "TrainingJobDefinitions", "TrainingJobStatusCounters",
    "TuningJobCompletionDetails", "WarmStartConfig", "TrainingJobSummaries",
})
PROPERTY_ROOTS: dict[str, frozenset[str]] = {
    "Training": _DESCRIBE_TRAINING,
    "Processing": _DESCRIBE_PROCESSING,
    "Transform": _DESCRIBE_TRANSFORM,
    "Model": _DESCRIBE_MODEL,
    "CreateModel": _DESCRIBE_MODEL,
    "RegisterModel": _DESCRIBE_MODEL_PACKAGE,
    "Tuning": _DESCRIBE_TUNING,
    "Condition": frozenset({"Outcome"}),
    "Callback": frozenset({"OutputParameters"}),
    "Lambda": frozenset({"OutputParameters"}),
    "Fail": frozenset(),
}


@dataclass(frozen=True)
class Parameter:
    """A pipeline parameter; ``default`` is typed (int/float/bool/str), None when there is none."""

    name: str
    type: str
    default: Any = None
    enum_values: tuple = ()


@dataclass(frozen=True)
class PropertyFile:
    """A JSON file a Processing step writes into one of its outputs, read by ``Std:JsonGet``."""

    name: str
    output_name: str
    file_path: str


@dataclass(frozen=True)
class RetryPolicy:
    """One ``RetryPolicies`` entry: which failures it retries, how long to wait, when to give up.
    ``max_attempts`` is None when the policy is bounded by ``expire_after_min`` instead."""

    exception_types: tuple[str, ...]
    interval_seconds: float = 1.0
    backoff_rate: float = 2.0
    max_attempts: int | None = 5
    expire_after_min: int | None = None


@dataclass(frozen=True)
class Step:
    """One step, wherever it sits (top level or in a Condition's branch).

    ``arguments`` is the raw ``Arguments`` with its expressions unresolved; for a Condition step it holds only
    ``Conditions`` (the branches are ``if_steps``/``else_steps``, by name). ``output_parameters`` are the names a
    Lambda/Callback step declares; ``raw`` is the step's JSON as given (minus nested branch steps), for the
    step-level fields the engine needs (``FunctionArn``, ``SqsQueueUrl``).
    """

    name: str
    type: str
    arguments: Any
    depends_on: tuple[str, ...] = ()
    display_name: str = ""
    description: str = ""
    cache_enabled: bool = False
    cache_expire_after: float | None = None
    retry_policies: tuple[RetryPolicy, ...] = ()
    property_files: tuple[PropertyFile, ...] = ()
    if_steps: tuple[str, ...] = ()
    else_steps: tuple[str, ...] = ()
    output_parameters: tuple[str, ...] = ()
    raw: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class _Graph:
    """Edges derived once from the steps: who waits on whom, and which branch gates whom."""

    upstream: dict[str, frozenset[str]]
    downstream: dict[str, frozenset[str]]
    gates: dict[str, tuple[str, bool]]
    order: tuple[str, ...]


@dataclass(frozen=True)
class Definition:
    """A parsed, validated definition. ``steps`` holds every step by name in definition order (a Condition's
    branch steps right after it)."""

    version: str
    parameters: dict[str, Parameter]
    steps: dict[str, Step]
    raw: dict
    _graph: _Graph | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self._graph is None:
            object.__setattr__(self, "_graph", _build_graph(self.steps))

    @property
    def graph(self) -> _Graph:
        assert self._graph is not None
        return self._graph

    def upstream(self, step: str) -> frozenset[str]:
        """Steps that must succeed before `step` may start: DependsOn, every step its expressions reference
        (Get Steps.X..., PropertyFile of X), and the Condition step whose branch contains it."""
        return self.graph.upstream[step]

    def downstream(self, step: str) -> frozenset[str]:
        """Steps that directly wait on `step` (the inverse of :meth:`upstream`)."""
        return self.graph.downstream[step]

    def gate(self, step: str) -> tuple[str, bool] | None:
        """(condition step, branch) when `step` sits in a Condition's IfSteps (True) or ElseSteps (False)."""
        return self.graph.gates.get(step)

    def order(self) -> tuple[str, ...]:
        """A topological order, ties broken by definition order."""
        return self.graph.order

    def step(self, name: str) -> Step:
        """The step called `name`; ValidationError naming it when there is none (e.g. a SelectedSteps entry)."""
        found = self.steps.get(name)
        if found is None:
            raise ValidationError(f"Step '{name}' does not exist in the pipeline definition.")
        return found


# --------------------------------------------------------------------------------------------------- parsing


def parse(text: str | dict) -> Definition:
    """Parse and validate the definition the SageMaker SDK 2.x emits; ValidationError naming the step and the
    field for anything that could not run."""
    raw = _load(text)
    version = raw.get("Version", "2020-12-01")
    if not isinstance(version, str):
        raise ValidationError("PipelineDefinition: Version must be a string like \"2020-12-01\".")
    parameters = _parse_parameters(raw.get("Parameters", []))
    top = raw.get("Steps")
    if not isinstance(top, list) or not top:
        raise ValidationError("PipelineDefinition: Steps must be a non-empty list of steps.")
    steps: dict[str, Step] = {}
    _parse_steps(top, "Steps", steps)
    _check_references(steps, parameters)
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


def _parse_parameters(items: Any) -> dict[str, Parameter]:
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


def _parse_steps(items: Any, where: str, steps: dict[str, Step],
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
    if_steps = _parse_steps(if_items, f"Step '{condition.name}': Arguments.IfSteps", steps, (condition.name, True))
    else_steps = _parse_steps(else_items, f"Step '{condition.name}': Arguments.ElseSteps", steps,
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


# --------------------------------------------------------------------------------------- expression walking


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


def _check_references(steps: dict[str, Step], parameters: dict[str, Parameter]) -> None:
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


# -------------------------------------------------------------------------------------------------- the graph


def _build_graph(steps: dict[str, Step]) -> _Graph:
    gates: dict[str, tuple[str, bool]] = {}
    for step in steps.values():
        for name in step.if_steps:
            gates[name] = (step.name, True)
        for name in step.else_steps:
            gates[name] = (step.name, False)
    upstream: dict[str, frozenset[str]] = {}
    for step in steps.values():
        edges = set(step.depends_on) | (step_references(step.arguments) & steps.keys())
        if step.name in gates:
            edges.add(gates[step.name][0])
        edges.discard(step.name)
        upstream[step.name] = frozenset(edges & steps.keys())
    downstream: dict[str, set[str]] = {name: set() for name in steps}
    for name, ups in upstream.items():
        for up in ups:
            downstream[up].add(name)
    return _Graph(upstream=upstream, downstream={k: frozenset(v) for k, v in downstream.items()}, gates=gates,
                  order=_topological(list(steps), upstream))


def _topological(names: list[str], upstream: dict[str, frozenset[str]]) -> tuple[str, ...]:
    position = {name: i for i, name in enumerate(names)}
    done: list[str] = []
    placed: set[str] = set()
    remaining = list(names)
    while remaining:
        progress = [n for n in remaining if upstream[n] <= placed]
        if not progress:
            raise ValidationError(f"Steps form a cycle: {' -> '.join(_cycle(remaining, upstream))}.")
        first = min(progress, key=position.__getitem__)
        done.append(first)
        placed.add(first)
        remaining.remove(first)
    return tuple(done)


def _cycle(remaining: list[str], upstream: dict[str, frozenset[str]]) -> list[str]:
    """One cycle among the steps that could not be ordered, as a path that returns to its start."""
    left = set(remaining)
    path: list[str] = [remaining[0]]
    while True:
        nxt = sorted(upstream[path[-1]] & left, key=remaining.index)[0]
        if nxt in path:
            loop = path[path.index(nxt):] + [nxt]
            return list(reversed(loop))
        path.append(nxt)


# ---------------------------------------------------------------------------------------------- parameters


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
