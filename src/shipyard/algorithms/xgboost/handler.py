"""Serving an XGBoost model: payload decoding, prediction, encoding, like SageMaker's XGBoost container.

Inputs: ``text/csv`` (one or many rows, no label), ``text/libsvm`` (``[label] idx:val ...`` per line),
``application/json`` (``{"instances": [{"features": [...]}, ...]}``, ``{"instances": [[...]]}`` or a list of
lists). Outputs: ``text/csv`` (default; one score per line, comma-joined for multi-class probabilities) or
``application/json`` (``{"predictions": [{"score": ...}]}``). Tiny CSV payloads are parsed in pure Python
(faster than any parser's set-up cost at one row); big ones by pyarrow. Predictions use ``inplace_predict``,
which skips building a DMatrix.
"""

from __future__ import annotations

import io
import math
import os
import re
from typing import Any

import numpy as np
import orjson

from ...errors import ValidationError
from ..base import InferenceHandler
from .fast_predict import DensePredictor
from .model_formats import MODEL_FILE, load_booster  # noqa: F401 - re-exported

_SMALL = 64 * 1024


def _float(token: str) -> float:
    token = token.strip()
    if not token:
        return math.nan
    try:
        return float(token)
    except ValueError:
        raise ValidationError(f"Could not parse CSV payload: {token[:40]!r} is not a number.") from None


def parse_csv(body: bytes) -> np.ndarray:
    if len(body) <= _SMALL:
        text = body.decode("utf-8", "replace")
        rows = [[_float(t) for t in line.split(",")] for line in text.splitlines() if line.strip()]
        if not rows:
            raise ValidationError("Empty CSV payload: send one or more rows of comma-separated numbers.")
        width = len(rows[0])
        for i, row in enumerate(rows):
            if len(row) != width:
                raise ValidationError(f"CSV row {i + 1} has {len(row)} columns but row 1 has {width}.")
        return np.asarray(rows, dtype=np.float32)
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        table = pacsv.read_csv(io.BytesIO(body), read_options=pacsv.ReadOptions(autogenerate_column_names=True),
                               convert_options=pacsv.ConvertOptions(null_values=[""], strings_can_be_null=True))
        return np.column_stack([table.column(i).to_numpy(zero_copy_only=False).astype(np.float32)
                                for i in range(table.num_columns)])
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as e:
        raise ValidationError(f"Could not parse CSV payload: {e}") from None


def parse_libsvm(body: bytes, num_features: int):
    """A LibSVM body as a CSR matrix. The common case (``label i:v i:v ...`` lines) is parsed by NumPy in one
    call (about 2x the per-token loop: SageMaker Spark's transform() sends 5,000-row LibSVM bodies); anything
    else, and every error, goes through the per-token loop, which says which line and entry are wrong."""
    import scipy.sparse as sp

    fast = _parse_libsvm_numpy(body, num_features)
    if fast is not None:
        indptr, indices, values = fast
        return sp.csr_matrix((values, indices, indptr), shape=(len(indptr) - 1, num_features))
    return _parse_libsvm_checked(body, num_features)


def _parse_libsvm_numpy(body: bytes, num_features: int):
    """(indptr, indices, values) when every line is an optional label then ``i:v`` pairs with integer indices in
    range; None otherwise (``qid:``, a malformed entry...), for the checked loop to handle or refuse."""
    import warnings

    lines = [line for line in body.decode("utf-8", "replace").splitlines() if line.strip()]
    if not lines:
        return None
    counts = np.fromiter((line.count(":") for line in lines), dtype=np.int64, count=len(lines))
    pairs = []
    for line in lines:
        first, _, rest = line.lstrip().partition(" ")
        pairs.append(line if ":" in first else rest)  # drop the label
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NumPy warns, not raises, on text it cannot read to the end
        try:
            flat = np.fromstring(" ".join(pairs).replace(":", " "), dtype=np.float64, sep=" ")
        except (ValueError, DeprecationWarning):
            return None
    if flat.size != 2 * int(counts.sum()):
        return None
    idx, values = flat[0::2], flat[1::2]
    if idx.size and (np.any(idx != np.floor(idx)) or idx.min() < 0 or idx.max() >= num_features):
        return None
    return np.concatenate([[0], np.cumsum(counts)]), idx.astype(np.int64), values.astype(np.float32)


def _parse_libsvm_checked(body: bytes, num_features: int):
    import scipy.sparse as sp

    indptr, indices, values = [0], [], []
    for n, line in enumerate(body.decode("utf-8", "replace").splitlines(), 1):
        tokens = line.split()
        if not tokens:
            continue
        for token in tokens:
            idx, sep, val = token.partition(":")
            if not sep:
                continue  # the (optional) label
            if idx == "qid":
                continue
            try:
                i, v = int(idx), float(val)
            except ValueError:
                raise ValidationError(f"Could not parse LibSVM payload line {n}: bad entry {token!r}.") from None
            if i < 0 or i >= num_features:
                raise ValidationError(f"LibSVM payload line {n}: feature index {i} is outside the model's "
                                      f"{num_features} features.")
            indices.append(i)
            values.append(v)
        indptr.append(len(indices))
    if len(indptr) == 1:
        raise ValidationError("Empty LibSVM payload.")
    return sp.csr_matrix((np.asarray(values, np.float32), np.asarray(indices, np.int64), np.asarray(indptr)),
                         shape=(len(indptr) - 1, num_features))


def parse_json(body: bytes) -> np.ndarray:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise ValidationError(f"Could not parse JSON payload: {e}") from None
    rows: Any = doc.get("instances", doc.get("features")) if isinstance(doc, dict) else doc
    if isinstance(rows, list) and rows and isinstance(rows[0], dict):
        rows = [r.get("features", r.get("values")) for r in rows]
    if isinstance(rows, list) and rows and not isinstance(rows[0], list):
        rows = [rows]
    try:
        arr = np.asarray(rows, dtype=np.float32)
    except (TypeError, ValueError):
        raise ValidationError('JSON payload must be {"instances": [{"features": [numbers...]}, ...]} or a list '
                              "of lists of numbers, all rows the same length.") from None
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValidationError('JSON payload must be {"instances": [{"features": [numbers...]}, ...]} or a list '
                              "of lists of numbers.")
    return arr


def _fmt(x: float) -> str:
    return repr(float(x))


# SAGEMAKER_INFERENCE_OUTPUT keys valid per objective (SageMaker's "selectable inference content")
_CLASSIFY = ("predicted_label", "labels", "raw_score", "raw_scores")
_SELECTABLE = {
    "reg:squarederror": ("predicted_score",), "reg:linear": ("predicted_score",),
    "reg:logistic": ("predicted_score",), "reg:gamma": ("predicted_score",), "reg:tweedie": ("predicted_score",),
    "binary:logistic": _CLASSIFY + ("probability", "probabilities"), "binary:logitraw": _CLASSIFY,
    "binary:hinge": _CLASSIFY, "multi:softmax": _CLASSIFY,
    "multi:softprob": _CLASSIFY + ("probability", "probabilities"),
}


def select_outputs(pred: np.ndarray, keys: list[str], objective: str, num_class: int) -> list[dict]:
    """Per-row dicts of the keys SAGEMAKER_INFERENCE_OUTPUT names; keys the objective cannot give are NaN."""
    valid = set(_SELECTABLE.get(objective, ()))
    rows = []
    for p in pred:
        p = np.asarray(p)
        out: dict[str, Any] = {}
        for key in keys:
            value: Any = math.nan
            if key in valid:
                if key == "predicted_score":
                    value = float(p)
                elif key == "labels":
                    value = [0, 1] if objective.startswith("binary:") else list(range(num_class))
                elif key == "predicted_label":
                    value = (int(np.argmax(p)) if objective == "multi:softprob" else int(p > 0.5)
                             if objective == "binary:logistic" else int(p > 0) if objective == "binary:logitraw"
                             else float(p))
                elif key in ("probability", "raw_score"):
                    value = float(p.max()) if objective == "multi:softprob" else float(p)
                else:  # probabilities, raw_scores
                    value = p.tolist() if p.ndim else [1.0 - float(p), float(p)]
            out[key] = value
        rows.append(out)
    return rows


# Text/csv answers as SageMaker's XGBoost images write them (algorithm-mode serve.py / handler_service.py):
# "comma" - a real-time answer is ",".join(str(p) for p in preds): every prediction on ONE line, and a
#           multi-output row is Python's list repr "[0.1, 0.2, 0.7]"; the images tagged 1 (0.72), 0.90-x,
#           1.0-1 and 1.2-x do this.
# "lines" - one prediction per line ("a,b,c" for a multi-output row); Shipyard's default, and what it answers
#           for the later 1.x images and for images it does not know.
# Under batch transform (SAGEMAKER_BATCH set) every image writes one prediction per line and ends the answer
# with a newline, so concatenated answers stay one record per line.
_COMMA_TAGS = re.compile(r"^(1|latest|0\.72(-.*)?|0\.90-\d+(-.*)?|1\.0-\d+(-.*)?|1\.2-\d+(-.*)?)$")


def image_tag(image: str) -> str:
    """The tag of an image URI ("...:1.7-1" -> "1.7-1"); "" without one (a digest, or no tag)."""
    last = image.rsplit("/", 1)[-1]
    if "@" in last or ":" not in last:
        return ""
    return last.split(":", 1)[1]


def csv_style(image: str, batch: bool) -> str:
    """How text/csv answers are laid out for this image: "comma", "lines", or their batch forms."""
    style = "comma" if _COMMA_TAGS.match(image_tag(image)) else "lines"
    return f"{style}-batch" if batch else style


def encode_csv(prediction: np.ndarray, style: str) -> bytes:
    rows = prediction.tolist()
    if style.startswith("comma"):
        items = [str([float(x) for x in r]) if isinstance(r, list) else _fmt(r) for r in rows]
    else:
        items = [",".join(_fmt(x) for x in r) if isinstance(r, list) else _fmt(r) for r in rows]
    if style.endswith("-batch"):
        return ("\n".join(items) + "\n").encode()
    return ("," if style == "comma" else "\n").join(items).encode()


def _csv_value(v: Any) -> str:
    return f'"{v}"' if isinstance(v, list) else _fmt(v) if isinstance(v, float) else str(v)


class XGBoostHandler(InferenceHandler):
    """SageMaker's XGBoost serving contract. Requests: text/csv, text/libsvm, application/json,
    application/jsonlines, application/x-recordio-protobuf. Responses: text/csv (one row per line),
    application/json ``{"predictions": [{"score": s}]}``, application/jsonlines (``{"score": s}`` per line),
    application/x-recordio-protobuf (one Record per row, ``label["score"]``). With
    ``SAGEMAKER_INFERENCE_OUTPUT=predicted_label,probabilities`` (etc.) those keys replace ``score``."""

    default_accept = "text/csv"

    def __init__(self, model_dir: str):
        super().__init__(model_dir)
        self.booster = load_booster(model_dir)
        self.booster.set_param({"nthread": int(os.environ.get("SHIPYARD_PREDICT_THREADS", "1"))})
        self.num_features = self.booster.num_features()
        self._predict = DensePredictor(self.booster)  # inplace_predict without its per-call Python set-up
        selected = os.environ.get("SAGEMAKER_INFERENCE_OUTPUT", "").replace(" ", "").lower()
        self.selected = [k for k in selected.split(",") if k]
        self.objective, self.num_class = "", 0
        # the image the model was deployed with (the platform passes it; see serving.deploy) and batch mode
        self.csv_style = csv_style(os.environ.get("SHIPYARD_IMAGE", ""),
                                   os.environ.get("SAGEMAKER_BATCH", "").lower() in ("true", "1", "yes"))
        if self.selected:
            learner = orjson.loads(self.booster.save_config())["learner"]
            self.objective = learner["objective"]["name"]
            self.num_class = int(learner["learner_model_param"].get("num_class", "0") or 0)

    def decode(self, body: bytes, content_type: str) -> Any:
        ctype = (content_type or "text/csv").split(";", 1)[0].strip().lower()
        if ctype in ("text/csv", "csv"):
            data = parse_csv(body)
        elif ctype in ("text/libsvm", "text/x-libsvm", "libsvm"):
            return parse_libsvm(body, self.num_features)
        elif ctype == "application/json":
            data = parse_json(body)
        elif ctype in ("application/jsonlines", "application/x-recordio-protobuf", "application/x-recordio"):
            from ...io.codecs import decode_features

            data = decode_features(body, ctype)
            if not isinstance(data, np.ndarray):
                data = data.tocsr()
        else:
            raise ValidationError(f"Content type {content_type} is not supported by XGBoost; use text/csv, "
                                  "text/libsvm, application/json, application/jsonlines or "
                                  "application/x-recordio-protobuf.")
        if data.shape[1] != self.num_features:
            raise ValidationError(f"Feature size of {ctype.split('/')[-1]} inference data {data.shape[1]} is not "
                                  f"consistent with feature size of trained model {self.num_features}.")
        return data

    def predict(self, data: Any) -> np.ndarray:
        return self._predict(data)

    def encode(self, prediction: np.ndarray, accept: str) -> tuple[bytes, str]:
        atype = (accept or self.default_accept).split(";", 1)[0].strip().lower()
        if self.selected:
            rows = select_outputs(prediction, self.selected, self.objective, self.num_class)
            if atype in ("text/csv", "*/*", ""):
                text = "\n".join(",".join(_csv_value(r[k]) for k in self.selected) for r in rows)
                return (text + "\n" if self.csv_style.endswith("-batch") else text).encode(), "text/csv"
        elif atype in ("text/csv", "*/*", ""):
            return encode_csv(prediction, self.csv_style), "text/csv"
        else:
            rows = [{"score": s} for s in prediction.tolist()]
        if atype == "application/json":
            return orjson.dumps({"predictions": rows}, option=orjson.OPT_SERIALIZE_NUMPY), "application/json"
        if atype == "application/jsonlines":
            return b"\n".join(orjson.dumps(p) for p in rows), "application/jsonlines"
        if atype == "application/x-recordio-protobuf":
            from ...io.codecs import encode_predictions

            return encode_predictions(rows, atype)
        raise ValidationError(f"Accept type {accept} is not supported by XGBoost; use text/csv, application/json, "
                              "application/jsonlines or application/x-recordio-protobuf.")
