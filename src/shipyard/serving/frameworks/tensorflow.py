"""Serving a TensorFlow SavedModel as SageMaker's TensorFlow Serving container does.

SageMaker's ``tensorflow-inference`` image runs TensorFlow Serving behind nginx: ``/invocations`` takes TF
Serving's REST predict request and answers TF Serving's response. No TF Serving binary exists here, so this
handler implements that REST contract in-process on ``tf.saved_model.load``:

* **The model**: the first ``saved_model.pb`` layout TF Serving accepts under the model folder:
  ``<model>/<version>/saved_model.pb`` (the model is named after the folder, ``model``), ``<name>/<version>/...``
  (several named models: ``SAGEMAKER_TFS_DEFAULT_MODEL_NAME`` picks one, else the first by name), and, beyond
  TF Serving, a bare ``<model>/saved_model.pb`` (version 0). The highest version is served, as TF Serving does.
* **Requests** (``application/json``): ``{"instances": [...]}`` (row format) -> ``{"predictions": [...]}``,
  ``{"inputs": ...}`` (columnar) -> ``{"outputs": ...}``; ``signature_name`` (default ``serving_default``);
  ``{"b64": "..."}`` values for string tensors. As the container's nginx layer does, a JSON body without those
  keys becomes instances (``[[...], ...]`` as is, anything else as one instance), several JSON values on
  separate lines (``application/jsonlines``, or JSON Lines sent as JSON) become one instance each, and
  ``text/csv`` lines become one instance each (several columns -> a list). Answers are ``application/json``.
* **Errors**: a request that does not fit the signature (unknown input, wrong shape, bad JSON) is a 400 whose
  message says what was expected, as TF Serving's ``{"error": ...}``; the model server never dies of one.
* **``code/inference.py``** (in the model artifact, where the SDK's ``TensorFlowModel(entry_point=...)`` puts
  it): ``input_handler(data, context)`` / ``output_handler(response, context)``, or ``handler(data,
  context)``, called as the container's ``python_service`` calls them: ``data`` is a file-like body,
  ``context`` the container's ``Context`` tuple, the response object has ``status_code``, ``content``,
  ``text``, ``json()``. ``context.rest_uri`` is a real TF Serving REST URL (a loopback server started only
  for a ``handler`` that posts to it itself). Exceptions raised by the user's code answer 500 with
  ``{"error": ...}``, as the container does. ``code/requirements.txt`` is not installed (the container
  pip-installs it at start); ``code/lib`` is put on ``sys.path`` as the container does.

:func:`serving_args` is what :mod:`shipyard.serving.frameworks` calls for a TensorFlow image.
"""

from __future__ import annotations

import base64
import collections
import importlib.util
import io
import json
import logging
import os
import re
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

try:  # the model server may run on a framework image's environment: standard library, NumPy, Shipyard only
    import orjson
except ImportError:  # pragma: no cover - depends on the image's environment
    orjson = None  # type: ignore[assignment]

from ...algorithms.base import InferenceHandler
from ...errors import ValidationError

log = logging.getLogger("shipyard.serving.tensorflow")

HANDLER = "shipyard.serving.frameworks.tensorflow:TensorFlowServingHandler"
DEFAULT_SIGNATURE = "serving_default"
JSON_TYPES = ("application/json", "application/jsonlines", "application/jsons", "application/x-jsonlines")
CSV_TYPES = ("text/csv",)

# The container's python_service Context (sagemaker-tensorflow-serving-container, tfs_utils.py)
Context = collections.namedtuple(
    "Context", "model_name, model_version, method, rest_uri, grpc_port, channel, custom_attributes, "
               "request_content_type, accept_header, content_length")


def serving_args(model_dir: Path, code_dir: Path | None, program: str | None) -> list[str] | None:
    """The model server's arguments for a TensorFlow image's model: this module's handler, unless the model
    folder holds no SavedModel and the user's script is an inference-toolkit one (``model_fn``), which the
    generic script handler serves."""
    # --code-dir: where deploy put SAGEMAKER_SUBMIT_DIRECTORY's code; the model server hands it to a handler
    # class with ``accepts_code_dir`` (else the handler looks in <model>/code, where the SDK puts it)
    code = ["--code-dir", str(code_dir)] if code_dir else []
    if find_saved_models(Path(model_dir)):
        return ["--handler", HANDLER, *code]
    script = Path(code_dir or Path(model_dir) / "code") / (program or "inference.py")
    try:
        if "def model_fn" in script.read_text(errors="replace"):
            return None
    except OSError:
        pass
    return ["--handler", HANDLER, *code]  # it says clearly that no SavedModel was found


class ServingError(ValidationError):
    """A request TF Serving would refuse (400), with its message."""


class UserCodeError(Exception):
    """The user's inference.py raised: the container answers 500 with ``{"error": ...}``."""

    status_code = 500


def _base(ctype: str) -> str:
    return (ctype or "").split(";", 1)[0].strip().lower()


# --- finding the SavedModel -------------------------------------------------------------------------------
def find_saved_models(model_dir: Path) -> dict[str, dict[int, Path]]:
    """{model name: {version: folder}} for every SavedModel under ``model_dir`` (``code/`` skipped)."""
    models: dict[str, dict[int, Path]] = {}
    root = Path(model_dir)
    if not root.is_dir():
        return models
    default_name = root.name or "model"
    for pb in sorted(root.rglob("saved_model.pb")):
        folder = pb.parent
        rel = folder.relative_to(root).parts
        if rel and rel[0] == "code":
            continue
        if not rel:  # <model>/saved_model.pb: not a TF Serving layout, accepted as version 0
            models.setdefault(default_name, {})[0] = folder
        elif rel[-1].isdigit():
            name = rel[-2] if len(rel) >= 2 else default_name
            models.setdefault(name, {})[int(rel[-1])] = folder
        else:  # <model>/<name>/saved_model.pb: a named model without a version folder
            models.setdefault(rel[-1], {})[0] = folder
    return models


def choose_model(models: dict[str, dict[int, Path]], wanted: str | None = None) -> tuple[str, int, Path]:
    if not models:
        raise FileNotFoundError(
            "No TensorFlow SavedModel in the model artifact: TensorFlow Serving expects "
            "model.tar.gz to hold <version>/saved_model.pb (e.g. save it with model.export(SM_MODEL_DIR + '/1') "
            "or tf.saved_model.save(model, SM_MODEL_DIR + '/1')).")
    if wanted:
        if wanted not in models:
            raise FileNotFoundError(f"SAGEMAKER_TFS_DEFAULT_MODEL_NAME={wanted!r} names no model in the artifact; "
                                    f"models found: {', '.join(sorted(models))}.")
        name = wanted
    else:
        name = sorted(models)[0]
    version = max(models[name])
    return name, version, models[name][version]


# --- the REST contract ------------------------------------------------------------------------------------
def _decode_b64(value: Any) -> Any:
    """``{"b64": "..."}`` -> bytes, anywhere in a nested value."""
    if isinstance(value, dict):
        if set(value) == {"b64"}:
            try:
                return base64.b64decode(value["b64"])
            except (ValueError, TypeError) as e:
                raise ServingError(f"Invalid b64 value: {e}") from None
        return {k: _decode_b64(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_b64(v) for v in value]
    return value


def _jsonable(value: np.ndarray) -> Any:
    if value.dtype.kind in ("S", "O"):
        def text(x):
            if isinstance(x, bytes):
                try:
                    return x.decode("utf-8")
                except UnicodeDecodeError:
                    return {"b64": base64.b64encode(x).decode()}
            return x
        return np.vectorize(text, otypes=[object])(value).tolist() if value.size else value.tolist()
    return value.tolist()


def _dumps(obj: Any) -> bytes:
    if orjson is not None:
        try:
            return orjson.dumps(obj)
        except TypeError:  # beyond orjson (an int over 64 bits): the standard library
            pass
    return json.dumps(obj, separators=(",", ":")).encode()


def _loads(body: bytes | str) -> Any:
    """orjson for speed; the standard library for what only it takes (NaN, Infinity, as TF Serving does)."""
    if orjson is not None:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    return json.loads(body)


class SavedModelServer:
    """One loaded SavedModel answering TF Serving REST predict requests (bytes in, (status, bytes) out)."""

    def __init__(self, path: Path, name: str = "model", version: int = 0):
        import tensorflow as tf

        self.tf = tf
        self.name, self.version, self.path = name, version, Path(path)
        self.model = tf.saved_model.load(str(path))
        self.signatures = dict(self.model.signatures)
        if not self.signatures:
            raise ValueError(f"The SavedModel at {path} has no signatures: export it with a serving_default "
                             "signature (Keras model.export(...) or tf.saved_model.save(..., signatures=...)).")
        self._specs = {key: self._inputs_of(fn) for key, fn in self.signatures.items()}

    @staticmethod
    def _inputs_of(fn) -> dict[str, Any]:
        _, kwargs = fn.structured_input_signature
        return dict(kwargs)

    def signature(self, name: str | None):
        name = name or DEFAULT_SIGNATURE
        fn = self.signatures.get(name)
        if fn is None:
            raise ServingError(f"Serving signature name: \"{name}\" not found in signature def; the model's "
                               f"signatures: {', '.join(sorted(self.signatures))}.")
        return name, fn

    def _tensor(self, name: str, value: Any, spec) -> Any:
        tf = self.tf
        try:
            if spec.dtype == tf.string:
                arr = np.array(value, dtype=object)
                return tf.constant(arr.tolist() if arr.ndim else value, dtype=tf.string)
            arr = np.asarray(value, dtype=spec.dtype.as_numpy_dtype)
        except (ValueError, TypeError) as e:
            raise ServingError(f"Input '{name}' is not a {spec.dtype.name} tensor: {e}") from None
        if not spec.shape.is_compatible_with(arr.shape):
            raise ServingError(f"Input '{name}' has shape {list(arr.shape)}, the signature expects "
                               f"{_shape_text(spec.shape)} (dtype {spec.dtype.name}).")
        return tf.constant(arr)

    def _call(self, fn, specs: dict[str, Any], columns: dict[str, Any]) -> dict[str, np.ndarray]:
        missing = sorted(set(specs) - set(columns))
        extra = sorted(set(columns) - set(specs))
        if missing or extra:
            raise ServingError(f"The request's inputs {sorted(columns)} do not match the signature's inputs "
                               f"{sorted(specs)}" + (f" (missing {missing})" if missing else "")
                               + (f" (unknown {extra})" if extra else "") + ".")
        tensors = {k: self._tensor(k, v, specs[k]) for k, v in columns.items()}
        try:
            out = fn(**tensors)
        except (self.tf.errors.InvalidArgumentError, ValueError, TypeError) as e:
            text = getattr(e, "message", None) or str(e)
            raise ServingError(f"The model could not run on the request: {text.strip().splitlines()[0]}") from None
        if not isinstance(out, dict):
            out = {"output_0": out}
        return {k: np.asarray(v.numpy() if hasattr(v, "numpy") else v) for k, v in out.items()}

    def predict(self, request: dict, b64: bool = True) -> dict:
        """A TF Serving REST ``:predict`` body (parsed) -> its response body (a dict). ``b64=False``: the body
        holds no ``{"b64": ...}`` values (no need to walk every value looking for them)."""
        if not isinstance(request, dict):
            raise ServingError("The request must be a JSON object with \"instances\" or \"inputs\".")
        has_instances, has_inputs = "instances" in request, "inputs" in request
        if has_instances == has_inputs:
            raise ServingError("JSON Value: the request must hold exactly one of \"instances\" (row format) "
                               "or \"inputs\" (columnar format).")
        _, fn = self.signature(request.get("signature_name"))
        specs = self._specs[request.get("signature_name") or DEFAULT_SIGNATURE]
        if has_instances:
            instances = _decode_b64(request["instances"]) if b64 else request["instances"]
            if not isinstance(instances, list):
                raise ServingError("\"instances\" must be a JSON list (one entry per instance).")
            if not instances:
                raise ServingError("\"instances\" is empty: send at least one instance.")
            columns = self._rows_to_columns(instances, specs)
            out = self._call(fn, specs, columns)
            return {"predictions": self._columns_to_rows(out, len(instances))}
        inputs = _decode_b64(request["inputs"]) if b64 else request["inputs"]
        if isinstance(inputs, dict) and (len(specs) != 1 or set(inputs) <= set(specs)):
            columns = inputs
        elif len(specs) == 1:
            columns = {next(iter(specs)): inputs}
        else:
            raise ServingError(f"\"inputs\" must be an object naming the signature's inputs {sorted(specs)}.")
        out = self._call(fn, specs, columns)
        if len(out) == 1:
            return {"outputs": _jsonable(next(iter(out.values())))}
        return {"outputs": {k: _jsonable(v) for k, v in sorted(out.items())}}

    @staticmethod
    def _rows_to_columns(instances: list, specs: dict[str, Any]) -> dict[str, list]:
        named = all(isinstance(i, dict) for i in instances)
        if len(specs) == 1 and not (named and all(set(i) == set(specs) for i in instances)):
            return {next(iter(specs)): instances}
        if not named:
            raise ServingError(f"The signature has several inputs {sorted(specs)}: each instance must be an object "
                               "naming them.")
        columns: dict[str, list] = {}
        for i, instance in enumerate(instances):
            if set(instance) != set(specs):
                raise ServingError(f"Instance {i} names inputs {sorted(instance)}; the signature's inputs are "
                                   f"{sorted(specs)}.")
            for key, value in instance.items():
                columns.setdefault(key, []).append(value)
        return columns

    @staticmethod
    def _columns_to_rows(out: dict[str, np.ndarray], n: int) -> list:
        for key, value in out.items():
            if value.ndim == 0 or value.shape[0] != n:
                raise ServingError(f"Output '{key}' has shape {list(value.shape)}: its first dimension is not the "
                                   f"batch of {n} instances, so it cannot answer in row format; send \"inputs\".")
        if len(out) == 1:
            return _jsonable(next(iter(out.values())))
        keys = sorted(out)
        columns = {k: _jsonable(out[k]) for k in keys}
        return [{k: columns[k][i] for k in keys} for i in range(n)]

    def rest(self, body: bytes | str) -> tuple[int, bytes]:
        """A REST ``:predict`` call: (HTTP status, JSON body), errors as TF Serving's ``{"error": ...}``."""
        try:
            request = _loads(body or b"null")
        except ValueError as e:
            return 400, _dumps({"error": f"JSON Parse error: {e}"})
        raw = body.encode() if isinstance(body, str) else body
        try:
            return 200, _dumps(self.predict(request, b64=b'"b64"' in raw))
        except ServingError as e:
            return 400, _dumps({"error": e.message})


def _shape_text(shape) -> str:
    return "[" + ", ".join("-1" if d is None else str(d) for d in shape.as_list()) + "]" \
        if shape.rank is not None else "any shape"


# --- what the container's nginx layer does to non-TFS bodies (tensorflow-serving.js) -----------------------
_TFS_KEYS = re.compile(r'"(instances|inputs|examples)"\s*:')
_JSON_LINES = re.compile(r"[}\]]\s*[\[{]")
_NEEDS_QUOTES = re.compile(r'^\s*("|[\d.Ee+\-]+.*)')


def to_tfs_request(body: bytes, content_type: str) -> bytes:
    """The TF Serving request the container makes of a body: JSON as is or wrapped in ``instances``, JSON Lines
    one instance a line, CSV one instance a line. A 415 for other types."""
    ctype = _base(content_type) or "application/json"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ServingError(f"The {ctype} body is not UTF-8 text.") from None
    if ctype in JSON_TYPES:
        if _TFS_KEYS.search(text):
            return body
        lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
        if _JSON_LINES.search(text) and len(lines) > 1:
            return ('{"instances":[' + ",".join(lines) + "]}").encode()
        data = text if re.match(r"^\s*\[\s*\[", text) else "[" + text + "]"
        return ('{"instances":' + data + "}").encode()
    if ctype in CSV_TYPES:
        return csv_to_tfs(text)
    err = ServingError(f"Unsupported Media Type: {content_type or 'Unknown'}; the TensorFlow Serving container "
                       f"accepts application/json, application/jsonlines and text/csv (or define "
                       f"input_handler in code/inference.py).")
    err.http_status = 415
    raise err


def csv_to_tfs(text: str) -> bytes:
    """tensorflow-serving.js's csv_request: each line one instance; numbers stay numbers, other fields become
    quoted strings; a line of several columns becomes a list."""
    needs_quotes = not _NEEDS_QUOTES.match(text)
    rows = []
    for line in text.strip().splitlines():
        line = line.strip()
        if not line:
            continue
        fields = line.split(",")
        if needs_quotes:
            values: list[Any] = [f.strip().strip('"') for f in fields]
        else:
            try:
                values = [json.loads(f) for f in fields]
            except ValueError:
                raise ServingError(f"CSV line {line[:80]!r} is not numeric (start the body with a quote for "
                                   "string fields).") from None
        rows.append(values if len(values) > 1 else values[0])
    if not rows:
        raise ServingError("The text/csv body holds no rows.")
    return _dumps({"instances": rows})


# --- the container's python_service, for code/inference.py ----------------------------------------------
class TFSResponse:
    """What ``requests.post(context.rest_uri, ...)`` gives ``output_handler``: status, content, json()."""

    def __init__(self, status: int, content: bytes):
        self.status_code = status
        self.content = content
        self.headers = {"Content-Type": "application/json"}
        self.ok = status < 400

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


class _RestServer:
    """A loopback TF Serving REST endpoint (``/v1/models/<name>[/versions/<v>]:predict``), for a user
    ``handler`` that posts to ``context.rest_uri`` itself. Started only when such a handler exists."""

    def __init__(self, server: SavedModelServer):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        model = server

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if not self.path.endswith(":predict"):
                    status, out = 404, _dumps({"error": f"Only :predict is served here, not {self.path}."})
                else:
                    status, out = model.rest(body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):  # quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, name="tfs-rest", daemon=True).start()


class _Body(io.BytesIO):
    """The request body as the container hands it to input_handler (a stream with ``read()``)."""


class TensorFlowServingHandler(InferenceHandler):
    """The model server's handler for a TensorFlow image: TF Serving's REST contract on ``/invocations``."""

    default_accept = "application/json"
    accepts_code_dir = True  # TensorFlowServingHandler(model_dir, code_dir)

    def __init__(self, model_dir: str, code_dir: str | None = None):
        super().__init__(model_dir)
        models = find_saved_models(Path(model_dir))
        name, version, path = choose_model(models, os.environ.get("SAGEMAKER_TFS_DEFAULT_MODEL_NAME") or None)
        log.info("serving TensorFlow SavedModel %s version %s from %s", name, version, path)
        self.server = SavedModelServer(path, name, version)
        self.rest_port = 8501
        self._rest_server: _RestServer | None = None
        self.input_handler = self.output_handler = self.user_handler = None
        self._load_user_code(Path(code_dir) if code_dir else Path(model_dir) / "code")

    def _load_user_code(self, code_dir: Path) -> None:
        script = code_dir / os.environ.get("SAGEMAKER_PROGRAM", "inference.py")
        if not script.is_file():
            return
        for extra in (code_dir / "lib", code_dir):  # as the container does: code/lib on the path
            if extra.is_dir() and str(extra) not in sys.path:
                sys.path.insert(0, str(extra))
        spec = importlib.util.spec_from_file_location("inference", script)
        if spec is None or spec.loader is None:
            raise ImportError(f"Cannot load {script}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        self.user_handler = getattr(module, "handler", None)
        self.input_handler = getattr(module, "input_handler", None)
        self.output_handler = getattr(module, "output_handler", None)
        if self.user_handler is None and (self.input_handler is None) != (self.output_handler is None):
            raise ValueError(f"{script.name} must define both input_handler and output_handler, or handler.")
        if self.user_handler is not None:
            self._rest_server = _RestServer(self.server)
            self.rest_port = self._rest_server.port
        log.info("using %s from %s", "handler" if self.user_handler else
                 "input_handler/output_handler" if self.input_handler else "no handlers", script)

    def context(self, content_type: str, accept: str, length: int) -> Context:
        uri = f"http://127.0.0.1:{self.rest_port}/v1/models/{self.server.name}:predict"
        return Context(self.server.name, None, "predict", uri, None, None, "", content_type or "application/json",
                       accept or "application/json", length)

    def invoke(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        if self.user_handler is None and self.input_handler is None:
            status, out = self.server.rest(to_tfs_request(body, content_type))
            if status != 200:
                raise ServingError(json.loads(out).get("error", out.decode()))
            return out, "application/json"
        context = self.context(content_type, accept, len(body))
        try:
            if self.user_handler is not None:
                result = self.user_handler(_Body(body), context)
            else:
                request = self.input_handler(_Body(body), context)
                if isinstance(request, str):
                    request = request.encode()
                status, out = self.server.rest(request or b"")
                result = self.output_handler(TFSResponse(status, out), context)
        except Exception as e:  # noqa: BLE001 - the container answers 500 {"error": ...} for user code errors
            log.exception("exception in the user's inference.py")
            raise UserCodeError(json.dumps({"error": str(e)})) from None
        if not isinstance(result, tuple) or len(result) != 2:
            raise UserCodeError(json.dumps({"error": "the handler must return (response body, content type)"}))
        data, out_type = result
        if isinstance(data, str):
            data = data.encode()
        return bytes(data), out_type or "application/json"
