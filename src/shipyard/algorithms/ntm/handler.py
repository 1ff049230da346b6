"""NTM inference: ``{"predictions": [{"topic_weights": [...]}]}``, the softmax of each document's latent mean
(numpy: serving needs no torch and the same document always gets the same weights)."""

from __future__ import annotations

from ..builtin import ModelHandler, as_dense
from ..lda.spectral import check_counts
from .model import encode_numpy, softmax


class NTMHandler(ModelHandler):
    def decode(self, body: bytes, content_type: str):
        X = super().decode(body, content_type)
        check_counts(X, "request")
        return as_dense(X)

    def predict(self, X) -> list[dict]:
        weights = softmax(encode_numpy(X, self.arrays, self.meta))
        return [{"topic_weights": row.tolist()} for row in weights]
