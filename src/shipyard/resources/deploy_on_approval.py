"""Deploy on approval: a model package group tagged ``shipyard:deploy-on-approval`` = an endpoint name keeps that
endpoint on the group's newest approved version.

On AWS this loop is an EventBridge rule on "SageMaker Model Package State Change" plus a Lambda that calls
UpdateEndpoint; Shipyard has no Lambda, so it is built in. When a versioned package of a tagged group becomes
Approved (created Approved, or UpdateModelPackage to Approved), :func:`on_approved` creates a Model from the
package (CreateModel with ``Containers=[{"ModelPackageName": arn}]``, exactly what "deploy from a package"
does), an endpoint config copying the endpoint's current one with the replaced variant's ModelName swapped, and
rolls the endpoint onto it as UpdateEndpoint does (a blue/green replacement: no request fails).

Which variant: a single-variant endpoint's one variant; with several, the one variant whose model came from
this group; otherwise the deployment is refused (logged, recorded). The outcome is recorded on the package
under ``_deploy`` (``Status`` InProgress / Deployed / Failed, with ``Error`` on failure) so a repeated approval
(Approved -> Rejected -> Approved) or a server restart never redeploys a package, and is published as its own
event ("Shipyard Model Package Deployment", stream ``model-package-deployment``). It never raises: the approval
call that triggered it succeeds whatever happens here.

The new endpoint's snapshot is built from the endpoint's deployed snapshot (``_spec``) with the replaced
variant's model and containers swapped; the live weights and instance counts are kept (an autoscaled endpoint
is not scaled back to its config's initial count by a new model version).

:func:`deploy_to` is the same deployment without the tag, for a project's stages (staging, then production on a
second approval: :mod:`.project`): its record has a key per stage, and an endpoint that does not exist yet is
created (one ``AllTraffic`` instance, tagged with the project).
"""

from __future__ import annotations

import copy
import logging
import time
import uuid
from typing import Any

from ..context import Services
from ..domain.endpoint_state import EndpointState
from ..errors import ConflictError, MissingResource, ShipyardError, ValidationError
from ..metastore.base import Resource
from . import model as model_resource
from . import model_package_events
from .endpoint import get_endpoint, snapshot

TAG = "shipyard:deploy-on-approval"
PACKAGE_KIND = "model-package"
CONFIG_KIND = "endpoint-config"
ENDPOINT_KIND = "endpoint"
LOG_STREAM = "model-package-deployment"
DETAIL_TYPE = "Shipyard Model Package Deployment"
MAX_NAME = 63
CLAIM_TRIES = 5

log = logging.getLogger(__name__)


def target_of(tags: list[dict] | None) -> str | None:
    """The endpoint name the tag names, or None when the group carries no such tag."""
    for t in tags or []:
        if t.get("Key") == TAG:
            return str(t.get("Value") or "")
    return None


def check_tags(services: Services, tags: list[dict] | None) -> None:
    """The tag (when present) must name an existing endpoint: checked at CreateModelPackageGroup and AddTags so a
    typo is refused when it is made, not discovered when a version is approved."""
    endpoint = target_of(tags)
    if endpoint is None:
        return
    if not endpoint:
        raise ValidationError(f"Tag {TAG!r} needs a value: the name of the endpoint to keep on the group's newest "
                              "approved version.")
    try:
        services.meta.get(ENDPOINT_KIND, endpoint)
    except MissingResource:
        raise ValidationError(f"Tag {TAG!r} names the endpoint {endpoint!r}, which does not exist: create the "
                              "endpoint first (or fix the tag's value).") from None


def _group_tags(services: Services, group_name: str) -> list[dict]:
    try:
        group = services.meta.get("model-package-group", group_name)
    except MissingResource:
        return []
    return list(group.doc.get("_tags") or group.doc.get("Tags") or [])


def _name(prefix: str, version: Any) -> str:
    """A model / endpoint-config name: ``<group>-v<version>-<random>`` within SageMaker's 63 characters."""
    suffix = f"-v{version}-{uuid.uuid4().hex[:6]}"
    return prefix[:MAX_NAME - len(suffix)].rstrip("-") + suffix


def on_approved(services: Services, description: dict) -> None:
    """Deploy the package ``description`` describes when its group is tagged; never raises (see module doc)."""
    group = description.get("ModelPackageGroupName")
    if not group or description.get("ModelApprovalStatus") != "Approved":
        return
    try:
        endpoint = target_of(_group_tags(services, group))
        if not endpoint:
            return
        package = _claim(services, description["ModelPackageArn"])
        if package is None:
            return
        _deploy(services, package, group, endpoint)
    except Exception as e:  # noqa: BLE001 - the approval call must succeed whatever happens here
        log.warning("deploy on approval of %s failed: %s", description.get("ModelPackageArn"), e)


def _store_name(arn: str) -> str:
    from ..domain.arns import name_from

    return name_from(arn)


def _claim(services: Services, arn: str, key: str = "_deploy") -> Resource | None:
    """Mark the package InProgress under ``key`` (compare-and-set), or None when it was deployed (or is being)
    already. A conflict with another edit of the package (its metadata) is retried; one with another claim ends
    it."""
    for _ in range(CLAIM_TRIES):
        package = services.meta.get(PACKAGE_KIND, _store_name(arn))
        if (package.doc.get(key) or {}).get("Status") in ("InProgress", "Deployed"):
            return None
        try:
            return services.meta.update(PACKAGE_KIND, package.name, {key: {"Status": "InProgress"}},
                                        expect_version=package.version)
        except ConflictError:
            continue  # re-read: if another approval claimed it, the check above ends here
    raise ConflictError(f"Model package {arn} kept changing while its deployment was claimed.")


def deploy_to(services: Services, arn: str, endpoint: str, *, key: str, tags: list[dict] | None = None) -> bool:
    """Put the package ``arn`` on ``endpoint`` once, whatever its group's tags: the deployment a project's
    stages (staging, then production) make (:mod:`shipyard.resources.project`). Claimed and recorded on the
    package under ``key`` (one key per stage, so a package is deployed once to each); an endpoint that exists is
    rolled onto the package as :func:`on_approved` does, a missing one is created with one ``AllTraffic``
    instance tagged ``tags``. Never raises; True when this call claimed the deployment."""
    package = _claim(services, arn, key)
    if package is None:
        return False
    _deploy(services, package, str(package.doc.get("ModelPackageGroupName") or ""), endpoint, key=key, tags=tags)
    return True


def _deploy(services: Services, package: Resource, group: str, endpoint: str, *, key: str = "_deploy",
            tags: list[dict] | None = None) -> None:
    arn = package.arn
    record: dict[str, Any] = {"EndpointName": endpoint, "Time": time.time()}
    try:
        if key != "_deploy" and services.meta.find(ENDPOINT_KIND, endpoint) is None:
            record.update(_create_endpoint(services, package, group, endpoint, tags or []))
        else:
            record.update(_roll_out(services, package, group, endpoint))
        record["Status"] = "Deployed"
    except Exception as e:  # noqa: BLE001 - recorded on the package and in the event stream, never raised
        message = e.message if isinstance(e, ShipyardError) else f"{type(e).__name__}: {e}"
        log.warning("deploy on approval: package %s not deployed to endpoint %s: %s", arn, endpoint, message)
        record.update({"Status": "Failed", "Error": message})
    services.meta.update(PACKAGE_KIND, package.name, {key: record})
    _publish(services, arn, group, record)


def _publish(services: Services, arn: str, group: str, record: dict) -> None:
    event = model_package_events.build_event(services, {"ModelPackageArn": arn, "ModelPackageGroupName": group,
                                                        "DeploymentStatus": record["Status"], **record})
    event["detail-type"] = DETAIL_TYPE
    event["source"] = "shipyard.registry"
    event["resources"] = [arn, services.arn(ENDPOINT_KIND, record["EndpointName"])]
    model_package_events.emit(services, LOG_STREAM, event)


def _model_group(services: Services, model_name: str) -> str | None:
    """The group the model's package belongs to (lower-cased, as package store names are), or None."""
    try:
        doc = model_resource.get(services, model_name).doc
    except MissingResource:
        return None
    for c in model_resource.containers_of(doc):
        ref = c.get("ModelPackageName")
        if ref and "/" in _store_name(ref):
            return _store_name(ref).split("/", 1)[0].lower()
    return None


def _pick_variant(services: Services, config: dict, group: str, endpoint_arn: str) -> str:
    variants = list(config.get("ProductionVariants") or [])
    if len(variants) == 1:
        return str(variants[0]["VariantName"])
    ours = [v["VariantName"] for v in variants if _model_group(services, v["ModelName"]) == group.lower()]
    if len(ours) != 1:
        raise ValidationError(f"Endpoint {endpoint_arn} has {len(variants)} variants and {len(ours)} of them serve "
                              f"a model of group {group!r}: deploy on approval replaces only a single variant or "
                              "the one variant serving this group's model; update the endpoint yourself.")
    return str(ours[0])


def _roll_out(services: Services, package: Resource, group: str, endpoint: str) -> dict:
    """Model, endpoint config, UpdateEndpoint; returns what was created."""
    ep = get_endpoint(services, endpoint)
    if ep.status != "InService":
        raise ValidationError(f"Endpoint {ep.arn} is {ep.status}, not InService: it cannot be updated now; "
                              "update it to this package's model once it is InService.")
    state = EndpointState.from_doc(ep.doc)
    if state.spec is None:
        raise ValidationError(f"Endpoint {ep.arn} has no deployed configuration to update.")
    try:
        config = services.meta.get(CONFIG_KIND, ep.doc["EndpointConfigName"]).doc
    except MissingResource:
        raise ValidationError(f"Endpoint {ep.arn}'s configuration {ep.doc['EndpointConfigName']!r} was deleted: "
                              "deploy on approval copies it, so update the endpoint yourself.") from None
    variant = _pick_variant(services, config, group, ep.arn)
    old_model = next(v["ModelName"] for v in config["ProductionVariants"] if v["VariantName"] == variant)

    model_name = _name(group, package.doc.get("ModelPackageVersion"))
    params: dict[str, Any] = {"ModelName": model_name, "Containers": [{"ModelPackageName": package.arn}]}
    try:
        old = model_resource.get(services, old_model).doc
        for key in ("ExecutionRoleArn", "EnableNetworkIsolation", "VpcConfig"):
            if old.get(key) is not None:
                params[key] = old[key]
    except MissingResource:
        pass
    model_resource.create(services, params)

    config_name = _name(f"{endpoint}", package.doc.get("ModelPackageVersion"))
    new_config = {k: copy.deepcopy(v) for k, v in config.items()
                  if not k.startswith("_") and k not in ("CreationTime", "EndpointConfigArn")}
    for pv in new_config["ProductionVariants"]:
        if pv["VariantName"] == variant:
            pv["ModelName"] = model_name
    config_arn = services.arn(CONFIG_KIND, config_name)
    new_config.update({"EndpointConfigName": config_name, "EndpointConfigArn": config_arn,
                       "CreationTime": time.time()})
    services.meta.create(CONFIG_KIND, config_name, config_arn, "Created", new_config)

    spec = snapshot(services, config_name)  # what UpdateEndpoint would record for the new config ...
    deployed = {v.name: v for v in state.spec.variants}
    for v in spec["variants"]:  # ... keeping the variants' weights and counts as they are now (autoscaling's)
        if v["name"] in deployed:
            v["weight"], v["count"] = deployed[v["name"]].weight, deployed[v["name"]].count
    services.meta.update(ENDPOINT_KIND, endpoint, {"_next": spec, "EndpointStatus": "Updating",
                                                   "FailureReason": None, "LastModifiedTime": time.time()},
                         status="Updating", expect_status={"InService"})
    from ..lineage import auto as lineage_auto

    lineage_auto.on_endpoint_created(services, endpoint, {"EndpointConfigName": config_name},
                                     [{"Containers": v["containers"]} for v in spec["variants"]])
    services.wake(ENDPOINT_KIND)
    return {"ModelName": model_name, "EndpointConfigName": config_name, "VariantName": variant}


def _create_endpoint(services: Services, package: Resource, group: str, endpoint: str, tags: list[dict]) -> dict:
    """A new endpoint serving the package: model, one-variant config, endpoint (what CreateEndpoint records; the
    hosting controller brings it up). The instance type is the package's first supported real-time type."""
    spec = package.doc.get("InferenceSpecification") or {}
    instance_type = (spec.get("SupportedRealtimeInferenceInstanceTypes") or ["ml.m5.large"])[0]
    version = package.doc.get("ModelPackageVersion")
    model_name = _name(group, version)
    model_resource.create(services, {"ModelName": model_name, "Containers": [{"ModelPackageName": package.arn}]})
    services.meta.update("model", model_name, {"_tags": tags})
    model_doc = model_resource.get(services, model_name).doc
    containers = model_resource.containers_of(model_doc)
    config_name = _name(endpoint, version)
    config_arn = services.arn(CONFIG_KIND, config_name)
    variant = {"VariantName": "AllTraffic", "ModelName": model_name, "InitialInstanceCount": 1,
               "InstanceType": instance_type, "InitialVariantWeight": 1.0}
    services.meta.create(CONFIG_KIND, config_name, config_arn, "Created", {
        "EndpointConfigName": config_name, "EndpointConfigArn": config_arn, "ProductionVariants": [variant],
        "CreationTime": time.time(), "_tags": tags})
    snapshot = {"config": config_name, "data_capture": None, "async_inference": None, "variants": [{
        "name": "AllTraffic", "weight": 1.0, "count": 1, "model": model_name, "containers": containers,
        "startup_timeout": None, "shadow": False, "execution_mode": "Serial", "serverless": None,
        "instance_type": instance_type, "network_isolation": bool(model_doc.get("EnableNetworkIsolation"))}]}
    now = time.time()
    arn = services.arn(ENDPOINT_KIND, endpoint)
    services.meta.create(ENDPOINT_KIND, endpoint, arn, "Creating", {
        "EndpointName": endpoint, "EndpointArn": arn, "EndpointConfigName": config_name,
        "EndpointStatus": "Creating", "CreationTime": now, "LastModifiedTime": now, "_spec": snapshot, "_gen": 0,
        "_tags": tags})
    services.wake(ENDPOINT_KIND)
    return {"ModelName": model_name, "EndpointConfigName": config_name, "VariantName": "AllTraffic"}
