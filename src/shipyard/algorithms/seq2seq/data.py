"""seq2seq's data: the vocabularies (``vocab.src.json``/``vocab.trg.json``) and the RecordIO-protobuf sentence
pairs, read and checked with messages that say what to fix, and the batches (buckets of similar lengths).

A record holds the source ids in ``features["source"]`` and the target ids in ``features["target"]`` (what AWS's
``create_vocab_proto.py`` writes), or ``features["values"]`` and ``label["values"]`` (the generic layout of the
built-ins), each an Int32 tensor. numpy only: the training program turns batches into tensors.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...errors import ValidationError
from ...io.protobuf import ProtobufError, Tensor, decode_record
from ...io.recordio import RecordIOError, read_records

SPECIAL = {"<pad>": 0, "<unk>": 1, "<s>": 2, "</s>": 3}
VOCAB_FILES = ("vocab.src.json", "vocab.trg.json")


def _files(folder: Path) -> list[Path]:
    if folder.is_file():
        return [folder]
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def read_vocab(folder: Path) -> tuple[dict[str, int], dict[str, int]]:
    """(source vocabulary, target vocabulary) from the vocab channel."""
    found = {p.name: p for p in _files(folder)}
    out = []
    for name in VOCAB_FILES:
        if name not in found:
            raise ValidationError(
                f"The vocab channel has no {name} (it holds {', '.join(sorted(found)) or 'no files'}); it needs "
                f"{VOCAB_FILES[0]} and {VOCAB_FILES[1]}, each a JSON object token -> id.")
        out.append(parse_vocab(found[name].read_bytes(), name))
    return out[0], out[1]


def parse_vocab(raw: bytes, name: str) -> dict[str, int]:
    try:
        vocab = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValidationError(f"{name} is not valid UTF-8 JSON: {e}.") from None
    if not isinstance(vocab, dict) or not vocab or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in vocab.values()):
        raise ValidationError(f"{name} must be a JSON object mapping each token to a non-negative integer id.")
    for token, expected in SPECIAL.items():
        if vocab.get(token) != expected:
            raise ValidationError(
                f"{name} maps '{token}' to {vocab.get(token)!r}; seq2seq needs the special tokens <pad>=0, "
                "<unk>=1, <s>=2, </s>=3 (as create_vocab_proto.py writes them).")
    if len(set(vocab.values())) != len(vocab):
        raise ValidationError(f"{name} gives the same id to more than one token.")
    return vocab


def vocab_size(vocab: dict[str, int]) -> int:
    return max(vocab.values()) + 1


def _ids(t, what: str, where: str) -> np.ndarray:
    if not isinstance(t, Tensor):
        raise ValidationError(f"{where}: {what} is not a tensor; expected Int32 token ids.")
    if t.values.dtype != np.int32:
        raise ValidationError(f"{where}: {what} holds {t.values.dtype} values; expected Int32 token ids "
                              "(int32_tensor, as create_vocab_proto.py writes them).")
    return t.values.astype(np.int64)


def record_ids(payload: bytes, where: str, need_target: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """(source ids, target ids or None) of one serialized Record."""
    try:
        rec = decode_record(payload)
    except (ProtobufError, UnicodeDecodeError, IndexError) as e:
        raise ValidationError(f"{where} is not a valid RecordIO-protobuf Record: {e}.") from None
    if "source" in rec.features:
        src = _ids(rec.features["source"], "features['source']", where)
    elif "values" in rec.features:
        src = _ids(rec.features["values"], "features['values']", where)
    else:
        raise ValidationError(f"{where} has no source ids: expected features['source'] (or features['values']) "
                              f"as an Int32 tensor; it has features {sorted(rec.features)}.")
    trg = None
    for where_t, key in ((rec.features, "target"), (rec.label, "target"), (rec.label, "values")):
        if key in where_t:
            trg = _ids(where_t[key], key, where)
            break
    if trg is None and need_target:
        raise ValidationError(f"{where} has no target ids: expected features['target'] (or label['values']) as an "
                              "Int32 tensor.")
    return src, trg


def check_range(ids: np.ndarray, size: int, side: str, where: str) -> None:
    if ids.size and (ids.min() < 0 or ids.max() >= size):
        bad = int(ids.max()) if ids.max() >= size else int(ids.min())
        file = "vocab.src.json" if side == "source" else "vocab.trg.json"
        raise ValidationError(
            f"{where} has {side} token id {bad}, outside the {side} vocabulary ({file} has ids 0..{size - 1}): "
            "encode the records with the same vocabulary files that the vocab channel holds.")


def read_pairs(folder: Path, channel: str, src_size: int, trg_size: int, max_src: int, max_trg: int
               ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every (source, target) pair of a channel, truncated to the maximum lengths; pairs with an empty side
    are skipped (as AWS's preprocessing skips empty lines)."""
    pairs = []
    files = _files(folder)
    if not files:
        raise ValidationError(f"Channel '{channel}' has no files; it needs RecordIO-protobuf records (train.rec).")
    for path in files:
        try:
            with open(path, "rb") as f:
                for i, payload in enumerate(read_records(f)):
                    where = f"Record {i} of {channel}/{path.relative_to(folder) if path != folder else path.name}"
                    src, trg = record_ids(payload, where)
                    assert trg is not None
                    check_range(src, src_size, "source", where)
                    check_range(trg, trg_size, "target", where)
                    if src.size and trg.size:
                        pairs.append((src[:max_src], trg[:max_trg]))
        except RecordIOError as e:
            raise ValidationError(
                f"File {channel}/{path.name} is not RecordIO-protobuf ({e}); seq2seq reads records of Int32 token "
                "ids such as create_vocab_proto.py writes.") from None
    if not pairs:
        raise ValidationError(f"Channel '{channel}' holds no sentence pair with both a source and a target.")
    return pairs


def batches(pairs: list[tuple[np.ndarray, np.ndarray]], batch_size: int, bucketing: bool, bucket_width: int,
            rng: np.random.Generator | None) -> list[list[int]]:
    """Index lists, one per batch. Bucketing groups pairs whose source lengths fall in the same
    ``bucket_width`` step (then by target length), so little padding is computed; the batch order is shuffled
    each epoch (``rng``; None keeps it, for evaluation)."""
    order = np.arange(len(pairs))
    if rng is not None:
        order = rng.permutation(len(pairs))
    if bucketing:
        keys = [(len(pairs[i][0]) // bucket_width, len(pairs[i][1]) // bucket_width) for i in order]
        order = order[sorted(range(len(order)), key=lambda j: keys[j])]
    out = [order[i:i + batch_size].tolist() for i in range(0, len(order), batch_size)]
    if rng is not None:
        out = [out[i] for i in rng.permutation(len(out))]
    return out


def pad(pairs: list[tuple[np.ndarray, np.ndarray]], index: list[int], width_src: int | None = None,
        width_trg: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(source [B,S], source lengths [B], decoder input [B,T+1] = <s> target, decoder output = target </s>)."""
    srcs = [pairs[i][0] for i in index]
    trgs = [pairs[i][1] for i in index]
    s = width_src or max(len(x) for x in srcs)
    t = (width_trg or max(len(y) for y in trgs)) + 1
    src = np.zeros((len(index), s), dtype=np.int64)
    y_in = np.zeros((len(index), t), dtype=np.int64)
    y_out = np.zeros((len(index), t), dtype=np.int64)
    for r, (x, y) in enumerate(zip(srcs, trgs)):
        src[r, :len(x)] = x
        y_in[r, 0] = SPECIAL["<s>"]
        y_in[r, 1:len(y) + 1] = y
        y_out[r, :len(y)] = y
        y_out[r, len(y)] = SPECIAL["</s>"]
    lengths = np.array([len(x) for x in srcs], dtype=np.int64)
    return src, lengths, y_in, y_out


def corpus_bleu(hypotheses: list[list[int]], references: list[list[int]], max_n: int = 4) -> float:
    """Corpus BLEU-4 in [0, 1] (Papineni et al.: clipped n-gram precisions, geometric mean, brevity penalty),
    the n-gram counts add-one smoothed for n > 1 so a small sample does not score 0 for one missing 4-gram."""
    from collections import Counter

    matches = [0] * max_n
    totals = [0] * max_n
    hyp_len = ref_len = 0
    for hyp, ref in zip(hypotheses, references):
        hyp_len += len(hyp)
        ref_len += len(ref)
        for n in range(1, max_n + 1):
            h = Counter(tuple(hyp[i:i + n]) for i in range(len(hyp) - n + 1))
            r = Counter(tuple(ref[i:i + n]) for i in range(len(ref) - n + 1))
            matches[n - 1] += sum(min(c, r[g]) for g, c in h.items())
            totals[n - 1] += max(len(hyp) - n + 1, 0)
    if hyp_len == 0 or matches[0] == 0:
        return 0.0
    log_p = 0.0
    for n in range(max_n):
        m, tot = (matches[n], totals[n]) if n == 0 else (matches[n] + 1, totals[n] + 1)
        log_p += np.log(m / tot) / max_n
    bp = 1.0 if hyp_len > ref_len else float(np.exp(1 - ref_len / hyp_len))
    return float(bp * np.exp(log_p))
