"""The typed form of a parsed pipeline definition: parameters, steps (with their retry policies and property
files) and the :class:`Definition` that holds them and answers graph questions (upstream, downstream, gates,
order) from edges derived once.

Plain frozen dataclasses: the parser (:mod:`shipyard.pipelines.definition`) builds them, the DAG, caching,
expression and controller code read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shipyard.errors import ValidationError
from shipyard.pipelines.step_graph import Graph, build_graph


@dataclass(frozen=True)
class Parameter:
    """A pipeline parameter; ``default`` is typed (int/float/bool/str), None when there is none."""

    name: str
    type: str
    default: Any = None
    enum_values: tuple = ()


@dataclass(frozen=True)
class PropertyFile:
    """A JSON file a Processing step writes into one of its outputs, read by ``Std:JsonGet``."""

    name: str
    output_name: str
    file_path: str


@dataclass(frozen=True)
class RetryPolicy:
    """One ``RetryPolicies`` entry: which failures it retries, how long to wait, when to give up.
    ``max_attempts`` is None when the policy is bounded by ``expire_after_min`` instead."""

    exception_types: tuple[str, ...]
    interval_seconds: float = 1.0
    backoff_rate: float = 2.0
    max_attempts: int | None = 5
    expire_after_min: int | None = None


@dataclass(frozen=True)
class Step:
    """One step, wherever it sits (top level or in a Condition's branch).

    ``arguments`` is the raw ``Arguments`` with its expressions unresolved; for a Condition step it holds only
    ``Conditions`` (the branches are ``if_steps``/``else_steps``, by name). ``output_parameters`` are the names a
    Lambda/Callback step declares; ``raw`` is the step's JSON as given (minus nested branch steps), for the
    step-level fields the engine needs (``FunctionArn``, ``SqsQueueUrl``).
    """

    name: str
    type: str
    arguments: Any
    depends_on: tuple[str, ...] = ()
    display_name: str = ""
    description: str = ""
    cache_enabled: bool = False
    cache_expire_after: float | None = None
    retry_policies: tuple[RetryPolicy, ...] = ()
    property_files: tuple[PropertyFile, ...] = ()
    if_steps: tuple[str, ...] = ()
    else_steps: tuple[str, ...] = ()
    output_parameters: tuple[str, ...] = ()
    raw: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Definition:
    """A parsed, validated definition. ``steps`` holds every step by name in definition order (a Condition's
    branch steps right after it)."""

    version: str
    parameters: dict[str, Parameter]
    steps: dict[str, Step]
    raw: dict
    _graph: Graph | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self._graph is None:
            object.__setattr__(self, "_graph", build_graph(self.steps))

    @property
    def graph(self) -> Graph:
        assert self._graph is not None
        return self._graph

    def upstream(self, step: str) -> frozenset[str]:
        """Steps that must succeed before `step` may start: DependsOn, every step its expressions reference
        (Get Steps.X..., PropertyFile of X), and the Condition step whose branch contains it."""
        return self.graph.upstream[step]

    def downstream(self, step: str) -> frozenset[str]:
        """Steps that directly wait on `step` (the inverse of :meth:`upstream`)."""
        return self.graph.downstream[step]

    def gate(self, step: str) -> tuple[str, bool] | None:
        """(condition step, branch) when `step` sits in a Condition's IfSteps (True) or ElseSteps (False)."""
        return self.graph.gates.get(step)

    def order(self) -> tuple[str, ...]:
        """A topological order, ties broken by definition order."""
        return self.graph.order

    def step(self, name: str) -> Step:
        """The step called `name`; ValidationError naming it when there is none (e.g. a SelectedSteps entry)."""
        found = self.steps.get(name)
        if found is None:
            raise ValidationError(f"Step '{name}' does not exist in the pipeline definition.")
        return found
