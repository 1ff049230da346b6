"""Multi-model endpoints: one container (``Mode=MultiModel``) serving every ``*.tar.gz`` under an S3 prefix.

Design: each model-server instance plays both roles SageMaker splits between its platform agent and the
container. As the *container* it answers the MME container API (``POST /models {"model_name","url"}``,
``GET /models``, ``GET``/``DELETE /models/<name>``, ``POST /models/<name>/invoke``). As the *agent*, an
``/invocations`` request carrying ``X-Amzn-SageMaker-Target-Model`` (forwarded by the router) loads that
artifact on first use: download ``<ModelDataUrl><TargetModel>`` into the instance's own cache folder,
unpack, build the image's handler on it (built-in algorithm or the model's ``code/inference.py``), then
invoke. A request for a model that is loading waits for it (rather than a 429 the caller must retry).

Cache budget: loaded models are kept in least-recently-used order; after a load, the oldest are unloaded
(and their files removed) while more than ``SHIPYARD_MME_MAX_MODELS`` are loaded or their unpacked size
exceeds ``SHIPYARD_MME_MAX_BYTES`` (a stand-in for memory; default a quarter of RAM). With
``MultiModelConfig.ModelCacheSetting=Disabled`` a model is unloaded after each invocation.

What a model server holds: no store of the server's. It reaches the models through the server's own S3 API
with a key of its own (:mod:`shipyard.domain.job_keys`), read-only on the endpoint's model prefix
(``ModelDataUrl``), as an instance role would give it on AWS: one key per variant and deployment generation,
issued when an instance starts (:func:`model_key_env`, called by the hosting controller), revoked when the
endpoint, the generation or the variant's last instance goes away (:func:`revoke_model_keys`), and pruned at
server start with the other job keys. The server's archive caps reach it in a file beside the models
(``mme.json``), never through the environment a model's ``Environment`` could change.

A script-mode MME of a framework image runs on that image's environment (the controller applies
:func:`.containers.with_environment` to what :func:`prepare_multimodel` returns): every model it loads imports
the framework at the image's version.

A missing TargetModel answers 400 with ``X-Shipyard-Error: ValidationError``; the router re-raises it as a
ValidationError naming the model instead of a ModelError. Loads and first-use requests run in the model
server's worker threads; invocations of a loaded model stay inline on the event loop, as single-model ones.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
import time
import urllib.parse
from collections import OrderedDict
from pathlib import Path

from ..algorithms.registry import FRAMEWORK_REPOS, builtin_for_image, repository
from ..domain import job_keys
from ..domain.paths import safe_join
from ..errors import ArchiveRefused, S3Error, ValidationError
from ..io import archives
from ..io.archives import safe_extract
from ..objectstore.base import is_s3_uri, parse_s3_uri
from .deploy import DeployError, prepare
from .model_server import OFFLOAD_BYTES, ModelApp, load_handler

log = logging.getLogger("shipyard.serving.mme")

TARGET = "x-amzn-sagemaker-target-model"
_JSON = [("Content-Type", "application/json")]
_TEXT = [("Content-Type", "text/plain; charset=utf-8")]
_INVALID = [("Content-Type", "text/plain; charset=utf-8"), ("X-Shipyard-Error", "ValidationError")]
CONFIG_FILE = "mme.json"  # beside the models: the server's archive caps
KEY_KIND = "endpoint-model"  # JobScope.kind of a multi-model server's key; its name is endpoint/variant/gen
_KEY_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")  # taken out at start
_issue_lock = threading.Lock()


# --- the controller side: what the model server needs ---

def prepare_multimodel(services, container: dict, variant_dir: Path, gen: int) -> dict:
    url = container.get("ModelDataUrl") or (container.get("ModelDataSource", {}).get("S3DataSource") or {}).get(
        "S3Uri")
    if not url or not is_s3_uri(url):
        raise DeployError("A MultiModel container needs ModelDataUrl: the S3 prefix holding its *.tar.gz models.")
    env = dict(container.get("Environment") or {})
    image = container.get("Image", "")
    if image:  # framework defaults (PyTorch's default model_fn/input_fn/...) follow the image, as in deploy.prepare
        env.setdefault("SHIPYARD_IMAGE", image)
    program = env.get("SAGEMAKER_PROGRAM")
    submit = env.get("SAGEMAKER_SUBMIT_DIRECTORY", "")
    stripped = {k: v for k, v in container.items() if k not in ("ModelDataUrl", "ModelDataSource", "Mode")}
    if (program and submit.startswith("s3://")) or (not program and builtin_for_image(image) is not None):
        args = prepare(services.objects, stripped, variant_dir, gen)["args"]  # shared code or built-in handler
    elif program or repository(image) in FRAMEWORK_REPOS:
        args = ["--script-program", program or "inference.py"]  # each model brings its own code/ folder
        if submit and not submit.startswith("/opt/ml/model"):
            args += ["--code-dir", submit]
    else:
        raise DeployError(f"Image {image} is not a built-in algorithm image and the model names no inference "
                          "script (set SAGEMAKER_PROGRAM in the container's Environment).")
    root = variant_dir / ("models" if gen == 0 else f"models-{gen}")
    root.mkdir(parents=True, exist_ok=True)
    (root / CONFIG_FILE).write_text(json.dumps({"archive_caps": services.settings.archive_caps()}))
    cache = (container.get("MultiModelConfig") or {}).get("ModelCacheSetting", "Enabled")
    env.update({"SAGEMAKER_MULTI_MODEL": "true", "SHIPYARD_MME_CACHE": cache})
    bucket, key = parse_s3_uri(url)
    model_key = {"name": f"{variant_dir.parent.name}/{variant_dir.name}/{gen}",
                 "read": f"{bucket}/{key.rstrip('/')}/" if key.strip("/") else f"{bucket}/"}
    return {"model_dir": str(root), "args": [*args, "--multi-model", url], "env": env, "model_key": model_key}


def model_key_name(prepared: dict) -> str | None:
    """The name of the key a prepared variant's model servers use (None: not a multi-model server)."""
    spec = prepared.get("model_key")
    return str(spec["name"]) if isinstance(spec, dict) and spec.get("name") else None


def model_key_env(services, prepared: dict) -> dict[str, str]:
    """The ``AWS_*`` variables an instance of ``prepared`` starts with: for a multi-model server, its variant's
    key (issued on first use, shared by the variant's instances) and the server's S3 API; else nothing."""
    name = model_key_name(prepared)
    if name is None:
        return {}
    settings = services.settings
    keys = job_keys.for_home(settings.home)
    with _issue_lock:
        key = keys.for_job(KEY_KIND, name) or keys.issue(job_keys.JobScope(
            kind=KEY_KIND, name=name, read=[str(prepared["model_key"]["read"])], metrics=False))
    return job_keys.aws_env(settings.endpoint_url, settings.region, key)


def revoke_model_keys(services, endpoint: str, variants: set[str] | None = None, keep: set[str] | None = None) -> int:
    """Revoke the keys of ``endpoint``'s model servers (of ``variants`` only, if given), except those named in
    ``keep`` (the generation that goes on serving)."""
    def match(scope: job_keys.JobScope) -> bool:
        parts = scope.name.split("/")
        return (scope.kind == KEY_KIND and parts[0] == endpoint and scope.name not in (keep or set())
                and (variants is None or (len(parts) > 1 and parts[1] in variants)))

    return job_keys.for_home(services.settings.home).revoke_where(match)


# --- the model-server side ---

def _read_config(model_dir: Path) -> dict:
    """``mme.json`` beside the models ({} when absent: a variant prepared by an older server)."""
    try:
        data = json.loads((model_dir / CONFIG_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _store_opener():
    """How this model server reaches the models: the server's S3 API with the variant's own key, taken out of
    the environment before any model code is imported (the models' code has no use for it). A variant
    prepared by an older server names the object store instead (``SHIPYARD_MME_OBJECT_STORE_URL``)."""
    aws = {k: os.environ.pop(k) for k in _KEY_VARIABLES if k in os.environ}
    legacy = os.environ.pop("SHIPYARD_MME_OBJECT_STORE_URL", "")

    def open_store():
        if aws.get("AWS_ACCESS_KEY_ID") and aws.get("AWS_ENDPOINT_URL"):
            from ..objectstore.s3 import S3ObjectStore

            return S3ObjectStore(endpoint_url=aws["AWS_ENDPOINT_URL"],
                                 region=os.environ.get("AWS_REGION") or "us-east-1",
                                 access_key=aws["AWS_ACCESS_KEY_ID"], secret_key=aws.get("AWS_SECRET_ACCESS_KEY"))
        if legacy:
            from ..objectstore import open_objectstore

            return open_objectstore(legacy)
        raise ValidationError("This multi-model server was given no way to reach its models (no key).")

    return open_store


def _default_max_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def _dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


class Loaded:
    __slots__ = ("name", "url", "handler", "size")

    def __init__(self, name: str, url: str, handler, size: int):
        self.name, self.url, self.handler, self.size = name, url, handler, size


class MultiModelApp(ModelApp):
    def __init__(self, handler_kw: dict, prefix: str, open_store, root: Path, max_models: int = 0,
                 max_bytes: int = 0, cache: bool = True):
        super().__init__(None)
        self.handler_kw = handler_kw
        self.prefix = prefix if prefix.endswith("/") else prefix + "/"
        self._open_store = open_store  # () -> ObjectStore, called on the first download
        self._store = None
        self.root = root
        self.max_models = max_models
        self.max_bytes = max_bytes or _default_max_bytes()
        self.cache = cache
        self.models: OrderedDict[str, Loaded] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    @classmethod
    def from_args(cls, args) -> "MultiModelApp":
        root = Path(args.model_dir) / f"instance-{args.port}"
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        kw = {k: v for k, v in (("handler", args.handler), ("program", args.script_program),
                                ("code_dir", args.code_dir)) if v}
        archives.configure(archives.Caps.from_json(_read_config(Path(args.model_dir)).get("archive_caps")))
        return cls(kw, args.multi_model, _store_opener(), root,
                   int(os.environ.get("SHIPYARD_MME_MAX_MODELS", "0") or 0),
                   int(os.environ.get("SHIPYARD_MME_MAX_BYTES", "0") or 0),
                   os.environ.get("SHIPYARD_MME_CACHE", "Enabled") != "Disabled")

    # --- routing ---
    def offload(self, req) -> bool:
        if len(req.body) > OFFLOAD_BYTES:
            return True
        if req.path == "/invocations":
            return req.headers.get(TARGET) not in self.models
        return req.method == "POST" and req.path == "/models"

    def __call__(self, req):
        path, method = req.path, req.method
        if path == "/invocations" and method == "POST":
            target = req.headers.get(TARGET)
            if not target:
                return 400, _INVALID, (b"This is a multi-model endpoint: name the model to invoke with TargetModel "
                                       b"(X-Amzn-SageMaker-Target-Model).")
            return self.invoke_target(target, req)
        if path == "/models" or path.startswith("/models/"):
            return self.container_api(req)
        return super().__call__(req)

    def container_api(self, req):
        path, method = req.path, req.method
        if path == "/models":
            if method == "GET":
                with self._lock:
                    listing = [{"modelName": m.name, "modelUrl": m.url} for m in self.models.values()]
                return 200, _JSON, json.dumps({"models": listing}).encode()
            if method == "POST":
                try:
                    spec = json.loads(req.body or b"{}")
                    name, url = spec["model_name"], spec["url"]
                except (ValueError, KeyError, TypeError):
                    return 400, _TEXT, b'POST /models needs a JSON body {"model_name": ..., "url": ...}.'
                if not isinstance(name, str) or name in ("", ".", ".."):
                    return 400, _TEXT, f"Bad model_name {name!r}.".encode()
                if name in self.models:
                    return 409, _TEXT, f"Model {name} is already loaded.".encode()
                try:
                    self._register(name, url, Path(url))
                except Exception as e:  # noqa: BLE001 - the caller sees why the model cannot load
                    return 500, _TEXT, f"Could not load model {name} from {url}: {e}".encode()
                return 200, _JSON, json.dumps({"status": f'Model "{name}" registered'}).encode()
            return 405, _TEXT, b"Use GET or POST on /models."
        rest = path[len("/models/"):]
        invoke = rest.endswith("/invoke")
        name = urllib.parse.unquote(rest[:-len("/invoke")] if invoke else rest)
        if invoke and method == "POST":
            if name not in self.models:
                return 404, _TEXT, f"Model {name} is not loaded.".encode()
            return self.invoke_target(name, req, load=False)
        with self._lock:
            entry = self.models.get(name)
        if entry is None:
            return 404, _TEXT, f"Model {name} is not loaded.".encode()
        if method == "GET":
            return 200, _JSON, json.dumps({"modelName": entry.name, "modelUrl": entry.url}).encode()
        if method == "DELETE":
            self._unload(name)
            return 200, _JSON, json.dumps({"status": f'Model "{name}" unregistered'}).encode()
        return 405, _TEXT, b"Use GET or DELETE on /models/<name>."

    # --- invoking ---
    def invoke_target(self, name: str, req, load: bool = True):
        with self._lock:
            entry = self.models.get(name)
            if entry is not None:
                self.models.move_to_end(name)
        if entry is None:
            if not load:
                return 404, _TEXT, f"Model {name} is not loaded.".encode()
            try:
                entry = self._load_target(name)
            except ValidationError as e:
                return 400, _INVALID, str(e).encode()
            except Exception as e:  # noqa: BLE001 - a broken artifact is the caller's model error
                log.exception("could not load model %s", name)
                return 500, _TEXT, f"Could not load model {name}: {type(e).__name__}: {e}".encode()
        try:
            return self._invoke_with(entry.handler, req)
        finally:
            if not self.cache:
                self._unload(name, keep_files=True)

    def _invoke_with(self, handler, req):
        app = ModelApp.__new__(ModelApp)  # ModelApp.invoke reads only .handler
        app.handler = handler
        return ModelApp.invoke(app, req)

    # --- loading and eviction ---
    def store(self):
        if self._store is None:
            self._store = self._open_store()
        return self._store

    def _local_dir(self, name: str) -> Path:
        return safe_join(self.root, urllib.parse.quote(name, safe=""), what="TargetModel")

    def _load_target(self, name: str) -> Loaded:
        if name.startswith("/") or ".." in name.split("/"):
            raise ValidationError(f"TargetModel {name!r} is not a relative path under the endpoint's model prefix.")
        with self._lock:
            gate = self._loading.setdefault(name, threading.Lock())
        with gate:  # one download per model; others asking for it wait here
            with self._lock:
                entry = self.models.get(name)
            if entry is not None:
                return entry
            uri = self.prefix + name
            model_dir = self._local_dir(name) / "model"
            if not model_dir.exists():
                self._download(uri, model_dir, name)
            t = time.perf_counter()
            entry = self._register(name, uri, model_dir)
            log.info("loaded model %s in %.3f s (%d bytes)", name, time.perf_counter() - t, entry.size)
            return entry

    def _download(self, uri: str, model_dir: Path, name: str) -> None:
        bucket, key = parse_s3_uri(uri)
        store = self.store()
        try:
            store.head_object(bucket, key)
        except S3Error:
            raise ValidationError(f"Failed to download model data (bucket: {bucket}, key: {key}): TargetModel "
                                  f"{name} was not found under {self.prefix}.") from None
        parent = model_dir.parent
        parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=parent) as tmp:
            archive = Path(tmp) / "model.tar.gz"
            store.download_file(bucket, key, archive)
            staging = Path(tmp) / "model"
            staging.mkdir()
            try:
                safe_extract(archive, staging, what=f"model artifact of TargetModel {name}")
            except ArchiveRefused as e:
                raise ValidationError(f"Failed to load TargetModel {name}: {e.message}") from None
            os.replace(staging, model_dir)

    def _register(self, name: str, url: str, model_dir: Path) -> Loaded:
        handler = load_handler(str(model_dir), **self.handler_kw)
        entry = Loaded(name, url, handler, _dir_bytes(model_dir))
        if not self.cache:
            return entry
        with self._lock:
            self.models[name] = entry
            self.models.move_to_end(name)
            victims = []
            total = sum(m.size for m in self.models.values())
            while len(self.models) > 1 and ((self.max_models and len(self.models) > self.max_models)
                                            or total > self.max_bytes):
                _, old = self.models.popitem(last=False)
                total -= old.size
                victims.append(old)
        for old in victims:
            log.info("evicted model %s (least recently used)", old.name)
            shutil.rmtree(self._local_dir(old.name), ignore_errors=True)
        return entry

    def _unload(self, name: str, keep_files: bool = False) -> None:
        with self._lock:
            self.models.pop(name, None)
        if not keep_files:
            shutil.rmtree(self._local_dir(name), ignore_errors=True)
