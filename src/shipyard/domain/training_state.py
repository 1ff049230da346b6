"""The private state of a training job: the ``_`` keys of its stored document, typed.

A training job's document is its DescribeTrainingJob response plus keys that only the server reads: what
program runs (``_program``), the metric regexes (``_metric_definitions``), where its hosts run (``_hosts``),
which attempt this is (``_attempt``), why a host failed (``_failure``)... They stay in the document under
the names older servers wrote, so a server restarted on an old database reads them unchanged;
:class:`TrainingState` is how code reads and writes them, instead of ``doc.get("_x")`` strings.

Absent and ``None`` are the same thing (the metadata store deletes a key whose change is ``None``), so
``TrainingState.from_doc(doc).to_changes()`` applied to ``doc`` gives ``doc`` back, byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from .doc_state import DocState

# field name -> the document key it is stored under (the historical names: never rename one)
_KEYS = {
    "program": "_program",
    "metric_definitions": "_metric_definitions",
    "tags": "_tags",
    "stop_requested": "_stop_requested",
    "handle": "_handle",
    "hosts": "_hosts",
    "job_dir": "_job_dir",
    "log_stream": "_log_stream",
    "log_offset": "_log_offset",
    "started": "_started",
    "first_started": "_first_started",
    "master_port": "_master_port",
    "admitted": "_admitted",
    "attempt": "_attempt",
    "failure": "_failure",
    "stop_sent": "_stop_sent",
    "stop_reason": "_stop_reason",
    "prior_transitions": "_prior_transitions",
    "metric_disabled": "_metric_disabled",
    "metric_steps": "_metric_steps",
    "done": "_done",
}


@dataclass
class Host:
    """One instance (``algo-1``, ``algo-2``...) of the current attempt: its runner handle, its folder, how far
    its log has been read, its address and its log stream. Keys this version does not know are kept."""

    host: str
    handle: str
    dir: str
    offset: int = 0
    stream: str = ""
    address: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    _KNOWN = ("host", "handle", "dir", "offset", "address", "stream")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Host:
        return cls(host=d["host"], handle=d["handle"], dir=d.get("dir", ""), offset=int(d.get("offset") or 0),
                   stream=d.get("stream", ""), address=d.get("address"),
                   extra={k: v for k, v in d.items() if k not in cls._KNOWN})

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"host": self.host, "handle": self.handle, "dir": self.dir, "offset": self.offset}
        if self.address is not None:
            out["address"] = self.address
        out["stream"] = self.stream
        out.update(self.extra)
        return out


@dataclass
class Failure:
    """Why a host of the current attempt ended badly, and whether the job is retried for it
    (``RetryStrategy``: only a lost host is retried)."""

    host: str
    reason: str
    lost: bool
    retry: bool | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Failure:
        return cls(host=d.get("host", ""), reason=d.get("reason", ""), lost=bool(d.get("lost")),
                   retry=d.get("retry"))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"host": self.host, "reason": self.reason, "lost": self.lost}
        if self.retry is not None:
            out["retry"] = self.retry
        return out


@dataclass
class TrainingState(DocState):
    """The ``_`` keys of a training-job document. ``None`` means the key is not there."""

    KEYS: ClassVar[dict[str, str]] = _KEYS

    # {"kind": "builtin", "algorithm", "module"} or {"kind": "script", "framework"}: what runs (job.json)
    program: dict[str, Any] | None = None
    metric_definitions: list[dict[str, Any]] | None = None  # the user's MetricDefinitions + a built-in's own
    tags: list[dict[str, Any]] | None = None       # ListTags (shipyard.api.tags)
    stop_requested: float | None = None            # when StopTrainingJob was called
    handle: str | None = None                      # algo-1's runner handle: set once the job has started
    hosts: list[Host] | None = None                # every host of the current attempt
    job_dir: str | None = None                     # algo-1's folder (older servers: the only one)
    log_stream: str | None = None                  # algo-1's log stream
    log_offset: int | None = None                  # how far algo-1's log has been read
    started: float | None = None                   # when the current attempt started
    first_started: float | None = None             # when the first attempt started (MaxRuntimeInSeconds)
    master_port: int | None = None                 # MASTER_PORT of a multi-instance job
    admitted: dict[str, float] | None = None       # {"cpus", "gpus"} the job holds while it runs
    attempt: int | None = None                     # retries so far (RetryStrategy); absent: 0
    failure: Failure | None = None                 # why a host ended badly
    stop_sent: float | None = None                 # when the stop was sent to the hosts
    stop_reason: str | None = None                 # "MaxRuntimeExceeded" when the server stopped it
    prior_transitions: list[dict[str, Any]] | None = None  # SecondaryStatusTransitions of earlier attempts
    metric_disabled: list[str] | None = None       # metric regexes that overran their time budget
    metric_steps: dict[str, int] | None = None     # metric name -> next step number
    done: bool | None = None                       # the outcome has been applied

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> TrainingState:
        raw = {name: doc.get(key) for name, key in _KEYS.items()}
        hosts = raw.pop("hosts")
        failure = raw.pop("failure")
        return cls(**raw,
                   hosts=[Host.from_dict(h) for h in hosts] if hosts is not None else None,
                   failure=Failure.from_dict(failure) if failure is not None else None)

    @property
    def attempt_number(self) -> int:
        """Which attempt this is (0: the first)."""
        return int(self.attempt or 0)

    @property
    def started_at(self) -> float | None:
        """When the job first started running (for MaxRuntimeInSeconds), on any attempt."""
        return self.first_started or self.started

    def current_hosts(self, job_name: str) -> list[Host]:
        """The hosts of the current attempt; a job started by an older server has only ``_handle``."""
        if self.hosts:
            return self.hosts
        if not self.handle:
            return []
        return [Host(host="algo-1", handle=self.handle, dir=self.job_dir or "", offset=int(self.log_offset or 0),
                     stream=self.log_stream or f"{job_name}/algo-1-0")]

    def _value(self, name: str) -> Any:
        value = getattr(self, name)
        if name == "hosts" and value is not None:
            return [h.to_dict() for h in value]
        if name == "failure" and value is not None:
            return value.to_dict()
        return value


PRIVATE_KEYS = frozenset(_KEYS.values())
