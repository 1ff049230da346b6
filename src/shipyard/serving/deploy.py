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

Where job isolation is on, a model server runs in a sandbox (:mod:`shipyard.runners.sandbox`) as a training
program does: its variant's folder at ``/opt/ml``, a private ``/tmp``, the home hidden, and the variant's
instance type's memory and CPU share in a cgroup (:class:`ServerIsolation`, recorded with the prepared variant
so a replacement gets the same). The model server runs under :func:`shipyard.runners.sandbox.supervise`, which
starts it inside the sandbox and, when the kernel kills it at its memory limit, leaves the reason
(:func:`out_of_memory_message`) in the instance's log and a ``.reason`` file beside it (:func:`exit_reason`).
A model with ``EnableNetworkIsolation`` also gets no network: its server listens on a Unix socket in its
folder (the one exception to TCP above; its instance's host reads ``unix:<path>``, port 0), which the router,
the health checks and :func:`http_connection` reach from outside its network namespace. A socket file is
reachable on its own host only, so such a variant needs the local runner.
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
from dataclasses import asdict, dataclass
from pathlib import Path

from ..algorithms.registry import FRAMEWORK_REPOS, NEO_REPOS, builtin_for_image, repository
from . import frameworks
from ..domain.paths import safe_join
from ..errors import ArchiveRefused, UnsafePath, ValidationError
from ..io.archives import safe_extract
from ..objectstore.base import parse_s3_uri
from ..runners.base import JobHandle, JobSpec
from ..instance_types import GIB, instance_resources
from ..runners import sandbox as sandboxes
from ..runners.sandbox import Sandbox, isolation_enabled, out_of_memory_reason
from .httpserver import TOKEN_HEADER, UNIX_PREFIX, unix_address

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
    if image and repository(image) in NEO_REPOS:  # a Neo-compiled model: onnxruntime, the original's contract
        return {"model_dir": str(model_dir), "args": _neo_args(image, model_dir), "env": env}
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
        args = frameworks.serving_args(_framework(image), model_dir, code_dir, program) or args
    else:
        algo = builtin_for_image(image) if image else None
        framework_args = frameworks.serving_args(_framework(image), model_dir, None, None) if image else None
        if algo is not None:
            args = ["--handler", algo.handler]
        elif framework_args is not None:
            args = framework_args
        elif repository(image) in FRAMEWORK_REPOS or (model_dir / "code" / "inference.py").exists():
            args = ["--script-program", "inference.py", "--code-dir", str(model_dir / "code")]
        else:
            raise DeployError(f"Image {image} is not a built-in algorithm image and the model names no "
                              "inference script (set SAGEMAKER_PROGRAM in the container's Environment).")
    return {"model_dir": str(model_dir), "args": args, "env": env}


def _neo_args(image: str, model_dir: Path) -> list[str]:
    """The model server's arguments for a Neo inference image: the compiled model.onnx's handler."""
    from .frameworks import onnx

    args = onnx.serving_args(model_dir, None, None)
    if args is None:
        raise DeployError(f"Image {image} serves SageMaker Neo compiled models, but the model artifact holds no "
                          "model.onnx: deploy the artifact of a COMPLETED compilation job "
                          "(DescribeCompilationJob's ModelArtifacts.S3ModelArtifacts).")
    return args


def _framework(image: str) -> str:
    """The framework of a framework image (``pytorch-inference:2.1-cpu-py310`` -> ``pytorch``), else ""."""
    return FRAMEWORK_REPOS.get(repository(image), "") if image else ""


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


@dataclass(frozen=True)
class ServerIsolation:
    """What a variant's model servers may use: the instance type's memory and CPU share (0: no limit) and
    whether they have a network. Recorded in the prepared variant (``prepared["isolation"]``)."""

    instance_type: str = ""
    memory_mb: int = 0
    cpus: float = 0.0
    network: bool = True

    @classmethod
    def for_variant(cls, instance_type: str | None, serverless_memory_mb: int | None = None,
                    network_isolation: bool = False) -> "ServerIsolation":
        """From the variant's ``InstanceType`` (the instance-type table, as a training job's) or a serverless
        variant's ``MemorySizeInMB``, and the model's ``EnableNetworkIsolation``."""
        if instance_type:
            per = instance_resources(instance_type)
            return cls(instance_type, per.memory_mb, per.cpus, not network_isolation)
        return cls("", int(serverless_memory_mb or 0), 0.0, not network_isolation)

    @classmethod
    def from_prepared(cls, prepared: dict) -> "ServerIsolation":
        data = prepared.get("isolation") or {}
        return cls(str(data.get("instance_type") or ""), int(data.get("memory_mb") or 0),
                   float(data.get("cpus") or 0.0), bool(data.get("network", True)))

    def to_dict(self) -> dict:
        return asdict(self)


def larger_instance_type(instance_type: str) -> str:
    """The next size of ``instance_type``'s family with more memory (``ml.m5.large`` -> ``ml.m5.xlarge``), or
    "" when the name says no family and size."""
    import re

    m = re.fullmatch(r"ml\.([a-z0-9]+)\.(medium|large|xlarge|2xlarge|4xlarge|8xlarge)", instance_type or "")
    if not m:
        return ""
    ladder = ["medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge"]
    have = instance_resources(instance_type).memory_mb
    for size in ladder[ladder.index(m.group(2)) + 1:]:
        bigger = f"ml.{m.group(1)}.{size}"
        if instance_resources(bigger).memory_mb > have:
            return bigger
    return ""


def out_of_memory_message(sb: Sandbox, what: str = "model server") -> str:
    """Why a model server died at its memory limit, and which instance type would have room."""
    reason = out_of_memory_reason(sb, what)
    bigger = larger_instance_type(sb.instance_type)
    if bigger:
        gib = instance_resources(bigger).memory_mb / GIB
        reason += f" For example {bigger} ({gib:g} GiB)."
    return reason


def _server_sandbox(variant_dir: Path, isolation: ServerIsolation) -> Sandbox | None:
    """A model server's sandbox: its variant's folder at /opt/ml, private /tmp, the home hidden (environments
    read-only), the instance type's memory and CPU share, and no network under EnableNetworkIsolation. The
    supervisor applies it (``"program"``). None with ``SHIPYARD_JOB_ISOLATION=off`` or where
    the folder lies in no Shipyard home."""
    if not isolation_enabled():
        return None
    from ..environments.builder import root_for
    from ..training.script import home_of

    home = home_of(variant_dir)
    if home is None:
        return None
    return Sandbox(opt_ml="{workdir}", hide=[str(home)], read_only=[str(root_for(home))],
                   network=isolation.network, memory_mb=isolation.memory_mb, cpus=isolation.cpus,
                   instance_type=isolation.instance_type, applies_to="program")


def _network_note(sb: Sandbox | None) -> str:
    """Why ``EnableNetworkIsolation`` is not enforced for a model server here ("" when it is)."""
    if sb is None:
        return ("note: EnableNetworkIsolation is not enforced: job isolation is off on this server "
                "(SHIPYARD_JOB_ISOLATION), so the model server shares the host's network")
    if not sandboxes.network_isolation_available():
        return ("note: EnableNetworkIsolation is not enforced: no network namespace is available on this host, "
                "so the model server shares the host's network")
    return ""


def _note(log_path: Path, message: str) -> None:
    """A line in the instance's log before the runner starts it (the runner appends to the same file)."""
    import logging

    logging.getLogger("shipyard.serving").warning("%s: %s", log_path.name, message)
    try:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "a") as f:
            f.write(message + "\n")
    except OSError:
        pass


def start_instance(runner, endpoint: str, variant: str, prepared: dict, variant_dir: Path) -> tuple[JobHandle, dict]:
    variant_dir = Path(variant_dir)
    isolation = ServerIsolation.from_prepared(prepared)
    sb = _server_sandbox(variant_dir, isolation)
    isolated = sb is not None and not sb.network
    if isolated and getattr(runner, "name", "local") != "local":
        raise DeployError("A model with EnableNetworkIsolation is served through a Unix socket on the server's own "
                          "host, which needs the local runner; this server runs model servers on "
                          f"{runner.name}. Deploy the model without EnableNetworkIsolation, or on a server with "
                          "the local runner.")
    if isolated and "--multi-model" in prepared["args"]:
        raise DeployError("EnableNetworkIsolation is not supported for a multi-model endpoint here: its model "
                          "server downloads the models it is asked for itself, which needs the network. Deploy "
                          "the model without EnableNetworkIsolation.")
    port = 0 if isolated else free_port()
    instance_id = uuid.uuid4().hex[:8]
    token = new_token()
    token_name = f".token-{instance_id}"  # written 0600 by the runner where the model server runs
    log_path = variant_dir / f"instance-{instance_id}.log"
    if not isolation.network and (sb is None or not sandboxes.network_isolation_available()):
        _note(log_path, _network_note(sb))
    model_dir, args, env, inputs, files = portable_spec(prepared, variant_dir)
    env.update({"SAGEMAKER_BIND_TO_PORT": str(port), "SM_MODEL_DIR": model_dir,
                "SAGEMAKER_ENDPOINT_NAME": endpoint, "SAGEMAKER_VARIANT_NAME": variant})
    python = prepared.get("python") or sys.executable  # a framework image's environment (serving.containers)
    command = [python, "-m", "shipyard.serving.model_server", "--model-dir", model_dir,
               "--host", "{host}", "--port", str(port), "--token-file", "{workdir}/" + token_name, *args]
    if isolated:
        command += ["--unix-socket", f"{{workdir}}/.sock-{instance_id}"]
    if sb is not None:  # the supervisor applies the sandbox and says why the server died at its memory limit
        command = sandboxes.supervisor_command(python, command, f"{{workdir}}/instance-{instance_id}.reason",
                                               out_of_memory_message(sb))
    spec = JobSpec(name=f"endpoint/{endpoint}/{variant}/{instance_id}", command=command, env=env,
                   workdir=str(variant_dir), log_path=str(log_path),
                   service=True, files={**files, token_name: token}, inputs=inputs,
                   spread=f"endpoint/{endpoint}/{variant}", sandbox=sb)
    handle = runner.start(spec)
    host = f"{UNIX_PREFIX}{variant_dir / f'.sock-{instance_id}'}" if isolated else handle.address()
    return handle, {"id": handle.id, "host": host, "port": port, "instance": instance_id, "token": token}


def exit_reason(log_path: str | os.PathLike | None) -> str:
    """Why an instance's model server died, as its supervisor recorded it beside its log ("" when it did not
    say: an exit of the server's own, or a signal from outside)."""
    if not log_path:
        return ""
    try:
        return Path(str(log_path)).with_suffix(".reason").read_text().strip()
    except OSError:
        return ""


def token_headers(token: str | None) -> dict[str, str]:
    return {TOKEN_HEADER: token} if token else {}


class UnixHTTPConnection(http.client.HTTPConnection):
    """An ``http.client`` connection over a Unix socket (a model server without network)."""

    def __init__(self, path: str, timeout: float | None = None):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            with unix_address(self.unix_path) as address:
                sock.connect(address)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def http_connection(host: str, port: int, timeout: float | None = None) -> http.client.HTTPConnection:
    """A connection to a model-server instance: ``host`` is an address, or ``unix:<path>`` for a socket."""
    if host.startswith(UNIX_PREFIX):
        return UnixHTTPConnection(host[len(UNIX_PREFIX):], timeout)
    return http.client.HTTPConnection(host, port, timeout=timeout)


def ping(host: str, port: int, timeout: float = 2.0, token: str | None = None) -> bool:
    try:
        conn = http_connection(host, port, timeout)
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
            reason = exit_reason(log_path)
            if reason:
                raise DeployError(reason)
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
