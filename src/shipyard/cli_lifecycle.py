"""``shipyard server|env|status|stop``: run the local server and manage its lifecycle from the shell.

Split from :mod:`shipyard.cli` (which registers these through :func:`add_lifecycle_commands`): these commands
work on a home folder and its ``server.json`` rather than through a client session alone.
"""

from __future__ import annotations

import argparse
import os
import shlex
import time
from pathlib import Path

from .cli import CliError, _home, _local_session, _paginate, _print_json, local_server

SDK_CONFIG_FILE = "sagemaker-config.yaml"
DEFAULT_SDK_BUCKET = "sagemaker-shipyard"


# -- commands: server / env ----------------------------------------------------------------------------------
def cmd_server(args: argparse.Namespace) -> int:
    from .config import load_settings

    settings = load_settings(home=args.home, host=args.host, port=args.port, runner=args.runner,
                             ray_address=args.ray_address, require_approval=args.require_approval or None)
    from .server.main import CannotListen, HomeInUse, run_server

    try:
        run_server(settings)
    except (HomeInUse, CannotListen) as e:
        raise CliError(str(e), 1) from None
    return 0


def write_sdk_config(home: Path, bucket: str = DEFAULT_SDK_BUCKET) -> Path:
    """The SageMaker Python SDK's config file for this home: telemetry off and a default bucket (so the SDK
    never asks the real STS for an account id). ``shipyard env`` points SAGEMAKER_USER_CONFIG_OVERRIDE at it."""
    path = home / SDK_CONFIG_FILE
    text = ("# Written by `shipyard env`: the SageMaker Python SDK's settings for this Shipyard server.\n"
            "SchemaVersion: '1.0'\n"
            "SageMaker:\n"
            "  PythonSDK:\n"
            "    Modules:\n"
            "      TelemetryOptOut: true\n"
            "      Session:\n"
            f"        DefaultS3Bucket: {bucket}\n")
    home.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    return path


def cmd_env(args: argparse.Namespace) -> int:
    """Exports for clients. The port, host and region come from the running server's ``server.json`` unless
    given as flags; without a running server, from the same defaults ``shipyard server`` would use."""
    from .config import load_settings

    s = load_settings(home=args.home, port=args.port, host=args.host)
    info = local_server(s.home)
    if info is not None:
        if args.port is None:
            s.port = int(info.get("port", s.port))
        if args.host is None:
            s.host = str(info.get("host", s.host))
        s.region = str(info.get("region", s.region))
    config = write_sdk_config(s.home)
    pairs = [("AWS_ENDPOINT_URL", s.endpoint_url), ("AWS_ACCESS_KEY_ID", s.access_key_id),
             ("AWS_SECRET_ACCESS_KEY", s.secret_access_key), ("AWS_DEFAULT_REGION", s.region),
             ("SAGEMAKER_USER_CONFIG_OVERRIDE", str(config))]
    for name, value in pairs:
        print(f"export {name}={shlex.quote(value)}")
    return 0


# -- commands: lifecycle ------------------------------------------------------------------------------------
def _model_processes(home: Path, server_pid: int | None) -> dict[str, list[int]]:
    """Processes the home's server started, by kind (from their command lines)."""
    from .procs import cmdline, shipyard_processes_under

    kinds: dict[str, list[int]] = {"model servers": [], "training": [], "transform": [], "other": []}
    for pid in shipyard_processes_under(home):
        if pid == server_pid:
            continue
        line = " ".join(cmdline(pid))
        if "shipyard.runners._launch" in line:
            continue  # the launcher wrapping each of the processes below
        if "shipyard.serving.model_server" in line and "shipyard.transform" not in line:
            kinds["model servers"].append(pid)
        elif "shipyard.training.executor" in line:
            kinds["training"].append(pid)
        elif "shipyard.transform.executor" in line:
            kinds["transform"].append(pid)
        else:
            kinds["other"].append(pid)
    return kinds


def cmd_status(args: argparse.Namespace) -> int:
    """Is the home's server up; what does it hold. Exit 0 when it runs, 1 when it does not."""
    from collections import Counter

    home = _home(args)
    info = local_server(home)
    if info is None:
        if args.json:
            _print_json({"running": False, "home": str(home)})
        else:
            print(f"Shipyard server: not running (home {home})")
            print("start it with: shipyard server")
        return 1
    session = _local_session(home, info)  # this home's server, whatever AWS_ENDPOINT_URL says
    sm = session.sagemaker_client
    jobs = Counter(j.get("TrainingJobStatus") for j in _paginate(sm, "list_training_jobs", "TrainingJobSummaries"))
    endpoints = Counter(e.get("EndpointStatus") for e in _paginate(sm, "list_endpoints", "Endpoints"))
    transforms = Counter(t.get("TransformJobStatus")
                         for t in _paginate(sm, "list_transform_jobs", "TransformJobSummaries"))
    procs = _model_processes(home, info.get("pid"))
    started = info.get("started")
    if args.json:
        _print_json({"running": True, "pid": info.get("pid"), "url": info.get("endpoint_url"), "home": str(home),
                     "started": started, "training_jobs": dict(jobs), "endpoints": dict(endpoints),
                     "transform_jobs": dict(transforms),
                     "processes": {k: len(v) for k, v in procs.items()}})
        return 0

    def counts(c: Counter) -> str:
        return f"{sum(c.values())}" + (f" ({', '.join(f'{n} {k}' for k, n in sorted(c.items()))})" if c else "")

    uptime = f", up {_uptime(time.time() - started)}" if isinstance(started, (int, float)) else ""
    rows = [("Shipyard server", f"running, pid {info.get('pid')}{uptime}"),
            ("URL", info.get("endpoint_url", "-")), ("Home", str(home)),
            ("Training jobs", counts(jobs)), ("Endpoints", counts(endpoints)),
            ("Transform jobs", counts(transforms)),
            ("Processes", ", ".join(f"{len(v)} {k}" for k, v in procs.items() if v or k != "other"))]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key.ljust(width)}  {value}")
    return 0


def _uptime(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def cmd_stop(args: argparse.Namespace) -> int:
    """Stop the home's server (SIGTERM, then SIGKILL after --timeout); --all also ends what it started."""
    import signal

    from .procs import alive, kill_pids, shipyard_processes_under

    home = _home(args)
    info = local_server(home)
    if info is not None:
        pid = int(info["pid"])
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + args.timeout
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
        print(f"stopped the Shipyard server (pid {pid})")
    elif not args.all:
        print(f"no Shipyard server is running on home {home}")
        return 0
    if args.all:
        pids = kill_pids(shipyard_processes_under(home))
        print(f"stopped {len(pids)} process{'es' if len(pids) != 1 else ''} it started (jobs, model servers)")
    elif info is not None:
        left = sum(len(v) for v in _model_processes(home, None).values())
        if left:
            print(f"{left} job or model-server process{'es' if left != 1 else ''} left running "
                  "(the next `shipyard server` picks them up; `shipyard stop --all` ends them)")
    return 0


def add_lifecycle_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("server", help="run the Shipyard server")
    p.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default 7070)")
    p.add_argument("--home", default=None, help="state folder (default $SHIPYARD_HOME or ~/.shipyard)")
    p.add_argument("--runner", choices=["local", "ray"], default=None, help="where jobs run (default local)")
    p.add_argument("--ray-address", default=None, help="Ray cluster address for --runner ray")
    p.add_argument("--require-approval", action="store_true", default=False,
                   help="refuse to deploy a model package that is not Approved (default: $SHIPYARD_REQUIRE_APPROVAL)")
    p.set_defaults(func=cmd_server)

    p = sub.add_parser("env", help='print AWS_* variables for clients: eval "$(shipyard env)"')
    p.add_argument("--home", default=None)
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.set_defaults(func=cmd_env)

    p = sub.add_parser("status", help="is the local server running? its pid, URL, jobs, endpoints, processes")
    p.add_argument("--home", default=None, help="state folder (default $SHIPYARD_HOME or ~/.shipyard)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("stop", help="stop the local server (--all: and every job and model server it started)")
    p.add_argument("--home", default=None, help="state folder (default $SHIPYARD_HOME or ~/.shipyard)")
    p.add_argument("--all", action="store_true", help="also end its training jobs, model servers, transforms")
    p.add_argument("--timeout", type=float, default=15.0, help="seconds to wait before SIGKILL (default 15)")
    p.set_defaults(func=cmd_stop)
