"""Endpoint-config and endpoint operations.

CreateEndpoint and UpdateEndpoint take a *snapshot* (``_spec`` / ``_next``) of the config's variants with
their models' container definitions, so the endpoint keeps running, restarting and replacing instances even
if the config or model is deleted later (allowed, as on AWS). The hosting controller
(:mod:`shipyard.controllers.hosting`) does the work; these handlers only validate, record and wake it.
Operations a controller also performs (UpdateEndpointWeightsAndCapacities, for autoscaling) live in
:mod:`shipyard.resources.endpoint`; the handlers here are thin adapters over them.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..domain.acting import stamp
from ..domain.endpoint_state import EndpointState
from ..errors import MissingResource, ResourceInUse, ValidationError
from ..kms import jobs as kms_jobs
from ..resources import endpoint as endpoint_resource
from ..resources.endpoint import get_config, get_endpoint, require_in_service, snapshot
from ..usage.budgets import check_budget
from .listing import list_page
from .models import NAME_TIME, get_model, public
from .registry import operation

if TYPE_CHECKING:
    from ..context import Services

CONFIG = "endpoint-config"
ENDPOINT = "endpoint"


# --- endpoint configs ---

@operation("sagemaker", "CreateEndpointConfig")
def create_endpoint_config(services: Services, params: dict) -> dict:
    name = params["EndpointConfigName"]
    variants = []
    seen = set()
    for pv in list(params["ProductionVariants"]) + list(params.get("ShadowProductionVariants") or []):
        vname = pv["VariantName"]
        if vname in seen:
            raise ValidationError(f"Variant names must be unique; {vname!r} appears more than once.")
        seen.add(vname)
        if not pv.get("ModelName"):
            raise ValidationError(f"ProductionVariant {vname} needs a ModelName.")
        get_model(services, pv["ModelName"])  # 'Could not find model "arn..."'
        if pv.get("InitialInstanceCount") is None and not pv.get("ServerlessConfig"):
            raise ValidationError(f"ProductionVariant {vname} needs InitialInstanceCount (or a ServerlessConfig).")
        variants.append({"InitialVariantWeight": 1.0, **pv})
    capture = params.get("DataCaptureConfig")
    if capture and not str(capture.get("DestinationS3Uri", "")).startswith("s3://"):
        raise ValidationError(f"DataCaptureConfig.DestinationS3Uri {capture.get('DestinationS3Uri')!r} is not a "
                              "valid S3 URI: it must start with s3://.")
    kms_jobs.endpoint_config(services, params)  # KmsKeyId fields: checked; capture/async outputs encrypted
    arn = services.arn(CONFIG, name)
    doc: dict[str, Any] = {k: v for k, v in params.items() if k != "Tags"}
    n_prod = len(params["ProductionVariants"])
    doc.update({"EndpointConfigName": name, "EndpointConfigArn": arn, "ProductionVariants": variants[:n_prod],
                "CreationTime": time.time()})
    if variants[n_prod:]:
        doc["ShadowProductionVariants"] = variants[n_prod:]
    try:
        services.meta.create(CONFIG, name, arn, "Created", doc)
    except ResourceInUse:
        raise ResourceInUse(f'Cannot create already existing endpoint configuration "{arn}".') from None
    return {"EndpointConfigArn": arn}


@operation("sagemaker", "DescribeEndpointConfig")
def describe_endpoint_config(services: Services, params: dict) -> dict:
    return public(get_config(services, params["EndpointConfigName"]).doc)


@operation("sagemaker", "DeleteEndpointConfig")
def delete_endpoint_config(services: Services, params: dict) -> dict:
    name = params["EndpointConfigName"]
    try:
        services.meta.delete(CONFIG, name)
    except MissingResource:
        raise MissingResource("endpoint configuration", services.arn(CONFIG, name)) from None
    return {}


@operation("sagemaker", "ListEndpointConfigs")
def list_endpoint_configs(services: Services, params: dict) -> dict:
    return list_page(services, CONFIG, params, "EndpointConfigs",
                     lambda r: {"EndpointConfigName": r.name, "EndpointConfigArn": r.arn, "CreationTime": r.created},
                     sort_fields=NAME_TIME)


# --- endpoints ---

def _capture_summary(capture: dict | None) -> dict | None:
    if not capture:
        return None
    enabled = bool(capture.get("EnableCapture", True))
    return {"EnableCapture": enabled, "CaptureStatus": "Started" if enabled else "Stopped",
            "CurrentSamplingPercentage": int(capture.get("InitialSamplingPercentage", 100)),
            "DestinationS3Uri": capture.get("DestinationS3Uri", ""), "KmsKeyId": capture.get("KmsKeyId", "")}


@operation("sagemaker", "CreateEndpoint")
def create_endpoint(services: Services, params: dict) -> dict:
    name = params["EndpointName"]
    spec = snapshot(services, params["EndpointConfigName"])
    arn = services.arn(ENDPOINT, name)
    now = time.time()
    doc: dict[str, Any] = {"EndpointName": name, "EndpointArn": arn, "EndpointConfigName": spec["config"],
                           "EndpointStatus": "Creating", "CreationTime": now, "LastModifiedTime": now,
                           "_spec": spec, "_gen": 0}
    capture = _capture_summary(spec["data_capture"])
    if capture:
        doc["DataCaptureConfig"] = capture
    if params.get("Tags"):  # ListTags answers them, and usage reports and budgets allocate cost by them
        doc["_tags"] = [{"Key": t["Key"], "Value": t.get("Value", "")} for t in params["Tags"]]
    check_budget(services, params.get("Tags"))  # a spent budget for these tags refuses new work (shipyard.usage)
    try:
        services.meta.create(ENDPOINT, name, arn, "Creating", stamp(doc))
    except ResourceInUse:
        raise ResourceInUse(f'Cannot create already existing endpoint "{arn}".') from None
    _record_lineage(services, name, spec)
    services.wake(ENDPOINT)
    return {"EndpointArn": arn}


def _record_lineage(services: Services, name: str, spec: dict) -> None:
    """The endpoint's context and its configuration's deployment action, linked to the models' artifacts."""
    from ..lineage import auto as lineage_auto

    lineage_auto.on_endpoint_created(services, name, {"EndpointConfigName": spec["config"]},
                                     [{"Containers": v["containers"]} for v in spec["variants"]])


@operation("sagemaker", "DescribeEndpoint")
def describe_endpoint(services: Services, params: dict) -> dict:
    ep = get_endpoint(services, params["EndpointName"])
    doc = public(ep.doc)
    state = EndpointState.from_doc(ep.doc)
    spec = state.spec
    capture = _capture_summary(spec.data_capture if spec else None)  # follows UpdateEndpoint
    if capture:
        doc["DataCaptureConfig"] = capture
    else:
        doc.pop("DataCaptureConfig", None)
    if state.desired and doc.get("ProductionVariants"):  # UpdateEndpointWeightsAndCapacities in progress
        doc["ProductionVariants"] = [dict(v) for v in doc["ProductionVariants"]]
        for v in doc["ProductionVariants"]:
            want = state.desired.get(v["VariantName"])
            if want is not None and want.weight is not None:
                v["DesiredWeight"] = float(want.weight)
            if want is not None and want.count is not None:
                v["DesiredInstanceCount"] = int(want.count)
    shadows = {v.name for v in spec.variants if v.shadow} if spec else set()
    if shadows and doc.get("ProductionVariants"):  # the controller summarises all variants in one list
        doc["ShadowProductionVariants"] = [v for v in doc["ProductionVariants"] if v["VariantName"] in shadows]
        doc["ProductionVariants"] = [v for v in doc["ProductionVariants"] if v["VariantName"] not in shadows]
    return doc


@operation("sagemaker", "ListEndpoints")
def list_endpoints(services: Services, params: dict) -> dict:
    return list_page(services, ENDPOINT, params, "Endpoints", lambda r: {
        "EndpointName": r.name, "EndpointArn": r.arn, "CreationTime": r.created,
        "LastModifiedTime": r.doc.get("LastModifiedTime", r.modified), "EndpointStatus": r.status})


@operation("sagemaker", "DeleteEndpoint")
def delete_endpoint(services: Services, params: dict) -> dict:
    name = params["EndpointName"]
    ep = get_endpoint(services, name)
    if ep.status != "Deleting":
        services.meta.update(ENDPOINT, name, {"EndpointStatus": "Deleting", "LastModifiedTime": time.time()},
                             status="Deleting")
    services.wake(ENDPOINT)
    return {}


@operation("sagemaker", "UpdateEndpoint")
def update_endpoint(services: Services, params: dict) -> dict:
    name = params["EndpointName"]
    ep = get_endpoint(services, name)
    require_in_service(ep, "update")
    spec = snapshot(services, params["EndpointConfigName"])
    if params.get("RetainAllVariantProperties"):
        deployed = EndpointState.from_doc(ep.doc).spec
        current = {v.name: v for v in deployed.variants} if deployed else {}
        excluded = {p.get("VariantPropertyType") for p in params.get("ExcludeRetainedVariantProperties") or []}
        for v in spec["variants"]:
            old = current.get(v["name"])
            if old is not None:
                if "DesiredWeight" not in excluded:
                    v["weight"] = old.weight
                if "DesiredInstanceCount" not in excluded:
                    v["count"] = old.count
    services.meta.update(ENDPOINT, name, {"_next": spec, "EndpointStatus": "Updating", "FailureReason": None,
                                          "LastModifiedTime": time.time()},
                         status="Updating", expect_status={"InService"})
    _record_lineage(services, name, spec)
    services.wake(ENDPOINT)
    return {"EndpointArn": ep.arn}


@operation("sagemaker", "UpdateEndpointWeightsAndCapacities")
def update_weights_and_capacities(services: Services, params: dict) -> dict:
    return endpoint_resource.update_weights_and_capacities(services, params)
