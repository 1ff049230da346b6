"""The conformance suite's LDA data: documents from 3 known topics over 30 words (train + test channels) and
requests in every inference content type."""

from __future__ import annotations

import io
import json

import numpy as np
import scipy.sparse as sp

from ...io.protobuf import write_recordio_protobuf
from ..base import SampleData, SampleRequest
from .corpus import generate

CSV, RECORDIO = "text/csv", "application/x-recordio-protobuf"


def encode(X: np.ndarray, content_type: str, sparse: bool = True) -> bytes:
    if content_type.startswith(CSV):
        return ("\n".join(",".join(f"{v:g}" for v in row) for row in X) + "\n").encode()
    buf = io.BytesIO()
    write_recordio_protobuf(buf, sp.csr_matrix(X) if sparse else np.asarray(X, np.float32))
    return buf.getvalue()


def requests(X: np.ndarray) -> list[SampleRequest]:
    csv = [",".join(f"{v:g}" for v in row).encode() for row in X]
    jl = [json.dumps({"features": row.tolist()}).encode() for row in X]
    return [
        SampleRequest(CSV, b"\n".join(csv), len(X), tuple(csv)),
        SampleRequest("application/json", json.dumps({"instances": [{"features": r.tolist()} for r in X]}).encode(),
                      len(X)),
        SampleRequest("application/jsonlines", b"\n".join(jl), len(X), tuple(jl)),
        SampleRequest(RECORDIO, encode(X, RECORDIO, sparse=True), len(X),
                      tuple(encode(X[i:i + 1], RECORDIO, sparse=False) for i in range(len(X)))),
    ]


def make(content_type: str) -> SampleData:
    train = generate(400, 3, 30, words_per_doc=40, seed=0)
    test = generate(60, 3, 30, words_per_doc=40, seed=7, topics=train.topics)
    ct = CSV if content_type.startswith(CSV) else RECORDIO
    return SampleData(
        channels={"train": ({"part-0": encode(train.counts, ct)}, ct),
                      "test": ({"part-0": encode(test.counts, ct)}, ct)},
        requests=requests(test.counts[:5]),
    )
