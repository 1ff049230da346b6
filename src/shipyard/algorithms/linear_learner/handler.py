"""Linear learner inference: ``{"predictions": [{"score": .., "predicted_label": ..}]}``.

Binary: score is the probability (logistic loss) or the raw margin (hinge), label = score >= the calibrated
threshold. Multiclass: score is the vector of class probabilities, label the argmax. Regression: score only.
"""

from __future__ import annotations

import numpy as np

from ..builtin import ModelHandler
from .metrics import sigmoid, softmax


class LinearLearnerHandler(ModelHandler):
    sparse_ok = True

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
