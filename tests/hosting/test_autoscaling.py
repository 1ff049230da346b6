"""Target tracking end to end: load through boto3 grows a variant to MaxCapacity, idleness shrinks it back."""

from __future__ import annotations

import threading
import time

from feature_helpers import ROW, deploy, delete, make_model, variant
from hosting_helpers import model_server_pids, wait_until

RESOURCE = "endpoint/scaled/variant/AllTraffic"
DIM = "sagemaker:variant:DesiredInstanceCount"


def test_invocations_per_instance_policy_scales_out_and_in(server_factory):
    server = server_factory(env={"SHIPYARD_AUTOSCALING_WINDOW": "3"})
    sm, aas = server.client("sagemaker"), server.client("application-autoscaling")
    make_model(server, "scaled", 2.0)
    deploy(server, "scaled", [variant("AllTraffic", "scaled")])
    assert len(model_server_pids(server.home, "scaled")) == 1
    aas.register_scalable_target(ServiceNamespace="sagemaker", ResourceId=RESOURCE, ScalableDimension=DIM,
                                 MinCapacity=1, MaxCapacity=3)
    aas.put_scaling_policy(
        PolicyName="per-instance", ServiceNamespace="sagemaker", ResourceId=RESOURCE, ScalableDimension=DIM,
        PolicyType="TargetTrackingScaling", TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 300.0, "ScaleOutCooldown": 1, "ScaleInCooldown": 2,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}})

    def count() -> tuple[int, int]:
        pv = sm.describe_endpoint(EndpointName="scaled")["ProductionVariants"][0]
        return pv["CurrentInstanceCount"], pv["DesiredInstanceCount"]

    # ~3 x 40 requests/s = 7,200 per minute on one instance, 24x the target: straight to MaxCapacity
    stop, failures, sent = threading.Event(), [], [0]

    def load():
        rt = server.client("sagemaker-runtime")
        deadline = time.monotonic() + 90
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                rt.invoke_endpoint(EndpointName="scaled", Body=ROW, ContentType="text/csv")["Body"].read()
                sent[0] += 1
            except Exception as exc:  # noqa: BLE001 - counted, must stay empty
                failures.append(repr(exc))
            time.sleep(0.02)

    workers = [threading.Thread(target=load) for _ in range(3)]
    for w in workers:
        w.start()
    try:
        wait_until(lambda: count() == (3, 3), 60, 0.5, "scale-out to 3 instances")
        assert len(model_server_pids(server.home, "scaled")) == 3
        time.sleep(1.0)  # the new instances take traffic too
    finally:
        stop.set()
        for w in workers:
            w.join(30)
    assert failures == [] and sent[0] > 50

    wait_until(lambda: count() == (1, 1), 60, 0.5, "scale-in to 1 instance")
    wait_until(lambda: len(model_server_pids(server.home, "scaled")) == 1, 30, what="model servers to stop")
    acts = aas.describe_scaling_activities(ServiceNamespace="sagemaker", ResourceId=RESOURCE)["ScalingActivities"]
    # newest first: one scale-out straight to MaxCapacity, then scale-in down to MinCapacity. Scale-in may take
    # more than one step (3 -> 2 -> 1) when the sliding window still holds the tail of the load at its first
    # evaluation, as target tracking on AWS does; every step goes down, and the last one lands on 1.
    details = [a["Details"] for a in acts]
    assert details[-1] == "from 1 to 3", details
    steps = [tuple(int(n) for n in d.split()[1::2]) for d in details[:-1]]
    assert steps and steps[0][1] == 1 and steps[-1][0] == 3, details
    assert all(new < old for old, new in steps) and all(
        later[1] == earlier[0] for later, earlier in zip(steps[1:], steps)), details
    assert all(a["StatusCode"] == "Successful" and a["ScalableDimension"] == DIM for a in acts)
    assert "AlarmHigh" in acts[-1]["Cause"] and "per-instance" in acts[-1]["Cause"]
    assert all("AlarmLow" in a["Cause"] for a in acts[:-1])
    assert acts[0]["Description"] == "Setting desired instance count to 1."
    # idle and at MinCapacity: nothing more happens
    time.sleep(3)
    assert len(aas.describe_scaling_activities(ServiceNamespace="sagemaker")["ScalingActivities"]) == len(acts)
    delete(server, "scaled")
