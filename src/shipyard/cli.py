"""``shipyard``: start the server, print the client environment, and look at jobs and endpoints.

Start-up stays light (argparse only); boto3 and the server are imported by the command that needs them.
Client commands talk to a running server through boto3 only (``AWS_ENDPOINT_URL`` or ``--endpoint-url``), so
they work against AWS too. Errors become one line on stderr: exit 1 for an error the server answered,
exit 2 when it cannot be reached or the command line is wrong.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from typing import Any, Callable, Sequence


class CliError(Exception):
    """A user-facing failure: printed as ``shipyard: <message>``, exits with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


# -- output helpers ----------------------------------------------------------------------------------------
def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns, two spaces apart, header first."""
    cells = [[str(h) for h in headers]] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells)


def _print_json(data: Any) -> None:
    data = {k: v for k, v in data.items() if k != "ResponseMetadata"} if isinstance(data, dict) else data
    print(json.dumps(data, indent=2, default=str))


def _print_describe(desc: dict) -> None:
    desc = {k: v for k, v in desc.items() if k != "ResponseMetadata"}
    width = max((len(k) for k in desc), default=0)
    for key, value in desc.items():
        print(f"{key.ljust(width)}  {_fmt(value)}")


# -- boto3 access ------------------------------------------------------------------------------------------
def _session(args: argparse.Namespace) -> Any:
    from .sdk.session import Session

    return Session(endpoint_url=getattr(args, "endpoint_url", None), region=getattr(args, "region", None))


def _paginate(client: Any, op: str, key: str, **kwargs: Any) -> list[dict]:
    items: list[dict] = []
    for page in client.get_paginator(op).paginate(**kwargs):
        items.extend(page.get(key, []))
    return items


# -- commands: server / env ----------------------------------------------------------------------------------
def cmd_server(args: argparse.Namespace) -> int:
    from .config import load_settings

    settings = load_settings(home=args.home, host=args.host, port=args.port, runner=args.runner,
                             ray_address=args.ray_address)
    from .server.main import run_server

    run_server(settings)
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    from .config import load_settings

    s = load_settings(home=args.home, port=args.port, host=args.host)
    pairs = [("AWS_ENDPOINT_URL", s.endpoint_url), ("AWS_ACCESS_KEY_ID", s.access_key_id),
             ("AWS_SECRET_ACCESS_KEY", s.secret_access_key), ("AWS_DEFAULT_REGION", s.region)]
    for name, value in pairs:
        print(f"export {name}={shlex.quote(value)}")
    return 0


# -- commands: training jobs ------------------------------------------------------------------------------
def cmd_jobs_list(args: argparse.Namespace) -> int:
    sm = _session(args).sagemaker_client
    jobs = _paginate(sm, "list_training_jobs", "TrainingJobSummaries", SortBy="CreationTime",
                     SortOrder="Descending")
    if args.json:
        _print_json(jobs)
        return 0
    rows = []
    for j in jobs:
        end, start = j.get("TrainingEndTime"), j.get("CreationTime")
        took = f"{(end - start).total_seconds():.0f}s" if end and start else "-"
        rows.append([j["TrainingJobName"], j.get("TrainingJobStatus"), start, took])
    print(table(["NAME", "STATUS", "CREATED", "DURATION"], rows))
    return 0


def cmd_jobs_describe(args: argparse.Namespace) -> int:
    desc = _session(args).sagemaker_client.describe_training_job(TrainingJobName=args.name)
    _print_json(desc) if args.json else _print_describe(desc)
    return 0


def cmd_jobs_logs(args: argparse.Namespace) -> int:
    from .sdk.logs import LogTailer

    session = _session(args)
    sm = session.sagemaker_client
    sm.describe_training_job(TrainingJobName=args.name)  # a clear error for an unknown job
    tailer = LogTailer(session.logs_client, args.name)
    deadline = time.monotonic() + args.timeout
    while True:
        for stream, event in tailer.poll():
            prefix = f"[{stream.split('/', 1)[-1]}] " if args.streams else ""
            print(prefix + event.get("message", "").rstrip(), flush=True)
        if not args.follow:
            return 0
        status = sm.describe_training_job(TrainingJobName=args.name)["TrainingJobStatus"]
        if status in ("Completed", "Failed", "Stopped"):
            for stream, event in tailer.poll():
                print(event.get("message", "").rstrip(), flush=True)
            return 0 if status == "Completed" else 1
        if time.monotonic() > deadline:
            raise CliError(f"still {status} after {args.timeout:.0f} s; stopped following", 1)
        time.sleep(1.0)


def cmd_jobs_stop(args: argparse.Namespace) -> int:
    _session(args).sagemaker_client.stop_training_job(TrainingJobName=args.name)
    print(f"stopping {args.name}")
    return 0


# -- commands: endpoints ------------------------------------------------------------------------------------
def cmd_endpoints_list(args: argparse.Namespace) -> int:
    sm = _session(args).sagemaker_client
    eps = _paginate(sm, "list_endpoints", "Endpoints", SortBy="CreationTime", SortOrder="Descending")
    if args.json:
        _print_json(eps)
        return 0
    print(table(["NAME", "STATUS", "CREATED", "MODIFIED"],
                [[e["EndpointName"], e.get("EndpointStatus"), e.get("CreationTime"), e.get("LastModifiedTime")]
                 for e in eps]))
    return 0


def cmd_endpoints_describe(args: argparse.Namespace) -> int:
    from .serving.compare import fetch_metrics, metrics_rows

    session = _session(args)
    desc = session.sagemaker_client.describe_endpoint(EndpointName=args.name)
    metrics = fetch_metrics(session.endpoint_url, args.name) if session.endpoint_url else None
    if args.json:
        _print_json({**desc, "Metrics": metrics} if metrics else desc)
        return 0
    _print_describe(desc)
    if metrics:
        print("\nMetrics (since the server started):")
        print(table(*metrics_rows(metrics)))
    return 0


def cmd_endpoints_compare(args: argparse.Namespace) -> int:
    from .serving.compare import compare, fetch_metrics, report

    session = _session(args)
    session.sagemaker_client.describe_endpoint(EndpointName=args.name)  # a clear error for an unknown endpoint
    data = fetch_metrics(session.endpoint_url, args.name, samples=True) if session.endpoint_url else None
    if not data:
        raise CliError(f"no metrics for endpoint {args.name}: it is not InService on this Shipyard server")
    by_name = {v["VariantName"]: v for v in data["Variants"]}
    names = args.variants or [v["VariantName"] for v in data["Variants"]][:2]
    if len(names) != 2 or any(n not in by_name for n in names):
        raise CliError(f"pick two of the endpoint's variants ({', '.join(by_name)}) with --variants A B")
    result = compare(by_name[names[0]], by_name[names[1]], args.alpha)
    _print_json(result) if args.json else print(report(result))
    return 0


def cmd_endpoints_invoke(args: argparse.Namespace) -> int:
    body = args.body
    if body.startswith("@"):
        with open(body[1:], "rb") as f:
            payload: bytes = f.read()
    else:
        payload = body.encode()
    kwargs: dict[str, Any] = {"EndpointName": args.name, "Body": payload, "ContentType": args.content_type}
    if args.accept:
        kwargs["Accept"] = args.accept
    resp = _session(args).runtime_client.invoke_endpoint(**kwargs)
    data = resp["Body"].read()
    if args.json:
        _print_json({"ContentType": resp.get("ContentType"),
                     "InvokedProductionVariant": resp.get("InvokedProductionVariant"),
                     "Body": data.decode("utf-8", "replace")})
    else:
        sys.stdout.write(data.decode("utf-8", "replace").rstrip("\n") + "\n")
    return 0


def cmd_endpoints_logs(args: argparse.Namespace) -> int:
    """Model-server logs: group /aws/sagemaker/Endpoints/<name>, one stream per <variant>/<instance>."""
    from .sdk.logs import LogTailer

    session = _session(args)
    group = f"/aws/sagemaker/Endpoints/{args.name}"
    variants = [args.variant] if args.variant else sorted(
        {s["logStreamName"].split("/", 1)[0]
         for s in session.logs_client.describe_log_streams(logGroupName=group)["logStreams"]})
    for variant in variants:
        for stream, event in LogTailer(session.logs_client, variant, log_group=group).poll():
            prefix = f"[{stream}] " if args.streams else ""
            print(prefix + event.get("message", "").rstrip(), flush=True)
    return 0


def cmd_endpoints_delete(args: argparse.Namespace) -> int:
    sm = _session(args).sagemaker_client
    config = sm.describe_endpoint(EndpointName=args.name).get("EndpointConfigName")
    sm.delete_endpoint(EndpointName=args.name)
    if args.with_config and config:
        sm.delete_endpoint_config(EndpointConfigName=config)
    print(f"deleting {args.name}")
    return 0


# -- parser -------------------------------------------------------------------------------------------------
def _client_opts(p: argparse.ArgumentParser, json_flag: bool = True) -> None:
    p.add_argument("--endpoint-url", help="Shipyard server URL (default: $AWS_ENDPOINT_URL)")
    p.add_argument("--region", help="region (default: $AWS_DEFAULT_REGION or us-east-1)")
    if json_flag:
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shipyard", description="A SageMaker-compatible ML platform.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("server", help="run the Shipyard server")
    p.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default 7070)")
    p.add_argument("--home", default=None, help="state folder (default $SHIPYARD_HOME or ~/.shipyard)")
    p.add_argument("--runner", choices=["local", "ray"], default=None, help="where jobs run (default local)")
    p.add_argument("--ray-address", default=None, help="Ray cluster address for --runner ray")
    p.set_defaults(func=cmd_server)

    p = sub.add_parser("env", help='print AWS_* variables for clients: eval "$(shipyard env)"')
    p.add_argument("--home", default=None)
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.set_defaults(func=cmd_env)

    jobs = sub.add_parser("jobs", help="training jobs").add_subparsers(dest="action", metavar="ACTION")
    jobs.required = True
    p = jobs.add_parser("list", help="list training jobs")
    _client_opts(p)
    p.set_defaults(func=cmd_jobs_list)
    p = jobs.add_parser("describe", help="describe a training job")
    p.add_argument("name")
    _client_opts(p)
    p.set_defaults(func=cmd_jobs_describe)
    for parent, name in ((jobs, "logs"), (sub, "logs")):
        p = parent.add_parser(name, help="print a training job's logs")
        p.add_argument("name")
        p.add_argument("--follow", "-f", action="store_true", help="keep printing until the job ends")
        p.add_argument("--streams", action="store_true", help="prefix each line with its stream")
        p.add_argument("--timeout", type=float, default=86400.0, help="stop following after this many seconds")
        _client_opts(p, json_flag=False)
        p.set_defaults(func=cmd_jobs_logs)
    p = jobs.add_parser("stop", help="stop a training job")
    p.add_argument("name")
    _client_opts(p, json_flag=False)
    p.set_defaults(func=cmd_jobs_stop)

    eps = sub.add_parser("endpoints", help="endpoints").add_subparsers(dest="action", metavar="ACTION")
    eps.required = True
    p = eps.add_parser("list", help="list endpoints")
    _client_opts(p)
    p.set_defaults(func=cmd_endpoints_list)
    p = eps.add_parser("describe", help="describe an endpoint")
    p.add_argument("name")
    _client_opts(p)
    p.set_defaults(func=cmd_endpoints_describe)
    p = eps.add_parser("compare", help="do two variants differ in latency or error rate? (A/B test)")
    p.add_argument("name")
    p.add_argument("--variants", nargs=2, metavar=("A", "B"), help="default: the first two variants")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    _client_opts(p)
    p.set_defaults(func=cmd_endpoints_compare)
    p = eps.add_parser("invoke", help="send one request to an endpoint")
    p.add_argument("name")
    p.add_argument("--body", required=True, help="request body, or @FILE")
    p.add_argument("--content-type", default="text/csv")
    p.add_argument("--accept", default=None)
    _client_opts(p)
    p.set_defaults(func=cmd_endpoints_invoke)
    p = eps.add_parser("logs", help="print an endpoint's model-server logs")
    p.add_argument("name")
    p.add_argument("--variant", help="one variant only")
    p.add_argument("--streams", action="store_true", help="prefix each line with its <variant>/<instance> stream")
    _client_opts(p, json_flag=False)
    p.set_defaults(func=cmd_endpoints_logs)
    p = eps.add_parser("delete", help="delete an endpoint (and its config unless --keep-config)")
    p.add_argument("name")
    p.add_argument("--keep-config", dest="with_config", action="store_false")
    _client_opts(p, json_flag=False)
    p.set_defaults(func=cmd_endpoints_delete)
    from .cli_tuning import add_tuning_commands

    add_tuning_commands(sub, _client_opts)
    return parser


def _explain(exc: BaseException, args: argparse.Namespace) -> tuple[str, int] | None:
    """Map client-side failures to (one line, exit code); None for anything unexpected."""
    if isinstance(exc, CliError):
        return str(exc), exc.exit_code
    try:
        from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError
        from botocore.exceptions import BotoCoreError
    except ImportError:  # pragma: no cover - boto3 is a core dependency
        return None
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code', 'Error')}: {err.get('Message', '')}".rstrip(": "), 1
    if isinstance(exc, EndpointConnectionError):
        return (f"cannot reach the server at {exc.kwargs.get('endpoint_url', '?')} "
                "(is `shipyard server` running? check AWS_ENDPOINT_URL or --endpoint-url)"), 2
    if isinstance(exc, NoCredentialsError):
        return 'no credentials: run eval "$(shipyard env)" first', 2
    if isinstance(exc, BotoCoreError):
        return str(exc), 2
    if isinstance(exc, (OSError, ValueError)):
        return str(exc), 1
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # noqa: BLE001 - the edge: one line, never a traceback
        explained = _explain(exc, args)
        message, code = explained if explained else (f"unexpected error: {type(exc).__name__}: {exc}", 1)
        print(f"shipyard: {message}", file=sys.stderr)
        return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
