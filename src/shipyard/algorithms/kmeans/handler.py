"""k-means inference: ``{"predictions": [{"closest_cluster": c, "distance_to_cluster": d}]}`` (Euclidean)."""

from __future__ import annotations

import numpy as np

from ..builtin import ModelHandler
from .model import sq_distances


class KMeansHandler(ModelHandler):
    sparse_ok = True

    def predict(self, X) -> list[dict]:
        C = self.arrays["centers"].astype(np.float64)
        d = sq_distances(X.astype(np.float64), C)
        a = d.argmin(axis=1)
        dist = np.sqrt(d[np.arange(len(a)), a])
        return [{"closest_cluster": int(c), "distance_to_cluster": float(v)} for c, v in zip(a, dist)]
