"""The metric window: per-instance rates over a changing fleet, trimming, counter resets."""

import pytest

from shipyard.autoscaling.policy import CONCURRENCY, INVOCATIONS
from shipyard.autoscaling.window import MetricWindow, Reading


def test_invocations_per_instance_per_minute_accounts_for_fleet_changes():
    w = MetricWindow(60)
    assert w.value(INVOCATIONS) is None
    w.add(Reading(0.0, 0, 0.0, 1))
    w.add(Reading(10.0, 100, 5.0, 2))   # 10 s on 1 instance
    w.add(Reading(20.0, 300, 15.0, 2))  # 10 s on 2 instances
    # 300 invocations over 30 instance-seconds = 10/s per instance = 600 per minute
    assert w.value(INVOCATIONS) == pytest.approx(600.0)
    assert w.value(CONCURRENCY) == pytest.approx(15.0 / 30.0)
    assert w.value("Invocations") == pytest.approx(300 / 20 * 60)


def test_old_readings_leave_the_window_and_resets_restart_it():
    w = MetricWindow(5)
    for t in range(0, 21):
        w.add(Reading(float(t), t * 10 if t <= 10 else 100, 0.0, 1))  # traffic stops at t=10
    assert w.span() == 5.0
    assert w.value(INVOCATIONS) == 0.0
    w.add(Reading(21.0, 3, 0.0, 1))  # counters went backwards: a new metrics object
    assert len(w.readings) == 1 and w.value(INVOCATIONS) is None


def test_no_instances_means_no_per_instance_value():
    w = MetricWindow(60)
    w.add(Reading(0.0, 0, 0.0, 0))
    w.add(Reading(5.0, 0, 0.0, 0))
    assert w.value(INVOCATIONS) is None and w.value(CONCURRENCY) is None
    w.add(Reading(6.0, 1, 0.0, 1))
    with pytest.raises(ValueError):
        w.value("CPUUtilization")
