"""Step retry policies: the delay before the next attempt, or None when the policy is exhausted.

``MaxAttempts`` counts retries, as the SageMaker SDK and AWS documentation word it ("the maximum number of retry
attempts"): with ``MaxAttempts: 2`` a step runs at most 3 times. ``ExpireAfterMin`` instead bounds the time from
the step's first start within which a retry may begin.
"""

from __future__ import annotations

from shipyard.pipelines.definition import RetryPolicy


def matching_policy(policies: tuple[RetryPolicy, ...], exception_type: str) -> RetryPolicy | None:
    """The first policy that names `exception_type`, as AWS applies them."""
    return next((p for p in policies if exception_type in p.exception_types), None)


def retry_delay(policies: tuple[RetryPolicy, ...], exception_type: str, attempt: int,
                first_started: float, now: float) -> float | None:
    """Seconds to wait before attempt number `attempt + 1` after the attempt-th attempt failed with
    exception_type ("SageMaker.JOB_INTERNAL_ERROR", "SageMaker.CAPACITY_ERROR", "SageMaker.RESOURCE_LIMIT",
    "Step.SERVICE_FAULT", "Step.THROTTLING"); None when no policy matches or attempts/expiry are exhausted.
    delay = IntervalSeconds * BackoffRate ** (attempt - 1)."""
    policy = matching_policy(policies, exception_type)
    if policy is None or attempt < 1:
        return None
    if policy.max_attempts is not None and attempt > policy.max_attempts:
        return None
    delay = float(policy.interval_seconds) * float(policy.backoff_rate) ** (attempt - 1)
    if policy.expire_after_min is not None and now + delay > first_started + policy.expire_after_min * 60.0:
        return None
    return delay
