"""scikit-learn -> ONNX with skl2onnx: an estimator or Pipeline saved as ``model.joblib`` (or any ``*.joblib``,
``*.pkl``, ``*.pickle``), as SageMaker's scikit-learn container's ``model_fn`` usually loads it.

Classifiers are converted without ZipMap, so the ONNX outputs are ``label`` and ``probabilities`` tensors,
compared with ``predict`` and ``predict_proba``; regressors and transformers give one tensor compared with
``predict`` / ``transform``. An estimator skl2onnx has no converter for fails with the class's name.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .spec import CompilationError, Converted, InputSpec

SUFFIXES = (".joblib", ".pkl", ".pickle")


def _load(model_dir: Path):
    import joblib

    path = model_dir / "model.joblib"
    if not path.is_file():
        found = sorted(p for p in model_dir.iterdir() if p.is_file() and p.suffix in SUFFIXES)
        if not found:
            raise CompilationError("No scikit-learn model in the model archive: expected model.joblib (or one "
                                   f"*{', *'.join(SUFFIXES)} file) saved with joblib.dump.")
        path = found[0]
    try:
        return joblib.load(path)
    except Exception as e:  # noqa: BLE001 - unpickling fails in many ways (a missing class, a version)
        raise CompilationError(f"Could not load scikit-learn model {path.name}: {type(e).__name__}: {e}") from None


def convert(model_dir: Path, inputs: list[InputSpec], opset: int) -> Converted:
    import sklearn
    import skl2onnx
    from skl2onnx.common.data_types import FloatTensorType

    est = _load(model_dir)
    n_features = getattr(est, "n_features_in_", None)
    if inputs:
        if n_features is not None and inputs[0].shape[-1] != n_features:
            raise CompilationError(f"DataInputConfig declares {inputs[0].shape[-1]} features but the model was "
                                   f"fitted on {n_features}.")
        n_features = inputs[0].shape[-1]
    if n_features is None:
        raise CompilationError("Give DataInputConfig (e.g. {\"input\": [1, 4]}): the model does not record how many "
                               "features it was fitted on.")
    name = inputs[0].name if inputs else "input"
    final = est.steps[-1][1] if hasattr(est, "steps") else est
    classifier = hasattr(final, "predict_proba") and hasattr(final, "classes_")
    options = {id(final): {"zipmap": False}} if classifier else None
    try:
        model = skl2onnx.convert_sklearn(est, initial_types=[(name, FloatTensorType([None, n_features]))],
                                         target_opset={"": opset, "ai.onnx.ml": 3}, options=options)
    except Exception as e:  # noqa: BLE001 - skl2onnx's reason names the estimator it lacks a converter for
        missing = re.search(r"type '<class '([\w.]+)'>'", str(e))
        if type(e).__name__.startswith("Missing") and missing:
            raise CompilationError(f"skl2onnx has no converter for {missing.group(1).rsplit('.', 1)[-1]} "
                                   f"({missing.group(1)}), so this scikit-learn model cannot be compiled to ONNX; "
                                   "use an estimator skl2onnx supports or register a custom converter.") from None
        raise CompilationError(f"skl2onnx cannot convert this scikit-learn model ({type(final).__name__}): "
                               f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
                               ) from None

    def reference(feeds):
        x = feeds[name]
        if classifier:
            return [np.asarray(est.predict(x)), np.asarray(est.predict_proba(x))]
        if hasattr(est, "predict"):
            return [np.asarray(est.predict(x))]
        return [np.asarray(est.transform(x))]

    serving = {"kind": "sklearn", "estimator": type(final).__name__, "num_features": int(n_features),
               "classes": [c.item() if hasattr(c, "item") else c for c in final.classes_] if classifier else None,
               "outputs": ["label", "probabilities"] if classifier else ["prediction"]}
    versions = {"scikit-learn": sklearn.__version__, "skl2onnx": skl2onnx.__version__}
    return Converted(model, "skl2onnx.convert_sklearn", versions, reference, serving=serving)
