"""Random cut forest inference: ``{"scores": [{"score": ..}]}`` (higher = more anomalous)."""

from __future__ import annotations

import numpy as np

from ..builtin import ModelHandler
from .forest import forest_scores, from_arrays


class RandomCutForestHandler(ModelHandler):
    output_key = "scores"

    def __init__(self, model_dir: str):
        super().__init__(model_dir)
        self.trees = from_arrays(self.arrays)

    def predict(self, X) -> list[dict]:
        s = forest_scores(self.trees, np.asarray(X, dtype=np.float64), self.meta["sample_size"])
        return [{"score": float(v)} for v in s]
