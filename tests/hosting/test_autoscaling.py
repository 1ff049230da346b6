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
    # Oldest first: scale-out from 1 up to MaxCapacity, then scale-in down to MinCapacity, each a chain of steps.
    # Usually one step each way; a loaded machine (the load threads slowed down) or the sliding window still
    # holding the tail of the load can make either take two (1 -> 2 -> 3, 3 -> 2 -> 1), as target tracking on AWS.
    details = [a["Details"] for a in acts]
    oldest_first = list(reversed(acts))
    steps = [tuple(int(n) for n in a["Details"].split()[1::2]) for a in oldest_first]  # (from, to)
    ups = [st for st in steps if st[1] > st[0]]
    downs = [st for st in steps if st[1] < st[0]]
    assert ups and downs and steps == ups + downs, details  # every scale-out before every scale-in
    assert ups[0][0] == 1 and ups[-1][1] == 3 and downs[0][0] == 3 and downs[-1][1] == 1, details
    assert all(b[0] == a[1] for a, b in zip(steps, steps[1:])), details  # one chain of counts
    assert all(a["StatusCode"] == "Successful" and a["ScalableDimension"] == DIM for a in acts)
    assert all("AlarmHigh" in a["Cause"] and "per-instance" in a["Cause"] for a in oldest_first[:len(ups)])
    assert all("AlarmLow" in a["Cause"] for a in oldest_first[len(ups):])
    assert acts[0]["Description"] == "Setting desired instance count to 1."
    # idle and at MinCapacity: nothing more happens
    time.sleep(3)
    assert len(aas.describe_scaling_activities(ServiceNamespace="sagemaker")["ScalingActivities"]) == len(acts)
    delete(server, "scaled")
