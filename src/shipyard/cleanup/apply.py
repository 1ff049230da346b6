"""Delete a plan's candidates through boto3, exactly those, in the plan's order.

Endpoints go first and are waited for (bounded) before their configs and models are deleted, so the hosting
side never loses a config it is still tearing down. Something already gone counts as done (another cleaner
got there first); any other failure is reported and the rest still runs, so one stuck resource does not keep
the others alive.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from .plan import Candidate, Plan

GONE_CODES = ("ResourceNotFound", "ResourceNotFoundException", "ValidationException", "NoSuchKey",
              "NoSuchBucket")
ENDPOINT_WAIT = 120.0  # seconds for deleted endpoints to disappear before their configs go
S3_BATCH = 1000        # DeleteObjects' limit


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _gone(exc: Exception) -> bool:
    message = str(getattr(exc, "response", {}).get("Error", {}).get("Message", "")).lower()
    return _code(exc) in GONE_CODES and any(w in message for w in ("not found", "could not find", "does not exist",
                                                                     "not exist", "no such"))


class Applier:
    def __init__(self, sagemaker: Any, s3: Any, logs: Any, say: Callable[[str], None] = print,
                 endpoint_wait: float = ENDPOINT_WAIT):
        self.sm, self.s3, self.logs = sagemaker, s3, logs
        self.say = say
        self.endpoint_wait = endpoint_wait
        self.failures: list[str] = []

    def _one(self, c: Candidate) -> None:
        if c.kind == "endpoint":
            self.sm.delete_endpoint(EndpointName=c.name)
        elif c.kind == "endpoint-config":
            self.sm.delete_endpoint_config(EndpointConfigName=c.name)
        elif c.kind == "model":
            self.sm.delete_model(ModelName=c.name)
        elif c.kind == "notebook-instance":
            self.sm.delete_notebook_instance(NotebookInstanceName=c.name)
        elif c.kind == "s3-prefix":
            for i in range(0, len(c.keys), S3_BATCH):
                batch = [{"Key": k} for k in c.keys[i:i + S3_BATCH]]
                errors = self.s3.delete_objects(Bucket=c.bucket, Delete={"Objects": batch, "Quiet": True}).get(
                    "Errors") or []
                if errors:
                    raise RuntimeError("; ".join(f"{e.get('Key')}: {e.get('Code')}" for e in errors[:5]))
        elif c.kind == "log-stream":
            self.logs.delete_log_stream(logGroupName=c.group, logStreamName=c.stream)
        else:  # pragma: no cover - the planner makes only the kinds above
            raise ValueError(f"unknown candidate kind {c.kind}")

    def _wait_endpoints_gone(self, names: list[str]) -> None:
        deadline = time.monotonic() + self.endpoint_wait
        waiting = list(names)
        while waiting and time.monotonic() < deadline:
            still = []
            for name in waiting:
                try:
                    self.sm.describe_endpoint(EndpointName=name)
                    still.append(name)
                except Exception as exc:  # noqa: BLE001
                    if not _gone(exc):
                        still.append(name)
            waiting = still
            if waiting:
                time.sleep(0.5)
        if waiting:
            self.say(f"endpoint(s) {', '.join(waiting)} still deleting after {self.endpoint_wait:.0f} s; "
                     "deleting their configs anyway")

    def apply(self, p: Plan) -> list[str]:
        """Delete every candidate; returns the failures (empty when all went)."""
        deleted_endpoints: list[str] = []
        for c in p.candidates:
            if c.kind != "endpoint" and deleted_endpoints:
                self._wait_endpoints_gone(deleted_endpoints)
                deleted_endpoints = []
            try:
                self._one(c)
            except Exception as exc:  # noqa: BLE001 - report, go on with the rest
                if _gone(exc):
                    self.say(f"{c.kind} {c.name}: already gone")
                    continue
                self.failures.append(f"{c.kind} {c.name}: {exc}")
                self.say(f"{c.kind} {c.name}: FAILED: {exc}")
                continue
            if c.kind == "endpoint":
                deleted_endpoints.append(c.name)
            self.say(f"deleted {c.kind} {c.name}")
        if deleted_endpoints:
            self._wait_endpoints_gone(deleted_endpoints)
        return self.failures
