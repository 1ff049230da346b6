"""Factorization machines inference: ``{"predictions": [{"score", "predicted_label"}]}`` (label = score >= 0.5
for binary; regression answers ``score`` only)."""

from __future__ import annotations

import numpy as np

from .. import aws_artifacts
from ..builtin import ModelHandler
from ..linear_learner.metrics import sigmoid
from .train import fm_scores, from_aws


class FactorizationMachinesHandler(ModelHandler):
    """Loads AWS's ``model_algo-1`` (a zip of symbol.json + params: w0_weight, w1_weight, v) or Shipyard's
    older npz."""

    sparse_ok = True

    def load(self, model_dir: str) -> tuple[dict, dict]:
        return aws_artifacts.load(model_dir, "factorization machines", from_aws)

    def predict(self, X) -> list[dict]:
        a = self.arrays
        s, _, _ = fm_scores(X.astype(np.float64), float(a["w0"]), a["w"].astype(np.float64),
                            a["V"].astype(np.float64))
        if self.meta["predictor_type"] == "binary_classifier":
            p = sigmoid(s)
            return [{"score": float(v), "predicted_label": int(v >= 0.5)} for v in p]
        return [{"score": float(v)} for v in s]
