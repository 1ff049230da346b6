"""What may run next in a pipeline execution, from step statuses and condition outcomes.

Pure functions of (definition, statuses, outcomes), so the controller can recompute them from the database after
a restart and get the same answer. Statuses are the strings ListPipelineExecutionSteps reports ("Starting",
"Executing", "Stopping", "Stopped", "Failed", "Succeeded"); a step not started has no entry. ``outcomes`` maps a
finished Condition step to the branch it chose. With selective execution (``selected``), the steps outside the
selection count as Succeeded: the engine reuses their outputs from the source execution (and their outcomes,
for Condition steps).
"""

from __future__ import annotations

from shipyard.pipelines.definition import Definition

RUNNING = frozenset({"Starting", "Executing", "Stopping"})
BLOCKING = frozenset({"Failed", "Stopped"})


def _status(step: str, statuses: dict[str, str], selected: set[str] | None) -> str | None:
    if selected is not None and step not in selected:
        return "Succeeded"
    return statuses.get(step)


def ready(defn: Definition, statuses: dict[str, str], outcomes: dict[str, bool],
          selected: set[str] | None = None) -> list[str]:
    """Steps that may start now: not started, every upstream step Succeeded, and not on a branch that its
    Condition's outcome (outcomes[condition] = True/False) excluded. `selected` (selective execution): only these
    steps may start; the others count as Succeeded (their outputs are reused by the engine). Order: definition order."""
    out = []
    for name in defn.steps:
        if _status(name, statuses, selected) is not None:
            continue
        if not all(_status(up, statuses, selected) == "Succeeded" for up in defn.upstream(name)):
            continue
        gate = defn.gate(name)
        if gate is not None and outcomes.get(gate[0]) is not gate[1]:
            continue
        out.append(name)
    return out


def skipped(defn: Definition, statuses: dict[str, str], outcomes: dict[str, bool],
            selected: set[str] | None = None) -> set[str]:
    """Steps that will never run: on a branch not taken, or downstream of such a step, or downstream of a
    Failed/Stopped step."""
    never: set[str] = set()
    for name in defn.order():
        if _status(name, statuses, selected) is not None:
            continue
        gate = defn.gate(name)
        if gate is not None and gate[0] in outcomes and outcomes[gate[0]] is not gate[1]:
            never.add(name)
            continue
        if any(up in never or _status(up, statuses, selected) in BLOCKING for up in defn.upstream(name)):
            never.add(name)
    return never


def running(statuses: dict[str, str]) -> set[str]:
    """Steps started and not yet ended (Starting, Executing, Stopping)."""
    return {name for name, status in statuses.items() if status in RUNNING}


def finished(defn: Definition, statuses: dict[str, str], outcomes: dict[str, bool],
             selected: set[str] | None = None) -> bool:
    """True when nothing is running and nothing more can start."""
    return not running(statuses) and not ready(defn, statuses, outcomes, selected)
