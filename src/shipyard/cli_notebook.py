"""``shipyard notebook``: JupyterLab whose kernels already point at this home's Shipyard server.

A notebook is where SageMaker users work; one that needs no set-up cell (no endpoint URL, no keys, no SDK
config) is one that works the first time. The command computes the same variables ``shipyard env`` prints,
starts JupyterLab (the optional ``notebook`` extra) with them in its environment, so every kernel it starts
inherits them, and prints the URL with its login token. It stays in the foreground and ends JupyterLab when
it is itself interrupted or terminated.

While it runs it records the lab in ``<home>/notebook/lab.json`` (mode 0600: the URL carries the login token;
removed when the command exits), so the server of that home, whose console's Notebooks page reads the record
with :func:`read_lab_record`, can link to the lab while it is alive and show the command to start one when not.
The home is the one the command's kernels point at (``--home``, else ``$SHIPYARD_HOME`` or ``~/.shipyard``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from .cli import CliError, _home_keys, local_server

#: How long to wait for JupyterLab to stop after SIGTERM before SIGKILL.
STOP_TIMEOUT_S = 10.0
#: Where a running ``shipyard notebook`` records its lab, under the server's home.
LAB_RECORD = Path("notebook") / "lab.json"


def lab_record_path(home: Path) -> Path:
    return Path(home) / LAB_RECORD


def write_lab_record(home: Path, url: str, pid: int, notebook_dir: Path) -> Path:
    """Record a lab for ``home``'s console: written whole (a reader never sees half a file), mode 0600 from
    the start (the URL's token logs into a lab whose kernels hold the server's keys)."""
    path = lab_record_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    record = {"url": url, "pid": pid, "dir": str(notebook_dir), "started": time.time()}
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(record, f)
    os.replace(tmp, path)
    return path


def remove_lab_record(home: Path, pid: int) -> None:
    """Remove the record if it is still this process's (a second lab started since keeps its own)."""
    path = lab_record_path(home)
    try:
        if json.loads(path.read_text()).get("pid") == pid:
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass


def read_lab_record(home: Path) -> dict | None:
    """The running lab recorded for ``home``, or None: no record, an unreadable one, or one whose process is
    gone (a lab killed without cleaning up), or whose pid now belongs to another program."""
    from .procs import alive, cmdline

    try:
        record = json.loads(lab_record_path(home).read_text())
        pid = int(record["pid"])
        url = str(record["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not alive(pid) or not any("shipyard" in arg for arg in cmdline(pid)):
        return None
    return {**record, "pid": pid, "url": url}


def client_environment(home: Path, host: str | None = None, port: int | None = None) -> dict[str, str]:
    """The variables ``shipyard env`` exports for ``home``: from its running server's ``server.json`` when
    there is one, else the defaults ``shipyard server`` would use."""
    from .cli_lifecycle import write_sdk_config
    from .config import load_settings

    s = load_settings(home=str(home), port=port, host=host)
    info = local_server(s.home)
    if info is not None:
        if port is None:
            s.port = int(info.get("port", s.port))
        if host is None:
            s.host = str(info.get("host", s.host))
        s.region = str(info.get("region", s.region))
    key_id, secret = _home_keys(s.home)
    config = write_sdk_config(s.home)
    return {
        "AWS_ENDPOINT_URL": s.endpoint_url,
        "AWS_ACCESS_KEY_ID": key_id or s.access_key_id,
        "AWS_SECRET_ACCESS_KEY": secret or s.secret_access_key,
        "AWS_DEFAULT_REGION": s.region,
        "AWS_REGION": s.region,
        "SAGEMAKER_USER_CONFIG_OVERRIDE": str(config),
    }


def jupyterlab_command(notebook_dir: Path, ip: str, port: int, token: str) -> list[str]:
    """JupyterLab on ``ip:port``, serving ``notebook_dir``, logging in with ``token`` and never opening a
    browser (the command prints the URL instead). As root (a container's usual user) JupyterLab refuses to
    start unless told that is intended."""
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--ServerApp.ip={ip}",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--ServerApp.root_dir={notebook_dir}",
           f"--IdentityProvider.token={token}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--ServerApp.allow_root=True")
    return cmd


def cmd_notebook(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("jupyterlab") is None:
        raise CliError("JupyterLab is not installed: install the notebook extra "
                       "(pip install 'shipyard[notebook]') and run `shipyard notebook` again", 2)
    from .cli import _home

    home = _home(args)
    if local_server(home) is None:
        print(f"warning: no Shipyard server is running on home {home}; start one with `shipyard server` "
              "before running notebook cells", file=sys.stderr)
    notebook_dir = Path(args.dir).expanduser().resolve()
    if not notebook_dir.is_dir():
        raise CliError(f"--dir {notebook_dir} is not a folder: create it or name an existing one", 2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(client_environment(home))
    token = secrets.token_hex(24)
    proc = subprocess.Popen(jupyterlab_command(notebook_dir, args.ip, args.port, token), env=env,
                            stdin=subprocess.DEVNULL)
    url = f"http://{args.ip}:{args.port}/lab?token={token}"
    print(f"JupyterLab: {url}", flush=True)
    print(f"  notebooks in {notebook_dir}; kernels use the server at {env['AWS_ENDPOINT_URL']}", flush=True)
    try:
        write_lab_record(home, url, os.getpid(), notebook_dir)
    except OSError as exc:  # the lab works without it; only the console's link is missing
        print(f"warning: could not record the lab in {lab_record_path(home)} ({exc}); the console will not "
              "link to it", file=sys.stderr)

    def forward(signum: int, frame: FrameType | None) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    try:
        return proc.wait()
    finally:
        remove_lab_record(home, os.getpid())
        if proc.poll() is None:
            proc.terminate()
            deadline = time.monotonic() + STOP_TIMEOUT_S
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)


def add_notebook_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("notebook", help="start JupyterLab with kernels pointed at the Shipyard server")
    p.add_argument("--dir", default=".", help="folder JupyterLab serves (default: the current folder)")
    p.add_argument("--port", type=int, default=8888, help="JupyterLab's port (default 8888)")
    p.add_argument("--ip", default="127.0.0.1", help="JupyterLab's bind address (default 127.0.0.1)")
    p.add_argument("--home", default=None, help="state folder of the server (default $SHIPYARD_HOME or ~/.shipyard)")
    p.set_defaults(func=cmd_notebook)


def main(argv: list[str] | None = None) -> int:
    """``python -m shipyard.cli_notebook``: the same command without the rest of the CLI."""
    parser = argparse.ArgumentParser(prog="shipyard")
    add_notebook_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["notebook", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args) or 0)
    except CliError as e:
        print(f"shipyard: {e}", file=sys.stderr)
        return e.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
