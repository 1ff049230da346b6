"""The conformance suite's BlazingText data: supervised text classification on generated labelled text, as
``__label__X text`` lines (text/plain) or augmented-manifest JSON lines (application/jsonlines), and requests in
both inference content types."""

from __future__ import annotations

import json

from ..base import SampleData, SampleRequest
from .synthetic import fasttext_lines, labelled_text


def _channel(docs: list[tuple[int, str]], content_type: str) -> tuple[dict[str, bytes], str]:
    if content_type == "application/jsonlines":
        body = "".join(json.dumps({"source": text, "label": c}) + "\n" for c, text in docs)
        return {"data.jsonl": body.encode()}, content_type
    return {"data.txt": fasttext_lines(docs).encode()}, "text/plain"


def make(content_type: str) -> SampleData:
    train = labelled_text(240, classes=3, seed=0)
    validation = labelled_text(60, classes=3, seed=1)
    texts = [text for _, text in labelled_text(5, classes=3, seed=2)]
    config = {"k": 2}
    batch = json.dumps({"instances": texts, "configuration": config}).encode()
    singles = tuple(json.dumps({"instances": [t], "configuration": config}).encode() for t in texts)
    lines = "".join(json.dumps({"source": t}) + "\n" for t in texts).encode()
    return SampleData(
        channels={"train": _channel(train, content_type), "validation": _channel(validation, content_type)},
        requests=[SampleRequest("application/json", batch, len(texts), singles),
                  SampleRequest("application/jsonlines", lines, len(texts),
                                tuple(json.dumps({"source": t}).encode() + b"\n" for t in texts))],
    )
