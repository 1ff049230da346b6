"""kNN inference: ``{"predictions": [{"predicted_label": ..}]}`` (majority vote, or mean for regression)."""

from __future__ import annotations

from ..builtin import ModelHandler
from .index import prepare, reduce, search, vote
from .model import load


class KNNHandler(ModelHandler):
    """Loads AWS's layout (model_algo-1 a FAISS flat index, model_algo-1.labels, model_algo-1.json) or
    Shipyard's older npz."""

    sparse_ok = True

    def load(self, model_dir: str) -> tuple[dict, dict]:
        return load(model_dir)

    def predict(self, X) -> list[dict]:
        a, m = self.arrays, self.meta
        reducer = {"proj": a["proj"]} if "proj" in a else {}
        Q = prepare(reduce(X, reducer), m["metric"])
        idx = search(Q, a["points"], m["k"], m["metric"], a.get("centroids"), a.get("assign"), m["nprobe"])
        pred = vote(a["labels"][idx], m["predictor_type"] == "classifier")
        return [{"predicted_label": float(p)} for p in pred]
