"""Interval arithmetic and report aggregation: pure functions, figures worked out by hand."""

from __future__ import annotations

import csv
import io

import pytest

from shipyard.usage import prices
from shipyard.usage.intervals import Interval, aggregate, spend, to_csv, total

H = 3600.0
TABLE = {"ml.m5.large": 0.10, "ml.g5.xlarge": 1.00}


def iv(name, kind="TrainingJob", rname="job", itype="ml.m5.large", count=1, start=0.0, end=H, tags=None, user=""):
    return Interval(name=name, resource_arn=f"arn:{rname}", resource_kind=kind, resource_name=rname, part="",
                    instance_type=itype, count=count, start=start, end=end, tags=tags or {}, user=user)


def test_seconds_are_cut_by_the_window_and_multiplied_by_the_count():
    two_hours_three_instances = iv("a", count=3, start=10 * H, end=12 * H)
    assert two_hours_three_instances.instance_seconds() == 6 * H
    assert two_hours_three_instances.instance_seconds(since=11 * H) == 3 * H
    assert two_hours_three_instances.instance_seconds(since=11 * H, until=11.5 * H) == 1.5 * H
    assert two_hours_three_instances.instance_seconds(since=13 * H) == 0.0
    assert two_hours_three_instances.instance_seconds(until=9 * H) == 0.0


def test_an_open_interval_runs_to_now():
    running = iv("r", start=100.0, end=None)
    assert running.is_open
    assert running.seconds(now=160.0) == 60.0
    assert running.seconds(since=130.0, now=160.0) == 30.0


def test_doc_round_trip_keeps_every_field():
    a = iv("a", count=2, start=1.5, end=None, tags={"team": "vision"}, user="ana")
    a.part, a.last_seen = "variant-a", 9.0
    assert Interval.from_doc("a", a.to_doc()) == a


def test_aggregate_by_resource_kind_type_and_cost():
    rows = aggregate([iv("a", rname="j1", count=2), iv("b", rname="j2", itype="ml.g5.xlarge"),
                      iv("c", kind="Endpoint", rname="ep", start=0.0, end=H / 2)], "resource", table=TABLE)
    got = {r.key: (r.instance_seconds, round(r.cost_usd, 6)) for r in rows}
    assert got == {"TrainingJob/j1": (2 * H, 0.2), "TrainingJob/j2": (H, 1.0), "Endpoint/ep": (H / 2, 0.05)}
    assert [r.key for r in rows] == ["TrainingJob/j2", "TrainingJob/j1", "Endpoint/ep"]  # most expensive first
    assert round(total(rows).cost_usd, 6) == 1.25
    by_type = {r.key: r.instance_seconds for r in aggregate(
        [iv("a", count=2), iv("b", itype="ml.g5.xlarge"), iv("c", kind="Endpoint")], "instance-type")}
    assert by_type == {"ml.m5.large": 3 * H, "ml.g5.xlarge": H}
    assert {r.key for r in aggregate([iv("a"), iv("c", kind="Endpoint", rname="ep")], "job")} == {"TrainingJob/job"}
    assert {r.key for r in aggregate([iv("a"), iv("c", kind="Endpoint", rname="ep")], "endpoint")} == {"ep"}


def test_aggregate_by_tag_key_and_user():
    ivs = [iv("a", tags={"team": "vision", "env": "prod"}), iv("b", tags={"team": "nlp"}, user="bo"), iv("c")]
    by_tag = {r.key: r.instance_seconds for r in aggregate(ivs, "tag")}
    assert by_tag == {"team=vision": H, "env=prod": H, "team=nlp": H, "(untagged)": H}
    by_team = {r.key: r.instance_seconds for r in aggregate(ivs, "tag:team")}
    assert by_team == {"team=vision": H, "team=nlp": H, "(no team)": H}
    assert {r.key for r in aggregate(ivs, "user")} == {"bo", "(unknown)"}
    only_vision = aggregate(ivs, "resource", tag=("team", "vision"))
    assert [r.instance_seconds for r in only_vision] == [H]
    assert len(aggregate(ivs, "resource", tag=("team", None))) == 1  # all under one resource name "job"
    with pytest.raises(ValueError, match="unknown grouping"):
        aggregate(ivs, "colour")


def test_spend_counts_only_the_tag_and_the_period():
    ivs = [iv("a", tags={"team": "vision"}, count=2, start=0.0, end=2 * H),
           iv("b", tags={"team": "nlp"}, start=0.0, end=2 * H)]
    assert spend(ivs, "team", "vision", since=H, now=10 * H, table=TABLE) == pytest.approx(0.2)
    assert spend(ivs, "team", None, since=None, now=10 * H, table=TABLE) == pytest.approx(0.6)


def test_csv_has_a_header_and_one_line_per_group():
    rows = aggregate([iv("a", rname="j1", count=2), iv("b", rname="j2", end=None)], "resource", now=H, table=TABLE)
    parsed = list(csv.DictReader(io.StringIO(to_csv(rows, "resource"))))
    assert [(p["resource"], float(p["instance_seconds"]), float(p["cost_usd"]), p["running"]) for p in parsed] == [
        ("TrainingJob/j1", 2 * H, pytest.approx(0.2), "no"), ("TrainingJob/j2", H, pytest.approx(0.1), "yes")]


def test_price_table_prices_missing_sizes_from_the_family():
    assert prices.price_per_hour("ml.m5.large") == 0.115
    assert prices.price_per_hour("ml.m5.8xlarge") == pytest.approx(0.115 / 2 * 32, rel=1e-3)
    assert prices.price_per_hour("local") == 0.0
    assert prices.cost("ml.m5.large", 1800, {"ml.m5.large": 1.0}) == 0.5
