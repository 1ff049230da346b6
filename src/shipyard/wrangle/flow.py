"""The ``.flow`` document: AWS Data Wrangler's JSON (``{"metadata": {"version": 1}, "nodes": [...]}``), parsed
and checked once, so the engine, the exports and the console can trust its shape.

A node: ``node_id``, ``type`` (SOURCE, TRANSFORM, DATATYPE, JOIN, CONCATENATE, DATASET, VISUALIZATION),
``operator``, ``parameters``, optional ``trained_parameters``, ``inputs`` (``[{"name", "node_id",
"output_name"}]``) and ``outputs`` (``[{"name": "default"}]``). Keys we do not use are kept as they were, so a
flow saved here still opens in Data Wrangler. Every refusal is a ValidationError naming the node."""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ValidationError
from .operators import ANALYSES, OPERATORS

NODE_TYPES = ("SOURCE", "TRANSFORM", "DATATYPE", "JOIN", "CONCATENATE", "DATASET", "VISUALIZATION")


@dataclass
class Node:
    node_id: str
    type: str
    operator: str
    parameters: dict[str, Any]
    trained_parameters: dict[str, Any]
    inputs: list[tuple[str, str]]   # (node_id, output_name) of each input, in order
    outputs: list[str]
    raw: dict[str, Any] = field(repr=False)

    @property
    def is_analysis(self) -> bool:
        return self.operator in ANALYSES


@dataclass
class Flow:
    metadata: dict[str, Any]
    nodes: dict[str, Node]          # in the document's order

    def to_doc(self) -> dict[str, Any]:
        return {"metadata": self.metadata, "nodes": [n.raw for n in self.nodes.values()]}

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_doc(), indent=2) + "\n")

    def order(self) -> list[str]:
        """Node ids, inputs before the nodes that read them."""
        done: list[str] = []
        seen: set[str] = set()

        def visit(node_id: str) -> None:
            if node_id in seen:
                return
            seen.add(node_id)
            for parent, _ in self.nodes[node_id].inputs:
                visit(parent)
            done.append(node_id)

        for node_id in self.nodes:
            visit(node_id)
        return done

    def data_nodes(self) -> list[Node]:
        return [n for n in self.nodes.values() if not n.is_analysis]

    def last_data_node(self) -> Node:
        nodes = self.data_nodes()
        if not nodes:
            raise ValidationError("The flow has no data nodes yet; start it with a source (shipyard wrangle new).")
        return nodes[-1]

    def outputs_of(self) -> list[tuple[str, str]]:
        """(node_id, output_name) of every data output no other node reads: what a flow produces."""
        read = {src for n in self.nodes.values() for src in n.inputs}
        return [(n.node_id, o) for n in self.data_nodes() for o in n.outputs if (n.node_id, o) not in read]


def _node(raw: Any, index: int) -> Node:
    if not isinstance(raw, dict):
        raise ValidationError(f"Flow node #{index} is not a JSON object.")
    node_id = raw.get("node_id")
    if not isinstance(node_id, str) or not node_id:
        raise ValidationError(f"Flow node #{index} has no node_id (a string).")
    operator = raw.get("operator")
    if operator not in OPERATORS and operator not in ANALYSES:
        raise ValidationError(f"Flow node {node_id!r}: operator {operator!r} is not supported; supported "
                              f"operators: {', '.join(sorted([*OPERATORS, *ANALYSES]))}.")
    node_type = raw.get("type")
    if node_type not in NODE_TYPES:
        raise ValidationError(f"Flow node {node_id!r}: type {node_type!r} is not one of {', '.join(NODE_TYPES)}.")
    for key in ("parameters", "trained_parameters"):
        if raw.get(key) is not None and not isinstance(raw.get(key), dict):
            raise ValidationError(f"Flow node {node_id!r}: {key} must be a JSON object.")
    inputs = []
    for item in raw.get("inputs") or []:
        if not isinstance(item, dict) or not isinstance(item.get("node_id"), str):
            raise ValidationError(f"Flow node {node_id!r}: each input needs a node_id.")
        inputs.append((item["node_id"], str(item.get("output_name") or "default")))
    outputs = [str(o.get("name") or "default") for o in raw.get("outputs") or [{"name": "default"}]
               if isinstance(o, dict)] or ["default"]
    return Node(node_id, node_type, operator, dict(raw.get("parameters") or {}),
                dict(raw.get("trained_parameters") or {}), inputs, outputs, raw)


def parse(doc: Any) -> Flow:
    """A checked Flow from a ``.flow`` document (a dict or its JSON text)."""
    if isinstance(doc, (str, bytes)):
        try:
            doc = json.loads(doc)
        except json.JSONDecodeError as e:
            raise ValidationError(f"The flow is not valid JSON: {e}.") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("nodes"), list):
        raise ValidationError('A flow is a JSON object {"metadata": {"version": 1}, "nodes": [...]}.')
    metadata = doc.get("metadata") or {"version": 1}
    if not isinstance(metadata, dict) or metadata.get("version", 1) != 1:
        version = metadata.get("version") if isinstance(metadata, dict) else metadata
        raise ValidationError(f"Flow metadata.version {version!r} is not supported (only version 1).")
    nodes: dict[str, Node] = {}
    for i, raw in enumerate(doc["nodes"]):
        node = _node(copy.deepcopy(raw), i)
        if node.node_id in nodes:
            raise ValidationError(f"Flow node id {node.node_id!r} is used twice.")
        nodes[node.node_id] = node
    flow = Flow(dict(metadata), nodes)
    for node in nodes.values():
        _check_links(flow, node)
    _check_acyclic(flow)
    return flow


def _check_links(flow: Flow, node: Node) -> None:
    for parent, output in node.inputs:
        if parent not in flow.nodes:
            raise ValidationError(f"Flow node {node.node_id!r} reads node {parent!r}, which is not in the flow.")
        source = flow.nodes[parent]
        if source.is_analysis:
            raise ValidationError(f"Flow node {node.node_id!r} reads {parent!r}, an analysis (it has no data).")
        if output not in source.outputs:
            raise ValidationError(f"Flow node {node.node_id!r} reads output {output!r} of {parent!r}, which has "
                                  f"outputs {source.outputs}.")
    want = 1 if node.is_analysis else OPERATORS[node.operator].inputs
    if len(node.inputs) != want:
        raise ValidationError(f"Flow node {node.node_id!r} ({node.operator}) takes {want} input(s), "
                              f"not {len(node.inputs)}.")


def _check_acyclic(flow: Flow) -> None:
    state: dict[str, int] = {}

    def visit(node_id: str, path: list[str]) -> None:
        if state.get(node_id) == 2:
            return
        if state.get(node_id) == 1:
            raise ValidationError(f"The flow has a cycle: {' -> '.join([*path, node_id])}.")
        state[node_id] = 1
        for parent, _ in flow.nodes[node_id].inputs:
            visit(parent, [*path, node_id])
        state[node_id] = 2

    for node_id in flow.nodes:
        visit(node_id, [])


def load(path: str | Path) -> Flow:
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise ValidationError(f"Cannot read the flow {str(path)!r}: {e.strerror or e}.") from None
    return parse(text)


def new_node(node_type: str, operator: str, parameters: dict, inputs: list[tuple[str, str]],
             node_id: str | None = None, outputs: list[str] | None = None) -> dict[str, Any]:
    """A node's document (the shape Data Wrangler writes)."""
    return {"node_id": node_id or str(uuid.uuid4()), "type": node_type, "operator": operator,
            "parameters": parameters,
            "inputs": [{"name": "df", "node_id": n, "output_name": o} for n, o in inputs],
            "outputs": [{"name": o} for o in (outputs or ["default"])]}
