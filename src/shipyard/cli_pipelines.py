"""``shipyard pipelines ...``: run a pipeline definition from the command line with a live step table, and
print a pipeline's DAG with the statuses of an execution.

Kept out of :mod:`shipyard.cli`; :func:`add_pipelines_commands` hangs these commands under ``pipelines``. Like
every client command they speak boto3 only (so they work against AWS too).

- ``run FILE.json|FILE.py``: create (or update) the pipeline the file defines (a ``.py`` file is run and
  its module-level SageMaker SDK ``Pipeline`` used), start it with ``--param NAME=VALUE``,
  and redraw the step table while it runs; exit 0 when it succeeds, 1 otherwise. ``--retry EXECUTION_ARN``
  resumes a failed execution from its failed steps instead (what Kubeflow users ask for).
- ``graph NAME``: the steps in topological order with what each waits for, and each step's status in the
  newest execution (or ``--execution ARN``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Callable

TERMINAL = ("Succeeded", "Failed", "Stopped")


def _cli() -> Any:
    from . import cli

    return cli


def _step_rows(sm: Any, arn: str) -> list[list[Any]]:
    steps = sm.list_pipeline_execution_steps(PipelineExecutionArn=arn, SortOrder="Ascending")[
        "PipelineExecutionSteps"]
    rows = []
    for s in steps:
        meta = s.get("Metadata") or {}
        what = next(iter(meta), "")
        detail = (meta.get(what) or {}).get("Arn", "").rsplit("/", 1)[-1] if what else ""
        if what == "Condition":
            detail = f"outcome {meta[what].get('Outcome')}"
        if s.get("CacheHitResult"):
            detail += " (cached)"
        rows.append([s["StepName"], s["StepStatus"], s.get("AttemptCount", 1), what, detail,
                     (s.get("FailureReason") or "")[:80]])
    return rows


def _watch(sm: Any, arn: str, interval: float, timeout: float) -> str:
    cli = _cli()
    deadline = time.monotonic() + timeout
    last = None
    status = "Executing"
    while time.monotonic() < deadline:
        status = sm.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"]
        table = cli.table(["STEP", "STATUS", "ATTEMPTS", "KIND", "DETAIL", "FAILURE"], _step_rows(sm, arn))
        if table != last:
            print(f"\n{arn}: {status}\n{table}", flush=True)
            last = table
        if status in TERMINAL:
            return status
        time.sleep(interval)
    return status


def _parameters(pairs: list[str]) -> list[dict[str, str]]:
    out = []
    for p in pairs:
        if "=" not in p:
            raise ValueError(f"--param {p!r}: write NAME=VALUE.")
        name, value = p.split("=", 1)
        out.append({"Name": name, "Value": value})
    return out


def definition_of(path: Path) -> tuple[str, str]:
    """(definition JSON, default pipeline name) of a definition file, or of a Python file that builds a
    SageMaker SDK ``Pipeline`` (run with ``runpy``; the first Pipeline among its globals)."""
    if path.suffix == ".json":
        return path.read_text(), path.stem.replace("_", "-")
    if path.suffix != ".py":
        raise ValueError(f"{path}: give a definition JSON file or a Python file that builds a sagemaker Pipeline.")
    import runpy

    from sagemaker.workflow.pipeline import Pipeline

    found = [v for v in runpy.run_path(str(path), run_name="__shipyard_pipeline__").values()
             if isinstance(v, Pipeline)]
    if not found:
        raise ValueError(f"{path} defines no sagemaker.workflow.pipeline.Pipeline at module level.")
    return found[0].definition(), found[0].name


def cmd_run(args: argparse.Namespace) -> int:
    sm = _cli()._session(args).sagemaker_client
    if args.retry:
        arn = sm.retry_pipeline_execution(PipelineExecutionArn=args.retry)["PipelineExecutionArn"]
    else:
        from botocore.exceptions import ClientError

        path = Path(args.file)
        text, default_name = definition_of(path)
        name = args.name or default_name
        try:
            sm.create_pipeline(PipelineName=name, PipelineDefinition=text, RoleArn=args.role)
        except ClientError as e:
            if "already exists" not in str(e):
                raise
            sm.update_pipeline(PipelineName=name, PipelineDefinition=text, RoleArn=args.role)
        arn = sm.start_pipeline_execution(PipelineName=name, PipelineParameters=_parameters(args.param))[
            "PipelineExecutionArn"]
    if args.no_wait:
        print(arn)
        return 0
    status = _watch(sm, arn, args.interval, args.timeout)
    return 0 if status == "Succeeded" else 1


def graph_lines(definition: str, statuses: dict[str, str]) -> list[str]:
    """One line per step in topological order: name, type, status, and the steps it waits for."""
    from .pipelines.definition import parse

    defn = parse(definition)
    lines = []
    for name in defn.order():
        step = defn.steps[name]
        ups = sorted(defn.upstream(name))
        gate = defn.gate(name)
        branch = f" [if {gate[0]} is {gate[1]}]" if gate else ""
        status = statuses.get(name, "-")
        lines.append(f"{name} ({step.type}) {status}{branch}" + (f"  <- {', '.join(ups)}" if ups else ""))
    return lines


def cmd_graph(args: argparse.Namespace) -> int:
    sm = _cli()._session(args).sagemaker_client
    arn = args.execution
    if arn is None:
        runs = sm.list_pipeline_executions(PipelineName=args.name, MaxResults=1)["PipelineExecutionSummaries"]
        arn = runs[0]["PipelineExecutionArn"] if runs else None
    if arn:
        definition = sm.describe_pipeline_definition_for_execution(PipelineExecutionArn=arn)["PipelineDefinition"]
        steps = sm.list_pipeline_execution_steps(PipelineExecutionArn=arn)["PipelineExecutionSteps"]
        statuses = {s["StepName"]: s["StepStatus"] for s in steps}
    else:
        definition = sm.describe_pipeline(PipelineName=args.name)["PipelineDefinition"]
        statuses = {}
    if args.json:
        print(json.dumps({"PipelineExecutionArn": arn, "Steps": graph_lines(definition, statuses)}, indent=2))
        return 0
    if arn:
        print(arn)
    for line in graph_lines(definition, statuses):
        print(line)
    return 0


def add_pipelines_commands(sub: Any, client_opts: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``pipelines run|graph`` to the ``shipyard`` parser's subcommands."""
    pipes = sub.add_parser("pipelines", help="SageMaker pipelines").add_subparsers(dest="action", metavar="ACTION")
    pipes.required = True
    p = pipes.add_parser("run", help="create or update a pipeline from its definition JSON, run it, show steps")
    p.add_argument("file", nargs="?", default="", help="the definition JSON, or a .py file building an SDK Pipeline "
                                                         "(not needed with --retry)")
    p.add_argument("--name", help="pipeline name (default: the file's name)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="a pipeline parameter")
    p.add_argument("--role", default="arn:aws:iam::123456789012:role/shipyard", help="the pipeline's RoleArn")
    p.add_argument("--retry", metavar="EXECUTION_ARN", help="resume this failed execution from its failed steps")
    p.add_argument("--no-wait", action="store_true", help="print the execution ARN and return")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between table refreshes")
    p.add_argument("--timeout", type=float, default=24 * 3600.0, help="give up watching after this many seconds")
    client_opts(p)
    p.set_defaults(func=cmd_run)
    p = pipes.add_parser("graph", help="print a pipeline's steps in order with their statuses")
    p.add_argument("name")
    p.add_argument("--execution", help="the execution whose statuses to show (default: the newest)")
    client_opts(p)
    p.set_defaults(func=cmd_graph)
