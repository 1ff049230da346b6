"""A toy "translation" language pair for seq2seq's conformance suite, tests, benchmark and example.

Source sentences are 3 to 7 words of a small vocabulary; the translation maps each word to its own target word
(a fixed bijection) and swaps each pair of neighbouring words (``a b c d e`` -> ``B A D C E``), a local
reordering that a model must learn through attention. Files are what AWS's ``create_vocab_proto.py`` writes:
``train.rec``/``val.rec`` records with Int32 ``features["source"]``/``features["target"]`` and the two
vocabularies with the special tokens first.
"""

from __future__ import annotations

import io
import json

import numpy as np

from ...io.protobuf import Tensor, encode_record
from ...io.recordio import frame
from ..base import SampleData, SampleRequest

SPECIAL = ["<pad>", "<unk>", "<s>", "</s>"]
SOURCE_WORDS = ["the", "cat", "dog", "sees", "a", "big", "small", "red", "house", "runs", "eats", "fish"]
TARGET_WORDS = ["der", "katze", "hund", "sieht", "ein", "gross", "klein", "rot", "haus", "rennt", "frisst",
                "fisch"]


def translate(sentence: str) -> str:
    """The reference translation of a source sentence (unknown words become <unk>)."""
    mapping = dict(zip(SOURCE_WORDS, TARGET_WORDS))
    words = [mapping.get(w, "<unk>") for w in sentence.split()]
    for i in range(0, len(words) - 1, 2):
        words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words)


def corpus(n: int, seed: int, min_len: int = 3, max_len: int = 7) -> list[tuple[str, str]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        words = [SOURCE_WORDS[i] for i in rng.integers(0, len(SOURCE_WORDS), rng.integers(min_len, max_len + 1))]
        src = " ".join(words)
        out.append((src, translate(src)))
    return out


def vocabularies() -> tuple[dict[str, int], dict[str, int]]:
    return ({w: i for i, w in enumerate(SPECIAL + SOURCE_WORDS)},
            {w: i for i, w in enumerate(SPECIAL + TARGET_WORDS)})


def ids(sentence: str, vocab: dict[str, int]) -> list[int]:
    return [vocab.get(w, 1) for w in sentence.split()]


def record(source: list[int], target: list[int] | None = None) -> bytes:
    """One framed record as create_vocab_proto.py's list_to_record_bytes + write_recordio make it."""
    features = {"source": Tensor(np.asarray(source, dtype=np.int32))}
    if target is not None:
        features["target"] = Tensor(np.asarray(target, dtype=np.int32))
    return frame(encode_record(features))


def recordio(pairs: list[tuple[str, str]], vocab_src: dict[str, int], vocab_trg: dict[str, int]) -> bytes:
    buf = io.BytesIO()
    for src, trg in pairs:
        buf.write(record(ids(src, vocab_src), ids(trg, vocab_trg)))
    return buf.getvalue()


def channels(n_train: int = 600, n_val: int = 60, seed: int = 0) -> dict[str, tuple[dict[str, bytes], str]]:
    """train, validation and vocab channels of the toy pair (SampleData's layout)."""
    vs, vt = vocabularies()
    rec = "application/x-recordio-protobuf"
    return {
        "train": ({"train.rec": recordio(corpus(n_train, seed), vs, vt)}, rec),
        "validation": ({"val.rec": recordio(corpus(n_val, seed + 1), vs, vt)}, rec),
        "vocab": ({"vocab.src.json": json.dumps(vs).encode(), "vocab.trg.json": json.dumps(vt).encode()},
                  "application/json"),
    }


def make(content_type: str) -> SampleData:
    """The conformance suite's data: the toy pair, and requests in JSON, JSON Lines and RecordIO-protobuf."""
    sentences = [src for src, _ in corpus(3, seed=42)]
    vs, _ = vocabularies()
    singles_json = tuple(json.dumps({"instances": [{"data": s}]}).encode() for s in sentences)
    requests = [
        SampleRequest("application/json", json.dumps({"instances": [{"data": s} for s in sentences]}).encode(),
                      len(sentences), singles_json),
        SampleRequest("application/jsonlines", "\n".join(json.dumps({"data": s}) for s in sentences).encode(),
                      len(sentences)),
        SampleRequest("application/x-recordio-protobuf", b"".join(record(ids(s, vs)) for s in sentences),
                      len(sentences)),
    ]
    return SampleData(channels=channels(), requests=requests)
