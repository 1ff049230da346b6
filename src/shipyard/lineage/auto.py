"""Automatic lineage, as SageMaker records it: a job's inputs ContributedTo its trial component, which
Produced its outputs; an endpoint's ModelDeployment action joins the models it serves to its Endpoint context.

    DataSet artifact --ContributedTo--> <job>-aws-training-job --Produced--> Model artifact
    Image, Code      --ContributedTo--/    (Code: a script-mode job's sourcedir.tar.gz)
    Model artifact --ContributedTo--> ModelDeployment action --AssociatedWith--> Endpoint context

Artifacts are one per URI, so a model trained here and then deployed meets its own artifact again: that is
what ties an endpoint back to its data. The trial component's ARN is deterministic, so its edges are added
even before the experiments recorder creates the component.

``on_job`` is a :mod:`shipyard.resources.job_events` listener; ``on_model_created`` and
``on_endpoint_created`` are called by CreateModel and CreateEndpoint. Each records what it can and never
raises into the caller's operation.
"""

from __future__ import annotations

import json
import logging
from typing import Iterable

from ..context import Services
from ..metastore.base import Resource
from ..resources.lineage_entities import ACTION, CONTEXT, ensure_artifact, ensure_named
from ..resources.lineage_graph import EntityRef, link, parse_arn

log = logging.getLogger("shipyard.lineage.auto")

# store kind -> (trial component suffix, the component's vertex Type)
JOB_COMPONENTS = {
    "training-job": ("aws-training-job", "TrainingJob"),
    "processing-job": ("aws-processing-job", "ProcessingJob"),
    "transform-job": ("aws-transform-job", "TransformJob"),
}


def component_ref(services: Services, kind: str, job_name: str) -> EntityRef:
    name = f"{job_name}-{JOB_COMPONENTS[kind][0]}"
    return EntityRef(services.arn("experiment-trial-component", name), "experiment-trial-component", name)


def _artifact(services: Services, uri: str, artifact_type: str) -> EntityRef:
    return parse_arn(ensure_artifact(services, uri, artifact_type, name=uri.rstrip("/").rsplit("/", 1)[-1]), "Arn")


def _link(services: Services, source: EntityRef, source_type: str, destination: EntityRef, destination_type: str,
          association_type: str) -> None:
    link(services, source, destination, association_type, source_type, destination_type,
         source_name="" if source.kind == "artifact" else source.name,
         destination_name="" if destination.kind == "artifact" else destination.name)


def _inputs(services: Services, component: EntityRef, ctype: str, uris: Iterable[tuple[str, str]]) -> None:
    for uri, artifact_type in uris:
        if uri:
            _link(services, _artifact(services, uri, artifact_type), artifact_type, component, ctype, "ContributedTo")


def _outputs(services: Services, component: EntityRef, ctype: str, uris: Iterable[tuple[str, str]]) -> None:
    for uri, artifact_type in uris:
        if uri:
            _link(services, component, ctype, _artifact(services, uri, artifact_type), artifact_type, "Produced")


_CODE_INPUTS = ("code", "entrypoint")  # the SDK's script inputs of a processing job


def _code_uri(hyperparameters: dict) -> str:
    """A script-mode job's code: the SDK's ``sagemaker_submit_directory`` hyperparameter (a JSON string)."""
    raw = str(hyperparameters.get("sagemaker_submit_directory", ""))
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return value if isinstance(value, str) and value.startswith("s3://") else ""


def _training(doc: dict) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    ins = [(((c.get("DataSource") or {}).get("S3DataSource") or {}).get("S3Uri", ""), "DataSet")
           for c in doc.get("InputDataConfig") or []]
    ins.append(((doc.get("AlgorithmSpecification") or {}).get("TrainingImage", ""), "Image"))
    ins.append((_code_uri(doc.get("HyperParameters") or {}), "Code"))
    outs = [((doc.get("ModelArtifacts") or {}).get("S3ModelArtifacts", ""), "Model")]
    return ins, outs


def _processing(doc: dict) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    ins = [((i.get("S3Input") or {}).get("S3Uri", ""), "Code" if i.get("InputName") in _CODE_INPUTS else "DataSet")
           for i in doc.get("ProcessingInputs") or []]
    ins.append(((doc.get("AppSpecification") or {}).get("ImageUri", ""), "Image"))
    outs = [((o.get("S3Output") or {}).get("S3Uri", ""), "DataSet")
            for o in (doc.get("ProcessingOutputConfig") or {}).get("Outputs") or []]
    return ins, outs


def _transform(services: Services, doc: dict) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    source = ((doc.get("TransformInput") or {}).get("DataSource") or {}).get("S3DataSource") or {}
    ins = [(source.get("S3Uri", ""), "DataSet")]
    model = services.meta.find("model", doc.get("ModelName", "")) if doc.get("ModelName") else None
    if model is not None:
        ins += [(url, "Model") for url in _model_urls(model.doc)]
    outs = [((doc.get("TransformOutput") or {}).get("S3OutputPath", ""), "DataSet")]
    return ins, outs


def on_job(services: Services, event: str, kind: str, resource: Resource) -> None:
    """Inputs when the job is created; outputs once it completed (a failed job produced nothing)."""
    if kind not in JOB_COMPONENTS:
        return
    component, ctype = component_ref(services, kind, resource.name), JOB_COMPONENTS[kind][1]
    if kind == "training-job":
        ins, outs = _training(resource.doc)
    elif kind == "processing-job":
        ins, outs = _processing(resource.doc)
    else:
        ins, outs = _transform(services, resource.doc)
    if event == "created":
        _inputs(services, component, ctype, ins)
    elif event == "finished" and resource.status == "Completed":
        _outputs(services, component, ctype, outs)


def _containers(model_doc: dict) -> list[dict]:
    found = [model_doc["PrimaryContainer"]] if model_doc.get("PrimaryContainer") else []
    return found + list(model_doc.get("Containers") or [])


def _model_urls(model_doc: dict) -> list[str]:
    """Each container's model data: ``ModelDataUrl`` (a tarball) or ``ModelDataSource`` (an S3 prefix)."""
    urls = []
    for c in _containers(model_doc):
        url = c.get("ModelDataUrl") or ((c.get("ModelDataSource") or {}).get("S3DataSource") or {}).get("S3Uri")
        if url:
            urls.append(url)
    return urls


def on_model_created(services: Services, model_doc: dict) -> None:
    """A model's data and images become Model and Image artifacts (the same ones its training job produced)."""
    try:
        for url in _model_urls(model_doc):
            _artifact(services, url, "Model")
        for c in _containers(model_doc):
            if c.get("Image"):
                _artifact(services, c["Image"], "Image")
    except Exception:  # noqa: BLE001 - recording lineage must not fail CreateModel
        log.exception("could not record the lineage of model %s", model_doc.get("ModelName"))


def on_endpoint_created(services: Services, endpoint_name: str, config_doc: dict,
                        models: Iterable[dict]) -> None:
    """An Endpoint context for the endpoint and a ModelDeployment action for its configuration: the models'
    artifacts ContributedTo the action, which is AssociatedWith the endpoint."""
    try:
        _record_endpoint(services, endpoint_name, config_doc, list(models))
    except Exception:  # noqa: BLE001 - recording lineage must not fail CreateEndpoint
        log.exception("could not record the lineage of endpoint %s", endpoint_name)


def endpoint_context_name(endpoint_name: str) -> str:
    return f"{endpoint_name}-aws-endpoint"


def _record_endpoint(services: Services, endpoint_name: str, config_doc: dict, models: list[dict]) -> None:
    endpoint_arn = services.arn("endpoint", endpoint_name)
    context = parse_arn(ensure_named(services, CONTEXT, {
        "ContextName": endpoint_context_name(endpoint_name), "ContextType": "Endpoint",
        "Source": {"SourceUri": endpoint_arn, "SourceType": "ARN", "SourceId": endpoint_name},
        "Properties": {"EndpointName": endpoint_name}}), "ContextArn")
    config_name = str(config_doc.get("EndpointConfigName", ""))
    config_arn = services.arn("endpoint-config", config_name)
    action = parse_arn(ensure_named(services, ACTION, {
        "ActionName": f"{config_name}-{endpoint_name}-aws-model-deployment"[:120], "ActionType": "ModelDeployment",
        "Status": "Completed", "Source": {"SourceUri": config_arn, "SourceType": "ARN", "SourceId": config_name},
        "Properties": {"EndpointConfigName": config_name}}), "ActionArn")
    for model in models:
        for url in _model_urls(model):
            _link(services, _artifact(services, url, "Model"), "Model", action, "ModelDeployment", "ContributedTo")
        for c in _containers(model):
            if c.get("Image"):
                _link(services, _artifact(services, c["Image"], "Image"), "Image", action, "ModelDeployment",
                      "ContributedTo")
    _link(services, action, "ModelDeployment", context, "Endpoint", "AssociatedWith")

