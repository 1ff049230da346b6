"""The Application Auto Scaling subset through boto3: validation, not-found errors, describe/delete/deregister."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "hosting"))
from feature_helpers import delete, deploy, make_model, variant  # noqa: E402

DIM = "sagemaker:variant:DesiredInstanceCount"
RID = "endpoint/aas-api/variant/V1"
TT = {"TargetValue": 100.0, "ScaleInCooldown": 600, "ScaleOutCooldown": 600,
      "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}}


def _code(exc_info) -> tuple[str, str]:
    e = exc_info.value.response["Error"]
    return e["Code"], e["Message"]


def test_scalable_targets_and_policies_api(server):
    aas = server.client("application-autoscaling")
    make_model(server, "aas-api", 1.0)
    deploy(server, "aas-api", [variant("V1", "aas-api")])

    def register(**kw):
        args = {"ServiceNamespace": "sagemaker", "ResourceId": RID, "ScalableDimension": DIM, "MinCapacity": 1,
                "MaxCapacity": 2, **kw}
        return aas.register_scalable_target(**args)

    for kw, needle in ((dict(ResourceId="endpoint/aas-api"), "must look like endpoint/<name>/variant/<name>"),
                       (dict(ResourceId="endpoint/nope/variant/V1"), "Endpoint nope does not exist"),
                       (dict(ResourceId="endpoint/aas-api/variant/V9"), "has no variant 'V9'"),
                       (dict(MinCapacity=3, MaxCapacity=2), "must be at least 1 and at most MaxCapacity"),
                       (dict(ScalableDimension="ecs:service:DesiredCount"), "ScalableDimension must be")):
        with pytest.raises(ClientError) as e:
            register(**kw)
        code, message = _code(e)
        assert code == "ValidationException" and needle in message, message

    # a policy for a target that is not registered
    with pytest.raises(ClientError) as e:
        aas.put_scaling_policy(PolicyName="p", ServiceNamespace="sagemaker", ResourceId=RID, ScalableDimension=DIM,
                               PolicyType="TargetTrackingScaling", TargetTrackingScalingPolicyConfiguration=TT)
    assert _code(e)[0] == "ObjectNotFoundException"

    arn = register()["ScalableTargetARN"]
    assert arn.startswith("arn:aws:application-autoscaling:us-east-1:123456789012:scalable-target/")
    assert register(MaxCapacity=4)["ScalableTargetARN"] == arn  # re-register updates in place
    (t,) = aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[RID])["ScalableTargets"]
    assert (t["MinCapacity"], t["MaxCapacity"], t["ScalableDimension"]) == (1, 4, DIM)

    bad = dict(TT, PredefinedMetricSpecification={"PredefinedMetricType": "ECSServiceAverageCPUUtilization"})
    with pytest.raises(ClientError) as e:
        aas.put_scaling_policy(PolicyName="p", ServiceNamespace="sagemaker", ResourceId=RID, ScalableDimension=DIM,
                               PolicyType="TargetTrackingScaling", TargetTrackingScalingPolicyConfiguration=bad)
    assert _code(e)[0] == "ValidationException" and "not supported" in _code(e)[1]
    with pytest.raises(ClientError) as e:
        aas.put_scaling_policy(PolicyName="p", ServiceNamespace="sagemaker", ResourceId=RID, ScalableDimension=DIM,
                               PolicyType="StepScaling")
    assert _code(e)[0] == "ValidationException"

    out = aas.put_scaling_policy(PolicyName="p", ServiceNamespace="sagemaker", ResourceId=RID, ScalableDimension=DIM,
                                 PolicyType="TargetTrackingScaling", TargetTrackingScalingPolicyConfiguration=TT)
    conc = dict(TT, TargetValue=4.0, PredefinedMetricSpecification={
        "PredefinedMetricType": "SageMakerVariantConcurrentRequestsPerModelHighResolution"})
    aas.put_scaling_policy(PolicyName="q", ServiceNamespace="sagemaker", ResourceId=RID, ScalableDimension=DIM,
                           PolicyType="TargetTrackingScaling", TargetTrackingScalingPolicyConfiguration=conc)
    pols = aas.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=RID)["ScalingPolicies"]
    assert [(p["PolicyName"], p["PolicyARN"] == out["PolicyARN"]) for p in pols] == [("p", True), ("q", False)]
    assert pols[0]["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 100.0
    only_q = aas.describe_scaling_policies(ServiceNamespace="sagemaker", PolicyNames=["q"])["ScalingPolicies"]
    assert [p["PolicyName"] for p in only_q] == ["q"]

    aas.delete_scaling_policy(PolicyName="p", ServiceNamespace="sagemaker", ResourceId=RID, ScalableDimension=DIM)
    with pytest.raises(ClientError) as e:
        aas.delete_scaling_policy(PolicyName="p", ServiceNamespace="sagemaker", ResourceId=RID,
                                  ScalableDimension=DIM)
    assert _code(e)[0] == "ObjectNotFoundException"
    # the controller saw an idle endpoint at MinCapacity with long cooldowns: nothing to do
    assert aas.describe_scaling_activities(ServiceNamespace="sagemaker", ResourceId=RID)["ScalingActivities"] == []

    aas.deregister_scalable_target(ServiceNamespace="sagemaker", ResourceId=RID, ScalableDimension=DIM)
    assert aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[RID])["ScalableTargets"] == []
    assert aas.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=RID)["ScalingPolicies"] == []
    with pytest.raises(ClientError) as e:
        aas.deregister_scalable_target(ServiceNamespace="sagemaker", ResourceId=RID, ScalableDimension=DIM)
    assert _code(e)[0] == "ObjectNotFoundException"
    delete(server, "aas-api")
