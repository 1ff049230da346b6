"""Retry delays from the policies the SDK emits: interval, backoff, attempts and expiry."""

from __future__ import annotations

from shipyard.pipelines.definition import RetryPolicy, parse
from shipyard.pipelines.retry import matching_policy, retry_delay


def test_delays_back_off_until_the_attempts_are_spent(sdk_definition):
    policies = parse(sdk_definition).steps["Prep"].retry_policies  # SERVICE_FAULT: 2 s, x2, 3 retries
    delays = [retry_delay(policies, "Step.SERVICE_FAULT", attempt, 0.0, 0.0) for attempt in range(1, 6)]
    assert delays == [2.0, 4.0, 8.0, None, None]


def test_an_expiring_policy_retries_until_its_deadline(sdk_definition):
    policies = parse(sdk_definition).steps["Prep"].retry_policies  # CAPACITY_ERROR: 1 s, x2, 10 minutes
    assert retry_delay(policies, "SageMaker.CAPACITY_ERROR", 1, 1000.0, 1000.0) == 1.0
    assert retry_delay(policies, "SageMaker.CAPACITY_ERROR", 9, 1000.0, 1100.0) == 256.0
    assert retry_delay(policies, "SageMaker.CAPACITY_ERROR", 9, 1000.0, 1400.0) is None  # 1656 > 1600
    assert retry_delay(policies, "SageMaker.CAPACITY_ERROR", 2, 1000.0, 1601.0) is None


def test_no_matching_policy_means_no_retry(sdk_definition):
    policies = parse(sdk_definition).steps["Prep"].retry_policies
    assert retry_delay(policies, "SageMaker.JOB_INTERNAL_ERROR", 1, 0.0, 0.0) is None
    assert retry_delay((), "Step.SERVICE_FAULT", 1, 0.0, 0.0) is None
    assert retry_delay(policies, "Step.SERVICE_FAULT", 0, 0.0, 0.0) is None


def test_the_first_policy_naming_the_failure_applies():
    first = RetryPolicy(("Step.THROTTLING",), interval_seconds=5, backoff_rate=1.0, max_attempts=1)
    second = RetryPolicy(("Step.THROTTLING", "Step.SERVICE_FAULT"), interval_seconds=1, backoff_rate=3.0)
    assert matching_policy((first, second), "Step.THROTTLING") is first
    assert retry_delay((first, second), "Step.THROTTLING", 1, 0.0, 0.0) == 5.0
    assert retry_delay((first, second), "Step.THROTTLING", 2, 0.0, 0.0) is None
    assert retry_delay((first, second), "Step.SERVICE_FAULT", 3, 0.0, 0.0) == 9.0
    assert retry_delay((second,), "Step.SERVICE_FAULT", 5, 0.0, 0.0) == 81.0  # default MaxAttempts 5
    assert retry_delay((second,), "Step.SERVICE_FAULT", 6, 0.0, 0.0) is None
