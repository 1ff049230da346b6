"""What a pipeline step's child job is, from the engine's side: the job kinds a step creates (how the child is
named, created, described and stopped through its resource module), how a child's failure or a refused create
maps to a retry policy's exception type, and the resolver that gives a definition's expressions their values
(parameters, execution variables, the properties of finished steps, JSON files in S3) for one execution.
:mod:`shipyard.controllers.pipeline` runs the executions with these.
"""

from __future__ import annotations

import json
import re
import secrets
import string
from datetime import datetime, timezone
from typing import Any

from ..context import Services
from ..domain.arns import name_from
from ..domain.pipeline_state import ExecutionState
from ..errors import (ResourceLimitExceeded, ServiceUnavailable, ShipyardError,
                      ValidationError)
from ..metastore.base import Resource
from ..pipelines.definition import RetryPolicy
from ..pipelines.quality_check import (Baseline, CheckSettings, drift_check_output, package_baseline,
                                       supplied_baseline)

JOB_TERMINAL = ("Completed", "Failed", "Stopped")
# What a step gets for a service fault or throttling when none of its RetryPolicies names them (AWS retries
# those automatically without saying how often; these are the SDK's RetryPolicy defaults, three retries).
DEFAULT_RETRY = RetryPolicy(exception_types=("Step.SERVICE_FAULT", "Step.THROTTLING"), interval_seconds=1.0,
                            backoff_rate=2.0, max_attempts=3)
# Execution variables that name the job of the step whose arguments use them (the SDK's
# ExecutionVariables.TRAINING_JOB_NAME / PROCESSING_JOB_NAME): step type -> variable.
JOB_NAME_VARIABLES = {"Training": "TrainingJobName", "Processing": "ProcessingJobName"}
# The job steps whose child takes an ExperimentConfig (CreateHyperParameterTuningJob has none).
EXPERIMENT_STEPS = ("Training", "Processing", "Transform")
EXECUTION_TAG = "sagemaker:pipeline-execution-arn"  # on every step's job, as AWS tags them
_RAND = string.ascii_lowercase + string.digits


def random_suffix(n: int) -> str:
    return "".join(secrets.choice(_RAND) for _ in range(n))


def _slug(step: str, limit: int) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", step.lower())).strip("-")[:limit].strip("-") or "step"


# ------------------------------------------------------------------ job step kinds
class JobKind:
    """How one job step type creates, describes and stops its child."""

    def __init__(self, kind: str, name_field: str, meta_key: str, module: str, name_limit: int = 63,
                 arn_key: str = "Arn"):
        self.kind = kind
        self.name_field = name_field
        self.meta_key = meta_key          # the Metadata key ListPipelineExecutionSteps reports
        self.module = module              # shipyard.resources.<module>
        self.name_limit = name_limit
        # the member of Metadata.<meta_key> that holds the child's ARN. A step whose metadata holds more than
        # that (a QualityCheck's settings and results, CheckJobArn) keeps the rest when the ARN is written.
        self.arn_key = arn_key

    def metadata(self, previous: dict, arn: str) -> dict:
        """The step's Metadata once its child exists."""
        if self.arn_key == "Arn":
            return {self.meta_key: {"Arn": arn}}
        return {self.meta_key: {**(previous.get(self.meta_key) or {}), self.arn_key: arn}}

    def resource(self) -> Any:
        import importlib

        try:
            return importlib.import_module(f"shipyard.resources.{self.module}")
        except ModuleNotFoundError as e:
            if e.name != f"shipyard.resources.{self.module}":
                raise
            raise ValidationError(f"this step needs shipyard.resources.{self.module} (the {self.kind} operations "
                                  "a pipeline step calls), which this Shipyard server does not have yet.") from None

    def job_name(self, exec_id: str, step: str) -> str:
        if self.name_limit <= 32:  # tuning jobs: 32 characters, no room for the step's name
            return f"pipelines-{exec_id}-{random_suffix(8)}"[:self.name_limit]
        room = self.name_limit - len("pipelines-") - len(exec_id) - 2 - 10
        return f"pipelines-{exec_id}-{_slug(step, room)}-{random_suffix(10)}"

    def create(self, services: Services, name: str, args: dict) -> str:
        req = dict(args)
        req[self.name_field] = name
        out = self.resource().create(services, req)
        return str(next(v for k, v in out.items() if k.endswith("Arn")))

    def properties(self, services: Services, child: Resource) -> dict:
        mod = self.resource()
        props = dict(mod.describe(child))
        if self.kind == "hyper-parameter-tuning-job":
            props["TrainingJobSummaries"] = mod.list_trials(services, {
                "HyperParameterTuningJobName": child.name, "SortBy": "FinalObjectiveMetricValue",
                "SortOrder": "Ascending" if _minimise(child.doc) else "Descending"})["TrainingJobSummaries"]
        return props

    def stop(self, services: Services, name: str) -> None:
        self.resource().stop(services, name)


def _minimise(doc: dict) -> bool:
    obj = (doc.get("HyperParameterTuningJobConfig") or {}).get("HyperParameterTuningJobObjective") or {}
    return obj.get("Type", "Minimize") == "Minimize"


JOB_STEPS: dict[str, JobKind] = {
    "Training": JobKind("training-job", "TrainingJobName", "TrainingJob", "training_job"),
    "Processing": JobKind("processing-job", "ProcessingJobName", "ProcessingJob", "processing_job"),
    "Transform": JobKind("transform-job", "TransformJobName", "TransformJob", "transform_job"),
    "Tuning": JobKind("hyper-parameter-tuning-job", "HyperParameterTuningJobName", "TuningJob", "tuning_job",
                      name_limit=32),
    "QualityCheck": JobKind("processing-job", "ProcessingJobName", "QualityCheck", "processing_job",
                            arn_key="CheckJobArn"),
}
MODEL_STEP = JobKind("model", "ModelName", "Model", "model")
# A QualityCheck step's jobs: processing jobs on the analyzer image (see :func:`drift_check_request`)
QUALITY_CHECK = JOB_STEPS["QualityCheck"]


def drift_check_request(args: dict, previous: Baseline, output_uri: str) -> dict:
    """A QualityCheck step's check job: its baselining request (``args``, resolved) with the previous baseline
    staged as a monitoring execution stages it (:mod:`shipyard.resources.monitoring_contract`: inputs
    ``baseline`` and ``constraints``, environment ``baseline_statistics`` / ``baseline_constraints``), so the
    analyzer checks the data instead of suggesting, writing under ``<output>/drift-check``."""
    import copy
    import posixpath

    from ..resources import monitoring_contract as contract

    req = copy.deepcopy(args)
    ours = (contract.STATISTICS_INPUT, contract.CONSTRAINTS_INPUT)
    inputs = [i for i in req.get("ProcessingInputs") or [] if not (isinstance(i, dict) and i.get("InputName") in ours)]
    env = dict(req.get("Environment") or {})
    staged = ((contract.STATISTICS_INPUT, previous.statistics, contract.BASELINE_STATS_DIR,
               contract.BASELINE_STATISTICS),
              (contract.CONSTRAINTS_INPUT, previous.constraints, contract.BASELINE_CONSTRAINTS_DIR,
               contract.BASELINE_CONSTRAINTS))
    for input_name, uri, folder, variable in staged:
        if not uri:
            continue
        inputs.append({"InputName": input_name, "AppManaged": False, "S3Input": {
            "S3Uri": uri, "LocalPath": folder, "S3DataType": "S3Prefix", "S3InputMode": "File",
            "S3DataDistributionType": "FullyReplicated", "S3CompressionType": "None"}})
        env[variable] = posixpath.join(folder, posixpath.basename(uri.rstrip("/")))
    req["ProcessingInputs"], req["Environment"] = inputs, env
    output = req["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]
    output["S3Uri"] = drift_check_output(output_uri)
    return req


def previous_baseline(services: Services, settings: CheckSettings) -> Baseline:
    """The baseline a QualityCheck step checks against: the supplied one, else the DriftCheckBaselines of the
    latest Approved package of ModelPackageGroupName (AWS's rule); empty when there is none."""
    from ..metastore.base import ListQuery
    from ..resources import model_package, model_package_group

    supplied = supplied_baseline(settings)
    if supplied or not settings.model_package_group:
        return supplied
    group = services.meta.find(model_package_group.KIND, name_from(settings.model_package_group))
    if group is None:
        return Baseline(None, None)
    token = None
    for _ in range(1_000):
        page = services.meta.list(model_package.KIND, ListQuery(parent=group.name.lower(), max_results=100,
                                                                next_token=token, sort_by="created", descending=True))
        for r in page.items:
            if r.doc.get("ModelApprovalStatus") == "Approved":
                return package_baseline(settings.check_type, r.doc.get("DriftCheckBaselines"))
        token = page.next_token
        if not token:
            break
    return Baseline(None, None)


def missing_objects(services: Services, uris: list[str]) -> list[str]:
    """The URIs among ``uris`` that name no object in S3."""
    from ..domain.s3_uri import parse_s3_uri

    missing = []
    for uri in uris:
        try:
            services.objects.head_object(*parse_s3_uri(uri))
        except Exception:  # noqa: BLE001 - any backend's "no such key" (or bucket) is "missing" here
            missing.append(uri)
    return missing


def check_output_uri(args: Any) -> str:
    """The S3 location of a QualityCheck job's one output (checked to exist at CreatePipeline)."""
    try:
        uri = args["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    except (KeyError, IndexError, TypeError):
        uri = None
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise ValidationError("Arguments.ProcessingOutputConfig.Outputs[0].S3Output.S3Uri must be the s3:// "
                              "location the check writes its statistics.json and constraints.json to.")
    return uri


def model_name(exec_id: str, step: str) -> str:
    """A Model step's model name: ``pipelines-<execid>-<step>-<10 characters fixed by the step's name>``."""
    import hashlib

    digest = hashlib.sha256(step.encode()).hexdigest()[:10]
    return f"pipelines-{exec_id}-{_slug(step, 63 - len('pipelines-') - len(exec_id) - 12)}-{digest}"


def failure_type(reason: str) -> str | None:
    """The RetryPolicy exception type of a child job's FailureReason; None for the user's own errors."""
    if reason.startswith("CapacityError"):
        return "SageMaker.CAPACITY_ERROR"
    if reason.startswith("InternalServerError"):
        return "SageMaker.JOB_INTERNAL_ERROR"
    return None


def create_error_type(e: Exception) -> str | None:
    """The RetryPolicy exception type of an error from a child's create call; None: not retried."""
    if isinstance(e, ResourceLimitExceeded):
        return "SageMaker.RESOURCE_LIMIT"
    if isinstance(e, ServiceUnavailable) or getattr(e, "code", "") in ("ThrottlingException", "Throttling"):
        return "Step.THROTTLING"
    if isinstance(e, ValidationError) or isinstance(e, (KeyError, TypeError, ValueError)):
        return None
    if isinstance(e, ShipyardError) and e.http_status < 500:
        return None  # the request's own fault (a missing resource, a name in use): retrying cannot help
    return "Step.SERVICE_FAULT"


def error_message(e: Exception) -> str:
    if isinstance(e, KeyError):
        return f"the request is missing {e.args[0]!r}"
    return getattr(e, "message", "") or str(e) or type(e).__name__


# ------------------------------------------------------------------ expression I/O
class ExecutionResolver:
    """The I/O behind a definition's expressions, for one execution."""

    def __init__(self, services: Services, res: Resource, state: ExecutionState):
        self.services = services
        self.res = res
        self.state = state
        # (step type, job name) while a job step's arguments are resolved: what TrainingJobName or
        # ProcessingJobName mean there
        self.current_job: tuple[str, str] | None = None

    def parameter(self, name: str) -> Any:
        params = self.state.parameters or {}
        if name not in params:
            raise ValidationError(f"Parameter '{name}' has no value in this execution.")
        return params[name]

    def execution_variable(self, name: str) -> Any:
        now = datetime.now(timezone.utc).isoformat()
        values = {"PipelineExecutionId": self.res.name, "PipelineExecutionArn": self.res.arn,
                  "PipelineName": self.state.pipeline_name or "", "PipelineArn": self.res.parent,
                  "StartDateTime": datetime.fromtimestamp(self.res.created, timezone.utc).isoformat(),
                  "CurrentDateTime": now}
        for step_type, variable in JOB_NAME_VARIABLES.items():
            if self.current_job is not None and self.current_job[0] == step_type:
                values[variable] = self.current_job[1]
        if name not in values:
            owner = next((t for t, v in JOB_NAME_VARIABLES.items() if v == name), None)
            if owner:
                raise ValidationError(f"Execution variable '{name}' names the job of the {owner} step that uses it: "
                                      f"it can only be used in a {owner} step's arguments.")
            raise ValidationError(f"Execution variable '{name}' is not known.")
        return values[name]

    def step_properties(self, step: str) -> dict:
        rec = self.state.step_map.get(step)
        if rec is None or rec.properties is None:
            raise ValidationError(f"Step '{step}' has no properties yet: it has not succeeded in this execution.")
        return rec.properties

    def read_json(self, s3_uri: str) -> Any:
        from ..domain.s3_uri import parse_s3_uri

        bucket, key = parse_s3_uri(s3_uri)
        try:
            body = self.services.objects.get_bytes(bucket, key)
        except ShipyardError as e:
            raise ValidationError(f"Cannot read {s3_uri}: {e.message or e.code}.") from None
        try:
            return json.loads(body)
        except ValueError:
            raise ValidationError(f"{s3_uri} is not a JSON document.") from None
