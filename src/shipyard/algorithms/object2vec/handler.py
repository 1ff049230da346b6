"""Object2Vec inference, in AWS's request and response shapes.

Requests: ``application/json`` ``{"instances": [{"in0": [ids], "in1": [ids]}, ...]}`` or
``application/jsonlines`` (one instance per line). Content-Type may carry ``infer_max_seqlens=<n0>,<n1>``, which
truncates the inputs further (AWS's parameter for the encoder embedding requests).

* Every instance has ``in0`` and ``in1``: pair scores, ``{"predictions": [{"scores": [p0, p1, ...]}]}`` (softmax
  class probabilities) or ``{"scores": [value]}`` (mean_squared_error).
* Every instance has only ``in0`` (or only ``in1``): that encoder's output,
  ``{"predictions": [{"embeddings": [...]}]}``, as AWS's encoder embedding inference answers. ``verbose=true``
  on the Accept (AWS's documented Accept for these requests) is accepted and changes nothing: single-side
  instances always get embeddings, pairs always get scores. A request mixing the two kinds is refused.

Accept ``application/json`` answers one document under ``predictions``; ``application/jsonlines`` one object per
line. The network runs on the CPU in eval mode (no dropout), so the same request gives the same answer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...errors import ValidationError
from ...io import codecs
from ...io.readers import parse_content_type
from .. import neural
from ..base import InferenceHandler
from .data import check_tokens

WEIGHTS_FILE = "object2vec.pt"
CONFIG_FILE = "object2vec.json"
MAX_INSTANCES = 100000


def _instances(body: bytes, content_type: str) -> list[Any]:
    m = codecs.mime(content_type)
    try:
        text = body.decode("utf-8")
        if m == codecs.JSON:
            doc = json.loads(text)
            if isinstance(doc, dict):
                if "instances" not in doc:
                    raise ValidationError('The JSON request must be {"instances": [{"in0": [...], "in1": [...]}]}.')
                doc = doc["instances"]
            if not isinstance(doc, list):
                raise ValidationError('"instances" must be a list of {"in0": [...], "in1": [...]} objects.')
            return doc
        if m == codecs.JSONLINES:
            return [json.loads(line) for line in text.splitlines() if line.strip()]
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValidationError(f"Could not parse the {m} request body: {e}") from None
    raise ValidationError(f"Content type '{content_type}' is not supported; use application/json or "
                          "application/jsonlines.")


def _seqlens(content_type: str) -> tuple[int, int] | None:
    _, params = parse_content_type(content_type, default=codecs.JSON)
    raw = params.get("infer_max_seqlens")
    if raw is None:
        return None
    try:
        vals = [int(v) for v in raw.strip("'\"").split(",")]
        if len(vals) == 1:
            vals = vals * 2
        if len(vals) != 2 or not all(1 <= v <= 5000 for v in vals):
            raise ValueError
    except ValueError:
        raise ValidationError(f"infer_max_seqlens={raw} must be two integers in [1, 5000], e.g. "
                              "infer_max_seqlens=20,20.") from None
    return vals[0], vals[1]


class Object2VecHandler(InferenceHandler):
    default_accept = codecs.JSON

    def __init__(self, model_dir: str):
        super().__init__(model_dir)
        torch = neural.import_torch()
        from .model import Object2VecNet

        path = Path(model_dir)
        if not (path / CONFIG_FILE).is_file() or not (path / WEIGHTS_FILE).is_file():
            raise ValidationError(f"{CONFIG_FILE} and {WEIGHTS_FILE} not found in {model_dir}: not an Object2Vec "
                                  "model made by Shipyard.")
        self.cfg = json.loads((path / CONFIG_FILE).read_text())
        self.torch = torch
        self.net = Object2VecNet(self.cfg)
        self.net.load_state_dict(torch.load(path / WEIGHTS_FILE, map_location="cpu", weights_only=True))
        self.net.eval()

    def decode(self, body: bytes, content_type: str) -> tuple[str, list[list[int]], list[list[int]], int]:
        """(kind, in0 lists, in1 lists, side): kind "pairs", or "embeddings" of side 0 or 1."""
        raw = _instances(body, content_type)
        if not raw:
            raise ValidationError("The request holds no instances.")
        if len(raw) > MAX_INSTANCES:
            raise ValidationError(f"The request holds {len(raw)} instances; send at most {MAX_INSTANCES}.")
        limits = _seqlens(content_type)
        sides = []
        for n, inst in enumerate(raw):
            if not isinstance(inst, dict) or not ({"in0", "in1"} & set(inst)):
                raise ValidationError(f'Instance {n} must be an object with "in0" and/or "in1" token id lists.')
            sides.append((("in0" in inst) and 1) | (("in1" in inst) and 2))
        if len(set(sides)) > 1:
            raise ValidationError("The request mixes pairs (in0 and in1) with single inputs (in0 or in1 only); send "
                                  "pairs for scores and single inputs for embeddings in separate requests.")
        a: list[list[int]] = []
        b: list[list[int]] = []
        for n, inst in enumerate(raw):
            for key, out in (("in0", a), ("in1", b)):
                if key in inst:
                    i = int(key[-1])
                    enc = self.cfg[f"enc{i}"]
                    max_len = enc["max_seq_len"] if limits is None else min(enc["max_seq_len"], limits[i])
                    out.append(check_tokens(inst[key], key, enc["vocab_size"], max_len, f"Instance {n}"))
        kind = {3: "pairs", 1: "embeddings", 2: "embeddings"}[sides[0]]
        return kind, a, b, 0 if sides[0] == 1 else 1

    def predict(self, data: tuple[str, list[list[int]], list[list[int]], int]) -> list[dict]:
        from .model import pad_batch

        kind, a, b, side = data
        torch = self.torch
        pads = (self.cfg["enc0"]["vocab_size"], self.cfg["enc1"]["vocab_size"])
        out: list[dict] = []
        with neural.no_grad_inference():
            for s in range(0, max(len(a), len(b)), 512):
                if kind == "pairs":
                    res = self.net(pad_batch(a[s:s + 512], pads[0]), pad_batch(b[s:s + 512], pads[1]))
                    if self.cfg["output_layer"] == "softmax":
                        probs = torch.softmax(res, dim=1).tolist()
                        out.extend({"scores": p} for p in probs)
                    else:
                        out.extend({"scores": [v]} for v in res.tolist())
                else:
                    seqs = (a if side == 0 else b)[s:s + 512]
                    emb = self.net.encode(side, pad_batch(seqs, pads[side]))
                    out.extend({"embeddings": e} for e in emb.tolist())
        return out

    def encode(self, prediction: list[dict], accept: str) -> tuple[bytes, str]:
        m = codecs.mime(accept)
        if m in ("", "*/*"):
            m = self.default_accept
        if m not in (codecs.JSON, codecs.JSONLINES):
            raise ValidationError(f"Accept type '{accept}' is not supported; use application/json or "
                                  "application/jsonlines (verbose=true is accepted).")
        return codecs.encode_predictions(prediction, m, "predictions")

    def invoke(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        self.encode([], accept or self.default_accept)  # refuse an unsupported Accept before any work
        return self.encode(self.predict(self.decode(body, content_type)), accept or self.default_accept)
