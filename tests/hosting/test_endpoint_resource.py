"""``resources/endpoint.py``: the operations both the API handlers and the autoscaling controller call."""

from __future__ import annotations

import pytest

from shipyard.config import load_settings
from shipyard.context import build_services
from shipyard.domain.endpoint_state import DesiredVariant, EndpointState
from shipyard.errors import MissingResource, ValidationError
from shipyard.resources import endpoint


@pytest.fixture
def services(tmp_path):
    svc = build_services(load_settings(home=tmp_path / "home"), start_controllers=False)
    doc = {"EndpointName": "ep", "_gen": 0,
           "_spec": {"config": "c", "variants": [{"name": "a", "weight": 1.0, "count": 1, "containers": []},
                                                 {"name": "b", "weight": 2.0, "count": 2, "containers": []}]}}
    svc.meta.create("endpoint", "ep", svc.arn("endpoint", "ep"), "InService", doc)
    try:
        yield svc
    finally:
        svc.meta.close()


def test_update_weights_and_capacities_records_the_request_for_the_hosting_controller(services):
    out = endpoint.update_weights_and_capacities(services, {"EndpointName": "ep", "DesiredWeightsAndCapacities": [
        {"VariantName": "b", "DesiredInstanceCount": 3}, {"VariantName": "a", "DesiredWeight": 0.5}]})
    assert out == {"EndpointArn": services.arn("endpoint", "ep")}
    r = services.meta.get("endpoint", "ep")
    assert r.status == "Updating" and r.doc["EndpointStatus"] == "Updating"
    assert EndpointState.from_doc(r.doc).desired == {"b": DesiredVariant(count=3), "a": DesiredVariant(weight=0.5)}
    assert endpoint.variant_count(r, "b") == 2 and endpoint.variant_count(r, "zz") is None  # until deployed

    with pytest.raises(ValidationError, match='Cannot update in-progress endpoint "arn:aws:sagemaker:'):
        endpoint.update_weights_and_capacities(services, {"EndpointName": "ep", "DesiredWeightsAndCapacities": [
            {"VariantName": "a", "DesiredInstanceCount": 2}]})


def test_update_weights_and_capacities_says_what_to_fix(services):
    def update(*desired):
        endpoint.update_weights_and_capacities(services, {"EndpointName": "ep",
                                                          "DesiredWeightsAndCapacities": list(desired)})

    with pytest.raises(ValidationError, match=r'variant\(s\) "\[nope\]" is/are not present'):
        update({"VariantName": "nope", "DesiredInstanceCount": 2})
    with pytest.raises(ValidationError, match="give DesiredWeight and/or DesiredInstanceCount"):
        update({"VariantName": "a"})
    with pytest.raises(MissingResource, match="endpoint/gone"):
        endpoint.update_weights_and_capacities(services, {"EndpointName": "gone", "DesiredWeightsAndCapacities": [
            {"VariantName": "a", "DesiredInstanceCount": 2}]})
    r = services.meta.get("endpoint", "ep")
    assert r.status == "InService" and "_desired" not in r.doc  # a refused request changes nothing
