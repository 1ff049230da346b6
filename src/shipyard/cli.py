"""``shipyard``: start the server, print the client environment, and look at jobs and endpoints.

Start-up stays light (argparse only); boto3 and the server are imported by the command that needs them.
Client commands talk to a server through boto3 only, so they work against AWS too. Where: ``--endpoint-url``,
else the server running on an explicit ``--home``, else ``$AWS_ENDPOINT_URL``, else the server running on
the default home (found through ``<home>/server.json``, signed with the home's key pair); with none of these
they stop and say so rather than fall through to AWS (``--aws`` asks for boto3's own endpoints: AWS).
Errors become one line on stderr: exit 1 for an error the server answered, exit 2 when it cannot be reached
or the command line is wrong.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

# What a resource is called in "not found" messages, by the noun of the boto3 operation that missed it.
RESOURCE_NOUNS = {"TrainingJob": "training job", "Endpoint": "endpoint", "Model": "model",
                  "TransformJob": "transform job", "EndpointConfig": "endpoint configuration",
                  "HyperParameterTuningJob": "tuning job"}
TERMINAL = ("Completed", "Failed", "Stopped")


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


# -- the local server ---------------------------------------------------------------------------------------
def _home(args: argparse.Namespace) -> Path:
    from .config import default_home

    home = getattr(args, "home", None)
    return Path(home).expanduser() if home else default_home()


def _read_server_json(home: Path) -> dict | None:
    from .procs import alive

    try:
        info = json.loads((home / "server.json").read_text())
    except (OSError, ValueError):
        return None
    pid = info.get("pid")
    if not isinstance(pid, int) or not alive(pid):
        return None
    return info


def _starting_pid(home: Path) -> int | None:
    """The pid of a server that holds the home's lock but has not written server.json yet (it is starting)."""
    from .procs import alive, cmdline

    try:
        pid = int((home / "server.lock").read_text().strip())
    except (OSError, ValueError):
        return None
    if not alive(pid) or not any("shipyard" in a for a in cmdline(pid)):
        return None
    return pid


def local_server(home: Path, wait: float = 30.0) -> dict | None:
    """``<home>/server.json`` of a server that still runs (its pid is alive), else None. A server that is
    still starting (right after ``shipyard server &``) is waited for, up to ``wait`` seconds, until it answers."""
    import urllib.request

    info = _read_server_json(home)
    if info is not None or _starting_pid(home) is None:
        return info
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and _starting_pid(home) is not None:
        info = _read_server_json(home)
        if info is not None:
            try:
                with urllib.request.urlopen(f"{info['endpoint_url']}/shipyard/health", timeout=1):
                    return info
            except OSError:
                pass
        time.sleep(0.1)
    return _read_server_json(home)


def _home_keys(home: Path) -> tuple[str, str]:
    """The key pair clients of this home's server sign with (the same overrides the server applies)."""
    try:
        data = json.loads((home / "credentials.json").read_text())
    except (OSError, ValueError):
        data = {}
    return (os.environ.get("SHIPYARD_ACCESS_KEY_ID", data.get("access_key_id", "")),
            os.environ.get("SHIPYARD_SECRET_ACCESS_KEY", data.get("secret_access_key", "")))


# -- boto3 access ------------------------------------------------------------------------------------------
def _session(args: argparse.Namespace) -> Any:
    """boto3 clients for: --endpoint-url, else the running server of an explicit --home, else
    $AWS_ENDPOINT_URL, else the running server of the default home; --aws for boto3's own defaults (AWS).
    Never AWS by accident."""
    from .sdk.session import Session

    region = getattr(args, "region", None)
    url = getattr(args, "endpoint_url", None)
    if not url and not getattr(args, "home", None):
        url = os.environ.get("AWS_ENDPOINT_URL")
    if url or getattr(args, "aws", False):
        return Session(endpoint_url=url, region=region)
    home = _home(args)
    info = local_server(home)
    if info is None:
        raise CliError(f"no Shipyard server is running on home {home} (no live {home / 'server.json'}): start "
                       "one with `shipyard server`, or set AWS_ENDPOINT_URL / --endpoint-url for another "
                       "server (--aws for AWS itself)", 2)
    return _local_session(home, info, region)


def _local_session(home: Path, info: dict, region: str | None = None) -> Any:
    from .sdk.session import Session

    key_id, secret = _home_keys(home)
    return Session(endpoint_url=info.get("endpoint_url"), access_key_id=key_id, secret_access_key=secret,
                   region=region or info.get("region"))


def _paginate(client: Any, op: str, key: str, **kwargs: Any) -> list[dict]:
    items: list[dict] = []
    for page in client.get_paginator(op).paginate(**kwargs):
        items.extend(page.get(key, []))
    return items


# -- commands: training jobs ------------------------------------------------------------------------------
def _list_jobs(args: argparse.Namespace, kind: str) -> int:
    """Training or transform jobs (``kind``: "Training" / "Transform"), newest first, as a table or JSON."""
    jobs = _paginate(_session(args).sagemaker_client, f"list_{kind.lower()}_jobs", f"{kind}JobSummaries",
                     SortBy="CreationTime", SortOrder="Descending")
    if args.json:
        _print_json(jobs)
        return 0
    rows = []
    for j in jobs:
        end, start = j.get(f"{kind}EndTime"), j.get("CreationTime")
        took = f"{(end - start).total_seconds():.0f}s" if end and start else "-"
        rows.append([j[f"{kind}JobName"], j.get(f"{kind}JobStatus"), start, took])
    print(table(["NAME", "STATUS", "CREATED", "DURATION"], rows))
    return 0


def cmd_jobs_list(args: argparse.Namespace) -> int:
    return _list_jobs(args, "Training")


def cmd_jobs_describe(args: argparse.Namespace) -> int:
    desc = _session(args).sagemaker_client.describe_training_job(TrainingJobName=args.name)
    if not args.full:  # the metric regexes the SDK adds for built-ins are a wall of text nobody reads here
        spec = desc.get("AlgorithmSpecification")
        if isinstance(spec, dict) and "MetricDefinitions" in spec:
            desc = {**desc, "AlgorithmSpecification": {k: v for k, v in spec.items() if k != "MetricDefinitions"}}
    _print_json(desc) if args.json else _print_describe(desc)
    return 0


def log_text(message: str) -> str:
    """A CloudWatch log message for a terminal: SageMaker's logs render TAB as ``#011`` (syslog escaping,
    which Shipyard keeps so AWS's metric regexes match); people read tabs."""
    return message.rstrip().replace("#011", "\t")


def cmd_jobs_logs(args: argparse.Namespace) -> int:
    from .sdk.logs import LogTailer

    session = _session(args)
    sm = session.sagemaker_client
    sm.describe_training_job(TrainingJobName=args.name)  # a clear error for an unknown job
    tailer = LogTailer(session.logs_client, args.name)
    deadline = time.monotonic() + args.timeout

    def show() -> None:
        for stream, event in tailer.poll():
            prefix = f"[{stream.split('/', 1)[-1]}] " if args.streams else ""
            print(prefix + log_text(event.get("message", "")), flush=True)

    while True:
        show()
        if not args.follow:
            return 0
        desc = sm.describe_training_job(TrainingJobName=args.name)
        status = desc["TrainingJobStatus"]
        if status in TERMINAL:
            time.sleep(0.5)  # the server appends the last lines as it records the end
            show()
            reason = f": {desc['FailureReason']}" if desc.get("FailureReason") and status != "Completed" else ""
            print(f"==> {args.name}: {status}{reason}", flush=True)
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
    from botocore.exceptions import ClientError

    try:
        variants = [args.variant] if args.variant else sorted(
            {s["logStreamName"].split("/", 1)[0]
             for s in session.logs_client.describe_log_streams(logGroupName=group)["logStreams"]})
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        raise CliError(f"no logs for endpoint '{args.name}' (log group {group} does not exist)") from None
    for variant in variants:
        for stream, event in LogTailer(session.logs_client, variant, log_group=group).poll():
            prefix = f"[{stream}] " if args.streams else ""
            print(prefix + log_text(event.get("message", "")), flush=True)
    return 0


def cmd_endpoints_delete(args: argparse.Namespace) -> int:
    sm = _session(args).sagemaker_client
    config = sm.describe_endpoint(EndpointName=args.name).get("EndpointConfigName")
    sm.delete_endpoint(EndpointName=args.name)
    if args.with_config and config:
        sm.delete_endpoint_config(EndpointConfigName=config)
    print(f"deleting {args.name}")
    return 0


# -- commands: models -----------------------------------------------------------------------------------------
def cmd_models_list(args: argparse.Namespace) -> int:
    models = _paginate(_session(args).sagemaker_client, "list_models", "Models", SortBy="CreationTime",
                       SortOrder="Descending")
    if args.json:
        _print_json(models)
        return 0
    print(table(["NAME", "CREATED"], [[m["ModelName"], m.get("CreationTime")] for m in models]))
    return 0


def cmd_models_describe(args: argparse.Namespace) -> int:
    desc = _session(args).sagemaker_client.describe_model(ModelName=args.name)
    _print_json(desc) if args.json else _print_describe(desc)
    return 0


def cmd_models_delete(args: argparse.Namespace) -> int:
    _session(args).sagemaker_client.delete_model(ModelName=args.name)
    print(f"deleted {args.name}")
    return 0


# -- commands: transform jobs ---------------------------------------------------------------------------------
def cmd_transform_list(args: argparse.Namespace) -> int:
    return _list_jobs(args, "Transform")


def cmd_transform_describe(args: argparse.Namespace) -> int:
    desc = _session(args).sagemaker_client.describe_transform_job(TransformJobName=args.name)
    _print_json(desc) if args.json else _print_describe(desc)
    return 0


def cmd_transform_stop(args: argparse.Namespace) -> int:
    _session(args).sagemaker_client.stop_transform_job(TransformJobName=args.name)
    print(f"stopping {args.name}")
    return 0


# -- parser -------------------------------------------------------------------------------------------------
def _client_opts(p: argparse.ArgumentParser, json_flag: bool = True) -> None:
    p.add_argument("--endpoint-url", help="server URL (default: the server running on --home, else "
                                          "$AWS_ENDPOINT_URL, else the server running on the default home)")
    p.add_argument("--home", default=None, help="talk to the server running on this state folder (default "
                                                "$SHIPYARD_HOME or ~/.shipyard when AWS_ENDPOINT_URL is unset)")
    p.add_argument("--aws", action="store_true", help="talk to AWS itself (boto3's default endpoints)")
    p.add_argument("--region", help="region (default: $AWS_DEFAULT_REGION or us-east-1)")
    if json_flag:
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="shipyard", description="A SageMaker-compatible ML platform.")
    parser.add_argument("--version", action="version", version=f"shipyard {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    from .cli_lifecycle import add_lifecycle_commands

    add_lifecycle_commands(sub)

    jobs = sub.add_parser("jobs", help="training jobs").add_subparsers(dest="action", metavar="ACTION")
    jobs.required = True
    p = jobs.add_parser("list", help="list training jobs")
    _client_opts(p)
    p.set_defaults(func=cmd_jobs_list)
    p = jobs.add_parser("describe", help="describe a training job")
    p.add_argument("name")
    p.add_argument("--full", action="store_true", help="include AlgorithmSpecification.MetricDefinitions")
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

    models = sub.add_parser("models", help="models").add_subparsers(dest="action", metavar="ACTION")
    models.required = True
    p = models.add_parser("list", help="list models")
    _client_opts(p)
    p.set_defaults(func=cmd_models_list)
    for name, func, helptext in (("describe", cmd_models_describe, "describe a model"),
                                 ("delete", cmd_models_delete, "delete a model")):
        p = models.add_parser(name, help=helptext)
        p.add_argument("name")
        _client_opts(p, json_flag=name == "describe")
        p.set_defaults(func=func)

    tr = sub.add_parser("transform", help="batch transform jobs").add_subparsers(dest="action", metavar="ACTION")
    tr.required = True
    p = tr.add_parser("list", help="list transform jobs")
    _client_opts(p)
    p.set_defaults(func=cmd_transform_list)
    for name, func, helptext in (("describe", cmd_transform_describe, "describe a transform job"),
                                 ("stop", cmd_transform_stop, "stop a transform job")):
        p = tr.add_parser(name, help=helptext)
        p.add_argument("name")
        _client_opts(p, json_flag=name == "describe")
        p.set_defaults(func=func)
    from .cli_tuning import add_tuning_commands

    add_tuning_commands(sub, _client_opts)
    from .cli_images import add_images_commands

    add_images_commands(sub)
    from .cli_registry import add_registry_commands

    add_registry_commands(sub, _client_opts)
    from .cli_pipelines import add_pipelines_commands

    add_pipelines_commands(sub, _client_opts)
    from .cli_lineage import add_lineage_commands

    add_lineage_commands(sub, _client_opts)
    from .cli_experiments import add_experiments_commands

    add_experiments_commands(sub, _client_opts)
    from .cli_notebook import add_notebook_commands

    add_notebook_commands(sub)
    from .cli_users import add_users_commands

    add_users_commands(sub)
    from .cli_usage import add_usage_commands

    add_usage_commands(sub)
    from .cli_monitor import add_monitor_commands

    add_monitor_commands(sub, _client_opts)
    from .cli_wrangle import add_wrangle_commands

    add_wrangle_commands(sub, _client_opts)
    from .cli_cleanup import add_cleanup_commands

    add_cleanup_commands(sub, _client_opts)
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
        text = f"{err.get('Code', 'Error')}: {err.get('Message', '')}".rstrip(": ")
        missing = _not_found(exc, args)
        return (f"{missing} ({text})" if missing else text), 1
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


def _not_found(exc: Any, args: argparse.Namespace) -> str | None:
    """'Could not find training job 'x'' for a miss on the resource the command names, whatever the service's
    wording (SageMaker says only "Requested resource not found." for some kinds)."""
    name = getattr(args, "name", None)
    op = str(getattr(exc, "operation_name", "") or "")
    message = str(exc.response.get("Error", {}).get("Message", "")).lower()
    if not name or not any(w in message for w in ("not found", "could not find", "does not exist", "can't find")):
        return None
    for verb in ("Describe", "Delete", "Stop", "Update", "List"):
        if op.startswith(verb):
            noun = RESOURCE_NOUNS.get(op[len(verb):].removesuffix("s"))
            if noun:
                return f"Could not find {noun} '{name}'"
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
    # `python -m shipyard.cli`: run the imported module's main, so that this module and the command modules
    # that import it (cli_lifecycle, ...) share one CliError class rather than __main__'s copy.
    from shipyard.cli import main as _main

    sys.exit(_main())
