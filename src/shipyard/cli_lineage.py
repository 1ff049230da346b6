"""``shipyard lineage ENDPOINT``: the tree from an endpoint back to the data and code that made its model.

Walks QueryLineage (Ascendants) from the endpoint's lineage context and prints each entity under the one it
led to, with the association between them:

    endpoint churn  (Context Endpoint)
    └─ AssociatedWith: ModelDeployment action  churn-cfg-churn-aws-model-deployment
       ├─ ContributedTo: Model  s3://bucket/output/job/output/model.tar.gz
       │  └─ Produced: TrainingJob trial component  job-aws-training-job
       │     ├─ ContributedTo: DataSet  s3://bucket/data/train
       │     └─ ContributedTo: Code  s3://bucket/job/source/sourcedir.tar.gz
       └─ ContributedTo: Image  683313688378.dkr.ecr....

Kept out of :mod:`shipyard.cli`; :func:`add_lineage_commands` adds the command. Like every client command it
speaks boto3 only, so it works against AWS too (where the endpoint's context is found by its source ARN).
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Callable

# Shipyard names an endpoint's lineage context "<endpoint>-aws-endpoint" (lineage/auto.py); AWS names it
# otherwise, so the context is also looked up by its source, the endpoint's ARN.
CONTEXT_SUFFIX = "-aws-endpoint"
_MAX_LINES = 2000  # a tree bigger than this is cut, saying so


def _cli() -> Any:
    from . import cli

    return cli


def _not_found(exc: Exception) -> bool:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
    return code in ("ResourceNotFound", "ValidationException")


def find_endpoint_context(sm: Any, endpoint: str) -> str:
    """The ARN of the endpoint's lineage context."""
    try:
        return sm.describe_context(ContextName=f"{endpoint}{CONTEXT_SUFFIX}")["ContextArn"]
    except Exception as exc:  # noqa: BLE001 - botocore's ClientError; anything else is re-raised
        if not _not_found(exc):
            raise
    arn = sm.describe_endpoint(EndpointName=endpoint)["EndpointArn"]
    found = sm.list_contexts(SourceUri=arn, ContextType="Endpoint")["ContextSummaries"]
    if not found:
        raise _cli().CliError(f"no lineage is recorded for endpoint {endpoint!r} (no Endpoint context with source "
                              f"{arn})")
    return found[0]["ContextArn"]


def _label(sm: Any, vertex: dict, cache: dict[str, str]) -> str:
    arn, kind, what = vertex["Arn"], vertex.get("Type", ""), vertex["LineageType"]
    if arn in cache:
        return cache[arn]
    name = arn.rsplit("/", 1)[-1]
    if what == "Artifact":
        try:
            name = sm.describe_artifact(ArtifactArn=arn)["Source"]["SourceUri"]
        except Exception as exc:  # noqa: BLE001 - a vanished artifact keeps its ARN as its label
            if not _not_found(exc):
                raise
        label = f"{kind or 'Artifact'}  {name}"
    elif what == "TrialComponent":
        label = f"{kind + ' ' if kind else ''}trial component  {name}"
    else:
        label = f"{kind + ' ' if kind else ''}{what.lower()}  {name}"
    cache[arn] = label
    return label


def render(sm: Any, endpoint: str, start: str, result: dict) -> list[str]:
    """The tree as lines: each entity under the entity it ContributedTo/Produced/..., the start at the top."""
    vertices = {v["Arn"]: v for v in result["Vertices"]}
    parents: dict[str, list[tuple[str, str]]] = {}
    for e in result.get("Edges") or []:
        parents.setdefault(e["DestinationArn"], []).append((e["SourceArn"], e.get("AssociationType", "")))
    cache: dict[str, str] = {}
    lines = [f"endpoint {endpoint}  (Context Endpoint)"]

    def walk(arn: str, prefix: str, path: frozenset[str]) -> None:
        children = sorted(parents.get(arn, []), key=lambda c: _label(sm, vertices.get(c[0], {
            "Arn": c[0], "LineageType": ""}), cache))
        for i, (child, how) in enumerate(children):
            if len(lines) >= _MAX_LINES:
                return
            last = i == len(children) - 1
            vertex = vertices.get(child, {"Arn": child, "LineageType": ""})
            seen = " (shown above)" if child in path else ""
            lines.append(f"{prefix}{'└─' if last else '├─'} {how}: {_label(sm, vertex, cache)}{seen}")
            if not seen:
                walk(child, prefix + ("   " if last else "│  "), path | {child})

    walk(start, "", frozenset({start}))
    if len(lines) >= _MAX_LINES:
        lines.append(f"... (cut at {_MAX_LINES} lines)")
    if len(lines) == 1:
        lines.append("(nothing recorded upstream of this endpoint)")
    return lines


def cmd_lineage(args: argparse.Namespace) -> int:
    sm = _cli()._session(args).sagemaker_client
    start = find_endpoint_context(sm, args.name)
    result = sm.query_lineage(StartArns=[start], Direction="Ascendants", IncludeEdges=True, MaxDepth=args.depth)
    if args.json:
        print(json.dumps({"StartArn": start, "Vertices": result["Vertices"], "Edges": result["Edges"]}, indent=2))
        return 0
    print("\n".join(render(sm, args.name, start, result)))
    return 0


def add_lineage_commands(sub: Any, client_opts: Callable[..., None]) -> None:
    """Add ``lineage ENDPOINT`` to the ``shipyard`` parser's subcommands."""
    p = sub.add_parser("lineage", help="print the tree from an endpoint back to its model, data and code")
    p.add_argument("name", metavar="ENDPOINT", help="the endpoint's name")
    p.add_argument("--depth", type=int, default=10, help="how many associations to follow (at most 10)")
    client_opts(p)
    p.set_defaults(func=cmd_lineage)
