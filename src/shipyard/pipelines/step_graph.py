"""The edges between a definition's steps, derived once: who waits on whom (DependsOn, expression references,
the Condition gating a branch), the inverse, and a topological order; a cycle is a ValidationError naming it.

(:mod:`shipyard.pipelines.dag` then decides what may run next from these edges and the steps' statuses.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shipyard.errors import ValidationError
from shipyard.pipelines.references import step_references

if TYPE_CHECKING:
    from shipyard.pipelines.parsed import Step


@dataclass(frozen=True)
class Graph:
    """Edges derived once from the steps: who waits on whom, and which branch gates whom."""

    upstream: dict[str, frozenset[str]]
    downstream: dict[str, frozenset[str]]
    gates: dict[str, tuple[str, bool]]
    order: tuple[str, ...]


def build_graph(steps: dict[str, Step]) -> Graph:
    gates: dict[str, tuple[str, bool]] = {}
    for step in steps.values():
        for name in step.if_steps:
            gates[name] = (step.name, True)
        for name in step.else_steps:
            gates[name] = (step.name, False)
    upstream: dict[str, frozenset[str]] = {}
    for step in steps.values():
        edges = set(step.depends_on) | (step_references(step.arguments) & steps.keys())
        if step.name in gates:
            edges.add(gates[step.name][0])
        edges.discard(step.name)
        upstream[step.name] = frozenset(edges & steps.keys())
    downstream: dict[str, set[str]] = {name: set() for name in steps}
    for name, ups in upstream.items():
        for up in ups:
            downstream[up].add(name)
    return Graph(upstream=upstream, downstream={k: frozenset(v) for k, v in downstream.items()}, gates=gates,
                  order=_topological(list(steps), upstream))


def _topological(names: list[str], upstream: dict[str, frozenset[str]]) -> tuple[str, ...]:
    position = {name: i for i, name in enumerate(names)}
    done: list[str] = []
    placed: set[str] = set()
    remaining = list(names)
    while remaining:
        progress = [n for n in remaining if upstream[n] <= placed]
        if not progress:
            raise ValidationError(f"Steps form a cycle: {' -> '.join(_cycle(remaining, upstream))}.")
        first = min(progress, key=position.__getitem__)
        done.append(first)
        placed.add(first)
        remaining.remove(first)
    return tuple(done)


def _cycle(remaining: list[str], upstream: dict[str, frozenset[str]]) -> list[str]:
    """One cycle among the steps that could not be ordered, as a path that returns to its start."""
    left = set(remaining)
    path: list[str] = [remaining[0]]
    while True:
        nxt = sorted(upstream[path[-1]] & left, key=remaining.index)[0]
        if nxt in path:
            loop = path[path.index(nxt):] + [nxt]
            return list(reversed(loop))
        path.append(nxt)
