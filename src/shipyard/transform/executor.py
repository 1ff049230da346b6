"""Run one transform job: prepare the model, start its model servers, stream the data through, stop them.

    python -m shipyard.transform.executor <job-dir>

Launched through the runner like the training executor, so a transform job is a process of its own (it
survives a server restart and runs on Ray unchanged) and reports through ``status.json``.

The model is prepared as an endpoint's would be (:func:`shipyard.serving.deploy.prepare`; a model with several
``Containers`` as an inference pipeline), and a script-mode model of a framework image runs its model servers
on that image's environment (:func:`shipyard.serving.containers.with_environment`, see
:mod:`shipyard.environments`), its preparation logged into the job's log stream as a training job's is.

It holds no secret of the server's: ``job.json`` carries the job's own key (``aws_env``, scoped to its input,
model and output, see :func:`shipyard.controllers.transform.transform_scope`), and objects are read and
written through the server's S3 API with it. The model servers (the user's inference code) get that key as an
execution role's credentials, none of the server's ``SHIPYARD_*`` secrets or ``AWS_*`` settings, and run
in the job's sandbox (:mod:`shipyard.runners.sandbox`, handed over by the runner in ``SHIPYARD_SANDBOX``) as a
training program does: the home hidden but for the job's folder, no other process visible, each model server
in a cgroup of its own with the instance type's memory and CPU share, and no network when the model says
``EnableNetworkIsolation`` (the servers then listen on Unix sockets in the job's folder). A model server the
kernel kills at its memory limit fails the job with a reason that says so and names a larger instance type.
"""

from __future__ import annotations

import http.client
import itertools
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ..domain.job_file import TransformJobFile
from ..errors import ModelError, ShipyardError
from ..io import archives
from ..objectstore import open_objectstore
from ..training.status import StatusWriter
from .capture import write_capture
from .engine import TransformSpec, run_transform
from ..serving import container_instance as byo
from ..serving.containers import with_environment
from ..runners import sandbox as sandboxes
from ..serving.deploy import (DeployError, UnixHTTPConnection, new_token, out_of_memory_message, prepare,
                              token_headers, write_token_file)
from ..training.script import home_of

READY_TIMEOUT = 120.0


def _private_variable(name: str) -> bool:
    """Variables of the executor's environment a model server never inherits: whatever AWS credentials or
    settings the executor runs with (the job's own key is added back) and the server's secret settings."""
    return name.startswith("AWS_") or bool(_SECRET_SETTING.match(name))


_SECRET_SETTING = re.compile(r"^SHIPYARD_.*(SECRET|ACCESS_KEY|TOKEN|PASSWORD|CREDENTIAL|DATABASE_URL|OBJECT_STORE_URL)")


def open_job_store(job: TransformJobFile):
    """The object store as this job may see it: the server's S3 API with the job's key (``aws_env``). A job
    started by an older server (``object_store_url`` in its job.json) still opens that store."""
    aws = job.aws_env
    if not aws:
        return open_objectstore(job.object_store_url)
    from ..objectstore.s3 import S3ObjectStore

    return S3ObjectStore(endpoint_url=aws["AWS_ENDPOINT_URL"], region=aws.get("AWS_REGION") or "us-east-1",
                         access_key=aws["AWS_ACCESS_KEY_ID"], secret_key=aws["AWS_SECRET_ACCESS_KEY"])


class ModelServers:
    """N model-server processes on loopback (or on Unix sockets in ``workdir``, for a sandbox without network),
    and a thread-safe round-robin ``invoke``.

    ``sandbox`` (placed at ``workdir``) is what each server runs in, with a cgroup of its own; ``wrap`` (the
    older form) turns a model server's command into its isolated form (or returns it as it is)."""

    def __init__(self, args: list[str], count: int, env: dict[str, str], workdir: Path, timeout: float,
                 python: str = sys.executable, wrap=None, module: str = "shipyard.serving.model_server",
                 sandbox: sandboxes.Sandbox | None = None):
        self.wrapped = False
        self.procs: list[subprocess.Popen] = []
        self.ports: list[int] = []
        self.sockets: list[str] = []  # Unix sockets instead of ports: servers without network
        self.launches: list[sandboxes.Launch] = []
        self.sandbox = sandbox
        self.timeout = timeout
        self._local = threading.local()
        self._next = itertools.count()
        self.token = new_token()  # every request carries it: no other local process can use these servers
        for i in range(count):
            ready = workdir / f"server-{i}.port"
            token_file = write_token_file(workdir / f".token-{i}", self.token)
            cmd = [python, "-m", module, *args, "--port", "0",
                   "--ready-file", str(ready), "--token-file", token_file]
            if sandbox is not None and not sandbox.network:
                self.sockets.append(str(workdir / f"server-{i}.sock"))
                cmd += ["--unix-socket", self.sockets[-1]]
            if sandbox is not None:
                launch = sandboxes.wrap(cmd, sandbox, workdir, attach=True)
                for note in launch.notes:
                    _log(note)
                self.launches.append(launch)
                self.wrapped = launch.command != cmd
                proc = subprocess.Popen(launch.command, env=env, start_new_session=True, pass_fds=launch.pass_fds)
                launch.started(proc.pid)  # into its cgroup (the instance type's limits), then it goes on
            else:
                command = wrap(cmd) if wrap is not None else cmd
                self.wrapped = command is not cmd
                proc = subprocess.Popen(command, env=env, start_new_session=True)
            self.procs.append(proc)
            self.ports.append(0)
        deadline = time.monotonic() + READY_TIMEOUT
        for i, proc in enumerate(self.procs):
            ready = workdir / f"server-{i}.port"
            while not ready.exists() or not ready.read_text().strip():
                if proc.poll() is not None:
                    reason = self.out_of_memory(0.0)
                    if reason:
                        raise ShipyardError(reason, code="ClientError")
                    raise ShipyardError(f"ClientError: the model server could not load the model (exit code "
                                        f"{proc.returncode}); see the job's log.", code="ClientError")
                if time.monotonic() > deadline:
                    raise ShipyardError("the model server did not start in time", code="ClientError")
                time.sleep(0.05)
            if not self.sockets:
                self.ports[i] = int(ready.read_text().strip())

    def out_of_memory(self, wait: float = 3.0) -> str:
        """Why the job failed when a server was killed at its memory limit ("" otherwise). A request that lost
        its connection may arrive before the server's end: wait up to ``wait`` seconds for one to end."""
        if self.sandbox is None or not self.launches:
            return ""
        deadline = time.monotonic() + wait
        while all(p.poll() is None for p in self.procs) and time.monotonic() < deadline:
            time.sleep(0.05)
        killed = False
        for proc, launch in zip(self.procs, self.launches):
            if proc.poll() is not None and launch.cgroup is not None:
                killed = launch.finish() or killed
        return out_of_memory_message(self.sandbox) if killed else ""

    def invoke_factory(self, content_type: str, accept: str):
        headers = {"Content-Type": content_type, **token_headers(self.token)}
        if accept:
            headers["Accept"] = accept

        def invoke(body: bytes) -> bytes:
            conns = getattr(self._local, "conns", None)
            if conns is None:
                conns = self._local.conns = {}
            i = next(self._next) % len(self.ports)
            port = self.ports[i] if not self.sockets else i
            for attempt in range(2):
                conn = conns.get(port)
                if conn is None:
                    conn = conns[port] = (UnixHTTPConnection(self.sockets[i], self.timeout) if self.sockets else
                                          http.client.HTTPConnection("127.0.0.1", port, timeout=self.timeout))
                try:
                    conn.request("POST", "/invocations", body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                except (ConnectionError, http.client.HTTPException, OSError):
                    conn.close()
                    conns.pop(port, None)
                    if attempt:
                        raise
                    continue
                if resp.status >= 400:
                    message = data.decode("utf-8", "replace")[:1000]
                    raise ModelError(message, resp.status, message)
                return data
            raise ModelError("unreachable", 500)

        return invoke

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                try:
                    if self.wrapped:  # the wrapper passes one SIGTERM on; its group would get a second
                        p.send_signal(signal.SIGTERM)
                    else:
                        os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        for launch in self.launches:
            launch.finish()  # removes the cgroup (finish is a no-op the second time)


def primary_container(model_doc: dict) -> dict:
    """The container a transform runs: the model's PrimaryContainer, or the first of its Containers."""
    if model_doc.get("PrimaryContainer"):
        return model_doc["PrimaryContainer"]
    containers = model_doc.get("Containers") or []
    if not containers:
        raise ShipyardError(f"Model {model_doc.get('ModelName')} has no container.", code="ClientError")
    return containers[0]


def prepare_model(store, model_doc: dict, workdir: Path, log=print) -> dict:
    """Fetch the model's artifacts and say how to start its model server (as :func:`.containers.prepare_variant`
    does for an endpoint): on its image's environment when it is a script-mode model of a framework image."""
    containers = [model_doc["PrimaryContainer"]] if model_doc.get("PrimaryContainer") else \
        (model_doc.get("Containers") or [])
    if len(containers) > 1:
        from ..serving.pipeline import prepare_pipeline

        # every record runs through the whole chain (Direct mode needs a target container per request)
        prepared = prepare_pipeline(store, containers, workdir / "model", 0, "Serial")
    else:
        prepared = prepare(store, primary_container(model_doc), workdir / "model", 0)
    return with_environment(None, containers[0] if containers else {}, prepared, workdir, log=log,
                            home=home_of(workdir))


def _log(message: str) -> None:
    print(message, flush=True)


def job_sandbox(job: TransformJobFile, workdir: Path) -> sandboxes.Sandbox | None:
    """The sandbox the runner handed over for this job's model servers (``SHIPYARD_SANDBOX``, taken out of the
    environment the servers inherit); None when it gave none (isolation off, or a job from before sandboxes)."""
    given = os.environ.pop(sandboxes.ENV_VAR, "")
    if not given or not job.isolate:
        return None
    return sandboxes.Sandbox.from_json(given)


def isolation_wrapper(job: TransformJobFile, workdir: Path):
    """How a model server's command is wrapped so that the home is hidden but for this job's folder (and the
    environments), and no other process is visible; None when the job does not ask for it. (A job started
    without a sandbox of the runner's: see :func:`job_sandbox`.)"""
    if not job.isolate:
        return None
    from ..training import isolation

    home = home_of(workdir)
    if home is None or not isolation.available():
        _log("note: the model servers run without a private view of the Shipyard home "
             "(no mount namespace available here)")
        return None
    from ..environments.builder import root_for

    environments = root_for(home)

    def wrap(cmd: list[str]) -> list[str]:
        return isolation.wrap(cmd, home, workdir, workdir, environments) or cmd

    return wrap


def main(job_dir: str) -> int:
    workdir = Path(job_dir)
    job = TransformJobFile.read(workdir)
    archives.configure(archives.Caps.from_json(job.archive_caps))  # the server's caps, not our environment
    request = job.request
    status = StatusWriter(workdir)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    servers = None
    sandbox = job_sandbox(job, workdir)
    try:
        store = open_job_store(job)
        status.transition("Preparing", "Downloading the model")
        try:
            # a bring-your-own image: its `serve` in a container behind a token-checking front, in place of
            # the model server (serving/container_instance.py)
            prepared = byo.prepare_for_transform(store, job.model, request, workdir, home_of(workdir), log=_log) \
                or prepare_model(store, job.model, workdir, log=_log)
        except DeployError as e:
            raise ShipyardError(str(e), code="ClientError") from None
        args = ["--model-dir", prepared["model_dir"], *prepared["args"]]
        count = int(request.get("TransformResources", {}).get("InstanceCount", 1))
        max_concurrent = int(request.get("MaxConcurrentTransforms") or 1)
        spec = TransformSpec.from_request(request, max_concurrent * count)
        env = {k: v for k, v in os.environ.items() if not _private_variable(k)}
        env.update(job.aws_env)
        env.update(prepared["env"])
        env.update(request.get("Environment") or {})
        env.update({"SAGEMAKER_BATCH": "true", "SAGEMAKER_MAX_PAYLOAD_IN_MB": str(spec.max_payload_mb),
                    "SAGEMAKER_BATCH_STRATEGY": "MULTI_RECORD" if spec.batch_strategy == "MultiRecord"
                    else "SINGLE_RECORD", "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": str(max_concurrent)})
        timeout = float((request.get("ModelClientConfig") or {}).get("InvocationsTimeoutInSeconds", 600))
        module = prepared.get("server_module")  # a container is its own sandbox: its client is not wrapped
        if module is None and sandbox is not None and not sandbox.network and \
                not sandboxes.network_isolation_available():
            _log("note: EnableNetworkIsolation is not enforced: no network namespace is available on this host, "
                 "so the model servers share the host's network")
        servers = ModelServers(args, count, env, workdir, timeout, prepared.get("python") or sys.executable,
                               wrap=isolation_wrapper(job, workdir) if module is None and sandbox is None else None,
                               module=module or "shipyard.serving.model_server",
                               sandbox=sandbox if module is None else None)
        status.transition("Transforming", "Transforming the input data")
        invoke = servers.invoke_factory(spec.content_type, spec.accept)
        running = servers

        def guarded(body: bytes) -> bytes:
            if stopping.is_set():
                raise ShipyardError("the transform job was stopped", code="Stopped")
            try:
                return invoke(body)
            except (OSError, http.client.HTTPException):  # the server went away: at its memory limit?
                reason = running.out_of_memory()
                if reason:
                    raise ShipyardError(reason, code="ClientError") from None
                raise

        tmp = tempfile.mkdtemp(dir=workdir, prefix="out-")
        stats = run_transform(store, spec, guarded, tmp,
                              on_object=lambda key: print(f"transformed s3 object {key}", flush=True))
        print(f"transform finished: {stats['objects']} objects, {stats['requests']} requests", flush=True)
        if request.get("DataCaptureConfig"):
            name = str(request.get("TransformJobName") or "transform")
            for uri in write_capture(store, request["DataCaptureConfig"], name, stats["inputs"], stats["outputs"]):
                print(f"captured {uri}", flush=True)
        status.finish("Completed", "Completed", message="Transform job completed")
        return 0
    except ShipyardError as e:
        if stopping.is_set():
            status.finish("Stopped", "Stopped", message="Transform job stopped")
            return 0
        print(f"transform failed: {e.message}", flush=True)
        status.finish("Failed", "Failed", failure_reason=f"ClientError: {e.message}"[:1024])
        return 1
    except Exception as e:  # noqa: BLE001 - the job fails with a reason instead of a silent crash
        print(f"transform failed: {type(e).__name__}: {e}", flush=True)
        status.finish("Failed", "Failed", failure_reason=f"InternalServerError: {type(e).__name__}: {e}"[:1024])
        return 1
    finally:
        if servers is not None:
            servers.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
