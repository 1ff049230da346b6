"""``resources/scaling_policy.py``: the store kinds and operations the API and the autoscaling controller share."""

from __future__ import annotations

import pytest

from shipyard.metastore import open_metastore
from shipyard.resources.scaling_policy import (ACTIVITY, DIMENSION, TARGET, all_of, endpoint_variant,
                                               record_activity, target_key)


@pytest.fixture
def meta(tmp_path):
    store = open_metastore(f"sqlite:///{tmp_path / 'meta.db'}")
    yield store
    store.close()


def test_resource_ids_name_an_endpoint_variant_or_nothing():
    assert endpoint_variant("endpoint/my-ep/variant/AllTraffic") == ("my-ep", "AllTraffic")
    assert endpoint_variant("table/my-table") is None
    assert endpoint_variant("endpoint/a/variant/b/extra") is None
    assert target_key("endpoint/e/variant/v", DIMENSION) == f"endpoint/e/variant/v|{DIMENSION}"


def test_all_of_reads_every_page_oldest_first(meta):
    for i in range(130):  # more than one page of 100
        meta.create(TARGET, f"t{i:03d}", f"arn:{i}", "Active", {"i": i})
    assert [r.doc["i"] for r in all_of(meta, TARGET)] == list(range(130))


def test_an_activity_records_the_step_under_its_target(meta):
    target = {"ResourceId": "endpoint/e/variant/v", "ScalableDimension": DIMENSION}
    doc = record_activity(meta, target, 1, 3, "alarm high")
    other = record_activity(meta, {**target, "ResourceId": "endpoint/e/variant/w"}, 2, 1, "alarm low")
    (stored,) = all_of(meta, ACTIVITY, parent=target_key(target["ResourceId"], DIMENSION))
    assert stored.doc == doc and stored.status == "Successful" and stored.name == doc["ActivityId"]
    assert doc["Details"] == "from 1 to 3" and doc["Description"] == "Setting desired instance count to 3."
    assert doc["Cause"] == "alarm high" and doc["ResourceId"] == "endpoint/e/variant/v"
    assert other["ActivityId"] != doc["ActivityId"]
