"""Bounded waits for a training job or an endpoint, printing status changes and (optionally) log lines.

Polling is bounded both in time and in count, and backs off from 0.5 s to ``max_poll`` so short local jobs
finish quickly; a Describe call every 2 s at most costs a local server nothing.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, TextIO

from .exceptions import UnexpectedStatusError, WaitTimeout
from .logs import LogTailer

TRAINING_DONE = ("Completed", "Failed", "Stopped")


def _polls(timeout: float, max_poll: float):
    """Yield once per poll until ``timeout`` seconds pass (then stop)."""
    deadline = time.monotonic() + timeout
    delay = 0.5
    while time.monotonic() < deadline:
        yield
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(max_poll, delay * 1.5)


def _status_line(desc: dict) -> str:
    status = desc.get("TrainingJobStatus", "?")
    secondary = desc.get("SecondaryStatus")
    return f"{status} - {secondary}" if secondary and secondary != status else status


def wait_for_training_job(session: Any, job_name: str, logs: bool = True, timeout: float = 86400 + 3600,
                          max_poll: float = 2.0, out: TextIO | None = None) -> dict:
    """Wait until ``job_name`` is Completed; print its status changes and, with ``logs``, its log lines.

    Returns the final DescribeTrainingJob answer. Raises :class:`UnexpectedStatusError` if the job failed or
    was stopped, :class:`WaitTimeout` after ``timeout`` seconds.
    """
    out = out or sys.stdout
    sm = session.sagemaker_client
    tailer = LogTailer(session.logs_client, job_name) if logs else None
    logs_broken = False
    last_line = None

    def drain() -> None:
        nonlocal logs_broken
        if tailer is None or logs_broken:
            return
        try:
            for stream, event in tailer.poll():
                # SageMaker's logs carry TAB as "#011" (syslog escaping); show people the tab
                out.write(f"[{_host(stream)}] {event.get('message', '').rstrip().replace('#011', chr(9))}\n")
        except Exception as e:  # noqa: BLE001 - logs are a convenience: keep waiting on the job itself
            logs_broken = True
            out.write(f"(log streaming unavailable: {e})\n")
        out.flush()

    desc: dict = {}
    for _ in _polls(timeout, max_poll):
        desc = sm.describe_training_job(TrainingJobName=job_name)
        done = desc.get("TrainingJobStatus") in TRAINING_DONE
        if done:
            drain()  # the last log lines first, then the outcome
        line = _status_line(desc)
        if line != last_line:
            out.write(f"{time.strftime('%H:%M:%S')} {job_name}: {line}\n")
            out.flush()
            last_line = line
        if done:
            break
        drain()
    else:
        raise WaitTimeout(f"training job {job_name} did not finish within {timeout:.0f} s "
                          f"(last status {desc.get('TrainingJobStatus')})")
    status = desc.get("TrainingJobStatus")
    if status != "Completed":
        reason = desc.get("FailureReason", "")
        raise UnexpectedStatusError(
            f"training job {job_name} ended {status}" + (f": {reason}" if reason else ""), status, reason)
    return desc


def _host(stream: str) -> str:
    """``job/algo-1-1700000000`` -> ``algo-1``."""
    tail = stream.split("/", 1)[-1]
    parts = tail.split("-")
    return "-".join(parts[:2]) if len(parts) >= 2 else tail


def wait_for_endpoint(session: Any, endpoint_name: str, timeout: float = 1800, max_poll: float = 2.0,
                      out: TextIO | None = None, on_status: Callable[[str], None] | None = None) -> dict:
    """Wait until the endpoint is InService; raise :class:`UnexpectedStatusError` if it Failed."""
    out = out or sys.stdout
    sm = session.sagemaker_client
    last = None
    desc: dict = {}
    for _ in _polls(timeout, max_poll):
        desc = sm.describe_endpoint(EndpointName=endpoint_name)
        status = desc.get("EndpointStatus")
        if status != last:
            out.write(f"{time.strftime('%H:%M:%S')} endpoint {endpoint_name}: {status}\n")
            out.flush()
            last = status
        if status == "InService":
            return desc
        if status in ("Failed", "OutOfService", "UpdateRollbackFailed"):
            reason = desc.get("FailureReason", "")
            raise UnexpectedStatusError(
                f"endpoint {endpoint_name} is {status}" + (f": {reason}" if reason else ""), status, reason)
    raise WaitTimeout(f"endpoint {endpoint_name} not InService within {timeout:.0f} s (last status {last})")
