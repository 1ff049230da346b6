"""Linear learner inference: ``{"predictions": [{"score": .., "predicted_label": ..}]}``.

Binary: score is the probability (logistic loss) or the raw margin (hinge), label = score >= the calibrated
threshold. Multiclass: score is the vector of class probabilities, label the argmax. Regression: score only.
"""

from __future__ import annotations

import numpy as np

from .. import aws_artifacts
from ..builtin import ModelHandler
from .metrics import sigmoid, softmax
from .model import from_aws


class LinearLearnerHandler(ModelHandler):
    """Loads AWS's ``model_algo-1`` (a zipped MXNet module, fc0_weight / fc0_bias) or Shipyard's older npz."""

    sparse_ok = True

    def load(self, model_dir: str) -> tuple[dict, dict]:
        return aws_artifacts.load(model_dir, "linear learner", from_aws)

    def predict(self, X) -> list[dict]:
        W, b = self.arrays["weights"], self.arrays["bias"]
        S = np.asarray(X @ W) + b
        ptype = self.meta["predictor_type"]
        if ptype == "binary_classifier":
            s = S[:, 0]
            score = sigmoid(s) if self.meta["loss"] == "logistic" else s
            label = (score >= self.meta["threshold"]).astype(int)
            return [{"score": float(sc), "predicted_label": int(lb)} for sc, lb in zip(score, label)]
        if ptype == "multiclass_classifier":
            P = softmax(S, axis=1)
            return [{"score": p.tolist(), "predicted_label": int(p.argmax())} for p in P]
        return [{"score": float(s)} for s in S[:, 0]]
