"""A model instance of a bring-your-own image: the image's ``serve`` in a container, behind a token check.

SageMaker's contract for a hosting image: run with the argument ``serve``, listen on port 8080, answer
``GET /ping`` (200 when healthy) and ``POST /invocations``; the model is at ``/opt/ml/model``. Here the
container's 8080 is published on a free port of ``127.0.0.1`` only, and this process stands in front of it::

    python -m shipyard.serving.container_instance --engine docker --image <ref> --model-dir <dir> \
        --host 127.0.0.1 --port <port> --token-file <file> [--ready-file <file>] [--pass-env NAME ...] \
        [--limit instance_type=ml.m5.large --limit memory_mb=8192 --limit cpus=2] [--network-isolation]

It starts the container, waits for its ``/ping``, then serves the router's port with the model server's own
HTTP server (:mod:`.httpserver`), which refuses any request without the instance's ``X-Shipyard-Token``, and
forwards the rest to the container: a user's image knows nothing of the token, and without this front any
local process could call the container's published port directly... which is also why that port is bound to
loopback only. To the router (and to a transform job's client) this is an instance like any other.

SIGTERM (DeleteEndpoint, a scale-down, the end of a transform) stops the front, then the container
(``docker stop``); the container's output is this process's, so it lands in the instance's log.

Limits (:mod:`shipyard.containers.limits`): the instance type's memory and vCPUs (``--limit``, what the server
read from the instance-type table) become ``--memory``/``--cpus`` here, on the host that runs the container,
capped at it; GPUs where it has them and a GPU runtime; the user mapping of this process. A container the kernel
OOM-kills answers every later request with a 502 that says so (a transform job fails with that reason).

``--network-isolation`` (the model's ``EnableNetworkIsolation``): the container joins a network of its own
created ``--internal`` (no route out of the machine, no other container on it) and publishes nothing; this
front reaches it at its address on that network, which the host can always route to. The host's own
addresses stay reachable from inside on ports that listen on every address (the engine filters forwarded
traffic, not the host's input); the Shipyard server listens on loopback, which the container cannot reach.

The hosting controller calls :func:`prepare_variant` (None for a variant that is not a bring-your-own image)
and :func:`start_instance`; the transform executor calls :func:`prepare_container` and starts this module in
place of the model server.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import http.client
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..containers.limits import ContainerLimits, Wanted
from ..runners.base import JobHandle, JobSpec
from .deploy import DeployError, fetch_model, free_port, new_token, portable_spec

MODULE = "shipyard.serving.container_instance"
CONTAINER_PORT = 8080
START_TIMEOUT = 300.0  # seconds for the container to publish its port and answer /ping
STOP_GRACE = 5.0  # the container's grace on stop: under the runner's 10 s, so docker stop finishes first
# Request headers not passed on: the connection's own, and the length (http.client sets it for the body).
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "upgrade", "te", "trailer",
        "proxy-authorization", "proxy-connection"}
_TEXT = [("Content-Type", "text/plain; charset=utf-8")]


# --- in the server: which variants are containers, preparing and starting them ---

def container_image_of(containers: list[dict]) -> str | None:
    """The bring-your-own image a model's containers name, or None (a built-in, a framework image, script
    mode through SAGEMAKER_PROGRAM, a pipeline or a multi-model container)."""
    from ..algorithms.registry import (FRAMEWORK_REPOS, NOT_YET_AVAILABLE, builtin_for_image,
                                       is_container_image, repository)

    if len(containers) != 1 or containers[0].get("Mode") == "MultiModel":
        return None
    image = containers[0].get("Image") or ""
    if not image or "SAGEMAKER_PROGRAM" in (containers[0].get("Environment") or {}):
        return None
    repo = repository(image)
    if repo in FRAMEWORK_REPOS or repo in NOT_YET_AVAILABLE or builtin_for_image(image) is not None:
        return None
    return image if is_container_image(image) else None


def prepare_container(objects, container: dict, workdir: Path, gen: int, *, home: Path | None, account: str,
                      region: str, registry_binary: str = "docker-registry", log=print,
                      instance_type: str = "", network_isolation: bool = False) -> dict:
    """Fetch the model artifact into ``<workdir>/model[-<gen>]`` and make the image available to the engine;
    return how to start the instance (``args`` for this module, the image's reference, the engine, and the
    limits of ``instance_type`` and network isolation as arguments: ``limit_args``)."""
    from ..containers.images import ImageUnavailable, engine_for_jobs, engine_reference, ensure_image

    model_dir = fetch_model(objects, container, workdir, gen)
    try:
        engine = engine_for_jobs()
        reference, registry = engine_reference(container["Image"], home, account, region, registry_binary)
        ensure_image(engine, reference, registry, log=log)
    except ImageUnavailable as e:
        raise DeployError(str(e)) from None
    env = dict(container.get("Environment") or {})
    limit_args = [*wanted_by(instance_type).to_args(), *(["--network-isolation"] if network_isolation else [])]
    return {"model_dir": str(model_dir), "env": env, "container_image": reference, "engine": engine.cli,
            "limit_args": limit_args,
            "args": ["--engine", engine.cli, "--image", reference, *pass_env_args(env), *limit_args]}


def wanted_by(instance_type: str) -> Wanted:
    """What an instance of ``instance_type`` asks for (the instance-type table, operator overrides first)."""
    if not instance_type:
        return Wanted()
    from ..instance_types import instance_resources

    per = instance_resources(instance_type)
    return Wanted(instance_type, per.memory_mb, per.cpus, int(per.gpus))


def _model_isolated(services, variant: dict) -> bool:
    """The model's EnableNetworkIsolation: from the variant's snapshot where it recorded it, else the model's
    current document (False when it is gone)."""
    if "network_isolation" in variant:
        return bool(variant["network_isolation"])
    try:
        return bool(services.meta.get("model", variant.get("model") or "").doc.get("EnableNetworkIsolation"))
    except Exception:  # noqa: BLE001 - a deleted model: the snapshot is all there is
        return False


def pass_env_args(names) -> list[str]:
    return [a for n in sorted(names) for a in ("--pass-env", n)]


def prepare_variant(services, variant: dict, variant_dir: Path, gen: int) -> dict | None:
    """What the hosting controller starts for ``variant`` when it is a bring-your-own image, else None."""
    containers = variant.get("containers") or []
    if container_image_of(containers) is None:
        return None
    settings = services.settings
    return prepare_container(services.objects, containers[0], variant_dir, gen, home=Path(settings.home),
                             account=settings.account, region=settings.region,
                             registry_binary=settings.registry_binary or "docker-registry",
                             instance_type=str(variant.get("instance_type") or ""),
                             network_isolation=_model_isolated(services, variant))


# What a transform's model servers are told (transform/executor.py) and the container gets as well.
BATCH_VARIABLES = ("SAGEMAKER_BATCH", "SAGEMAKER_MAX_PAYLOAD_IN_MB", "SAGEMAKER_BATCH_STRATEGY",
                   "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS")


def prepare_for_transform(objects, model_doc: dict, request: dict, workdir: Path, home: Path | None,
                          log=print) -> dict | None:
    """A transform job's model when it is a bring-your-own image (else None): prepared as for an endpoint,
    with ``server_module`` naming this module, which the executor starts in place of the model server."""
    containers = [model_doc["PrimaryContainer"]] if model_doc.get("PrimaryContainer") else \
        (model_doc.get("Containers") or [])
    if container_image_of(containers) is None:
        return None
    from ..containers.images import account_and_region

    account, region = account_and_region(model_doc.get("ModelArn") or "")
    instance_type = str((request.get("TransformResources") or {}).get("InstanceType") or "")
    prepared = prepare_container(objects, containers[0], workdir, 0, home=home, account=account, region=region,
                                 log=log, instance_type=instance_type,
                                 network_isolation=bool(model_doc.get("EnableNetworkIsolation")))
    names = {*prepared["env"], *(request.get("Environment") or {}), *BATCH_VARIABLES}
    prepared["args"] = ["--engine", prepared["engine"], "--image", prepared["container_image"],
                        *pass_env_args(names), *prepared["limit_args"]]
    prepared["server_module"] = MODULE
    return prepared


def is_container_instance(prepared: dict) -> bool:
    return bool(prepared.get("container_image"))


def start_instance(runner, endpoint: str, variant: str, prepared: dict, variant_dir: Path
                   ) -> tuple[JobHandle, dict]:
    """One instance through the runner, as :func:`.deploy.start_instance` starts a model server."""
    port = free_port()
    instance_id = uuid.uuid4().hex[:8]
    token = new_token()
    token_name = f".token-{instance_id}"
    model_dir, args, env, inputs, files = portable_spec(prepared, Path(variant_dir))
    env.update({"SAGEMAKER_ENDPOINT_NAME": endpoint, "SAGEMAKER_VARIANT_NAME": variant})
    command = [sys.executable, "-m", MODULE, "--model-dir", model_dir, "--host", "{host}", "--port", str(port),
               "--token-file", "{workdir}/" + token_name, *args]
    spec = JobSpec(name=f"endpoint/{endpoint}/{variant}/{instance_id}", command=command, env=env,
                   workdir=str(variant_dir), log_path=str(Path(variant_dir) / f"instance-{instance_id}.log"),
                   service=True, files={**files, token_name: token}, inputs=inputs,
                   spread=f"endpoint/{endpoint}/{variant}")
    handle = runner.start(spec)
    return handle, {"id": handle.id, "host": handle.address(), "port": port, "instance": instance_id,
                    "token": token}


# --- in the instance process: the container and the token-checking front ---

class ForwardApp:
    """The front's app: every request, token checked by the server, goes on to the container (in a worker
    thread, each with its own keep-alive connection); the container's answer comes back as it is."""

    def __init__(self, port: int, timeout: float = 600.0, host: str = "127.0.0.1", diagnose=None):
        self.port = port
        self.host = host
        self.timeout = timeout
        self.diagnose = diagnose  # () -> why the container is gone ("" when it is not known to be)
        self._local = threading.local()

    def offload(self, req) -> bool:
        return True  # a blocking round trip: never on the event loop

    def __call__(self, req):
        headers = {k: v for k, v in req.headers.items() if k not in _HOP}
        for attempt in range(2):
            conn = getattr(self._local, "conn", None)
            if conn is None:
                conn = self._local.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                conn.request(req.method, req.path, body=req.body if req.body or req.method == "POST" else None,
                             headers=headers)
                resp = conn.getresponse()
                body = resp.read()
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                self._local.conn = None
                if attempt:  # a kept-alive connection the container closed is retried once on a fresh one
                    why = self.diagnose() if self.diagnose is not None else ""
                    return 502, _TEXT, (why or f"The container did not answer: {e}").encode()
                continue
            if resp.will_close:
                conn.close()
                self._local.conn = None
            out = [(k, v) for k, v in resp.getheaders() if k.lower() not in _HOP]
            return resp.status, out, body
        return 502, _TEXT, b"The container did not answer."


def _ping(port: int, timeout: float = 2.0, host: str = "127.0.0.1") -> bool:
    try:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.request("GET", "/ping")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except (OSError, http.client.HTTPException):
        return False


def _published_port(cli: str, name: str) -> int | None:
    done = subprocess.run([cli, "port", name, f"{CONTAINER_PORT}/tcp"], capture_output=True, timeout=30)
    for line in done.stdout.decode(errors="replace").splitlines():
        host, _, port = line.strip().rpartition(":")
        if host in ("127.0.0.1", "0.0.0.0") and port.isdigit():
            return int(port)
    return None


def _isolated_address(cli: str, name: str) -> tuple[str, int] | None:
    """The container's address on its own (internal) network, and its port 8080 there."""
    done = subprocess.run([cli, "inspect", "--format",
                           "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", name],
                          capture_output=True, timeout=30)
    addresses = done.stdout.decode(errors="replace").split()
    return (addresses[0], CONTAINER_PORT) if done.returncode == 0 and addresses else None


def isolated_network(cli: str, name: str) -> str:
    """Create the container's own ``--internal`` network (no route out of the machine); its name."""
    network = f"{name}-net"
    done = subprocess.run([cli, "network", "create", "--internal", "--label", "shipyard.instance=serve", network],
                          capture_output=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"cannot create the isolated network {network}: "
                           f"{done.stderr.decode(errors='replace').strip()[-500:]}")
    return network


def remove_network(cli: str, network: str) -> None:
    try:
        subprocess.run([cli, "network", "rm", network], capture_output=True, timeout=60)
    except (subprocess.TimeoutExpired, OSError):
        pass


@dataclass
class Running:
    """A started container: the client process, the container's name, where it answers, and its network of
    its own (isolated instances; "" otherwise)."""

    client: subprocess.Popen
    name: str
    host: str
    port: int
    network: str = ""


def start_container(cli: str, image: str, model_dir: str, env: dict[str, str], stopping: threading.Event,
                    timeout: float = START_TIMEOUT, limits: ContainerLimits | None = None,
                    isolated: bool = False) -> Running:
    """Run the image's ``serve`` and wait until its /ping answers 200. Its 8080 is published on loopback, or,
    ``isolated``, reached on the internal network of its own (see the module doc). RuntimeError when it dies
    or times out (the container and its network are removed then)."""
    from ..containers.run import container_name, remove_container, run_command, stop_container

    name = container_name("serve", uuid.uuid4().hex[:12])
    labels = {"shipyard.instance": "serve"}
    if os.environ.get("SAGEMAKER_ENDPOINT_NAME"):  # set by start_instance: `docker ps --filter label=...` finds it
        labels["shipyard.endpoint"] = os.environ["SAGEMAKER_ENDPOINT_NAME"]
    network = isolated_network(cli, name) if isolated else ""
    cmd = run_command(cli, name=name, image=image, command=["serve"],
                      mounts=[(str(Path(model_dir).resolve()), "/opt/ml/model", True)], env_names=env,
                      network=network or None, publish=[] if isolated else [f"127.0.0.1::{CONTAINER_PORT}"],
                      labels=labels, limits=limits, remove=False)
    client = subprocess.Popen(cmd, env={**os.environ, **env}, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        host, port = _wait_ready(cli, name, client, stopping, timeout, isolated)
        return Running(client, name, host, port, network)
    except BaseException:
        stop_container(cli, name, 0)
        client.kill()
        client.wait(timeout=30)
        remove_container(cli, name)
        if network:
            remove_network(cli, network)
        raise


def _wait_ready(cli: str, name: str, client: subprocess.Popen, stopping: threading.Event, timeout: float,
                isolated: bool = False) -> tuple[str, int]:
    deadline = time.monotonic() + timeout
    where: tuple[str, int] | None = None
    delay = 0.05
    while not stopping.is_set():
        if client.poll() is not None:
            raise RuntimeError(f"the container exited with code {client.returncode} before answering /ping")
        if where is None:
            if isolated:
                where = _isolated_address(cli, name)
            else:
                port = _published_port(cli, name)
                where = ("127.0.0.1", port) if port is not None else None
        if where is not None and _ping(where[1], host=where[0]):
            return where
        if time.monotonic() > deadline:
            raise RuntimeError(f"the container did not answer /ping within {timeout:g} s")
        stopping.wait(delay)
        delay = min(delay * 1.5, 0.5)
    raise RuntimeError("stopped while the container was starting")


async def _serve(app: ForwardApp, host: str, port: int, ready_file: str | None, token: bytes | None,
                 stopping: threading.Event) -> None:
    from .httpserver import HttpServer

    workers = int(os.environ.get("SAGEMAKER_MODEL_SERVER_WORKERS") or 16)
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=max(workers, 8), thread_name_prefix="forward")
    server = HttpServer(app, executor, token)
    bound = await server.start(host, port)
    print(f"Container front listening on http://{host}:{bound} -> {app.host}:{app.port}", flush=True)
    if ready_file:
        with open(ready_file + ".tmp", "w") as f:
            f.write(str(bound))
        os.replace(ready_file + ".tmp", ready_file)
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    if stopping.is_set():
        done.set()
    await done.wait()
    await server.stop(grace=STOP_GRACE)
    executor.shutdown(wait=False)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.split("\n")[0])
    p.add_argument("--engine", required=True, help="the container engine's client (docker or podman)")
    p.add_argument("--image", required=True, help="the image, as the engine names it")
    p.add_argument("--model-dir", required=True, help="mounted read-only at /opt/ml/model")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--token-file", help="read (then delete) the secret every request must carry")
    p.add_argument("--ready-file", help="write the bound port here once serving (for port 0)")
    p.add_argument("--pass-env", action="append", default=[], help="a variable of ours the container gets")
    p.add_argument("--limit", action="append", default=[],
                   help="what the instance type asks for, key=value (instance_type, memory_mb, cpus, gpus)")
    p.add_argument("--network-isolation", action="store_true",
                   help="EnableNetworkIsolation: an internal network of its own, nothing published")
    args = p.parse_args(argv)
    from .model_server import read_token

    try:
        token = read_token(args.token_file) if args.token_file else None
    except (OSError, ValueError) as exc:
        print(f"Container instance cannot start: {exc}", file=sys.stderr, flush=True)
        return 1
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    env = {n: os.environ[n] for n in args.pass_env if n in os.environ}
    env["SAGEMAKER_BIND_TO_PORT"] = str(CONTAINER_PORT)
    limits = host_limits(args.engine, Wanted.from_args(args.limit))
    running: Running | None = None
    try:
        running = start_container(args.engine, args.image, args.model_dir, env, stopping, limits=limits,
                                  isolated=args.network_isolation)
        if not stopping.is_set():
            from .httpserver import run_forever

            app = ForwardApp(running.port, host=running.host,
                             diagnose=_diagnose(args.engine, running, limits, Wanted.from_args(args.limit)))
            run_forever(lambda: _serve(app, args.host, args.port, args.ready_file, token, stopping))
        return 0
    except RuntimeError as exc:
        print(f"Container instance failed: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        if running is not None:
            from ..containers.run import remove_container, stop_container

            stop_container(args.engine, running.name, STOP_GRACE)
            try:
                running.client.wait(timeout=30)
            except subprocess.TimeoutExpired:
                running.client.kill()
            remove_container(args.engine, running.name)
            if running.network:
                remove_network(args.engine, running.network)


def host_limits(cli: str, wanted: Wanted) -> ContainerLimits:
    """The container's limits on this host (see :func:`shipyard.containers.limits.for_host`); a GPU note goes to
    the instance's log."""
    from ..containers.engine import find_engine
    from ..containers.limits import for_host
    from ..runners.contract import detect_gpus

    engine = find_engine(cli)
    name = engine.name if engine is not None else "docker"
    return for_host(wanted, cli, name, detect_gpus(), os.environ.get("CUDA_VISIBLE_DEVICES"),
                    lambda note: print(note, file=sys.stderr, flush=True))


def _diagnose(cli: str, running: Running, limits: ContainerLimits, wanted: Wanted):
    """What the front says when the container stops answering: that the kernel killed it at its memory limit
    (once the client has exited and ``docker inspect`` says so), else nothing (the generic 502 text)."""
    from ..containers.limits import out_of_memory_reason
    from ..containers.run import out_of_memory_killed

    def why() -> str:
        try:  # a container killed mid-request: its client needs a moment to see it and exit
            running.client.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return ""
        if limits.memory_mb and out_of_memory_killed(cli, running.name):
            return out_of_memory_reason(limits.memory_mb, wanted.instance_type, what="model server")
        return f"The container exited with code {running.client.returncode}."

    return why


if __name__ == "__main__":
    sys.exit(main())
