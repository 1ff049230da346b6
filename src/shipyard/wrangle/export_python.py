"""The Python export: a standalone pandas script that reproduces a flow, shaped like the code Data Wrangler
exports (``op_2_output = manage_columns(op_1_output['default'], **{...})``).

The script carries the source of the operator modules it uses (:mod:`.ops`: standard library, numpy and
pandas only), so it runs without Shipyard and computes exactly what the engine computes. ``run_flow()``
returns ``{"<node_id>.<output>": frame}``; run as a program it writes the flow's final outputs as CSV."""

from __future__ import annotations

import ast
import importlib
import inspect
import pprint
import re

from .flow import Flow
from .operators import OPERATORS

_LOCAL_IMPORT = re.compile(r"^from \._common import .*$", re.M)
_FUTURE = re.compile(r"^from __future__ import .*$", re.M)

HEADER = '''#!/usr/bin/env python3
"""Exported by `shipyard wrangle export --to python` from {name}: the flow's steps on pandas.

    python {script} [--out FOLDER] [--sample-rows N]

S3 sources are read with boto3 and your credentials (set AWS_ENDPOINT_URL to use a Shipyard server)."""

from __future__ import annotations
'''

FOOTER = '''

FINAL_OUTPUTS = {finals!r}


if __name__ == "__main__":
    import argparse
    import os

    parser = argparse.ArgumentParser(description="Run the exported flow.")
    parser.add_argument("--out", default="wrangled", help="folder for <node_id>.<output>.csv")
    parser.add_argument("--sample-rows", type=int, default=None, help="read only each source's first N rows")
    args = parser.parse_args()
    frames = run_flow(sample_rows=args.sample_rows)
    os.makedirs(args.out, exist_ok=True)
    for name in FINAL_OUTPUTS:
        frames[name].to_csv(os.path.join(args.out, name + ".csv"), index=False)
        print(name, len(frames[name]), "rows")
'''


def module_source(module_name: str) -> str:
    """An ops module's code without its docstring, ``__future__`` import and ``._common`` import."""
    source = inspect.getsource(importlib.import_module(f"shipyard.wrangle.ops.{module_name}"))
    tree = ast.parse(source)
    body = tree.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        source = "\n".join(source.splitlines()[body[0].end_lineno:])
    source = _FUTURE.sub("", _LOCAL_IMPORT.sub("", source))
    return f"# ---- {module_name} " + "-" * (100 - len(module_name)) + "\n" + source.strip() + "\n"


def _literal(value) -> str:
    return pprint.pformat(value, width=110, sort_dicts=False)


def python_code(flow: Flow, *, name: str = "a flow", script: str = "flow.py") -> str:
    order = [n for n in flow.order() if not flow.nodes[n].is_analysis]
    modules = ["_common"] + sorted({OPERATORS[flow.nodes[n].operator].module for n in order})
    var = {node_id: f"op_{i + 1}_output" for i, node_id in enumerate(order)}
    lines = ["", "", "def run_flow(sample_rows=None):",
             '    """Every node\'s outputs: {"<node_id>.<output>": frame}."""', "    frames = {}"]
    for node_id in order:
        node = flow.nodes[node_id]
        op = OPERATORS[node.operator]
        args = [f"{var[parent]}[{output!r}]" for parent, output in node.inputs]
        if op.inputs == 0:
            args.append("sample_rows=sample_rows")
        if node.trained_parameters:
            args.append(f"trained_parameters={_literal(node.trained_parameters)}")
        args.append(f"**{_literal(node.parameters)}")
        call = f"    {var[node_id]} = {op.function}({', '.join(args)})"
        lines += [f"    # {node_id}: {node.operator}", "\n        ".join(call.splitlines())]
        for output in node.outputs:
            lines.append(f"    frames[{node_id + '.' + output!r}] = {var[node_id]}[{output!r}]")
    lines.append("    return frames")
    finals = [f"{n}.{o}" for n, o in flow.outputs_of()]
    return (HEADER.format(name=name, script=script) + "\n" + "\n\n".join(module_source(m) for m in modules)
            + "\n".join(lines) + FOOTER.format(finals=finals))
