"""Production variants: weighted traffic split, TargetVariant pins, live weight/capacity changes."""

from __future__ import annotations

import collections

import pytest
from botocore.exceptions import ClientError

from shipyard.serving.router import Route, VariantRoute

from feature_helpers import ROW, delete, deploy, make_model, variant
from hosting_helpers import model_server_pids, wait_in_service, wait_until


def test_router_picks_follow_weights_within_two_points():
    inst = [("127.0.0.1", 1)]
    route = Route("e", [VariantRoute("a", 5.0, inst), VariantRoute("b", 3.0, inst), VariantRoute("c", 2.0, inst),
                        VariantRoute("off", 0.0, inst), VariantRoute("empty", 50.0, [])])
    counts = collections.Counter(route.pick(None).name for _ in range(10_000))
    assert set(counts) == {"a", "b", "c"}  # weight 0 and no instances: never picked
    for name, share in (("a", 0.5), ("b", 0.3), ("c", 0.2)):
        assert abs(counts[name] / 10_000 - share) < 0.02, counts
    assert all(route.pick("empty").name == "empty" for _ in range(5))  # a pin is honoured as asked


def test_weighted_variants_end_to_end(server):
    sm, rt = server.client("sagemaker"), server.client("sagemaker-runtime")
    answers = {"A": make_model(server, "var-a", 2.0), "B": make_model(server, "var-b", -3.0)}
    d = deploy(server, "variants", [variant("A", "var-a", 3.0), variant("B", "var-b", 1.0)])
    assert [(v["VariantName"], v["CurrentWeight"], v["DesiredWeight"], v["CurrentInstanceCount"])
            for v in d["ProductionVariants"]] == [("A", 3.0, 3.0, 1), ("B", 1.0, 1.0, 1)]

    def call(**kw) -> str:
        r = rt.invoke_endpoint(EndpointName="variants", Body=ROW, ContentType="text/csv", **kw)
        name = r["InvokedProductionVariant"]
        assert float(r["Body"].read()) == pytest.approx(answers[name], rel=1e-6)  # that variant's model answered
        return name

    counts = collections.Counter(call() for _ in range(300))
    assert abs(counts["A"] / 300 - 0.75) < 0.09, counts
    assert {call(TargetVariant="B") for _ in range(15)} == {"B"}
    with pytest.raises(ClientError) as e:
        call(TargetVariant="Nope")
    assert e.value.response["Error"]["Code"] == "ValidationException"

    # live change: B takes everything and gets a second instance; A's weight goes to 0
    sm.update_endpoint_weights_and_capacities(EndpointName="variants", DesiredWeightsAndCapacities=[
        {"VariantName": "A", "DesiredWeight": 0.0}, {"VariantName": "B", "DesiredWeight": 1.0,
                                                     "DesiredInstanceCount": 2}])
    during = sm.describe_endpoint(EndpointName="variants")
    if during["EndpointStatus"] == "Updating":  # desired values show before they are current
        b = during["ProductionVariants"][1]
        assert (b["DesiredInstanceCount"], b["CurrentInstanceCount"]) == (2, 1)
    d = wait_in_service(sm, "variants")
    assert [(v["VariantName"], v["CurrentWeight"], v["DesiredWeight"], v["CurrentInstanceCount"],
             v["DesiredInstanceCount"]) for v in d["ProductionVariants"]] == [("A", 0.0, 0.0, 1, 1),
                                                                              ("B", 1.0, 1.0, 2, 2)]
    assert len(model_server_pids(server.home, "variants")) == 3
    assert {call() for _ in range(40)} == {"B"}
    assert call(TargetVariant="A") == "A"  # a zero-weight variant still answers when pinned
    delete(server, "variants")
    wait_until(lambda: not model_server_pids(server.home, "variants"), 20, what="model servers to exit")
