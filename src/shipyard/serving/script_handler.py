"""Script-mode inference: the user's module with model_fn / input_fn / predict_fn / output_fn or transform_fn.

Behaves like the SageMaker inference toolkit (and the framework containers built on it): the module is
``SAGEMAKER_PROGRAM`` (default ``inference.py``) in the code folder (``<model>/code`` or the unpacked
``SAGEMAKER_SUBMIT_DIRECTORY``); any function not defined falls back to a default. As in the framework
containers, ``input_fn`` receives ``str`` for JSON and CSV bodies and ``bytes`` otherwise.

For a framework image the model server running this handler is started on the image's environment
(:func:`shipyard.serving.containers.with_environment`): the user's module imports the framework at the image's
version and AWS's toolkits (``sagemaker_inference``, ``sagemaker_containers``, ...), so this module and what it
imports stay within the standard library, NumPy and Shipyard's own code.

Framework defaults: for a PyTorch image (``SHIPYARD_IMAGE``, which :func:`shipyard.serving.deploy.prepare` sets
from the container's image) the defaults are the PyTorch container's (:mod:`.frameworks.pytorch`: a TorchScript
``model.pt`` loaded without any script, tensors in and out), the script itself is optional as in that container,
only JSON and CSV bodies arrive as ``str``, and a ``transform_fn`` next to ``input_fn``/``predict_fn``/
``output_fn`` is refused as the toolkit refuses it. Handlers declaring a trailing ``context`` argument get a
:class:`Context` (``system_properties`` with ``model_dir`` and ``gpu_id``), like the toolkit's.
"""

from __future__ import annotations

import importlib.util
import inspect
import io
import json
import os
import sys
from typing import Any

import numpy as np

from ..algorithms.base import InferenceHandler
from ..domain.paths import safe_join
from ..errors import ValidationError

TEXT_TYPES = ("application/json", "text/csv", "application/jsonlines", "text/plain")


def _base(ctype: str) -> str:
    return (ctype or "").split(";", 1)[0].strip().lower()


def default_decode(data: Any, content_type: str) -> Any:
    ctype = _base(content_type)
    if isinstance(data, (bytes, bytearray)) and ctype in TEXT_TYPES:
        data = data.decode("utf-8")
    try:
        if ctype == "application/json":
            return np.array(json.loads(data))
        if ctype == "text/csv":
            return np.genfromtxt(io.StringIO(data), delimiter=",", dtype=np.float32, ndmin=2)
        if ctype in ("application/x-npy", "application/npy"):
            return np.load(io.BytesIO(data), allow_pickle=False)
        if ctype in ("application/x-npz", "application/npz"):
            return dict(np.load(io.BytesIO(data), allow_pickle=False))
    except (ValueError, TypeError) as e:
        raise ValidationError(f"Could not decode the {ctype} payload: {e}") from None
    raise ValidationError(f"Content type {content_type} is not supported by the default input_fn; "
                          "define input_fn in your inference script.")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def default_encode(prediction: Any, accept: str) -> tuple[bytes, str]:
    atype = _base(accept)
    if atype == "application/json":
        return json.dumps(prediction, default=_jsonable).encode(), "application/json"
    if atype == "text/csv":
        arr = np.asarray(prediction)
        buf = io.StringIO()
        np.savetxt(buf, arr if arr.ndim else arr.reshape(1), delimiter=",", fmt="%s")
        return buf.getvalue().encode(), "text/csv"
    if atype in ("application/x-npy", "application/npy"):
        buf = io.BytesIO()
        np.save(buf, np.asarray(prediction), allow_pickle=False)
        return buf.getvalue(), atype
    raise ValidationError(f"Accept type {accept} is not supported by the default output_fn; define output_fn "
                          "in your inference script.")


def load_user_module(program: str, code_dir: str):
    path = safe_join(code_dir, program, what="inference script")  # never a file outside the code folder
    if not path.suffix:
        path = path.with_suffix(".py")
    if not path.exists():
        raise FileNotFoundError(f"Inference script {program} not found in {code_dir}.")
    if str(code_dir) not in sys.path:
        sys.path.insert(0, str(code_dir))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


class Context:
    """What the inference toolkit passes as ``context`` to handlers that declare it (the subset scripts use)."""

    def __init__(self, model_dir: str, gpu_id: int | None = None, model_name: str = "model"):
        self.model_name = model_name
        self.system_properties = {"model_dir": model_dir, "gpu_id": gpu_id, "batch_size": 1,
                                  "server_name": "Shipyard", "server_version": "1"}
        self.manifest: dict = {"model": {"modelName": model_name}}
        self.metrics = None


def framework_defaults(image: str | None) -> Any:
    """The framework container's default handlers for ``image`` (see the module doc), or None for the generic
    inference toolkit's."""
    if not image:
        return None
    from ..algorithms.registry import FRAMEWORK_REPOS, repository

    try:
        framework = FRAMEWORK_REPOS.get(repository(image))
    except Exception:  # noqa: BLE001 - an odd image name only means "no framework defaults"
        return None
    if framework == "pytorch":
        from .frameworks.pytorch import Defaults

        return Defaults()
    return None


def _call(fn, *args, context=None):
    """Toolkit handlers may take an extra ``context`` argument; pass it only where declared."""
    try:
        n = len(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        n = len(args)
    return fn(*args, context) if n > len(args) else fn(*args)


class ScriptHandler(InferenceHandler):
    def __init__(self, model_dir: str, program: str = "inference.py", code_dir: str | None = None):
        super().__init__(model_dir)
        code_dir = code_dir or os.path.join(model_dir, "code")
        self.defaults = framework_defaults(os.environ.get("SHIPYARD_IMAGE"))
        self.module = self._load_module(program, code_dir)
        self.default_accept = os.environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "application/json")
        m = self.module
        self.transform_fn = getattr(m, "transform_fn", None)
        self.input_fn = getattr(m, "input_fn", None)
        self.predict_fn = getattr(m, "predict_fn", None)
        self.output_fn = getattr(m, "output_fn", None)
        model_fn = getattr(m, "model_fn", None)
        d = self.defaults
        self.context = Context(model_dir, d.gpu_id() if d is not None else None)
        if d is not None:
            if self.transform_fn is not None and (self.input_fn or self.predict_fn or self.output_fn):
                raise ValueError("Cannot use transform_fn implementation in conjunction with input_fn, predict_fn, "
                                 f"and/or output_fn implementation (in {program}).")
            self.input_fn = self.input_fn or d.input_fn
            self.predict_fn = self.predict_fn or d.predict_fn
            self.output_fn = self.output_fn or d.output_fn
            model_fn = model_fn or d.model_fn
        if model_fn is None:
            raise RuntimeError(f"Please provide a model_fn implementation in {program}.")
        self.model = _call(model_fn, model_dir, context=self.context)

    def _load_module(self, program: str, code_dir: str):
        """The user's module; for a framework with defaults a missing script means "all defaults" (None)."""
        try:
            return load_user_module(program, code_dir)
        except FileNotFoundError:
            if self.defaults is None:
                raise
            return None

    def invoke(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        if not accept or _base(accept) == "*/*":
            accept = self.default_accept
        ctx = self.context
        if self.transform_fn is not None:
            out = _call(self.transform_fn, self.model, body, content_type, accept, context=ctx)
            return self._as_response(out, accept)
        text_types = self.defaults.text_types if self.defaults is not None else TEXT_TYPES
        data = body.decode("utf-8") if _base(content_type) in text_types else body
        decoded = (_call(self.input_fn, data, content_type, context=ctx) if self.input_fn
                   else default_decode(data, content_type))
        if self.predict_fn is not None:
            prediction = _call(self.predict_fn, decoded, self.model, context=ctx)
        elif hasattr(self.model, "predict"):
            prediction = self.model.predict(decoded)
        else:
            prediction = self.model(decoded)
        if self.output_fn is not None:
            return self._as_response(_call(self.output_fn, prediction, accept, context=ctx), accept)
        return default_encode(prediction, accept)

    @staticmethod
    def _as_response(out: Any, accept: str) -> tuple[bytes, str]:
        ctype = accept
        if isinstance(out, tuple) and len(out) == 2:
            out, ctype = out
        if hasattr(out, "get_data") and hasattr(out, "mimetype"):  # a Flask/Werkzeug Response (sagemaker_containers)
            out, ctype = out.get_data(), out.mimetype or ctype
        if isinstance(out, str):
            out = out.encode("utf-8")
        elif not isinstance(out, (bytes, bytearray, memoryview)):
            out = json.dumps(out, default=_jsonable).encode()
        return bytes(out), ctype
