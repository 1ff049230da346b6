"""XGBoost -> ONNX with onnxmltools, for the built-in algorithm's ``xgboost-model`` and users' pickled models.

Reads the formats SageMaker's XGBoost containers write (see ``algorithms/xgboost/model_formats.py``, which this
package may not import): JSON / UBJSON (``Booster.save_model``), and pickle / joblib of a Booster or an
``XGBClassifier``/``XGBRegressor``. XGBoost's legacy binary format (pre-1.3 containers) is refused with the fix:
xgboost 2+ cannot read it, and the converter lives in the algorithm package.

The compiled endpoint must answer as the original did, so the report's ``serving`` block keeps the objective
and the number of classes, and ``view`` maps ONNX's outputs to what ``Booster.predict`` returns:
``binary:logistic`` -> column 1 of ``probabilities``; ``multi:softprob`` -> ``probabilities``;
``multi:softmax`` -> ``label``; regression -> ``variable``.
"""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import numpy as np

from .spec import CompilationError, Converted, InputSpec

MODEL_FILE = "xgboost-model"
MAX_OPSET = 15  # the newest opset onnxmltools' XGBoost converter emits


def _load(model_dir: Path):
    import xgboost as xgb

    path = model_dir / MODEL_FILE
    if not path.is_file():
        files = sorted(p for p in model_dir.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise CompilationError(f"No XGBoost model in the model archive (expected a file named {MODEL_FILE}).")
        path = files[0]
    data = path.read_bytes()
    head = data[:64].lstrip()
    if head.startswith(b"{"):
        booster = xgb.Booster()
        try:
            booster.load_model(bytearray(data))
        except xgb.core.XGBoostError as e:
            raise CompilationError(f"Could not load XGBoost model {path.name}: {str(e).splitlines()[0]}") from None
        return booster
    if data[:1] == b"\x80" or data[:1] in (b"\x78", b"\x1f"):
        try:
            import joblib

            obj = joblib.load(io.BytesIO(data))
        except Exception as e:  # noqa: BLE001 - unpickling fails in many ways; the user sees which
            raise CompilationError(f"Could not unpickle XGBoost model {path.name}: {type(e).__name__}: {e}. A "
                                   "Booster pickled by xgboost < 1.0 holds a legacy binary model: re-save it with "
                                   "Booster.save_model('xgboost-model') as JSON.") from None
        if isinstance(obj, xgb.Booster):
            return obj
        if callable(getattr(obj, "get_booster", None)):
            return obj.get_booster()
        raise CompilationError(f"{path.name} is a pickle of {type(obj).__name__}, not an XGBoost Booster/model.")
    raise CompilationError(f"XGBoost model {path.name} is not JSON, UBJSON or a pickle (it starts with "
                           f"{data[:8]!r}); legacy binary models (pre-1.3 containers) must be re-saved as JSON "
                           "with Booster.save_model before compiling.")


def convert(model_dir: Path, inputs: list[InputSpec], opset: int) -> Converted:
    import onnxmltools
    import xgboost as xgb
    from onnxmltools.convert.common.data_types import FloatTensorType

    booster = _load(model_dir)
    learner = json.loads(booster.save_config())["learner"]
    objective = learner["objective"]["name"]
    num_class = int(learner["learner_model_param"].get("num_class", "0") or 0)
    n_features = booster.num_features()
    if inputs and inputs[0].shape[-1] != n_features:
        raise CompilationError(f"DataInputConfig declares {inputs[0].shape[-1]} features but the XGBoost model "
                               f"was trained on {n_features}.")
    name = inputs[0].name if inputs else "data"
    booster.feature_names = None  # onnxmltools names features f0..fn
    try:
        model = onnxmltools.convert_xgboost(booster, initial_types=[(name, FloatTensorType([None, n_features]))],
                                            target_opset=min(opset, MAX_OPSET))
    except Exception as e:  # noqa: BLE001 - the converter's reason is the user's answer
        raise CompilationError(f"onnxmltools cannot convert this XGBoost model (objective {objective}): "
                               f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
    clean = pickle.loads(pickle.dumps(booster))

    def reference(feeds):
        return [np.asarray(clean.predict(xgb.DMatrix(feeds[name])))]

    def view(outs):
        if objective == "binary:logistic":
            return [outs[1][:, 1]]
        if objective == "multi:softprob":
            return [outs[1]]
        if objective == "multi:softmax":
            return [outs[0].astype(np.float32)]
        return [outs[-1].reshape(-1)]

    serving = {"kind": "xgboost", "objective": objective, "num_class": num_class, "num_features": n_features,
               "output_map": {"binary:logistic": "probabilities[:, 1]", "multi:softprob": "probabilities",
                              "multi:softmax": "label"}.get(objective, "variable[:, 0]")}
    versions = {"xgboost": xgb.__version__, "onnxmltools": onnxmltools.__version__}
    return Converted(model, "onnxmltools.convert_xgboost", versions, reference, view, serving)
