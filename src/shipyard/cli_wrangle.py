"""`shipyard wrangle ...`: edit, preview and export Data Wrangler flows (``.flow`` files) from the command line.

- ``new FLOW --source URI``: a flow importing ``URI`` (s3://... or a local path; CSV, Parquet, JSON Lines);
- ``add FLOW OPERATOR --params JSON``: append a step (``manage_columns``, ``handle_missing``... or a full
  operator name) after the last step, or ``--after NODE``, or reading ``--inputs A B`` (join, concatenate);
- ``preview FLOW [--node ID] [--rows N]``: the sample after a step, as a table;
- ``report FLOW --target COL [--html out.html]``: the data quality and insights report;
- ``export FLOW --to processing-job|pipeline-step|python [--run]``: the exports; ``--run`` starts the
  processing job (and waits), or runs the flow here on the full data (python).

The flow runs on this machine (custom code is the user's own, on the user's machine); S3 sources are read
through the same server (or AWS) the other commands talk to.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from .errors import ValidationError


def _cli() -> Any:
    from . import cli

    return cli


def _fail(message: str) -> Any:
    return _cli().CliError(message, 1)


def _load(path: str):
    from .wrangle import load_flow

    try:
        return load_flow(path)
    except ValidationError as e:
        raise _fail(f"{path}: {e.message}") from None


def _s3_client(args: argparse.Namespace, flow) -> Any:
    """The S3 client for the flow's s3:// sources (None when it has none: no server needed)."""
    for node in flow.nodes.values():
        uri = ((node.parameters.get("dataset_definition") or {}).get("s3ExecutionContext") or {}).get("s3Uri") or ""
        if uri.startswith("s3://"):
            return _cli()._session(args).s3_client
    return None


def _run(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except ValidationError as e:
        raise _fail(e.message) from None


def _params(text: str | None) -> dict:
    if not text:
        return {}
    if text.startswith("@"):
        text = Path(text[1:]).read_text()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise _fail(f"--params is not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise _fail("--params must be a JSON object")
    return value


def cmd_new(args: argparse.Namespace) -> int:
    from .wrangle import new_flow

    if Path(args.flow).exists() and not args.force:
        raise _fail(f"{args.flow} exists; pass --force to replace it")
    flow = _run(lambda: new_flow(args.source, content_type=args.content_type, has_header=not args.no_header,
                                 delimiter=args.delimiter, infer_types=not args.no_infer))
    flow.save(args.flow)
    for node in flow.nodes.values():
        print(f"{node.node_id}  {node.operator}")
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    from .wrangle import add_step

    flow = _load(args.flow)
    node_id = _run(lambda: add_step(flow, args.operator, _params(args.params), after=args.after,
                                    node_id=args.id, inputs=args.inputs))
    flow.save(args.flow)
    print(node_id)
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    import pandas as pd

    from .wrangle import preview

    flow = _load(args.flow)
    df = _run(lambda: preview(flow, args.node, output=args.output, sample_rows=args.sample or None,
                              s3_client=_s3_client(args, flow)))
    if args.json:
        print(df.head(args.rows).to_json(orient="records", date_format="iso"))
        return 0
    with pd.option_context("display.max_columns", 50, "display.width", 200):
        print(df.head(args.rows).to_string())
    print(f"({len(df)} rows in the sample, {df.shape[1]} columns)")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .wrangle import preview, quality_report, report_html

    flow = _load(args.flow)
    df = _run(lambda: preview(flow, args.node, sample_rows=args.sample or None, s3_client=_s3_client(args, flow)))
    report = _run(lambda: quality_report(df, args.target, problem_type=args.problem_type))
    if args.html:
        Path(args.html).write_text(report_html(report, f"Data quality and insights: {Path(args.flow).name}"))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(report, indent=1, default=str))
    print(f"{report['rows']} rows, {report['columns']} columns, {report['duplicate_rows']} duplicate rows, "
          f"{report['missing_cells']} missing cells")
    if report.get("target"):
        score = report.get("quick_model_score")
        print(f"target {report['target']} ({report['problem_type']}), quick model score "
              f"{'-' if score is None else f'{score:.3f}'}")
        for name, value in list(report["feature_importance"].items())[:10]:
            print(f"  {name:30s} importance {value:.3f}  prediction power {report['prediction_power'][name]:.3f}")
    for w in report["warnings"]:
        print(f"warning ({w['severity']}): {w['title']}: {w['text']}")
    return 0


def _targets(flow, nodes: list[str] | None) -> list[tuple[str, str]] | None:
    if not nodes:
        return None
    out = []
    for ref in nodes:
        node_id, _, output = ref.partition(":")
        out.append((node_id, output or "default"))
    return out


def _job_kwargs(args: argparse.Namespace, flow, job_name: str) -> dict[str, Any]:
    prefix = (args.s3_prefix or f"s3://shipyard-wrangle/{Path(args.flow).stem}").rstrip("/")
    return {"role": args.role, "flow_s3_uri": f"{prefix}/{job_name}/flow/flow.flow",
            "output_s3_uri": f"{prefix}/{job_name}/output", "outputs": _targets(flow, args.node),
            "instance_type": args.instance_type, "region": args.region or "us-east-1",
            "content_type": args.content_type}


def _upload_flow(s3: Any, flow, uri: str) -> None:
    bucket, _, key = uri[len("s3://"):].partition("/")
    try:
        s3.head_bucket(Bucket=bucket)
    except Exception:  # noqa: BLE001 - missing: create it (the SDK's default bucket does the same)
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(flow.to_doc(), indent=1).encode())


def _wait(sm: Any, name: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    status = None
    while True:
        desc = sm.describe_processing_job(ProcessingJobName=name)
        if desc["ProcessingJobStatus"] != status:
            status = desc["ProcessingJobStatus"]
            print(f"{name}: {status}", file=sys.stderr)
        if status in ("Completed", "Failed", "Stopped") or time.monotonic() > deadline:
            return desc
        time.sleep(2)


def cmd_export(args: argparse.Namespace) -> int:
    from .wrangle import pipeline_step, processing_job_request, python_code, run_flow

    flow = _load(args.flow)
    if args.to == "python":
        if args.run:
            frames = _run(lambda: run_flow(flow, _targets(flow, args.node), s3_client=_s3_client(args, flow)))
            folder = Path(args.out or "wrangled")
            folder.mkdir(parents=True, exist_ok=True)
            for (node_id, output), df in frames.items():
                df.to_csv(folder / f"{node_id}.{output}.csv", index=False)
                print(f"{folder / f'{node_id}.{output}.csv'}: {len(df)} rows")
            return 0
        code = python_code(flow, name=Path(args.flow).name, script=Path(args.out or "flow.py").name)
        if args.out:
            Path(args.out).write_text(code)
            print(args.out)
        else:
            print(code)
        return 0
    job_name = args.job_name or f"wrangle-{Path(args.flow).stem[:30]}-{uuid.uuid4().hex[:8]}".replace("_", "-")
    kwargs = _job_kwargs(args, flow, job_name)
    if args.to == "pipeline-step":
        print(json.dumps(_run(lambda: pipeline_step(flow, **kwargs)), indent=2))
        return 0
    request = _run(lambda: processing_job_request(flow, job_name=job_name, **kwargs))
    if not args.run:
        print(json.dumps(request, indent=2))
        return 0
    session = _cli()._session(args)
    _upload_flow(session.s3_client, flow, kwargs["flow_s3_uri"])
    session.sagemaker_client.create_processing_job(**request)
    print(job_name)
    desc = _wait(session.sagemaker_client, job_name, args.wait)
    for out in desc.get("ProcessingOutputConfig", {}).get("Outputs", []):
        print(f"{out['OutputName']}: {out['S3Output']['S3Uri']}")
    if desc["ProcessingJobStatus"] != "Completed":
        raise _fail(f"processing job {job_name} {desc['ProcessingJobStatus']}: {desc.get('FailureReason', '')}")
    return 0


def add_wrangle_commands(sub: Any, client_opts: Callable[..., None]) -> None:
    """Register `shipyard wrangle` and its subcommands."""
    wr = sub.add_parser("wrangle", help="data flows (.flow): edit, preview, report, export").add_subparsers(
        dest="action", metavar="ACTION")
    wr.required = True
    p = wr.add_parser("new", help="start a flow that imports a data set")
    p.add_argument("flow", help="the .flow file to write")
    p.add_argument("--source", required=True, help="s3://bucket/key-or-prefix (or a local path)")
    p.add_argument("--content-type", default="csv", choices=["csv", "parquet", "json", "jsonl"])
    p.add_argument("--no-header", action="store_true", help="CSV without a header row (columns _c0, _c1...)")
    p.add_argument("--delimiter", default=",")
    p.add_argument("--no-infer", action="store_true", help="no infer-and-cast-types step")
    p.add_argument("--force", action="store_true", help="replace an existing file")
    p.set_defaults(func=cmd_new)
    p = wr.add_parser("add", help="append a step")
    p.add_argument("flow")
    p.add_argument("operator", help="manage_columns, handle_missing, encode_categorical, process_numeric, "
                                    "custom_pandas, custom_sql, join_tables... (or a full operator name)")
    p.add_argument("--params", help="the step's parameters: JSON, or @file.json")
    p.add_argument("--after", help="the node it reads (default: the last data node)")
    p.add_argument("--inputs", nargs="+", help="the nodes a join or concatenate reads (NODE or NODE:OUTPUT)")
    p.add_argument("--id", help="the new node's id (default: a UUID)")
    p.set_defaults(func=cmd_add)
    for name, func, helptext in (("preview", cmd_preview, "print the sample after a step"),
                                 ("report", cmd_report, "data quality and insights report")):
        p = wr.add_parser(name, help=helptext)
        p.add_argument("flow")
        p.add_argument("--node", help="the step (default: the last data node)")
        p.add_argument("--sample", type=int, default=50_000, help="rows read from each source (0: all)")
        if name == "preview":
            p.add_argument("--output", default="default", help="the node's output (a split's Train/Test)")
            p.add_argument("--rows", type=int, default=10, help="rows to print")
        else:
            p.add_argument("--target", help="the target column (for leakage and feature importance)")
            p.add_argument("--problem-type", choices=["Classification", "Regression"])
            p.add_argument("--html", help="write the report as a self-contained HTML page")
            p.add_argument("--json-out", help="write the report as JSON")
        client_opts(p, json_flag=name == "preview")
        p.set_defaults(func=func)
    p = wr.add_parser("export", help="export as a processing job, a pipeline step or Python code")
    p.add_argument("flow")
    p.add_argument("--to", required=True, choices=["processing-job", "pipeline-step", "python"])
    p.add_argument("--run", action="store_true", help="start the processing job and wait (processing-job), or "
                                                      "run the flow here on the full data (python)")
    p.add_argument("--out", help="python: the script to write (with --run: the folder for the CSV outputs)")
    p.add_argument("--node", nargs="+", help="the nodes to save (NODE or NODE:OUTPUT; default: the flow's ends)")
    p.add_argument("--role", default="arn:aws:iam::111122223333:role/ShipyardDataWrangler")
    p.add_argument("--s3-prefix", help="where the flow and outputs go (default s3://shipyard-wrangle/<flow>)")
    p.add_argument("--job-name")
    p.add_argument("--instance-type", default="ml.m5.4xlarge")
    p.add_argument("--content-type", default="CSV", choices=["CSV", "PARQUET"])
    p.add_argument("--wait", type=float, default=3600, help="seconds to wait for the job (with --run)")
    client_opts(p, json_flag=False)
    p.set_defaults(func=cmd_export)
