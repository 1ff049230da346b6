"""PCA inference: ``{"projections": [{"projection": [...]}]}`` = (x - mean) @ components^T."""

from __future__ import annotations

import numpy as np

from .. import aws_artifacts
from ..builtin import ModelHandler


class PCAHandler(ModelHandler):
    """Loads AWS's ``model_algo-1`` (an NDArray dict mean / v / s) or Shipyard's older npz."""

    output_key = "projections"
    sparse_ok = True

    def load(self, model_dir: str) -> tuple[dict, dict]:
        from .train import from_aws

        return aws_artifacts.load(model_dir, "PCA", from_aws)

    def predict(self, X) -> list[dict]:
        C = self.arrays["components"].astype(np.float64)
        P = np.asarray(X @ C.T) - self.arrays["mean"].astype(np.float64) @ C.T
        return [{"projection": row.tolist()} for row in P]
