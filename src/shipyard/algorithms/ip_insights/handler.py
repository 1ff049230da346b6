"""IP Insights inference: ``entity,ip`` rows (CSV), or ``{"data": {"features": {"values": [entity, ip]}}}``
instances (JSON / JSON Lines) -> ``{"predictions": [{"dot_product": ..}]}``."""

from __future__ import annotations

import json

import numpy as np

from ...errors import ValidationError
from ...io import codecs
from ..builtin import ModelHandler
from .model import entity_rows, ip_ints, prefix_rows


def _pair(inst) -> tuple[str, str]:
    if isinstance(inst, dict):
        inst = inst.get("data", inst)
        inst = inst.get("features", inst) if isinstance(inst, dict) else inst
        inst = inst.get("values", inst) if isinstance(inst, dict) else inst
    if isinstance(inst, str):
        inst = inst.split(",")
    if not isinstance(inst, list) or len(inst) != 2:
        raise ValidationError('Each instance must be an (entity, ip) pair: "entity,ip" or '
                              '{"data": {"features": {"values": ["entity", "ip"]}}}.')
    return str(inst[0]).strip(), str(inst[1]).strip()


class IPInsightsHandler(ModelHandler):
    def decode(self, body: bytes, content_type: str):
        m = codecs.mime(content_type)
        try:
            text = body.decode("utf-8")
            if m == codecs.CSV:
                rows = [_pair(line) for line in text.splitlines() if line.strip()]
            elif m == codecs.JSON:
                doc = json.loads(text)
                rows = [_pair(i) for i in (doc["instances"] if isinstance(doc, dict) else doc)]
            elif m == codecs.JSONLINES:
                rows = [_pair(json.loads(line)) for line in text.splitlines() if line.strip()]
            else:
                raise ValidationError(f"Content type '{content_type}' is not supported; use text/csv, "
                                      "application/json or application/jsonlines.")
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as e:
            raise ValidationError(f"Could not parse the {m} request body: {e}") from None
        if not rows:
            raise ValidationError("The request holds no instances.")
        return rows

    def predict(self, rows) -> list[dict]:
        n = self.meta["num_entity_vectors"]
        ent = entity_rows([r[0] for r in rows], n)
        ip = prefix_rows(ip_ints([r[1] for r in rows]), n)
        E, P = self.arrays["entities"].astype(np.float64), self.arrays["prefixes"].astype(np.float64)
        s = np.einsum("ij,ij->i", E[ent], P[ip].mean(axis=1))
        return [{"dot_product": float(v)} for v in s]
