"""Schedule expressions: AWS's 6-field cron (generic parsing and fire times) and Model Monitor's restrictions."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from shipyard.errors import ValidationError
from shipyard.monitor.schedule_expression import (analysis_window, hours_between, iso, parse_cron, parse_offset,
                                                   parse_schedule_expression)


def ts(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=timezone.utc).timestamp()


def test_hourly_fires_on_the_hour():
    e = parse_schedule_expression("cron(0 * ? * * *)")
    assert iso(e.next_after(ts("2026-12-07 07:03"))) == "2026-12-07T08:00:00Z"
    assert iso(e.next_after(ts("2026-12-07 08:00"))) == "2026-12-07T09:00:00Z"  # strictly after
    assert iso(e.last_at_or_before(ts("2026-12-07 08:00"))) == "2026-12-07T08:00:00Z"
    assert iso(e.last_at_or_before(ts("2026-12-07 23:59"))) == "2026-12-07T23:00:00Z"


def test_daily_and_every_n_hours_as_aws_documents_them():
    assert iso(parse_schedule_expression("cron(0 12 ? * * *)").next_after(ts("2026-12-07 12:30"))) == \
        "2026-12-08T12:00:00Z"
    assert iso(parse_schedule_expression("cron(0 0 ? * * *)").last_at_or_before(ts("2026-12-07 12:30"))) == \
        "2026-12-07T00:00:00Z"
    # "Every 12 hours, starting at 5 PM UTC": 17:00 and 05:00
    every12 = parse_schedule_expression("cron(0 17/12 ? * * *)")
    assert sorted(every12.cron.hours) == [5, 17]
    assert iso(every12.next_after(ts("2026-12-07 06:00"))) == "2026-12-07T17:00:00Z"
    assert sorted(parse_schedule_expression("cron(0 0/2 ? * * *)").cron.hours) == list(range(0, 24, 2))
    assert parse_schedule_expression("NOW").is_now


def test_generic_cron_lists_ranges_steps_and_names():
    c = parse_cron("cron(0/15 8-10,14 ? JAN-MAR MON-FRI 2027)")
    assert sorted(c.minutes) == [0, 15, 30, 45]
    assert sorted(c.hours) == [8, 9, 10, 14]
    assert sorted(c.months) == [1, 2, 3] and sorted(c.weekdays) == [2, 3, 4, 5, 6] and c.days is None
    # 2027-01-01 is a Friday
    assert iso(c.next_after(ts("2026-12-07 07:00"))) == "2027-01-01T08:00:00Z"
    assert iso(c.next_after(ts("2027-01-01 10:45"))) == "2027-01-01T14:00:00Z"
    assert iso(c.next_after(ts("2027-01-01 14:45"))) == "2027-01-04T08:00:00Z"  # Monday
    assert iso(parse_cron("cron(30 6 1 * ? *)").next_after(ts("2026-12-07 07:00"))) == "2027-01-01T06:30:00Z"
    assert parse_cron("cron(0 0 ? * * 2020)").next_after(ts("2026-12-07 07:00")) is None


@pytest.mark.parametrize("expr, why", [
    ("cron(0 * * * * *)", "exactly one of day-of-month and day-of-week"),
    ("cron(0 * ? * *)", "6 fields"),
    ("cron(0 25 ? * * *)", "outside 0-23"),
    ("cron(0 x ? * * *)", "not a number"),
    ("cron(0 5-2 ? * * *)", "backwards"),
    ("cron(0 * ? * L *)", "not supported"),
    ("0 * * * *", "not of the form cron("),
    ("rate(1 hour)", "not of the form cron("),
    ("cron(? * 1 * ? *)", "only allowed in day-of-month or day-of-week"),
])
def test_malformed_cron_is_refused_naming_the_field(expr, why):
    with pytest.raises(ValidationError) as e:
        parse_schedule_expression(expr)
    assert "ScheduleConfig.ScheduleExpression" in e.value.message and why in e.value.message
    assert "cron(0 * ? * * *)" in e.value.message  # an example of a valid one


@pytest.mark.parametrize("expr", [
    "cron(15 10 ? * MON-FRI *)",  # valid AWS cron, not a Model Monitor form
    "cron(30 * ? * * *)", "cron(0 * 1 * ? *)", "cron(0 0 ? JAN * *)", "cron(0 0 ? * * 2027)",
    "cron(0 1,13 ? * * *)", "cron(0 0/25 ? * * *)",
])
def test_forms_model_monitor_does_not_accept_are_refused(expr):
    parse_cron(expr)  # a well-formed AWS cron ...
    with pytest.raises(ValidationError, match="ScheduleConfig.ScheduleExpression"):  # ... that a schedule refuses
        parse_schedule_expression(expr)


def test_offsets_and_windows():
    assert parse_offset("-PT1H", "f") == -3600 and parse_offset("-PT0H", "f") == 0
    assert parse_offset("-P1DT2H30M", "f") == -(86400 + 2 * 3600 + 1800)
    for bad in ("PT1H", "-PT", "-P", "1h", "-PT1H30", ""):
        with pytest.raises(ValidationError, match="DataAnalysisStartTime"):
            parse_offset(bad, "DataAnalysisStartTime")
    assert analysis_window("-PT2H", "-PT1H", "s", "e") == (-7200, -3600)
    with pytest.raises(ValidationError, match="earlier than"):
        analysis_window("-PT1H", "-PT2H", "s", "e")
    with pytest.raises(ValidationError, match="24 hours"):
        analysis_window("-PT25H", "-PT0H", "s", "e")
    assert [iso(h) for h in hours_between(ts("2026-12-07 06:30"), ts("2026-12-07 08:00"))] == \
        ["2026-12-07T06:00:00Z", "2026-12-07T07:00:00Z"]
