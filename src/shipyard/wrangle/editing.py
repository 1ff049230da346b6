"""Building flows: a new flow from a data source, and steps appended to it (what ``shipyard wrangle new`` and
``add`` do, and the console will)."""

from __future__ import annotations

import os
from typing import Any

from ..errors import ValidationError
from .flow import Flow, new_node, parse
from .operators import ANALYSES, OPERATORS, SHORT_NAMES, resolve

TYPES_BY_INPUTS = {0: "SOURCE", 1: "TRANSFORM", 2: "JOIN"}


def new_flow(s3_uri: str, *, content_type: str = "csv", has_header: bool = True, delimiter: str = ",",
             name: str | None = None, infer_types: bool = True) -> Flow:
    source = new_node("SOURCE", "sagemaker.s3_source_0.1", {"dataset_definition": {
        "__typename": "S3CreateDatasetDefinitionOutput", "datasetSourceType": "S3",
        "name": name or os.path.basename(s3_uri.rstrip("/")) or "dataset", "description": None,
        "s3ExecutionContext": {"__typename": "S3ExecutionContext", "s3Uri": s3_uri, "s3ContentType": content_type,
                               "s3HasHeader": has_header, "s3FieldDelimiter": delimiter,
                               "s3DirIncludesNested": False, "s3AddsFilenameColumn": False}}}, [])
    nodes = [source]
    if infer_types:
        nodes.append(new_node("DATATYPE", "sagemaker.spark.infer_and_cast_type_0.1", {},
                              [(source["node_id"], "default")]))
    return parse({"metadata": {"version": 1, "disable_limits": False}, "nodes": nodes})


def add_step(flow: Flow, operator: str, parameters: dict[str, Any], *, after: str | None = None,
             node_id: str | None = None, inputs: list[str] | None = None) -> str:
    try:
        full = resolve(operator)
    except KeyError:
        raise ValidationError(f"Operator {operator!r} is not supported; use one of "
                              f"{', '.join(sorted(SHORT_NAMES))} (or the full names).") from None
    if full in ANALYSES:
        node_type, count = "VISUALIZATION", 1
    else:
        count = OPERATORS[full].inputs
        node_type = {"sagemaker.spark.concatenate_datasets_0.1": "CONCATENATE"}.get(full, TYPES_BY_INPUTS[count])
    if count == 0:
        raise ValidationError("Add a source with `shipyard wrangle new`, not as a step.")
    refs = list(inputs or [after or flow.last_data_node().node_id])
    if len(refs) != count:
        raise ValidationError(f"{full} takes {count} input node(s); give them with --inputs (got {len(refs)}).")
    pairs = []
    for ref in refs:
        parent, _, out = ref.partition(":")
        pairs.append((parent, out or "default"))
    outputs = None
    if full == "sagemaker.spark.split_0.1":
        splits = ((parameters.get("randomized_split_parameters") or {}).get("splits") or [])
        outputs = [str(s.get("name")) for s in splits if isinstance(s, dict)] or None
    doc = new_node(node_type, full, parameters, pairs, node_id=node_id, outputs=outputs)
    updated = parse({**flow.to_doc(), "nodes": [*flow.to_doc()["nodes"], doc]})  # checks the whole flow again
    flow.nodes = updated.nodes
    return doc["node_id"]
