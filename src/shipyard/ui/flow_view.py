"""What the console's flow page draws and offers, computed without running anything: the node graph laid out
from the nodes' inputs (an inline SVG: no script, each node a link), and the add-step form's operators with an
example of each one's parameters (the shapes docs/wrangle.md lists)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..wrangle.operators import ANALYSES, OPERATORS, SHORT_NAMES

BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 180, 46, 60, 22, 10

# Examples of each operator's parameters (the form fills the box with one when the operator is chosen).
EXAMPLES: dict[str, dict[str, Any]] = {
    "manage_columns": {"operator": "Drop column", "drop_column_parameters": {"column_to_drop": ["COLUMN"]}},
    "handle_missing": {"operator": "Impute", "impute_parameters": {
        "column_type": "Numeric", "numeric_parameters": {"input_column": "COLUMN", "strategy": "Mean"}}},
    "encode_categorical": {"operator": "One-hot encode", "one_hot_encode_parameters": {
        "input_column": ["COLUMN"], "output_style": "Columns"}},
    "process_numeric": {"operator": "Scale values", "scale_values_parameters": {
        "scaler": "Standard scaler", "input_column": "COLUMN"}},
    "format_string": {"operator": "Lower case", "lower_case_parameters": {"input_column": "COLUMN"}},
    "search_and_edit": {"operator": "Find and replace substring", "find_and_replace_substring_parameters": {
        "input_column": "COLUMN", "pattern": "REGEX", "replacement": ""}},
    "cast_single_data_type": {"column": "COLUMN", "data_type": "float"},
    "infer_and_cast_type": {},
    "featurize_date_time": {"operator": "Extract columns", "extract_columns_parameters": {
        "input_column": "COLUMN", "year": True, "month": True, "day_of_week": True}},
    "featurize_text": {"operator": "Vectorize", "vectorize_parameters": {
        "input_column": "COLUMN", "tokenizer": "Standard", "vectorizer": "Count Vectorizer", "apply_idf": "No",
        "output_format": "Columns", "output_column": "tokens"}},
    "manage_rows": {"operator": "Filter", "filter_parameters": {"input_column": "COLUMN", "condition": ">=",
                                                                 "value": "0"}},
    "split": {"operator": "Randomized split", "randomized_split_parameters": {
        "splits": [{"name": "Train", "percentage": 0.8}, {"name": "Test", "percentage": 0.2}], "error": 0.0001}},
    "join_tables": {"left_column": "COLUMN", "right_column": "COLUMN", "join_type": "inner"},
    "concatenate_datasets": {"apply_dedupe": False},
    "dataset.identity": {},
    "custom_pandas": {"code": "# the table is df; leave the result in df\ndf = df"},
    "custom_sql": {"sql": "SELECT * FROM df"},
    "custom_formula": {"formula": "COLUMN * 2", "output_column": "NEW_COLUMN"},
    "custom_code": {"operator": "Python (Pandas)", "pandas_parameters": {"code": "df = df"}},
}


def _filled(value: Any, column: str) -> Any:
    """An example with its COLUMN placeholders replaced by a real column's name."""
    if isinstance(value, str):
        return value.replace("NEW_COLUMN", f"{column}_new").replace("COLUMN", column)
    if isinstance(value, list):
        return [_filled(v, column) for v in value]
    if isinstance(value, dict):
        return {k: _filled(v, column) for k, v in value.items()}
    return value


def example(short: str, column: str = "") -> dict[str, Any]:
    """The example parameters of an operator, on ``column`` when given (else with its placeholders)."""
    found = EXAMPLES.get(short, {})
    return _filled(found, column) if column else found


def step_operators(column: str = "") -> list[dict[str, Any]]:
    """The operators a step may use (not sources or analyses): short name, full name, inputs, and an example of
    its parameters (on ``column``, the data's first column, when given)."""
    out = []
    for short, full in sorted(SHORT_NAMES.items()):
        if full in ANALYSES or OPERATORS[full].inputs == 0 or full.endswith("custom_pyspark_0.1"):
            continue
        out.append({"short": short, "full": full, "inputs": OPERATORS[full].inputs,
                    "example": example(short, column)})
    return out


def short_name(operator: str) -> str:
    for short, full in SHORT_NAMES.items():
        if full == operator:
            return short
    return operator


def node_caption(node) -> str:
    """A node's second line: its choice (``Drop column``), its data set's name, or its id."""
    params = node.parameters
    if isinstance(params.get("operator"), str):
        return params["operator"]
    name = (params.get("dataset_definition") or {}).get("name")
    if isinstance(name, str) and name:
        return name
    return node.node_id[:12]


@dataclass(frozen=True)
class Box:
    node_id: str
    x: int
    y: int
    title: str
    caption: str
    analysis: bool
    selected: bool
    outputs: tuple[str, ...]


def layout(flow, selected: str = "") -> dict[str, Any]:
    """Boxes in columns by depth (a node one column right of its deepest input), rows in document order;
    edges as curves from an input's right side to the reader's left side."""
    depth: dict[str, int] = {}
    for node_id in flow.order():
        parents = flow.nodes[node_id].inputs
        depth[node_id] = 1 + max((depth[p] for p, _ in parents), default=-1)
    rows: dict[int, int] = {}
    boxes: dict[str, Box] = {}
    for node_id, node in flow.nodes.items():
        column = depth[node_id]
        row = rows.get(column, 0)
        rows[column] = row + 1
        boxes[node_id] = Box(node_id, PAD + column * (BOX_W + GAP_X), PAD + row * (BOX_H + GAP_Y),
                             short_name(node.operator), node_caption(node), node.is_analysis, node_id == selected,
                             tuple(node.outputs))
    edges = []
    for node_id, node in flow.nodes.items():
        to = boxes[node_id]
        for parent, output in node.inputs:
            src = boxes[parent]
            x1, y1, x2, y2 = src.x + BOX_W, src.y + BOX_H // 2, to.x, to.y + BOX_H // 2
            mid = (x1 + x2) // 2
            edges.append({"d": f"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}",
                          "label": output if output != "default" else ""})
    width = PAD * 2 + (max(depth.values(), default=0) + 1) * (BOX_W + GAP_X) - GAP_X
    height = PAD * 2 + max(rows.values(), default=1) * (BOX_H + GAP_Y) - GAP_Y
    return {"boxes": list(boxes.values()), "edges": edges, "width": width, "height": height,
            "box_w": BOX_W, "box_h": BOX_H}
