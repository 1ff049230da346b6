"""k-means inference: ``{"predictions": [{"closest_cluster": c, "distance_to_cluster": d}]}`` (Euclidean)."""

from __future__ import annotations

import numpy as np

from .. import aws_artifacts
from ..builtin import ModelHandler
from .model import from_aws, sq_distances


class KMeansHandler(ModelHandler):
    """Loads AWS's ``model_algo-1`` (an NDArray list with the centroids) or Shipyard's older npz."""

    sparse_ok = True

    def load(self, model_dir: str) -> tuple[dict, dict]:
        return aws_artifacts.load(model_dir, "k-means", from_aws)

    def predict(self, X) -> list[dict]:
        C = self.arrays["centers"].astype(np.float64)
        d = sq_distances(X.astype(np.float64), C)
        a = d.argmin(axis=1)
        dist = np.sqrt(d[np.arange(len(a)), a])
        return [{"closest_cluster": int(c), "distance_to_cluster": float(v)} for c, v in zip(a, dist)]
