"""Serving a Neo-compiled model (``model.onnx``) on onnxruntime, answering as the ORIGINAL model's container.

That is the point of Neo: the compiled model is a drop-in for the original endpoint. The compiler
(:mod:`shipyard.compile`) leaves ``compilation.json`` beside ``model.onnx``; its ``framework`` picks the
contract and its ``serving`` section says what the container needs (an XGBoost model's objective, ...):

* **xgboost**: SageMaker's XGBoost container (:class:`~shipyard.algorithms.xgboost.handler.XGBoostHandler`'s
  decoding and encoding: CSV, LibSVM, JSON, JSON Lines, RecordIO in; CSV/JSON/JSON Lines/RecordIO out), with
  predictions as ``Booster.predict`` gives them: the positive class's probability for ``binary:logistic``, a
  probability row for ``multi:softprob``, the class id for ``multi:softmax``, the value for regression;
* **pytorch** and **sklearn**: the inference toolkit's default ``input_fn``/``output_fn`` (JSON, CSV, NPY in;
  JSON by default, CSV, NPY out); a classifier answers its labels, as ``model.predict`` does;
* **tensorflow**: TF Serving's REST predict (``{"instances": ...}`` -> ``{"predictions": ...}``,
  ``{"inputs": ...}`` -> ``{"outputs": ...}``);
* **onnx**: the toolkit's JSON/CSV/NPY contract over the model's outputs.

onnxruntime runs on the CPU, or with ``CUDAExecutionProvider`` first when that provider is present and a GPU
is visible. ``SHIPYARD_ONNX_THREADS`` sets its intra-op threads (default 1: one-row latency, many workers).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ...algorithms.base import InferenceHandler
from ...errors import ValidationError

HANDLER = "shipyard.serving.frameworks.onnx:OnnxHandler"
MODEL_FILE = "model.onnx"
REPORT_FILE = "compilation.json"


def serving_args(model_dir: Path, code_dir: Path | None, program: str | None) -> list[str] | None:
    """This module's handler when the model folder holds a compiled ``model.onnx``, else None."""
    return ["--handler", HANDLER] if (Path(model_dir) / MODEL_FILE).is_file() else None


def providers() -> list[str]:
    """CUDA first when onnxruntime has it and a GPU is visible, then the CPU."""
    import onnxruntime as ort

    have = ort.get_available_providers()
    gpu = os.environ.get("CUDA_VISIBLE_DEVICES", "0") not in ("", "-1") and Path("/dev/nvidia0").exists()
    return (["CUDAExecutionProvider"] if gpu and "CUDAExecutionProvider" in have else []) + ["CPUExecutionProvider"]


class OnnxModel:
    """An onnxruntime session over ``model.onnx`` with its first input's name and element type."""

    def __init__(self, path: Path):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(os.environ.get("SHIPYARD_ONNX_THREADS", "1"))
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), sess_options=opts, providers=providers())
        first = self.session.get_inputs()[0]
        self.input_name = first.name
        self.input_shape = list(first.shape)
        self.dtype = np.float64 if "double" in first.type else np.int64 if "int64" in first.type else np.float32
        self.output_names = [o.name for o in self.session.get_outputs()]
        self._run = self.session.run

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        try:
            return self._run(None, {self.input_name: np.ascontiguousarray(x, dtype=self.dtype)})
        except Exception as e:  # noqa: BLE001 - onnxruntime says which dimension or type was wrong
            raise ValidationError(f"The compiled model could not run on the input (shape {tuple(np.shape(x))}; the "
                                  f"model takes {self.input_name} {self.input_shape}): {str(e).splitlines()[0]}") \
                from None

    def output(self, outs: list[np.ndarray], name: str) -> np.ndarray | None:
        return outs[self.output_names.index(name)] if name in self.output_names else None


def read_report(model_dir: str | Path) -> dict:
    path = Path(model_dir) / REPORT_FILE
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except ValueError:
        return {}


class OnnxHandler(InferenceHandler):
    """Picks the original container's contract from ``compilation.json`` and delegates to it."""

    def __init__(self, model_dir: str):
        super().__init__(model_dir)
        path = Path(model_dir) / MODEL_FILE
        if not path.is_file():
            raise ValidationError(f"The compiled model artifact holds no {MODEL_FILE}: deploy the artifact a "
                                  "compilation job wrote (ModelArtifacts.S3ModelArtifacts).")
        self.report = read_report(model_dir)
        framework = str(self.report.get("framework") or "onnx").lower()
        model = OnnxModel(path)
        serving = dict(self.report.get("serving") or {})
        if serving.get("kind") == "builtin":  # linear learner, k-means, PCA, FM: their own answers
            self.inner: InferenceHandler = BuiltinContract(model_dir, model, serving)
        elif framework == "xgboost":
            self.inner = _xgboost(model_dir, model, serving)
        elif framework in ("tensorflow", "keras"):
            self.inner = TFServingContract(model_dir, model)
        else:
            self.inner = ToolkitContract(model_dir, model, framework)
        self.default_accept = self.inner.default_accept

    def invoke(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        return self.inner.invoke(body, content_type, accept)


# --- XGBoost ---
def _xgboost(model_dir: str, model: OnnxModel, serving: dict) -> InferenceHandler:
    from ...algorithms.registry import NEO_REPOS, repository
    from ...algorithms.xgboost.handler import XGBoostHandler, csv_style

    class XGBoostOnnx(XGBoostHandler):
        """The XGBoost container's contract over the ONNX model (no booster loaded)."""

        def __init__(self) -> None:  # noqa: D401 - replaces the booster-loading constructor
            InferenceHandler.__init__(self, model_dir)
            self.model = model
            self.objective = str(serving.get("objective") or "")
            self.num_class = int(serving.get("num_class") or 0)
            width = serving.get("num_features") or (model.input_shape[1] if len(model.input_shape) > 1 else None)
            self.num_features = int(str(width)) if str(width).isdigit() else 0
            selected = os.environ.get("SAGEMAKER_INFERENCE_OUTPUT", "").replace(" ", "").lower()
            self.selected = [k for k in selected.split(",") if k]
            # a Neo image's tag ("latest") says nothing of the original's CSV layout: the current one's
            image = os.environ.get("SHIPYARD_IMAGE", "")
            image = "" if repository(image) in NEO_REPOS else image
            self.csv_style = csv_style(image, os.environ.get("SAGEMAKER_BATCH", "").lower() in ("true", "1", "yes"))

        def decode(self, body: bytes, content_type: str) -> Any:
            if not self.num_features:
                self.num_features = 1 << 30  # unknown width: let onnxruntime check it
            data = super().decode(body, content_type)
            if not isinstance(data, np.ndarray):  # LibSVM / sparse: absent entries are missing, as XGBoost reads
                csr = data.tocsr()
                dense = np.full(csr.shape, np.nan, dtype=np.float32)
                rows = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
                dense[rows, csr.indices] = csr.data
                data = dense
            return data

        def predict(self, data: Any) -> np.ndarray:
            return xgboost_prediction(self.model, self.model(data), self.objective)

    return XGBoostOnnx()


def xgboost_prediction(model: OnnxModel, outs: list[np.ndarray], objective: str) -> np.ndarray:
    """ONNX outputs -> what ``Booster.predict`` answers for ``objective``."""
    probs = model.output(outs, "probabilities")
    if probs is None:
        for name, out in zip(model.output_names, outs):
            if out.dtype.kind == "f" and out.ndim == 2 and out.shape[1] > 1 and name != "variable":
                probs = out
    if probs is None or objective.startswith("reg:"):
        value = model.output(outs, "variable")
        value = outs[0] if value is None else value
        return np.asarray(value, dtype=np.float32).reshape(len(value), -1).squeeze(1) \
            if np.ndim(value) == 2 and np.shape(value)[1] == 1 else np.asarray(value, dtype=np.float32)
    probs = np.asarray(probs, dtype=np.float32)
    if objective == "multi:softmax":
        return probs.argmax(axis=1).astype(np.float32)
    if objective.startswith("binary:") or (not objective.startswith("multi:") and probs.shape[1] == 2):
        return probs[:, 1]
    return probs


# --- PyTorch / scikit-learn / plain ONNX: the inference toolkit's default encoders ---
class BuiltinContract(InferenceHandler):
    """A compiled built-in (linear learner, k-means, PCA, factorization machines) answers as its container:
    the built-in request types in, one ``{output: value}`` row per instance under ``response_key``."""

    default_accept = "application/json"

    def __init__(self, model_dir: str, model: OnnxModel, serving: dict):
        super().__init__(model_dir)
        self.model, self.serving = model, serving
        self.outputs = [str(o) for o in serving.get("outputs") or []]
        self.key = str(serving.get("response_key") or "predictions")
        self.dim = int(serving.get("feature_dim") or 0)

    def decode(self, body: bytes, content_type: str) -> Any:
        from ...io import codecs

        X = codecs.decode_features(body, content_type)
        X = X if isinstance(X, np.ndarray) else np.asarray(X.toarray())
        if self.dim and X.shape[1] != self.dim:
            raise ValidationError(f"Each instance must have {self.dim} features; got {X.shape[1]}.")
        return X.astype(np.float32)

    def predict(self, data: Any) -> list[dict]:
        outs = self.model(data)
        named = {name: np.asarray(self.model.output(outs, name)) for name in self.outputs}
        rows = []
        for i in range(len(data)):
            row = {}
            for name, values in named.items():
                v = values[i]
                row[name] = v.tolist() if v.ndim else (int(v) if name == "closest_cluster" else float(v))
            rows.append(row)
        return rows

    def encode(self, prediction: Any, accept: str) -> tuple[bytes, str]:
        from ...io import codecs

        if not accept or accept.strip() == "*/*":
            accept = self.default_accept
        return codecs.encode_predictions(prediction, accept, self.key)


class ToolkitContract(InferenceHandler):
    default_accept = "application/json"

    def __init__(self, model_dir: str, model: OnnxModel, framework: str):
        super().__init__(model_dir)
        self.model, self.framework = model, framework

    def decode(self, body: bytes, content_type: str) -> Any:
        from .pytorch import decode

        return decode(body, content_type or "application/json")

    def predict(self, data: Any) -> Any:
        outs = self.model(data)
        if self.framework == "sklearn":  # model.predict: the labels (a classifier) or the values, 1-D
            first = np.asarray(outs[0])
            return first.reshape(-1) if first.ndim == 2 and first.shape[1] == 1 else first
        return outs[0] if len(outs) == 1 else outs

    def encode(self, prediction: Any, accept: str) -> tuple[bytes, str]:
        from .pytorch import encode

        return encode(prediction, accept or self.default_accept)


# --- TensorFlow: TF Serving's REST predict ---
class TFServingContract(InferenceHandler):
    default_accept = "application/json"

    def __init__(self, model_dir: str, model: OnnxModel):
        super().__init__(model_dir)
        self.model = model

    def invoke(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        ctype = (content_type or "application/json").split(";", 1)[0].strip().lower()
        columnar = False
        rows: Any
        if ctype == "text/csv":
            try:
                rows = [[float(v) for v in line.split(",")] for line in body.decode().splitlines() if line.strip()]
            except ValueError as e:
                raise ValidationError(f"Could not parse the CSV body: {e}") from None
        else:
            try:
                doc = json.loads(body)
            except ValueError as e:
                raise ValidationError(f"Could not parse the JSON body: {e}") from None
            if isinstance(doc, dict) and "inputs" in doc:
                columnar, rows = True, doc["inputs"]
            else:
                rows = doc.get("instances") if isinstance(doc, dict) else doc
        if isinstance(rows, dict):  # one named input
            rows = next(iter(rows.values()))
        try:
            data = np.asarray(rows, dtype=np.float32)
        except (TypeError, ValueError):
            raise ValidationError('The request must be {"instances": [[numbers...], ...]} or {"inputs": ...} with '
                                  "rows of the same length.") from None
        outs = self.model(data)
        if len(outs) == 1:
            result: Any = outs[0].tolist()
        elif columnar:
            result = {n: o.tolist() for n, o in zip(self.model.output_names, outs)}
        else:
            result = [{n: o[i].tolist() for n, o in zip(self.model.output_names, outs)} for i in range(len(data))]
        key = "outputs" if columnar else "predictions"
        return json.dumps({key: result}).encode(), "application/json"
