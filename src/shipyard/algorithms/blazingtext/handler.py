"""BlazingText inference, in NumPy over the fastText model file the training wrote.

Supervised (``model.bin``): ``{"instances": ["text", ...], "configuration": {"k": 2}}`` (application/json) or
one ``{"source": "text"}`` per line (application/jsonlines, batch transform's form, ``"k"`` optional per line)
-> ``[{"label": ["__label__1", ...], "prob": [0.9, ...]}, ...]`` (a top-level JSON list) or one such object per
line. Probabilities are fastText's ``predict`` values (the softmax probability plus fastText's 1e-5, capped at
1), the top ``k`` labels first.

Word2Vec (``vectors.bin``, else ``vectors.txt``): ``{"instances": ["word", ...]}`` or ``{"source": "word"}``
lines -> ``[{"word": "w", "vector": [...]}, ...]``; an unknown word gets its character n-gram vector when the
model was trained with subwords, else zeros (as fastText's ``get_word_vector``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ValidationError
from ...io import codecs
from ..base import InferenceHandler
from .fasttext_format import FastTextArgs, FastTextModel, read_vectors_txt, tokenize_line

JSON, JSONLINES = "application/json", "application/jsonlines"


def _instance_text(inst: Any, where: str) -> str:
    if isinstance(inst, dict) and "source" in inst:
        inst = inst["source"]
    if not isinstance(inst, str):
        raise ValidationError(f"{where} must be a string (or {{\"source\": \"...\"}}); got {json.dumps(inst)[:80]}.")
    if "\n" in inst:
        raise ValidationError(f"{where} holds a newline; send one text per instance.")
    return inst


def _k(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().isdigit() \
            or int(value) < 1:
        raise ValidationError(f"configuration.k must be a positive integer; got {value!r}.")
    return int(value)


class BlazingTextHandler(InferenceHandler):
    default_accept = JSON

    def __init__(self, model_dir: str):
        super().__init__(model_dir)
        folder = Path(model_dir)
        try:
            if (folder / "model.bin").exists():
                self.model = FastTextModel.load(folder / "model.bin")
                self.supervised = True
            elif (folder / "vectors.bin").exists():
                self.model = FastTextModel.load(folder / "vectors.bin")
                self.supervised = False
            elif (folder / "vectors.txt").exists():
                words, vectors = read_vectors_txt(folder / "vectors.txt")
                self.model = FastTextModel(FastTextArgs(dim=vectors.shape[1]), words, [0] * len(words),
                                           input=vectors)
                self.supervised = False
            else:
                raise ValidationError(f"No BlazingText model (model.bin, vectors.bin or vectors.txt) in {model_dir}.")
        except ValueError as e:
            raise ValidationError(str(e)) from None
        self.supervised = self.supervised and len(self.model.labels) > 0

    # ------------------------------------------------------------------ decode
    def decode(self, body: bytes, content_type: str) -> list[tuple[str, int]]:
        m = codecs.mime(content_type)
        try:
            text = body.decode("utf-8")
            if m == JSON:
                doc = json.loads(text)
                if not isinstance(doc, dict) or not isinstance(doc.get("instances"), list):
                    raise ValidationError('The request must be {"instances": ["text", ...]} (with an optional '
                                          '"configuration": {"k": 2} for supervised models).')
                config = doc.get("configuration") or {}
                if not isinstance(config, dict):
                    raise ValidationError('"configuration" must be an object, e.g. {"k": 2}.')
                k = _k(config.get("k", 1))
                out = [(_instance_text(inst, f"instances[{i}]"), k) for i, inst in enumerate(doc["instances"])]
            elif m == JSONLINES:
                out = []
                for n, line in enumerate(text.splitlines(), 1):
                    if not line.strip():
                        continue
                    inst = json.loads(line)
                    k = _k(inst.get("k", 1)) if isinstance(inst, dict) else 1
                    out.append((_instance_text(inst, f"line {n}"), k))
            else:
                raise ValidationError(f"Content type '{content_type}' is not supported; use application/json or "
                                      "application/jsonlines.")
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValidationError(f"Could not parse the {m} request body: {e}") from None
        if not out:
            raise ValidationError("The request holds no instances.")
        return out

    # ------------------------------------------------------------------ predict
    def predict(self, data: list[tuple[str, int]]) -> list[dict]:
        if not self.supervised:
            return [{"word": word, "vector": [round(float(x), 6) for x in self.model.word_vector(word)]}
                    for word, _ in data]
        return [self.classify(text, k) for text, k in data]

    def classify(self, text: str, k: int = 1) -> dict:
        """fastText's ``predict(text, k)``: the top ``k`` labels and their probabilities."""
        m = self.model
        rows = m.line_rows(tokenize_line(text))
        if not rows:
            return {"label": [], "prob": []}
        h = m.input[rows].mean(axis=0, dtype=np.float32)
        z = m.output @ h
        p = np.exp(z - z.max())
        p /= p.sum()
        top = np.argsort(-p, kind="stable")[:k]
        return {"label": [m.labels[i] for i in top], "prob": [min(1.0, float(p[i]) + 1e-5) for i in top]}

    # ------------------------------------------------------------------ encode
    def encode(self, prediction: list[dict], accept: str) -> tuple[bytes, str]:
        a = codecs.mime(accept) if accept and accept.strip() != "*/*" else JSON
        if a == JSON:
            return json.dumps(prediction).encode(), JSON
        if a == JSONLINES:
            return ("\n".join(json.dumps(p) for p in prediction) + "\n").encode(), JSONLINES
        raise ValidationError(f"Accept type '{accept}' is not supported; use application/json or "
                              "application/jsonlines.")
