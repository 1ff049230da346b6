"""IP Insights inference: ``entity,ip`` rows (CSV), or ``{"data": {"features": {"values": [entity, ip]}}}`` /
``{"features": [entity, ip]}`` instances (JSON ``{"instances": [...]}`` / JSON Lines) ->
``{"predictions": [{"dot_product": ..}]}`` (JSON) or one ``{"dot_product": ..}`` per line (JSON Lines).

With the Accept parameter ``verbose=True`` (``application/json; verbose=True``, any spacing or case) each
prediction also carries the model's learned vectors, as SageMaker's IP Insights does: ``entity_embedding``
(the entity's row of the entity table) and ``ip_embedding`` (the IP encoder's output: the mean of the rows of
the address's /8, /16, /24 and /32 prefixes), whose dot product is ``dot_product``.
"""

from __future__ import annotations

import json

import numpy as np

from ...errors import ValidationError
from ...io import codecs
from ...io.readers import parse_content_type
from ..builtin import ModelHandler
from .model import entity_rows, ip_ints, prefix_rows

_TRUE = frozenset({"true", "t", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "off", "0"})


def verbose_requested(accept: str | None) -> bool:
    """Whether the Accept header asks for the embeddings: its ``verbose`` parameter, read as a boolean."""
    first = (accept or "").split(",", 1)[0]          # the first media range of a list
    _, params = parse_content_type(first, default="application/json")
    value = params.get("verbose")
    if value is None:
        return False
    value = value.strip().strip("'\"").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValidationError(f"The Accept parameter verbose={params['verbose']} is not a boolean; "
                          "use verbose=True or verbose=False.")


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

    def embeddings(self, rows) -> tuple[np.ndarray, np.ndarray]:
        """The entity and IP vectors of ``rows`` ((entity, ip) pairs), each [len(rows), vector_dim] float64."""
        n = self.meta["num_entity_vectors"]
        ent = entity_rows([r[0] for r in rows], n)
        ip = prefix_rows(ip_ints([r[1] for r in rows]), n)
        E, P = self.arrays["entities"].astype(np.float64), self.arrays["prefixes"].astype(np.float64)
        return E[ent], P[ip].mean(axis=1)

    def predict(self, rows, verbose: bool = False) -> list[dict]:
        e, f = self.embeddings(rows)
        s = np.einsum("ij,ij->i", e, f)
        if not verbose:
            return [{"dot_product": float(v)} for v in s]
        return [{"dot_product": float(v), "entity_embedding": ev.tolist(), "ip_embedding": fv.tolist()}
                for v, ev, fv in zip(s, e, f)]

    def invoke(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        verbose = verbose_requested(accept)   # a bad parameter is refused before any work
        return self.encode(self.predict(self.decode(body, content_type), verbose=verbose),
                           accept or self.default_accept)
