"""The conformance suite's NTM data: documents from 3 known topics over 30 words in the train, validation and
test channels, a ``vocab.txt`` in auxiliary, and requests in every inference content type."""

from __future__ import annotations

from ..base import SampleData
from ..lda.corpus import generate
from ..lda.sample import CSV, RECORDIO, encode, requests


def make(content_type: str) -> SampleData:
    train = generate(300, 3, 30, words_per_doc=40, seed=0)
    val = generate(60, 3, 30, words_per_doc=40, seed=5, topics=train.topics)
    test = generate(60, 3, 30, words_per_doc=40, seed=7, topics=train.topics)
    ct = CSV if content_type.startswith(CSV) else RECORDIO
    vocab = "".join(f"word{i}\n" for i in range(30)).encode()
    return SampleData(
        channels={"train": ({"part-0": encode(train.counts, ct)}, ct),
                  "validation": ({"part-0": encode(val.counts, ct)}, ct),
                  "test": ({"part-0": encode(test.counts, ct)}, ct),
                  "auxiliary": ({"vocab.txt": vocab}, "text/plain")},
        requests=requests(test.counts[:5]),
    )
