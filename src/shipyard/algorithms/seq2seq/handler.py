"""seq2seq serving: translations by beam search, in AWS's request and response shapes.

* ``application/json``: ``{"instances": [{"data": "tok tok", "configuration": {"attention_matrix": "true"}}]}``
  (a top-level ``configuration`` applies to every instance) -> ``{"predictions": [{"target": "...",
  "matrix": [[...]]}]}``, ``matrix`` (one row per target token, one column per source token) only when asked for;
* ``application/jsonlines``: one such instance per line in, one prediction per line out;
* ``application/x-recordio-protobuf``: records of Int32 source ids (``features["source"]`` or
  ``features["values"]``) in; out, with that Accept (the default for this request type), records of Int32 target
  ids in ``features["target"]``, as AWS's container answers.

Sentences are whitespace-tokenised; unknown words map to ``<unk>``; sources are truncated to
``max_seq_len_source``. Each sentence is decoded on its own, so answers never depend on the rest of a request.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np

from ...errors import ValidationError
from ...io.protobuf import Tensor, encode_record
from ...io.recordio import RecordIOError, frame, split_records
from .. import neural
from ..base import InferenceHandler
from . import data as D

JSON, JSONL, RECORDIO = "application/json", "application/jsonlines", "application/x-recordio-protobuf"


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes")


class Seq2SeqHandler(InferenceHandler):
    default_accept = JSON

    def __init__(self, model_dir: str):
        super().__init__(model_dir)
        from pathlib import Path

        torch = neural.import_torch()
        from . import model as M
        from .train import MODEL_FILE, SMALL_MODEL_PARAMETERS

        self.torch, self.M = torch, M
        folder = Path(model_dir)
        path = folder / MODEL_FILE
        if not path.exists():
            raise ValidationError(f"Model file {MODEL_FILE} not found in {model_dir}.")
        saved = torch.load(path, map_location="cpu", weights_only=True)
        self.vocab_src = D.parse_vocab((folder / D.VOCAB_FILES[0]).read_bytes(), D.VOCAB_FILES[0])
        vocab_trg = D.parse_vocab((folder / D.VOCAB_FILES[1]).read_bytes(), D.VOCAB_FILES[1])
        self.rev_trg = {i: w for w, i in vocab_trg.items()}
        self.cfg = saved["config"]
        self.n_src = saved["src_vocab_size"]
        self.device = neural.device()
        net = M.Seq2Seq(self.cfg, saved["src_vocab_size"], saved["trg_vocab_size"])
        net.load_state_dict(saved["state_dict"])
        self.net = net.to(self.device).eval()
        self.small = self.device.type == "cpu" and \
            sum(p.numel() for p in net.parameters()) < SMALL_MODEL_PARAMETERS

    # ------------------------------------------------------------------ requests
    def decode(self, body: bytes, content_type: str) -> dict:
        ct = (content_type or JSON).split(";")[0].strip().lower()
        if ct == RECORDIO:
            return {"kind": RECORDIO, "items": self._decode_recordio(body)}
        if ct == JSON:
            try:
                doc = json.loads(body)
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise ValidationError(f"The request body is not valid JSON: {e}.") from None
            if not isinstance(doc, dict) or not isinstance(doc.get("instances"), list):
                raise ValidationError('A JSON request must be {"instances": [{"data": "source sentence"}, ...]}.')
            shared = doc.get("configuration") or {}
            return {"kind": JSON, "items": [self._instance(x, i, shared) for i, x in enumerate(doc["instances"])]}
        if ct == JSONL:
            items = []
            try:
                lines = [ln for ln in body.decode("utf-8").splitlines() if ln.strip()]
            except UnicodeDecodeError:
                raise ValidationError("The JSON Lines request is not UTF-8 text.") from None
            for i, line in enumerate(lines):
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValidationError(f"Line {i + 1} of the JSON Lines request is not valid JSON: {e}.") from None
                items.append(self._instance(obj, i, {}))
            return {"kind": JSONL, "items": items}
        raise ValidationError(f"Content type {content_type!r} is not supported by seq2seq; use {JSON}, {JSONL} "
                              f"or {RECORDIO}.")

    def _instance(self, obj: Any, i: int, shared: dict) -> dict:
        if not isinstance(obj, dict) or not isinstance(obj.get("data"), str):
            raise ValidationError(f'Instance {i} must be an object {{"data": "source sentence"}}; got {obj!r:.100}.')
        conf = {**shared, **(obj.get("configuration") or {})}
        words = obj["data"].split()
        ids = [self.vocab_src.get(w, self.M.UNK) for w in words]
        return {"ids": ids, "matrix": _truthy(conf.get("attention_matrix", "false"))}

    def _decode_recordio(self, body: bytes) -> list[dict]:
        try:
            payloads = split_records(body)
        except (RecordIOError, ValueError) as e:
            raise ValidationError(f"The request body is not RecordIO-protobuf: {e}.") from None
        if not payloads and body:
            raise ValidationError("The request body is not RecordIO-protobuf.")
        items = []
        for i, payload in enumerate(payloads):
            src, _ = D.record_ids(payload, f"Record {i} of the request", need_target=False)
            D.check_range(src, self.n_src, "source", f"Record {i} of the request")
            items.append({"ids": [int(x) for x in src], "matrix": False})
        return items

    # ------------------------------------------------------------------ model
    def predict(self, data: dict) -> dict:
        beam, max_len = int(self.cfg["beam_size"]), int(self.cfg["max_seq_len_target"])
        max_src = int(self.cfg["max_seq_len_source"])
        out = []
        threads = self.torch.get_num_threads()
        if self.small:
            self.torch.set_num_threads(1)  # see train.single_thread_if_small
        try:
            with neural.no_grad_inference():
                out = [self._translate(item, beam, max_len, max_src) for item in data["items"]]
        finally:
            self.torch.set_num_threads(threads)
        return {"kind": data["kind"], "items": out}

    def _translate(self, item: dict, beam: int, max_len: int, max_src: int) -> dict:
        ids = item["ids"][:max_src]
        if not ids:
            return {"ids": [], "target": "", "matrix": [] if item["matrix"] else None}
        trg, attention = self.M.beam_search(self.net, ids, beam, max_len, self.device)
        words = [self.rev_trg.get(t, "<unk>") for t in trg]
        return {"ids": trg, "target": " ".join(words),
                "matrix": [[round(v, 6) for v in row] for row in attention] if item["matrix"] else None}

    # ------------------------------------------------------------------ responses
    def encode(self, prediction: dict, accept: str) -> tuple[bytes, str]:
        a = (accept or "").split(";")[0].strip().lower()
        if not a or a == "*/*":
            a = prediction["kind"]
        rows = [{"target": p["target"], **({"matrix": p["matrix"]} if p["matrix"] is not None else {})}
                for p in prediction["items"]]
        if a == JSON:
            return json.dumps({"predictions": rows}).encode(), JSON
        if a == JSONL:
            return "".join(json.dumps(r) + "\n" for r in rows).encode(), JSONL
        if a == RECORDIO:
            buf = io.BytesIO()
            for p in prediction["items"]:
                buf.write(frame(encode_record({"target": Tensor(np.asarray(p["ids"], dtype=np.int32))})))
            return buf.getvalue(), RECORDIO
        raise ValidationError(f"Accept {accept!r} is not supported by seq2seq; use {JSON}, {JSONL} or {RECORDIO}.")

    def invoke(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        return self.encode(self.predict(self.decode(body, content_type)), accept)

