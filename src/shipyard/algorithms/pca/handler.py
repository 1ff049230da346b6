"""PCA inference: ``{"projections": [{"projection": [...]}]}`` = (x - mean) @ components^T."""

from __future__ import annotations

import numpy as np

from ..builtin import ModelHandler


class PCAHandler(ModelHandler):
    output_key = "projections"
    sparse_ok = True

    def predict(self, X) -> list[dict]:
        C = self.arrays["components"].astype(np.float64)
        P = np.asarray(X @ C.T) - self.arrays["mean"].astype(np.float64) @ C.T
        return [{"projection": row.tolist()} for row in P]
