"""Running one container the way SageMaker runs a bring-your-own image, and stopping it the SageMaker way.

:func:`run_command` builds ``docker run [--rm] --name <name> ...``: mounts, environment variables passed by name
(``-e NAME``: the values travel in the client's environment, never on a command line that ``ps`` shows), the
network, GPUs, the limits (:class:`.limits.ContainerLimits`: memory, CPUs, GPUs, user), published ports, then
the image and its command (``train`` or ``serve``).

``python -m shipyard.containers.run --engine <cli> --name <name> --grace <s> -- <docker run ...>`` is the small
supervisor a job's executor starts in place of a training program: the container's output streams through
it, its exit status is the container's, and SIGTERM (StopTrainingJob, MaxRuntimeInSeconds) becomes ``docker stop
-t <grace>``, SIGTERM to the container's PID 1 then SIGKILL. A signal sent to the ``docker run`` client alone
would not do: a killed client leaves its container running. The executor's own stop logic needs no change.

A training container runs without ``--rm`` so that, once it has exited, the supervisor can read
``State.OOMKilled`` (with ``--rm`` the container may be gone before anyone asks): with ``--oom-file`` it writes
``--oom-reason`` there (the job's ``/opt/ml/output/failure``, which the executor turns into the FailureReason)
when the kernel killed the container at its memory limit; then it removes the container.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable, Mapping

from .limits import ContainerLimits

# What the supervisor keeps back of the executor's grace period for the client's own exit: docker stop waits
# ``grace`` for the container, then kills it; the executor kills the supervisor at ``grace`` itself.
GRACE_MARGIN = 2.0


def container_name(kind: str, name: str, suffix: str = "") -> str:
    """A container name (``[a-zA-Z0-9][a-zA-Z0-9_.-]+``) for a job or instance: ``shipyard-<kind>-<name>``."""
    safe = "".join(c if (c.isascii() and c.isalnum()) or c in "_.-" else "-"
                   for c in f"{name}{'-' + suffix if suffix else ''}")
    return f"shipyard-{kind}-{safe}"[:200]


def run_command(cli: str, *, name: str, image: str, command: Iterable[str] = (),
                mounts: Iterable[tuple[str, str, bool]] = (), env_names: Iterable[str] = (),
                network: str | None = None, gpus: int | str = 0, publish: Iterable[str] = (),
                labels: Mapping[str, str] | None = None, limits: ContainerLimits | None = None,
                remove: bool = True) -> list[str]:
    """The ``docker run`` command line (see the module doc). ``mounts`` are (host path, container path,
    read-only); ``publish`` entries are ``docker run -p`` values (``127.0.0.1::8080``); ``gpus`` a count or a
    ``--gpus`` value, unless ``limits`` names GPUs; ``remove=False`` keeps the exited container for
    ``docker inspect`` (the supervisor removes it)."""
    cmd = [cli, "run", *(["--rm"] if remove else []), "--name", name]
    for host, inside, read_only in mounts:
        cmd += ["--mount", f"type=bind,source={host},target={inside}" + (",readonly" if read_only else "")]
    for env_name in sorted(set(env_names)):
        cmd += ["-e", env_name]
    if network:
        cmd += ["--network", network]
    if limits is not None:
        cmd += limits.flags()
    if gpus and not (limits is not None and limits.gpus) and str(gpus) != "0":
        cmd += ["--gpus", str(gpus)]
    for p in publish:
        cmd += ["-p", p]
    for key, value in sorted((labels or {}).items()):
        cmd += ["--label", f"{key}={value}"]
    return [*cmd, image, *command]


def stop_container(cli: str, name: str, grace: float, timeout: float | None = None) -> None:
    """``docker stop -t <grace> <name>``: SIGTERM to the container, SIGKILL after ``grace`` s (no error if gone)."""
    secs = max(0, int(grace))
    try:
        subprocess.run([cli, "stop", "-t", str(secs), name], capture_output=True,
                       timeout=timeout if timeout is not None else secs + 30)
    except (subprocess.TimeoutExpired, OSError):
        subprocess.run([cli, "kill", name], capture_output=True, timeout=30)


def out_of_memory_killed(cli: str, name: str, timeout: float = 30.0) -> bool:
    """Whether the (exited, not removed) container ``name`` was killed by the kernel at its memory limit."""
    try:
        done = subprocess.run([cli, "inspect", "--format", "{{.State.OOMKilled}}", name], capture_output=True,
                              timeout=timeout)
    except (subprocess.TimeoutExpired, OSError):
        return False
    return done.returncode == 0 and done.stdout.strip() == b"true"


def remove_container(cli: str, name: str, timeout: float = 60.0) -> None:
    """``docker rm -f <name>`` (no error if it is gone, e.g. run with ``--rm``)."""
    try:
        subprocess.run([cli, "rm", "-f", name], capture_output=True, timeout=timeout)
    except (subprocess.TimeoutExpired, OSError):
        pass


def _report_oom(cli: str, name: str, oom_file: str, oom_reason: str) -> bool:
    if not (oom_file and out_of_memory_killed(cli, name)):
        return False
    print(oom_reason, file=sys.stderr, flush=True)
    try:
        with open(oom_file, "w") as f:
            f.write(oom_reason)
    except OSError as e:
        print(f"cannot write {oom_file}: {e}", file=sys.stderr, flush=True)
    return True


def supervise(cli: str, name: str, grace: float, command: list[str], oom_file: str = "",
              oom_reason: str = "") -> int:
    """Run ``command`` (a ``docker run``), turning SIGTERM/SIGINT into one ``docker stop``; the exit status is
    the client's (the container's own, or 125-127 when the engine could not start it). Once it has exited:
    an OOM kill reported (see the module doc), and the container removed."""
    try:
        return _supervise(cli, name, grace, command, oom_file, oom_reason)
    finally:
        remove_container(cli, name)


def _supervise(cli: str, name: str, grace: float, command: list[str], oom_file: str, oom_reason: str) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    # Its own process group: a signal to ours is not proxied into the container a second time by the client.
    client = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)
    stopped = False
    while True:
        rc = client.poll()
        if rc is not None:
            if rc != 0 and not stopped:
                _report_oom(cli, name, oom_file, oom_reason)
            return rc
        if stopped:
            try:
                return client.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                continue
        if stop.wait(0.2):  # wakes at once on the signal, else checks the client five times a second
            stopped = True
            stop_container(cli, name, max(0.0, grace - GRACE_MARGIN))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m shipyard.containers.run", description=__doc__.split("\n")[0])
    p.add_argument("--engine", required=True, help="the engine's client (docker or podman)")
    p.add_argument("--name", required=True, help="the container's name, as in the docker run command")
    p.add_argument("--grace", type=float, default=30.0, help="seconds from SIGTERM to SIGKILL")
    p.add_argument("--oom-file", default="", help="where to write --oom-reason if the container is OOM-killed")
    p.add_argument("--oom-reason", default="", help="the text for --oom-file")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- docker run ...")
    args = p.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        p.error("no docker run command given")
    return supervise(args.engine, args.name, args.grace, command, args.oom_file, args.oom_reason)


if __name__ == "__main__":
    sys.exit(main())
