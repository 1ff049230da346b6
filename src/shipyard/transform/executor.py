"""Run one transform job: prepare the model, start its model servers, stream the data through, stop them.

    python -m shipyard.transform.executor <job-dir>

Launched through the runner like the training executor, so a transform job is a process of its own (it
survives a server restart and runs on Ray unchanged) and reports through ``status.json``.

The model is prepared as an endpoint's would be (:func:`shipyard.serving.deploy.prepare`; a model with several
``Containers`` as an inference pipeline), and a script-mode model of a framework image runs its model servers
on that image's environment (:func:`shipyard.serving.containers.with_environment`, see
:mod:`shipyard.environments`), its preparation logged into the job's log stream as a training job's is.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ..errors import ModelError, ShipyardError
from ..objectstore import open_objectstore
from ..training.status import JOB_FILE, StatusWriter
from .engine import TransformSpec, run_transform
from ..serving.containers import with_environment
from ..serving.deploy import DeployError, new_token, prepare, token_headers, write_token_file
from ..training.script import home_of

READY_TIMEOUT = 120.0


class ModelServers:
    """N model-server processes on loopback, and a thread-safe round-robin ``invoke``."""

    def __init__(self, args: list[str], count: int, env: dict[str, str], workdir: Path, timeout: float,
                 python: str = sys.executable):
        self.procs: list[subprocess.Popen] = []
        self.ports: list[int] = []
        self.timeout = timeout
        self._local = threading.local()
        self._next = itertools.count()
        self.token = new_token()  # every request carries it: no other local process can use these servers
        for i in range(count):
            ready = workdir / f"server-{i}.port"
            token_file = write_token_file(workdir / f".token-{i}", self.token)
            cmd = [python, "-m", "shipyard.serving.model_server", *args, "--port", "0",
                   "--ready-file", str(ready), "--token-file", token_file]
            self.procs.append(subprocess.Popen(cmd, env=env, start_new_session=True))
            self.ports.append(0)
        deadline = time.monotonic() + READY_TIMEOUT
        for i, proc in enumerate(self.procs):
            ready = workdir / f"server-{i}.port"
            while not ready.exists() or not ready.read_text().strip():
                if proc.poll() is not None:
                    raise ShipyardError(f"ClientError: the model server could not load the model (exit code "
                                        f"{proc.returncode}); see the job's log.", code="ClientError")
                if time.monotonic() > deadline:
                    raise ShipyardError("the model server did not start in time", code="ClientError")
                time.sleep(0.05)
            self.ports[i] = int(ready.read_text().strip())

    def invoke_factory(self, content_type: str, accept: str):
        headers = {"Content-Type": content_type, **token_headers(self.token)}
        if accept:
            headers["Accept"] = accept

        def invoke(body: bytes) -> bytes:
            conns = getattr(self._local, "conns", None)
            if conns is None:
                conns = self._local.conns = {}
            port = self.ports[next(self._next) % len(self.ports)]
            for attempt in range(2):
                conn = conns.get(port)
                if conn is None:
                    conn = conns[port] = http.client.HTTPConnection("127.0.0.1", port, timeout=self.timeout)
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
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


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


def main(job_dir: str) -> int:
    workdir = Path(job_dir)
    job = json.loads((workdir / JOB_FILE).read_text())
    request = job["request"]
    status = StatusWriter(workdir)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    servers = None
    try:
        store = open_objectstore(job["object_store_url"])
        status.transition("Preparing", "Downloading the model")
        try:
            prepared = prepare_model(store, job["model"], workdir, log=_log)
        except DeployError as e:
            raise ShipyardError(str(e), code="ClientError") from None
        args = ["--model-dir", prepared["model_dir"], *prepared["args"]]
        count = int(request.get("TransformResources", {}).get("InstanceCount", 1))
        max_concurrent = int(request.get("MaxConcurrentTransforms") or 1)
        spec = TransformSpec.from_request(request, max_concurrent * count)
        env = dict(os.environ)
        env.update(prepared["env"])
        env.update(request.get("Environment") or {})
        env.update({"SAGEMAKER_BATCH": "true", "SAGEMAKER_MAX_PAYLOAD_IN_MB": str(spec.max_payload_mb),
                    "SAGEMAKER_BATCH_STRATEGY": "MULTI_RECORD" if spec.batch_strategy == "MultiRecord"
                    else "SINGLE_RECORD", "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": str(max_concurrent)})
        timeout = float((request.get("ModelClientConfig") or {}).get("InvocationsTimeoutInSeconds", 600))
        servers = ModelServers(args, count, env, workdir, timeout, prepared.get("python") or sys.executable)
        status.transition("Transforming", "Transforming the input data")
        invoke = servers.invoke_factory(spec.content_type, spec.accept)

        def guarded(body: bytes) -> bytes:
            if stopping.is_set():
                raise ShipyardError("the transform job was stopped", code="Stopped")
            return invoke(body)

        tmp = tempfile.mkdtemp(dir=workdir, prefix="out-")
        stats = run_transform(store, spec, guarded, tmp,
                              on_object=lambda key: print(f"transformed s3 object {key}", flush=True))
        print(f"transform finished: {stats['objects']} objects, {stats['requests']} requests", flush=True)
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
