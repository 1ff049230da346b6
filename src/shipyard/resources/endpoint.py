"""The endpoint resource: operations on a stored endpoint that both API handlers and controllers call.

:mod:`shipyard.api.endpoints` is the wire adapter over these (``UpdateEndpointWeightsAndCapacities`` ->
:func:`update_weights_and_capacities`); the autoscaling controller applies a scaling decision through the very
same function, so a controller-made change is validated and recorded exactly like a user's request. The
endpoint's private state (``_instances``, ``_desired``, ...) is typed in :mod:`shipyard.domain.endpoint_state`;
the hosting controller (:mod:`shipyard.controllers.hosting`) does the work these operations record.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..domain.endpoint_state import DesiredVariant, EndpointState
from ..errors import MissingResource, ValidationError
from ..metastore.base import Resource
from . import model as model_resource

if TYPE_CHECKING:
    from ..context import Services

KIND = "endpoint"
CONFIG_KIND = "endpoint-config"


def get_endpoint(services: Services, name: str) -> Resource:
    """The stored endpoint, or SageMaker's ``Could not find endpoint "arn..."``."""
    try:
        return services.meta.get(KIND, name)
    except MissingResource:
        raise MissingResource("endpoint", services.arn(KIND, name)) from None


def get_config(services: Services, name: str) -> Resource:
    """The stored endpoint configuration, or SageMaker's ``Could not find endpoint configuration``."""
    try:
        return services.meta.get(CONFIG_KIND, name)
    except MissingResource:
        raise MissingResource("endpoint configuration", services.arn(CONFIG_KIND, name)) from None


def snapshot(services: Services, config_name: str) -> dict:
    """What the controller needs to deploy ``config_name``, independent of the config and models' future
    (CreateEndpoint's ``_spec``, UpdateEndpoint's and deploy-on-approval's ``_next``)."""
    config = get_config(services, config_name).doc
    variants = []
    shadows = {pv["VariantName"] for pv in config.get("ShadowProductionVariants") or []}
    for pv in config["ProductionVariants"] + (config.get("ShadowProductionVariants") or []):
        model = model_resource.get(services, pv["ModelName"]).doc
        variants.append({
            "name": pv["VariantName"],
            "weight": float(pv.get("InitialVariantWeight", 1.0)),
            "count": int(pv.get("InitialInstanceCount") or 1),
            "model": pv["ModelName"],
            "containers": model_resource.containers_of(model),
            "startup_timeout": pv.get("ContainerStartupHealthCheckTimeoutInSeconds"),
            "shadow": pv["VariantName"] in shadows,
            "execution_mode": (model.get("InferenceExecutionConfig") or {}).get("Mode", "Serial"),  # pipelines
            "serverless": pv.get("ServerlessConfig"),  # scale to zero: shipyard.serving.serverless
            # the instance's memory/CPU limits and its network: the model server's sandbox or container
            "instance_type": pv.get("InstanceType"),
            "network_isolation": bool(model.get("EnableNetworkIsolation")),
        })
    return {"config": config_name, "variants": variants, "data_capture": config.get("DataCaptureConfig"),
            "async_inference": config.get("AsyncInferenceConfig")}


def require_in_service(ep: Resource, action: str) -> None:
    """SageMaker's ValidationException for changing an endpoint that is not InService."""
    if ep.status != "InService":
        state = {"Creating": "in-progress", "Updating": "in-progress", "Deleting": "deleting",
                 "Failed": "failed"}.get(ep.status, ep.status.lower())
        raise ValidationError(f'Cannot {action} {state} endpoint "{ep.arn}".')


def variant_count(ep: Resource, variant: str) -> int | None:
    """The configured instance count of ``variant`` (what the hosting controller keeps running), or None."""
    state = EndpointState.from_doc(ep.doc)
    v = state.spec.variant(variant) if state.spec is not None else None
    return v.count if v is not None else None


def update_weights_and_capacities(services: Services, params: dict) -> dict:
    """UpdateEndpointWeightsAndCapacities: record the desired weights/counts (``_desired``) and mark the
    endpoint Updating; the hosting controller starts or stops instances and clears it."""
    name = params["EndpointName"]
    ep = get_endpoint(services, name)
    require_in_service(ep, "update")
    state = EndpointState.from_doc(ep.doc)
    known = {v.name for v in state.spec.variants} if state.spec is not None else set()
    desired: dict[str, DesiredVariant] = {}
    for d in params["DesiredWeightsAndCapacities"]:
        if d["VariantName"] not in known:
            raise ValidationError(f'The variant(s) "[{d["VariantName"]}]" is/are not present in endpoint '
                                  f'"{ep.arn}".')
        if d.get("DesiredWeight") is None and d.get("DesiredInstanceCount") is None:
            raise ValidationError(f"Variant {d['VariantName']}: give DesiredWeight and/or DesiredInstanceCount.")
        desired[d["VariantName"]] = DesiredVariant(weight=d.get("DesiredWeight"), count=d.get("DesiredInstanceCount"))
    changes = EndpointState(desired=desired).to_changes(("desired",))
    services.meta.update(KIND, name, {**changes, "EndpointStatus": "Updating", "LastModifiedTime": time.time()},
                         status="Updating", expect_status={"InService"})
    services.wake(KIND)
    return {"EndpointArn": ep.arn}
