"""Serving: one image per request (``image/jpeg``, ``image/png``, ``application/x-image``) -> its class
probabilities, as AWS's container answers: ``application/json`` a top-level list ``[p0, p1, ...]``,
``application/jsonlines`` one line ``{"prediction": [p0, p1, ...]}``; under batch transform (``SAGEMAKER_BATCH``
set) ``application/json`` is ``{"prediction": [...]}`` too, as AWS's container writes it (its example notebooks
read ``data["prediction"]`` from the ``.out`` files) while a real-time endpoint answers the bare list. Softmax
probabilities, or independent sigmoid ones for a ``multi_label`` model. The image is prepared as the
validation images were (:func:`.data.prepare`)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ...errors import ValidationError
from .. import neural
from ..base import InferenceHandler
from .data import decode

CONTENT_TYPES = ("image/jpeg", "image/png", "application/x-image")
JSON, JSONL = "application/json", "application/jsonlines"


class ImageClassificationHandler(InferenceHandler):
    default_accept = JSON

    def __init__(self, model_dir: str):
        super().__init__(model_dir)
        torch = neural.import_torch()
        from .model import build
        from .train import META, WEIGHTS

        meta_path, weights = Path(model_dir) / META, Path(model_dir) / WEIGHTS
        if not meta_path.exists() or not weights.exists():
            raise ValidationError(f"{model_dir} holds no image-classification model ({META} and {WEIGHTS}).")
        self.meta = json.loads(meta_path.read_text())
        self.shape = tuple(self.meta["image_shape"])
        self.torch = torch
        self.device = neural.device()
        self.model = build(self.meta["num_layers"], self.meta["num_classes"], self.shape)
        self.model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        self.model.to(self.device).eval()

    def decode(self, body: bytes, content_type: str) -> Any:
        ct = (content_type or "").split(";")[0].strip().lower()
        if ct not in CONTENT_TYPES:
            raise ValidationError(f"Content type '{content_type}' is not supported; send one image as "
                                  f"{', '.join(CONTENT_TYPES)}.")
        return decode(body, self.shape, self.meta.get("resize"), "The request body")

    def predict(self, data: Any) -> list[float]:
        torch = self.torch
        with neural.no_grad_inference():
            x = torch.from_numpy(data[None]).to(self.device).float().div_(255.0)
            logits = self.model(x).float()
            probs = torch.sigmoid(logits) if self.meta.get("multi_label") else torch.softmax(logits, 1)
        return [float(p) for p in probs[0].cpu().tolist()]

    def encode(self, prediction: list[float], accept: str) -> tuple[bytes, str]:
        a = (accept or "").split(";")[0].strip().lower()
        if a in ("", "*/*", JSON):
            if os.environ.get("SAGEMAKER_BATCH", "").lower() in ("true", "1", "yes"):
                return json.dumps({"prediction": prediction}).encode(), JSON
            return json.dumps(prediction).encode(), JSON
        if a == JSONL:
            return (json.dumps({"prediction": prediction}) + "\n").encode(), JSONL
        raise ValidationError(f"Accept '{accept}' is not supported; use {JSON} or {JSONL}.")
