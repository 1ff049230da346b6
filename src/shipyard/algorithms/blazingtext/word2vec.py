"""Word2Vec training (skipgram, cbow, batch_skipgram) with negative sampling, in PyTorch without autograd.

What fastText/word2vec do one pair at a time, this does a mini-batch at a time: each epoch subsamples frequent
words (keep probability ``sqrt(t/f) + t/f``), draws each position's window in ``1..window_size``, and makes the
(center, context) pairs in corpus order; a batch of pairs is scored against ``negative_samples`` negatives
drawn from the unigram^0.75 table and the rows it touched are updated with ``index_add_`` (summed SGD, the
learning rate decaying linearly to zero over the run, as word2vec's). ``cbow`` predicts each word from the mean
of its window. ``batch_skipgram`` (BlazingText's multi-core/GPU variant) shares one set of negatives across
``batch_size`` consecutive pairs. With ``subwords`` a word's input vector is the mean of its own row and its
character n-gram rows (fastText's rows ``nwords + hash % buckets``), so unknown words get vectors too.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from ...errors import ValidationError
from ..neural import import_torch
from .data import vocabulary
from .fasttext_format import EOS, FastTextArgs, FastTextModel

BATCH_PAIRS = 1024


def _subword_table(model: FastTextModel) -> tuple[np.ndarray, np.ndarray]:
    """(rows, mask): each word's input rows padded to the longest, and which entries are real."""
    lists = [model.subword_rows(w) for w in model.words]
    width = max(len(r) for r in lists)
    rows = np.zeros((len(lists), width), np.int64)
    mask = np.zeros((len(lists), width), np.float32)
    for i, r in enumerate(lists):
        rows[i, :len(r)] = r
        mask[i, :len(r)] = 1.0
    return rows, mask


def _skipgram_pairs(ids: np.ndarray, sent: np.ndarray, ws: int, rng) -> tuple[np.ndarray, np.ndarray]:
    n = len(ids)
    bound = rng.integers(1, ws + 1, n)
    centers, contexts = [], []
    for d in range(1, ws + 1):
        i = np.arange(n - d)
        same = sent[:-d] == sent[d:] if d < n else np.zeros(0, bool)
        fwd = i[same & (bound[:-d] >= d)]           # center i, context i+d
        bwd = i[same & (bound[d:] >= d)]            # center i+d, context i
        centers += [fwd, bwd + d]
        contexts += [fwd + d, bwd]
    c = np.concatenate(centers) if centers else np.zeros(0, np.int64)
    x = np.concatenate(contexts) if contexts else np.zeros(0, np.int64)
    order = np.argsort(c, kind="stable")
    return ids[c[order]], ids[x[order]]


def _cbow_windows(ids: np.ndarray, sent: np.ndarray, ws: int, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(centers, context ids [n, 2ws], mask [n, 2ws]) for every position that has a context."""
    n = len(ids)
    bound = rng.integers(1, ws + 1, n)
    ctx = np.zeros((n, 2 * ws), np.int64)
    mask = np.zeros((n, 2 * ws), np.float32)
    pos = np.arange(n)
    for k, d in enumerate([*range(-ws, 0), *range(1, ws + 1)]):
        j = pos + d
        ok = (j >= 0) & (j < n) & (abs(d) <= bound)
        jj = np.clip(j, 0, n - 1)
        ok &= sent[jj] == sent
        ctx[:, k] = ids[jj]
        mask[:, k] = ok
    has = mask.sum(1) > 0
    return ids[has], ctx[has], mask[has]


def train_word2vec(sentences: list[list[str]], hps: dict[str, Any], device: Any,
                   log: Callable[[str], None], seed: int = 0) -> tuple[FastTextModel, dict[str, float]]:
    torch = import_torch()
    mode, dim, ws = hps["mode"], hps.get("vector_dim") or 100, hps["window_size"]
    words, counts, _, _, ntokens = vocabulary(sentences, hps["min_count"])
    if len(words) <= 1:
        raise _empty_vocab(hps["min_count"])
    subwords = bool(hps["subwords"])
    bucket = hps["buckets"] if subwords else 0
    args = FastTextArgs(dim=dim, ws=ws, epoch=hps["epochs"], min_count=hps["min_count"],
                        neg=hps["negative_samples"], word_ngrams=1, loss="ns",
                        model="cbow" if mode == "cbow" else "sg", bucket=bucket,
                        minn=hps["min_char"] if subwords else 0, maxn=hps["max_char"] if subwords else 0,
                        t=hps["sampling_threshold"])
    model = FastTextModel(args, words, counts, ntokens=ntokens)
    word2id = model.word2id
    flat, sent_ids = [], []
    for s_i, s in enumerate(sentences):
        row = [word2id[t] for t in s if t in word2id]
        flat.extend(row)
        sent_ids.extend([s_i] * len(row))
    ids_all = np.asarray(flat, np.int64)
    sent_all = np.asarray(sent_ids, np.int64)
    counts_a = np.asarray(counts, np.float64)
    freq = counts_a / counts_a.sum()
    t = hps["sampling_threshold"]
    pkeep = np.minimum(1.0, np.sqrt(t / freq) + t / freq) if t > 0 else np.ones_like(freq)
    noise = counts_a ** 0.75
    noise[word2id[EOS]] = 0.0 if len(words) > 1 else noise[word2id[EOS]]
    noise_t = torch.tensor(noise / noise.sum(), dtype=torch.float32, device=device)

    gen = torch.Generator(device=device).manual_seed(seed)
    rng = np.random.default_rng(seed)
    n_in = len(words) + bucket
    W_in = ((torch.rand(n_in, dim, generator=gen, device=device) * 2 - 1) / dim).contiguous()
    W_out = torch.zeros(len(words), dim, device=device)
    sub_rows = sub_mask = None
    if subwords:
        r, m = _subword_table(model)
        sub_rows, sub_mask = torch.tensor(r, device=device), torch.tensor(m, device=device)
    K, lr0 = hps["negative_samples"], hps["learning_rate"]
    group = hps["batch_size"] if mode == "batch_skipgram" else 1
    expected = float(pkeep[ids_all].sum()) * hps["epochs"]  # kept tokens over the run, for the lr schedule
    done = 0.0
    started = time.perf_counter()
    loss_sum, loss_n = 0.0, 0

    def inputs(idx):  # [B, S] rows and weights of each index's input vector
        if sub_rows is None:
            return idx[:, None], torch.ones(len(idx), 1, device=device)
        return sub_rows[idx], sub_mask[idx]

    for epoch in range(hps["epochs"]):
        keep = rng.random(len(ids_all)) < pkeep[ids_all]
        ids, sent = ids_all[keep], sent_all[keep]
        n_kept = len(ids)
        if mode == "cbow":
            centers, ctx, cmask = _cbow_windows(ids, sent, ws, rng)
            total = len(centers)
            units = [torch.tensor(a, device=device) for a in (centers, ctx, cmask)]
        else:
            c, x = _skipgram_pairs(ids, sent, ws, rng)
            total = len(c)
            units = [torch.tensor(c, device=device), torch.tensor(x, device=device)]
        per_unit = n_kept / max(total, 1)
        batch = BATCH_PAIRS if mode != "cbow" else max(64, BATCH_PAIRS // 4)
        for start in range(0, total, batch):
            lr = lr0 * max(1e-4, 1.0 - done / max(expected, 1.0))
            sl = slice(start, start + batch)
            if mode == "cbow":
                tgt, cids, cm = units[0][sl], units[1][sl], units[2][sl]
                rows, rmask = inputs(cids.reshape(-1))
                rows = rows.reshape(len(tgt), -1)
                rmask = (rmask.reshape(len(tgt), -1, rmask.shape[-1]) * cm[:, :, None]).reshape(len(tgt), -1)
            else:
                tgt = units[1][sl]
                rows, rmask = inputs(units[0][sl])
            B = len(tgt)
            cnt = rmask.sum(1, keepdim=True).clamp(min=1.0)
            h = (W_in[rows] * rmask[:, :, None]).sum(1) / cnt                       # [B, d]
            n_groups = -(-B // group)
            negs = torch.multinomial(noise_t, n_groups * K, replacement=True, generator=gen).reshape(n_groups, K)
            negs = negs.repeat_interleave(group, dim=0)[:B]
            targets = torch.cat([tgt[:, None], negs], 1)                           # [B, 1+K]
            V = W_out[targets]                                                     # [B, 1+K, d]
            score = torch.sigmoid(torch.bmm(V, h[:, :, None]).squeeze(2))
            label = torch.zeros_like(score)
            label[:, 0] = 1.0
            g = (label - score) * lr
            loss_sum += float(-(torch.log(score[:, 0] + 1e-7).sum() + torch.log(1 - score[:, 1:] + 1e-7).sum()))
            loss_n += B
            grad_h = (g[:, :, None] * V).sum(1)                                    # [B, d]
            W_out.index_add_(0, targets.reshape(-1), (g[:, :, None] * h[:, None, :]).reshape(-1, dim))
            upd = grad_h[:, None, :] * rmask[:, :, None]
            W_in.index_add_(0, rows.reshape(-1), upd.reshape(-1, dim))
            done += B * per_unit
        log(f"epoch {epoch + 1}/{hps['epochs']}: loss {loss_sum / max(loss_n, 1):.4f}")
        loss_sum, loss_n = 0.0, 0
    seconds = time.perf_counter() - started
    model.input = W_in.cpu().numpy()
    model.output = W_out.cpu().numpy()
    stats = {"seconds": seconds, "words_per_second": len(ids_all) * hps["epochs"] / max(seconds, 1e-9)}
    return model, stats


def _empty_vocab(min_count: int) -> ValidationError:
    return ValidationError(f"No word of the train channel occurs min_count={min_count} times; lower min_count "
                           "or give a larger corpus.")


def word_vectors(model: FastTextModel) -> np.ndarray:
    """Each vocabulary word's vector, as ``vectors.txt`` and ``get_word_vector`` give it."""
    if model.args.maxn <= 0:
        return model.input[:model.nwords].copy()
    return np.stack([model.word_vector(w) for w in model.words]) if model.words else model.input[:0]


def corpus_similarity_rho(model: FastTextModel, vectors: np.ndarray, sentences: list[list[str]],
                          top: int = 300) -> tuple[float, int] | None:
    """Spearman's rho between the vectors' cosine similarity and the corpus's own distributional similarity
    (cosine of PPMI co-occurrence rows in the window) over pairs of the ``top`` most frequent words: the
    ``train:mean_rho`` this implementation reports in place of AWS's WordSimilarity-353 score; (rho, pairs)."""
    from scipy.stats import spearmanr

    chosen = [i for i, w in enumerate(model.words) if w != EOS][:top]
    if len(chosen) < 5:
        return None
    ws = model.args.ws
    n = len(chosen)
    to_top = np.full(model.nwords, -1, np.int64)
    to_top[chosen] = np.arange(n)
    flat, sent = [], []
    for s_i, s in enumerate(sentences):
        ids = [model.word2id.get(t, -1) for t in s]
        flat.extend(ids)
        sent.extend([s_i] * len(ids))
    ids_a = np.asarray(flat, np.int64)
    top_a = np.where(ids_a >= 0, to_top[np.maximum(ids_a, 0)], -1)
    sent_a = np.asarray(sent, np.int64)
    counts = np.zeros(n * n, np.float64)
    for d in range(1, ws + 1):
        a, b = top_a[:-d], top_a[d:]
        ok = (a >= 0) & (b >= 0) & (sent_a[:-d] == sent_a[d:])
        counts += np.bincount(a[ok] * n + b[ok], minlength=n * n)
    C = counts.reshape(n, n)
    C = C + C.T
    total = C.sum()
    if total == 0:
        return None
    row = C.sum(1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log(C * total / (row @ row.T))
    ppmi = np.where(np.isfinite(pmi) & (pmi > 0), pmi, 0.0)

    def cos(M):
        M = M / np.maximum(np.linalg.norm(M, axis=1, keepdims=True), 1e-12)
        return M @ M.T

    iu = np.triu_indices(n, 1)
    gold = cos(ppmi)[iu]
    pred = cos(vectors[chosen].astype(np.float64))[iu]
    rho = spearmanr(gold, pred).correlation
    return (float(rho), len(gold)) if np.isfinite(rho) else None
