"""Turning a variant's container definition into running model-server processes.

Three steps the hosting controller calls: :func:`prepare` (fetch and unpack the model artifact and, in
script mode, the source dir), :func:`start_instance` (one model server through the runner, on a free
loopback port) and :func:`wait_ready` (``/ping`` until 200, the process's death, or the timeout).

Each instance gets a secret of its own (:func:`new_token`), handed to its model server through a 0600 file the
server deletes once read (the spec's ``files``, written by the runner) and recorded with the instance
(``inst["token"]``) for the router: the model server refuses every request without it.

Where the model server runs is the runner's business: its spec names no path of the server's. What it reads
from the variant's folder (the unpacked model, a script-mode source dir, a pipeline's stages) goes in the spec's
``inputs`` and its command says ``{workdir}/model`` (:func:`portable_spec`): on the local runner that is the
variant's folder itself (nothing is copied), on Ray a node-local folder the model arrives in through Ray's
object store. Instances of one variant share a ``spread`` key, so a cluster runner places them on different
nodes and losing one node never takes the whole variant down. Why a token over TCP rather than a Unix socket:
an instance may run on another node (the Ray runner), which a socket file cannot reach; and the router's pool,
health checks and the async/transform clients stay one code path. The cost is one header per request.
"""

from __future__ import annotations

import http.client
import os
import secrets
import shutil
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path

from ..algorithms.registry import FRAMEWORK_REPOS, builtin_for_image, repository
from ..domain.paths import safe_join
from ..errors import ArchiveRefused, UnsafePath, ValidationError
from ..io.archives import safe_extract
from ..objectstore.base import parse_s3_uri
from ..runners.base import JobHandle, JobSpec
from ..runners.sandbox import Sandbox, isolation_enabled
from .httpserver import TOKEN_HEADER

DEFAULT_STARTUP_TIMEOUT = 120.0


class DeployError(Exception):
    """Why a variant could not start; becomes the endpoint's FailureReason."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _fetch(objects, uri: str, dest: Path, what: str) -> None:
    """Download ``uri`` into ``dest``: a .tar.gz is unpacked, a prefix is copied as is."""
    bucket, key = parse_s3_uri(uri)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        if key.endswith((".tar.gz", ".tgz", ".tar")):
            with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
                archive = Path(tmp) / "archive.tar.gz"
                objects.download_file(bucket, key, archive)
                safe_extract(archive, dest, what=what.removeprefix("the "))
        else:
            written = objects.download_uri(uri if uri.endswith("/") or not key else uri, dest)
            if not written:
                raise DeployError(f"Could not find {what} at {uri}.")
    except DeployError:
        raise
    except (ArchiveRefused, UnsafePath) as e:  # over a cap, or a name that leaves the folder: the message says which
        raise DeployError(f"Refused {what} from {uri}: {e.message}") from None
    except Exception as e:  # noqa: BLE001 - the user sees why the download failed
        raise DeployError(f"Failed to download {what} from {uri}: {getattr(e, 'message', None) or e}") from None


def fetch_model(objects, container: dict, variant_dir: Path, gen: int) -> Path:
    """Fetch ``container``'s model artifact (``ModelDataUrl``, else ``ModelDataSource``'s S3 URI) into a fresh
    ``<variant_dir>/model[-<gen>]`` and return that folder (empty when the container names no model).

    One folder per generation, because an endpoint update prepares the new generation while the old one's
    instances still serve from theirs. Both the model server's :func:`prepare` and a bring-your-own image's
    (``container_instance.prepare_container``) fetch through here, so they read a container the same way."""
    model_dir = variant_dir / ("model" if gen == 0 else f"model-{gen}")
    if model_dir.exists():
        shutil.rmtree(model_dir)
    model_dir.mkdir(parents=True)
    source = container.get("ModelDataSource", {}).get("S3DataSource") or {}
    url = container.get("ModelDataUrl") or source.get("S3Uri")
    if url:
        _fetch(objects, url, model_dir, "the model artifact")
    return model_dir


def prepare(objects, container: dict, variant_dir: Path, gen: int) -> dict:
    """Fetch the model (and script source) of ``container``; return how to start its model server."""
    model_dir = fetch_model(objects, container, variant_dir, gen)
    env = dict(container.get("Environment") or {})
    program = env.get("SAGEMAKER_PROGRAM")
    image = container.get("Image", "")
    if image:  # built-in handlers match the answers of the image's version (e.g. XGBoost's CSV layout)
        env.setdefault("SHIPYARD_IMAGE", image)
    if program:
        submit = env.get("SAGEMAKER_SUBMIT_DIRECTORY", "/opt/ml/model/code")
        if submit.startswith("s3://"):
            code_dir = variant_dir / ("code" if gen == 0 else f"code-{gen}")
            if code_dir.exists():
                shutil.rmtree(code_dir)
            _fetch(objects, submit, code_dir, "the inference source dir")
        elif submit.startswith("/opt/ml/model"):
            code_dir = model_dir / submit[len("/opt/ml/model"):].lstrip("/")
        else:
            code_dir = Path(submit)
        try:
            script = safe_join(code_dir, program, what="inference script (SAGEMAKER_PROGRAM)")
        except UnsafePath as e:
            raise DeployError(e.message) from None
        if not script.is_file():
            raise DeployError(f"The inference script {program} (SAGEMAKER_PROGRAM) is not in the model's code "
                              f"folder ({submit}).")
        args = ["--script-program", program, "--code-dir", str(code_dir)]
    else:
        algo = builtin_for_image(image) if image else None
        if algo is not None:
            args = ["--handler", algo.handler]
        elif repository(image) in FRAMEWORK_REPOS or (model_dir / "code" / "inference.py").exists():
            args = ["--script-program", "inference.py", "--code-dir", str(model_dir / "code")]
        else:
            raise DeployError(f"Image {image} is not a built-in algorithm image and the model names no "
                              "inference script (set SAGEMAKER_PROGRAM in the container's Environment).")
    return {"model_dir": str(model_dir), "args": args, "env": env}


def new_token() -> str:
    """A per-instance secret: 256 random bits, URL-safe text (it travels as an HTTP header value)."""
    return secrets.token_urlsafe(32)


def write_token_file(path: Path, token: str) -> str:
    """Write ``token`` to ``path``, readable by its owner only (the model server deletes it once read)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token)
    return str(path)


class _Portable:
    """Rewrites paths in the variant's folder as ``{workdir}/<rel>`` and collects, as ``inputs``, the top-level
    entries of the folder they lie in (``model``, ``code-1``, ``pipeline``...)."""

    def __init__(self, variant_dir: Path):
        self.root = os.path.normpath(str(variant_dir))
        self.inputs: dict[str, str] = {}

    def __call__(self, value: str) -> str:
        if not value.startswith("/"):
            return value
        rel = os.path.relpath(os.path.normpath(value), self.root)
        if rel == "." or rel.startswith(".."):
            return value
        top = rel.split(os.sep, 1)[0]
        self.inputs[top] = os.path.join(self.root, top)
        return "{workdir}/" + rel.replace(os.sep, "/")


def portable_spec(prepared: dict, variant_dir: Path) -> tuple[str, list[str], dict[str, str], dict[str, str],
                                                               dict[str, str]]:
    """``prepared`` with every path in ``variant_dir`` as ``{workdir}/...``: (model dir, args, env, inputs,
    files). A pipeline's spec file names its stages' folders: its text is rewritten the same way and sent as a
    file (the local runner keeps the original, which names the same folders)."""
    port = _Portable(variant_dir)
    model_dir = port(prepared["model_dir"])
    args = [port(a) for a in prepared["args"]]
    env = {k: port(v) for k, v in prepared["env"].items()}
    files: dict[str, str] = {}
    if "--pipeline" in prepared["args"]:
        spec_path = prepared["args"][prepared["args"].index("--pipeline") + 1]
        rel = port(spec_path)
        if rel != spec_path:
            text = Path(spec_path).read_text().replace(port.root + os.sep, "{workdir}/")
            files[rel.removeprefix("{workdir}/")] = text
    return model_dir, args, env, port.inputs, files


def _server_sandbox(variant_dir: Path) -> Sandbox | None:
    """A model server's sandbox: its variant's folder at /opt/ml, private /tmp, the home hidden (environments
    read-only). The network stays: the router reaches the server over TCP. None with
    ``SHIPYARD_JOB_ISOLATION=off`` or where the folder lies in no Shipyard home."""
    if not isolation_enabled():
        return None
    from ..environments.builder import root_for
    from ..training.script import home_of

    home = home_of(variant_dir)
    if home is None:
        return None
    return Sandbox(opt_ml="{workdir}", hide=[str(home)], read_only=[str(root_for(home))])


def start_instance(runner, endpoint: str, variant: str, prepared: dict, variant_dir: Path) -> tuple[JobHandle, dict]:
    port = free_port()
    instance_id = uuid.uuid4().hex[:8]
    token = new_token()
    token_name = f".token-{instance_id}"  # written 0600 by the runner where the model server runs
    model_dir, args, env, inputs, files = portable_spec(prepared, Path(variant_dir))
    env.update({"SAGEMAKER_BIND_TO_PORT": str(port), "SM_MODEL_DIR": model_dir,
                "SAGEMAKER_ENDPOINT_NAME": endpoint, "SAGEMAKER_VARIANT_NAME": variant})
    python = prepared.get("python") or sys.executable  # a framework image's environment (serving.containers)
    command = [python, "-m", "shipyard.serving.model_server", "--model-dir", model_dir,
               "--host", "{host}", "--port", str(port), "--token-file", "{workdir}/" + token_name, *args]
    spec = JobSpec(name=f"endpoint/{endpoint}/{variant}/{instance_id}", command=command, env=env,
                   workdir=str(variant_dir), log_path=str(variant_dir / f"instance-{instance_id}.log"),
                   service=True, files={**files, token_name: token}, inputs=inputs,
                   spread=f"endpoint/{endpoint}/{variant}", sandbox=_server_sandbox(Path(variant_dir)))
    handle = runner.start(spec)
    return handle, {"id": handle.id, "host": handle.address(), "port": port, "instance": instance_id,
                    "token": token}


def token_headers(token: str | None) -> dict[str, str]:
    return {TOKEN_HEADER: token} if token else {}


def ping(host: str, port: int, timeout: float = 2.0, token: str | None = None) -> bool:
    try:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.request("GET", "/ping", headers=token_headers(token))
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except (OSError, http.client.HTTPException):
        return False


def wait_ready(handle: JobHandle, host: str, port: int, timeout: float, log_path: str | None = None,
               token: str | None = None) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        code = handle.poll()
        if code is not None:
            raise DeployError(f"The model server exited with code {code} before answering /ping."
                              + _log_tail(log_path))
        if ping(host, port, token=token):
            return
        if time.monotonic() > deadline:
            raise DeployError(f"The model server did not answer /ping within {timeout:g} seconds." +
                              _log_tail(log_path))
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


def _log_tail(log_path: str | None, n: int = 600) -> str:
    if not log_path or not os.path.exists(log_path):
        return ""
    text = Path(log_path).read_text(errors="replace").strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    tail = " | ".join(lines[-3:])
    return f" Last log lines: {tail[-n:]}" if tail else ""


def startup_timeout(variant: dict) -> float:
    value = variant.get("startup_timeout") or os.environ.get("SHIPYARD_ENDPOINT_STARTUP_TIMEOUT")
    try:
        return float(value) if value else DEFAULT_STARTUP_TIMEOUT
    except ValueError:
        raise ValidationError(f"Bad startup timeout {value!r}.") from None
