"""The private state of experiment documents: the ``_`` keys of a trial and a trial component.

Trials and trial components are many-to-many (AssociateTrialComponent): both sides keep the other's names so
that ListTrialComponents(TrialName=...) and ListTrials(TrialComponentName=...) read one document, not a scan.
A trial component made for a job (``<job>-aws-training-job``) also names the job whose metric series feeds its
metric summaries (``metrics_job``): the job's own series is kept under the job's name by its controller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from .doc_state import DocState

PRIMARY_STATUSES = ("InProgress", "Completed", "Failed", "Stopping", "Stopped")
MAX_PARAMETERS = 300
MAX_ARTIFACTS = 60


def metric_key(trial_component_name: str) -> str:
    """Where a trial component's own metric series lives in the store (apart from jobs' series)."""
    return f"trial-component/{trial_component_name.lower()}"


@dataclass
class TrialState(DocState):
    """The ``_`` keys of a trial document: its trial components (lower-cased names) and its tags."""

    KEYS: ClassVar[dict[str, str]] = {"components": "_components", "tags": "_tags"}

    components: list[str] = field(default_factory=list)
    tags: list[dict[str, Any]] | None = None

    @classmethod
    def of(cls, doc: dict[str, Any]) -> TrialState:
        return cls(components=list(doc.get("_components") or []), tags=doc.get("_tags"))


@dataclass
class ComponentState(DocState):
    """The ``_`` keys of a trial component document."""

    KEYS: ClassVar[dict[str, str]] = {"trials": "_trials", "metrics_job": "_metrics_job",
                                      "source_arn": "_source_arn", "tags": "_tags"}

    trials: list[str] = field(default_factory=list)  # lower-cased trial names
    metrics_job: str = ""                            # the job whose metric series this component summarises
    source_arn: str = ""                             # Source.SourceArn lower-cased (ListTrialComponents filter)
    tags: list[dict[str, Any]] | None = None

    @classmethod
    def of(cls, doc: dict[str, Any]) -> ComponentState:
        return cls(trials=list(doc.get("_trials") or []), metrics_job=str(doc.get("_metrics_job") or ""),
                   source_arn=str(doc.get("_source_arn") or ""), tags=doc.get("_tags"))


@dataclass(frozen=True)
class MetricSummary:
    """One metric's summary on DescribeTrialComponent, computed from its stored series."""

    name: str
    source_arn: str
    timestamp: float
    max: float
    min: float
    last: float
    count: int
    avg: float
    std_dev: float

    @classmethod
    def of(cls, name: str, source_arn: str, points: list[tuple[float, float]]) -> MetricSummary:
        """``points`` are (value, timestamp) in the order they were stored; "last" is the latest timestamp."""
        values = [v for v, _ in points]
        n = len(values)
        avg = sum(values) / n
        var = sum((v - avg) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
        _, (last_value, last_ts) = max(enumerate(points), key=lambda ip: (ip[1][1], ip[0]))
        return cls(name=name, source_arn=source_arn, timestamp=last_ts, max=max(values), min=min(values),
                   last=last_value, count=n, avg=avg, std_dev=var ** 0.5)

    def to_wire(self) -> dict[str, Any]:
        return {"MetricName": self.name, "SourceArn": self.source_arn, "TimeStamp": self.timestamp,
                "Max": self.max, "Min": self.min, "Last": self.last, "Count": self.count, "Avg": self.avg,
                "StdDev": self.std_dev}
