"""The Application Auto Scaling subset SageMaker users call for endpoint variants.

RegisterScalableTarget / DescribeScalableTargets / DeregisterScalableTarget, PutScalingPolicy /
DescribeScalingPolicies / DeleteScalingPolicy (TargetTrackingScaling), DescribeScalingActivities. Only the
``sagemaker`` namespace and the ``sagemaker:variant:DesiredInstanceCount`` dimension are served; the
autoscaling controller applies the policies. The store kinds and the operations the controller shares live in
:mod:`shipyard.resources.scaling_policy`; these handlers are the wire side (validation, paging, error codes).
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

from ..autoscaling.policy import SUPPORTED_METRICS
from ..errors import MissingResource, ShipyardError, ValidationError
from ..resources.scaling_policy import ACTIVITY, DIMENSION, POLICY, TARGET, all_of, endpoint_variant, target_key
from .registry import operation

if TYPE_CHECKING:
    from ..context import Services

SVC = "application-autoscaling"


class ObjectNotFound(ShipyardError):
    code = "ObjectNotFoundException"
    http_status = 400


def _key(params: dict) -> str:
    return target_key(params["ResourceId"], params["ScalableDimension"])


def _check_target(services: Services, params: dict) -> tuple[str, str]:
    if params["ServiceNamespace"] != "sagemaker":
        raise ValidationError(f"Shipyard serves the 'sagemaker' service namespace only, not "
                              f"{params['ServiceNamespace']!r}.")
    if params["ScalableDimension"] != DIMENSION:
        raise ValidationError(f"ScalableDimension must be {DIMENSION} for SageMaker endpoint variants.")
    ev = endpoint_variant(params["ResourceId"])
    if ev is None:
        raise ValidationError(f"ResourceId {params['ResourceId']!r} must look like endpoint/<name>/variant/<name>.")
    return ev


def _variant_exists(services: Services, endpoint: str, variant: str) -> None:
    try:
        ep = services.meta.get("endpoint", endpoint)
    except MissingResource:
        raise ValidationError(f"Endpoint {endpoint} does not exist.") from None
    names = [v.get("VariantName") for v in ep.doc.get("ProductionVariants") or []]
    if names and variant not in names:
        raise ValidationError(f"Endpoint {endpoint} has no variant {variant!r} (variants: {', '.join(names)}).")


@operation(SVC, "RegisterScalableTarget")
def register_scalable_target(services: Services, params: dict) -> dict:
    endpoint, variant = _check_target(services, params)
    _variant_exists(services, endpoint, variant)
    key = _key(params)
    existing = services.meta.find(TARGET, key)
    doc = dict(existing.doc) if existing else {
        "ServiceNamespace": "sagemaker", "ResourceId": params["ResourceId"], "ScalableDimension": DIMENSION,
        "RoleARN": params.get("RoleARN") or f"arn:aws:iam::{services.account}:role/aws-service-role/"
                   "sagemaker.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint",
        "CreationTime": time.time(),
        "ScalableTargetARN": f"arn:aws:application-autoscaling:{services.region}:{services.account}:"
                             f"scalable-target/{uuid.uuid4().hex[:24]}",
    }
    for field in ("MinCapacity", "MaxCapacity", "SuspendedState"):
        if params.get(field) is not None:
            doc[field] = params[field]
    if "MinCapacity" not in doc or "MaxCapacity" not in doc:
        raise ValidationError("MinCapacity and MaxCapacity are required when registering a new scalable target.")
    if doc["MinCapacity"] < 1 or doc["MaxCapacity"] < doc["MinCapacity"]:
        raise ValidationError(f"MinCapacity ({doc['MinCapacity']}) must be at least 1 and at most MaxCapacity "
                              f"({doc['MaxCapacity']}).")
    if existing:
        services.meta.update(TARGET, key, doc)
    else:
        services.meta.create(TARGET, key, doc["ScalableTargetARN"], "Active", doc)
    services.wake("autoscaling")
    return {"ScalableTargetARN": doc["ScalableTargetARN"]}


def _all(services: Services, kind: str, parent: str | None = None) -> list:
    return all_of(services.meta, kind, parent)


def _paged(items: list, params: dict, key: str) -> dict:
    token = params.get("NextToken")
    if token is None or token == "":
        start = 0
    elif isinstance(token, str) and token.isdigit() and int(token) <= len(items):
        start = int(token)
    else:  # only tokens this API handed out are valid
        raise ShipyardError("The next token supplied is invalid.", code="InvalidNextTokenException",
                            http_status=400)
    size = params.get("MaxResults") or 50
    if not isinstance(size, int) or size < 1:
        raise ValidationError("MaxResults must be a positive number.")
    out = {key: items[start:start + size]}
    if start + size < len(items):
        out["NextToken"] = str(start + size)
    return out


@operation(SVC, "DescribeScalableTargets")
def describe_scalable_targets(services: Services, params: dict) -> dict:
    wanted = set(params.get("ResourceIds") or [])
    items = [r.doc for r in _all(services, TARGET)
             if r.doc["ServiceNamespace"] == params["ServiceNamespace"]
             and (not wanted or r.doc["ResourceId"] in wanted)
             and (not params.get("ScalableDimension") or r.doc["ScalableDimension"] == params["ScalableDimension"])]
    return _paged(items, params, "ScalableTargets")


@operation(SVC, "DeregisterScalableTarget")
def deregister_scalable_target(services: Services, params: dict) -> dict:
    _check_target(services, params)
    key = _key(params)
    if services.meta.find(TARGET, key) is None:
        raise ObjectNotFound(f"No scalable target registered for service namespace: sagemaker, resource ID: "
                             f"{params['ResourceId']}, scalable dimension: {params['ScalableDimension']}")
    for p in _all(services, POLICY, parent=key):
        services.meta.delete(POLICY, p.name)
    services.meta.delete(TARGET, key)
    return {}


@operation(SVC, "PutScalingPolicy")
def put_scaling_policy(services: Services, params: dict) -> dict:
    _check_target(services, params)
    key = _key(params)
    if services.meta.find(TARGET, key) is None:
        raise ObjectNotFound(f"No scalable target registered for service namespace: sagemaker, resource ID: "
                             f"{params['ResourceId']}, scalable dimension: {params['ScalableDimension']}")
    ptype = params.get("PolicyType", "StepScaling")
    if ptype != "TargetTrackingScaling":
        raise ValidationError(f"PolicyType {ptype!r} is not supported by Shipyard; use TargetTrackingScaling.")
    config = params.get("TargetTrackingScalingPolicyConfiguration")
    if not config:
        raise ValidationError("TargetTrackingScalingPolicyConfiguration is required for TargetTrackingScaling.")
    predefined = (config.get("PredefinedMetricSpecification") or {}).get("PredefinedMetricType")
    custom = config.get("CustomizedMetricSpecification")
    if predefined and predefined not in SUPPORTED_METRICS:
        raise ValidationError(f"PredefinedMetricType {predefined!r} is not supported for endpoint variants; use one "
                              f"of {', '.join(SUPPORTED_METRICS)}.")
    if not predefined and not (custom and custom.get("MetricName") in SUPPORTED_METRICS + ("Invocations",)):
        raise ValidationError("CustomizedMetricSpecification.MetricName must be Invocations, "
                              f"{', '.join(SUPPORTED_METRICS)} (namespace AWS/SageMaker).")
    name = f"{key}|{params['PolicyName']}"
    arn = (f"arn:aws:autoscaling:{services.region}:{services.account}:scalingPolicy:{uuid.uuid4()}:resource/"
           f"sagemaker/{params['ResourceId']}:policyName/{params['PolicyName']}")
    existing = services.meta.find(POLICY, name)
    doc = {"PolicyARN": existing.doc["PolicyARN"] if existing else arn, "PolicyName": params["PolicyName"],
           "ServiceNamespace": "sagemaker", "ResourceId": params["ResourceId"],
           "ScalableDimension": params["ScalableDimension"], "PolicyType": ptype,
           "TargetTrackingScalingPolicyConfiguration": config, "Alarms": [],
           "CreationTime": existing.doc["CreationTime"] if existing else time.time()}
    if existing:
        services.meta.update(POLICY, name, doc)
    else:
        services.meta.create(POLICY, name, doc["PolicyARN"], "Active", doc, parent=key)
    services.wake("autoscaling")
    return {"PolicyARN": doc["PolicyARN"], "Alarms": []}


@operation(SVC, "DescribeScalingPolicies")
def describe_scaling_policies(services: Services, params: dict) -> dict:
    names = set(params.get("PolicyNames") or [])
    items = [r.doc for r in _all(services, POLICY)
             if (not params.get("ResourceId") or r.doc["ResourceId"] == params["ResourceId"])
             and (not names or r.doc["PolicyName"] in names)]
    return _paged(items, params, "ScalingPolicies")


@operation(SVC, "DeleteScalingPolicy")
def delete_scaling_policy(services: Services, params: dict) -> dict:
    name = f"{_key(params)}|{params['PolicyName']}"
    if services.meta.find(POLICY, name) is None:
        raise ObjectNotFound(f"No scaling policy found for service namespace: sagemaker, resource ID: "
                             f"{params['ResourceId']}, scalable dimension: {params['ScalableDimension']}, "
                             f"policy name: {params['PolicyName']}")
    services.meta.delete(POLICY, name)
    return {}


@operation(SVC, "DescribeScalingActivities")
def describe_scaling_activities(services: Services, params: dict) -> dict:
    items = [r.doc for r in reversed(_all(services, ACTIVITY))
             if (not params.get("ResourceId") or r.doc["ResourceId"] == params["ResourceId"])]
    return _paged(items, params, "ScalingActivities")

