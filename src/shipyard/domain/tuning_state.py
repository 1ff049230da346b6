"""The private state of a hyperparameter tuning job: the ``_`` keys of its stored document, typed.

A tuning job's document is its DescribeHyperParameterTuningJob response plus what the tuning controller
keeps between ticks: one strategy state per training-job definition (``_strategies``), a record of every
trial (``_trials``), the revision of that state (``_rev``), warm-start and completion bookkeeping. They stay
under the names older servers wrote, so a server restarted on an old database reads them unchanged;
:class:`TuningState` and :class:`Trial` are how code reads and writes them.

Absent and ``None`` are the same at the top level (the metadata store deletes a key whose change is
``None``), so ``TuningState.from_doc(doc).to_changes()`` applied to ``doc`` gives ``doc`` back. Inside a trial
record ``value`` is always written (``None`` until the trial has an objective value), as it always was.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from .doc_state import DocState

_KEYS = {
    "strategies": "_strategies",
    "trials": "_trials",
    "secondary": "_secondary",
    "rev": "_rev",
    "warm_started": "_warm_started",
    "parent_best": "_parent_best",
    "rt_tick": "_rt_tick",
    "converged_at": "_converged_at",
    "pareto": "_pareto",
    "tags": "_tags",
}

ACTIVE = ("InProgress", "Stopping")


@dataclass
class Trial:
    """One training job a tuning job launched (or is about to: ``launched`` false means the record was written
    but the job may not exist yet, see the controller's restart safety)."""

    name: str
    definition: str
    params: dict[str, Any]
    status: str
    value: float | None = None                 # the objective's final value
    created: float | None = None
    launched: bool | None = None               # absent (very old records): launched
    objective: dict[str, Any] | None = None    # {"Type", "MetricName"} of its definition
    ended: float | None = None
    reason: str | None = None                  # why it failed
    values: list[Any] | None = None            # objective + secondary objectives (multi-objective tuning)
    launch_failed: bool | None = None          # CreateTrainingJob refused it
    early_stopped: bool | None = None
    stop_sent: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know, kept as they were

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Trial:
        known = {f.name for f in fields(cls)} - {"extra"}
        return cls(**{k: v for k, v in d.items() if k in known},
                   extra={k: v for k, v in d.items() if k not in known})

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "definition": self.definition, "params": self.params,
                               "status": self.status, "value": self.value}
        for f in fields(self):
            if f.name in out or f.name == "extra":
                continue
            v = getattr(self, f.name)
            if v is not None:
                out[f.name] = v
        out.update(self.extra)
        return out

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def was_launched(self) -> bool:
        return self.launched is not False


@dataclass
class TuningState(DocState):
    """The ``_`` keys of a tuning-job document. ``None`` means the key is not there."""

    KEYS: ClassVar[dict[str, str]] = _KEYS

    strategies: dict[str, dict[str, Any]] | None = None  # definition name -> strategy state (Strategy.state())
    trials: list[Trial] | None = None
    secondary: list[Any] | None = None         # [(direction, metric)] secondary objectives (a Shipyard tag)
    rev: int | None = None                     # bumped on every save: the controller's cache key
    warm_started: bool | None = None           # the warm-start parents were fed to the strategies
    parent_best: dict[str, Any] | None = None  # the best job of the warm-start parents
    rt_tick: float | None = None               # when ConsumedResources was last refreshed
    converged_at: float | None = None          # ConvergenceDetectedTime
    pareto: list[dict[str, Any]] | None = None  # the Pareto front (ShipyardParetoFront on Describe)
    tags: list[dict[str, Any]] | None = None   # ListTags (shipyard.api.tags)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> TuningState:
        raw = {name: doc.get(key) for name, key in _KEYS.items()}
        trials = raw.pop("trials")
        return cls(**raw, trials=[Trial.from_dict(t) for t in trials] if trials is not None else None)

    @property
    def trial_list(self) -> list[Trial]:
        """The trials (a list the caller may extend); an absent ``_trials`` becomes an empty stored list."""
        if self.trials is None:
            self.trials = []
        return self.trials

    @property
    def revision(self) -> int:
        return int(self.rev or 0)

    def _value(self, name: str) -> Any:
        value = getattr(self, name)
        if name == "trials" and value is not None:
            return [t.to_dict() for t in value]
        return value


PRIVATE_KEYS = frozenset(_KEYS.values())
