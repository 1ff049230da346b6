"""LDA inference: ``{"predictions": [{"topic_mixture": [...]}]}``, each document's topic mixture by variational
inference given the trained topics (:func:`.spectral.infer`)."""

from __future__ import annotations

from .. import aws_artifacts
from ..builtin import ModelHandler
from .spectral import check_counts, infer


class LDAHandler(ModelHandler):
    """Loads AWS's ``model_algo-1`` (an NDArray list [alpha, beta]) or Shipyard's npz."""

    sparse_ok = True

    def load(self, model_dir: str) -> tuple[dict, dict]:
        from .train import from_aws

        return aws_artifacts.load(model_dir, "LDA", from_aws)

    def decode(self, body: bytes, content_type: str):
        X = super().decode(body, content_type)
        check_counts(X, "request")
        return X

    def predict(self, X) -> list[dict]:
        theta = infer(X, self.arrays["alpha"], self.arrays["beta"])
        return [{"topic_mixture": row.tolist()} for row in theta]
