"""Model Monitor's job definitions: ``Create/Describe/List/DeleteDataQualityJobDefinition`` and the
``ModelQuality`` twins, plus :class:`MonitoringJob`, the one view of "what a monitoring execution runs" that
both a named definition and a schedule's inline ``MonitoringJobDefinition`` turn into.

A definition is stored as its Describe response (kind ``data-quality-job-definition`` or
``model-quality-job-definition``, status ``Created``) plus ``_endpoint`` (the monitored endpoint, for
``EndpointName`` filters) and ``_tags``. Checks the botocore model cannot express happen here, before anything is
stored: one input (an endpoint's ``EndpointInput`` or a batch transform's ``BatchTransformInput``, naming where
the transform jobs' ``DataCaptureConfig`` captured, with its ``DatasetFormat``), a ``LocalPath`` under
``/opt/ml/processing/``, one monitoring output, S3 URIs that are S3 URIs, a ``ProblemType`` for model quality.
Deleting a definition that a schedule names is ``ResourceInUse``, as on AWS.

Callers: :mod:`shipyard.api.monitoring` (the wire adapters), :mod:`.monitoring_schedule` (it resolves the
definition a schedule names) and the monitoring controller (through :class:`MonitoringJob`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..context import Services
from ..domain.arns import name_from
from ..errors import MissingResource, ResourceInUse, ResourceNotFound, ValidationError
from ..metastore.base import ListQuery, Resource
from .job_listing import list_page
from .processing_job import local_path
from .training_job import check_s3_uri, public

DATA_QUALITY = "DataQuality"
MODEL_QUALITY = "ModelQuality"
# MonitoringType -> the store kind of its definitions
KINDS = {DATA_QUALITY: "data-quality-job-definition", MODEL_QUALITY: "model-quality-job-definition"}
PROBLEM_TYPES = ("Regression", "BinaryClassification", "MulticlassClassification")
SCHEDULE_KIND = "monitoring-schedule"
DEFAULT_MAX_RUNTIME = 3600
_NOUN = {DATA_QUALITY: "data quality job definition", MODEL_QUALITY: "model quality job definition"}


@dataclass
class MonitoringJob:
    """What one execution of a schedule runs, whichever form the schedule used (a named definition of a
    MonitoringType, or the inline ``MonitoringJobDefinition``, which is DataQuality's shape)."""

    monitoring_type: str
    definition_name: str | None      # None: the schedule's inline definition
    image: str
    role: str
    endpoint_input: dict[str, Any]
    outputs: list[dict[str, Any]]    # MonitoringOutputs (one)
    cluster: dict[str, Any]
    stopping: dict[str, Any]
    environment: dict[str, str] = field(default_factory=dict)
    entrypoint: list[str] | None = None
    arguments: list[str] | None = None
    record_preprocessor: str | None = None
    post_analytics_processor: str | None = None
    problem_type: str | None = None
    constraints_uri: str | None = None
    statistics_uri: str | None = None
    baselining_job: str | None = None
    ground_truth_uri: str | None = None
    output_kms_key: str | None = None
    network: dict[str, Any] | None = None
    batch_input: dict[str, Any] | None = None  # BatchTransformInput: a batch transform's capture, not an endpoint

    @property
    def endpoint_name(self) -> str:
        return str(self.endpoint_input.get("EndpointName") or "")

    @property
    def is_batch(self) -> bool:
        """Monitors what batch transform jobs captured (``BatchTransformInput``) rather than an endpoint."""
        return bool(self.batch_input)

    @classmethod
    def from_definition(cls, monitoring_type: str, doc: dict[str, Any]) -> MonitoringJob:
        """The job of a stored named definition (its Describe document)."""
        p = monitoring_type
        app = doc.get(f"{p}AppSpecification") or {}
        baseline = doc.get(f"{p}BaselineConfig") or {}
        job_input = doc.get(f"{p}JobInput") or {}
        out = doc.get(f"{p}JobOutputConfig") or {}
        return cls(
            monitoring_type=p, definition_name=doc["JobDefinitionName"], image=app.get("ImageUri", ""),
            role=doc.get("RoleArn", ""), endpoint_input=dict(job_input.get("EndpointInput") or {}),
            batch_input=dict(job_input["BatchTransformInput"]) if job_input.get("BatchTransformInput") else None,
            outputs=list(out.get("MonitoringOutputs") or []), output_kms_key=out.get("KmsKeyId"),
            cluster=dict((doc.get("JobResources") or {}).get("ClusterConfig") or {}),
            stopping=dict(doc.get("StoppingCondition") or {"MaxRuntimeInSeconds": DEFAULT_MAX_RUNTIME}),
            environment=dict(app.get("Environment") or {}), entrypoint=app.get("ContainerEntrypoint"),
            arguments=app.get("ContainerArguments"), record_preprocessor=app.get("RecordPreprocessorSourceUri"),
            post_analytics_processor=app.get("PostAnalyticsProcessorSourceUri"), problem_type=app.get("ProblemType"),
            constraints_uri=(baseline.get("ConstraintsResource") or {}).get("S3Uri"),
            statistics_uri=(baseline.get("StatisticsResource") or {}).get("S3Uri"),
            baselining_job=baseline.get("BaseliningJobName"),
            ground_truth_uri=(job_input.get("GroundTruthS3Input") or {}).get("S3Uri"),
            network=doc.get("NetworkConfig"))

    @classmethod
    def from_inline(cls, definition: dict[str, Any], monitoring_type: str = DATA_QUALITY) -> MonitoringJob:
        """The job of a schedule's inline ``MonitoringJobDefinition`` (the SageMaker SDK's ``ModelMonitor``)."""
        app = definition.get("MonitoringAppSpecification") or {}
        baseline = definition.get("BaselineConfig") or {}
        inputs = definition.get("MonitoringInputs") or [{}]
        out = definition.get("MonitoringOutputConfig") or {}
        return cls(
            monitoring_type=monitoring_type, definition_name=None, image=app.get("ImageUri", ""),
            role=definition.get("RoleArn", ""), endpoint_input=dict(inputs[0].get("EndpointInput") or {}),
            batch_input=dict(inputs[0]["BatchTransformInput"]) if inputs[0].get("BatchTransformInput") else None,
            outputs=list(out.get("MonitoringOutputs") or []), output_kms_key=out.get("KmsKeyId"),
            cluster=dict((definition.get("MonitoringResources") or {}).get("ClusterConfig") or {}),
            stopping=dict(definition.get("StoppingCondition") or {"MaxRuntimeInSeconds": DEFAULT_MAX_RUNTIME}),
            environment=dict(definition.get("Environment") or {}), entrypoint=app.get("ContainerEntrypoint"),
            arguments=app.get("ContainerArguments"), record_preprocessor=app.get("RecordPreprocessorSourceUri"),
            post_analytics_processor=app.get("PostAnalyticsProcessorSourceUri"),
            constraints_uri=(baseline.get("ConstraintsResource") or {}).get("S3Uri"),
            statistics_uri=(baseline.get("StatisticsResource") or {}).get("S3Uri"),
            baselining_job=baseline.get("BaseliningJobName"), network=definition.get("NetworkConfig"))


# ------------------------------------------------------------------ checks shared with inline definitions
def check_inputs(services: Services, where: str, job_input: dict[str, Any], inputs_key: str = "EndpointInput"
                 ) -> dict[str, Any]:
    """An input member (``DataQualityJobInput`` or one of ``MonitoringInputs``) with AWS's defaults filled in:
    exactly one of an ``EndpointInput`` and a ``BatchTransformInput``."""
    batch = job_input.get("BatchTransformInput")
    endpoint = dict(job_input.get(inputs_key) or {})
    if batch and endpoint:
        raise ValidationError(f"{where} gives both EndpointInput and BatchTransformInput; give one: the endpoint "
                              "whose captured traffic to monitor, or where batch transform jobs captured their data.")
    if batch:
        return {**job_input, "BatchTransformInput": check_batch_input(services, f"{where}.BatchTransformInput",
                                                                      dict(batch))}
    if not endpoint:
        raise ValidationError(f"{where} must have an EndpointInput naming the endpoint to monitor (or a "
                              "BatchTransformInput naming where batch transform jobs captured their data).")
    endpoint["LocalPath"] = local_path(endpoint.get("LocalPath"), f"{where}.EndpointInput.LocalPath")
    endpoint.setdefault("S3InputMode", "File")
    endpoint.setdefault("S3DataDistributionType", "FullyReplicated")
    return {**job_input, inputs_key: endpoint}


DATASET_FORMATS = ("Csv", "Json", "Parquet")


def check_batch_input(services: Services, where: str, batch: dict[str, Any]) -> dict[str, Any]:
    """A ``BatchTransformInput``: the capture destination an S3 URI, one ``DatasetFormat`` (the format of the
    transformed data the analyzer reads), a ``LocalPath`` under /opt/ml/processing/."""
    check_s3_uri(services, batch.get("DataCapturedDestinationS3Uri", ""), f"{where}.DataCapturedDestinationS3Uri",
                 must_exist=False)
    fmt = batch.get("DatasetFormat") or {}
    given = [k for k in DATASET_FORMATS if fmt.get(k) is not None]
    if len(given) != 1:
        raise ValidationError(f"{where}.DatasetFormat must give exactly one of {', '.join(DATASET_FORMATS)} (it "
                              f"gives {', '.join(given) or 'none'}): the format of the data the transform jobs "
                              "read, for example {'Csv': {'Header': False}}.")
    batch["LocalPath"] = local_path(batch.get("LocalPath"), f"{where}.LocalPath")
    batch.setdefault("S3InputMode", "File")
    batch.setdefault("S3DataDistributionType", "FullyReplicated")
    return batch


def check_outputs(services: Services, where: str, config: dict[str, Any]) -> dict[str, Any]:
    """A ``MonitoringOutputConfig``: exactly one output, an S3 URI, a LocalPath under /opt/ml/processing/."""
    outputs = list(config.get("MonitoringOutputs") or [])
    if len(outputs) != 1:
        raise ValidationError(f"{where}.MonitoringOutputs must hold exactly one MonitoringOutput (it has "
                              f"{len(outputs)}): the folder whose files the job uploads to S3.")
    s3 = dict(outputs[0].get("S3Output") or {})
    check_s3_uri(services, s3.get("S3Uri", ""), f"{where}.MonitoringOutputs[0].S3Output.S3Uri", must_exist=False)
    s3["LocalPath"] = local_path(s3.get("LocalPath"), f"{where}.MonitoringOutputs[0].S3Output.LocalPath")
    s3.setdefault("S3UploadMode", "Continuous")
    return {**config, "MonitoringOutputs": [{**outputs[0], "S3Output": s3}]}


def check_baseline(services: Services, where: str, baseline: dict[str, Any] | None) -> None:
    for key in ("ConstraintsResource", "StatisticsResource"):
        uri = ((baseline or {}).get(key) or {}).get("S3Uri")
        if uri is not None:
            check_s3_uri(services, uri, f"{where}.{key}.S3Uri", must_exist=False)


def check_cluster(where: str, cluster: dict[str, Any]) -> dict[str, Any]:
    out = dict(cluster)
    if int(out.get("InstanceCount") or 1) < 1:
        raise ValidationError(f"{where}.ClusterConfig.InstanceCount must be at least 1.")
    return out


# ------------------------------------------------------------------ definitions
def kind_of(monitoring_type: str) -> str:
    return KINDS[monitoring_type]


def get(services: Services, monitoring_type: str, name: str) -> Resource:
    """The stored definition ``name`` (or ARN) of this type; a missing one is ResourceNotFound."""
    try:
        return services.meta.get(KINDS[monitoring_type], name_from(name))
    except MissingResource:
        raise ResourceNotFound(f"Job definition {name_from(name)!r} ({_NOUN[monitoring_type]}) does not exist: "
                               f"check the name (List{monitoring_type}JobDefinitions shows the ones there "
                               "are).") from None


def create(services: Services, monitoring_type: str, params: dict[str, Any]) -> dict[str, Any]:
    """Create{DataQuality,ModelQuality}JobDefinition: validate, store, return the ARN."""
    p = monitoring_type
    name = params["JobDefinitionName"]
    app = dict(params[f"{p}AppSpecification"])
    if not app.get("ImageUri"):
        raise ValidationError(f"{p}AppSpecification.ImageUri must name the monitoring image.")
    if p == MODEL_QUALITY and app.get("ProblemType") not in PROBLEM_TYPES:
        raise ValidationError(f"ModelQualityAppSpecification.ProblemType must be one of {', '.join(PROBLEM_TYPES)}"
                              f" (got {app.get('ProblemType')!r}): model quality metrics depend on it.")
    job_input = check_inputs(services, f"{p}JobInput", dict(params[f"{p}JobInput"]))
    if p == MODEL_QUALITY and job_input.get("BatchTransformInput"):
        raise ValidationError("ModelQualityJobInput.BatchTransformInput: model quality of batch transform jobs is "
                              "not supported by Shipyard yet; monitor their data quality (a DataQuality job "
                              "definition) or an endpoint's model quality (EndpointInput).")
    if p == MODEL_QUALITY:
        truth = (job_input.get("GroundTruthS3Input") or {}).get("S3Uri", "")
        check_s3_uri(services, truth, "ModelQualityJobInput.GroundTruthS3Input.S3Uri", must_exist=False)
    outputs = check_outputs(services, f"{p}JobOutputConfig", dict(params[f"{p}JobOutputConfig"]))
    check_baseline(services, f"{p}BaselineConfig", params.get(f"{p}BaselineConfig"))
    resources = {"ClusterConfig": check_cluster("JobResources", params["JobResources"]["ClusterConfig"])}
    arn = services.arn(KINDS[p], name)
    doc: dict[str, Any] = {
        "JobDefinitionArn": arn, "JobDefinitionName": name, "CreationTime": time.time(),
        f"{p}AppSpecification": app, f"{p}JobInput": job_input, f"{p}JobOutputConfig": outputs,
        "JobResources": resources, "RoleArn": params["RoleArn"],
        "StoppingCondition": params.get("StoppingCondition") or {"MaxRuntimeInSeconds": DEFAULT_MAX_RUNTIME},
        "_endpoint": (job_input.get("EndpointInput") or {}).get("EndpointName", ""),
    }
    for key in (f"{p}BaselineConfig", "NetworkConfig"):
        if params.get(key):
            doc[key] = params[key]
    if params.get("Tags"):
        doc["_tags"] = list(params["Tags"])
    try:
        services.meta.create(KINDS[p], name, arn, "Created", doc)
    except ResourceInUse:
        raise ResourceInUse(f"Job definition {name!r} already exists ({_NOUN[p]}); choose another "
                            "JobDefinitionName or delete the existing one.") from None
    return {"JobDefinitionArn": arn}


def describe(resource: Resource) -> dict[str, Any]:
    out = public(resource.doc)
    out.setdefault("CreationTime", resource.created)
    return out


def summary(r: Resource) -> dict[str, Any]:
    return {"MonitoringJobDefinitionName": r.name, "MonitoringJobDefinitionArn": r.arn,
            "CreationTime": r.doc.get("CreationTime", r.created), "EndpointName": r.doc.get("_endpoint", "")}


def list_definitions(services: Services, monitoring_type: str, params: dict[str, Any]) -> dict[str, Any]:
    """List{DataQuality,ModelQuality}JobDefinitions: NameContains, EndpointName, creation-time window, sort by
    Name or CreationTime, paging."""
    extra = {"doc_equals": {"_endpoint": params["EndpointName"]}} if params.get("EndpointName") else {}
    return list_page(services, KINDS[monitoring_type], params, "JobDefinitionSummaries", summary,
                     sort_fields={"Name": "name", "CreationTime": "created"}, **extra)


def schedules_using(services: Services, monitoring_type: str, name: str) -> list[Resource]:
    """The schedules that name this definition (what makes deleting it ResourceInUse)."""
    q = ListQuery(max_results=100, doc_equals={"_definition": name.lower(), "MonitoringType": monitoring_type})
    out: list[Resource] = []
    for _ in range(10_000):  # bounded: 100 per page
        page = services.meta.list(SCHEDULE_KIND, q)
        out.extend(page.items)
        if not page.next_token:
            break
        q.next_token = page.next_token
    return out


def delete(services: Services, monitoring_type: str, name: str) -> None:
    r = get(services, monitoring_type, name)
    users = schedules_using(services, monitoring_type, r.name)
    if users:
        raise ResourceInUse(f"Job definition {r.name!r} is used by the monitoring schedule(s) "
                            f"{', '.join(u.name for u in users)}; delete those schedules first.")
    services.meta.delete(KINDS[monitoring_type], r.name)
