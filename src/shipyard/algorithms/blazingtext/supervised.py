"""fastText-style text classification (``mode=supervised``), in PyTorch without autograd.

A document's representation is the mean of the input rows of its words, its ``</s>`` and its hashed word
n-grams up to ``word_ngrams`` (fastText's ``getLine`` + ``addWordNgrams``, so ``model.bin`` reads the same
rows in ``fasttext``); a softmax layer over the labels classifies it. Mini-batches of documents are trained
with SGD as fastText does (the hidden gradient spread over the document's rows, divided by their number; the
learning rate decaying linearly to zero). Early stopping keeps the best epoch by validation accuracy.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from ...errors import ValidationError
from ..neural import import_torch
from .data import vocabulary
from .fasttext_format import LABEL_PREFIX, FastTextArgs, FastTextModel

BATCH = 32


def encode(model: FastTextModel, examples: list[list[str]]) -> tuple[list[np.ndarray], list[list[int]]]:
    """(input rows, label ids) of each example; labels unknown to the model are dropped."""
    label_id = {w: i for i, w in enumerate(model.labels)}
    rows, labels = [], []
    for tokens in examples:
        rows.append(np.asarray(model.line_rows(tokens), np.int64))
        labels.append([label_id[t] for t in tokens if t.startswith(LABEL_PREFIX) and t in label_id])
    return rows, labels


def predict_top1(model_in, model_out, rows: list[np.ndarray], torch, device) -> np.ndarray:
    preds = np.full(len(rows), -1, np.int64)
    for start in range(0, len(rows), 4096):
        chunk = rows[start:start + 4096]
        lengths = [len(r) for r in chunk]
        if not any(lengths):
            continue
        flat = torch.tensor(np.concatenate(chunk), device=device)
        offsets = torch.tensor(np.concatenate([[0], np.cumsum(lengths)[:-1]]), device=device)
        h = torch.nn.functional.embedding_bag(flat, model_in, offsets, mode="mean")
        p = (h @ model_out.T).argmax(1).cpu().numpy()
        for k, n in enumerate(lengths):
            if n:
                preds[start + k] = p[k]
    return preds


def accuracy(preds: np.ndarray, labels: list[list[int]]) -> float:
    """fastText's precision at 1: the share of examples whose top label is one of theirs."""
    if not labels:
        return 0.0
    return float(np.mean([p in ls for p, ls in zip(preds.tolist(), labels)]))


def train_supervised(train: list[list[str]], validation: list[list[str]] | None, hps: dict[str, Any], device: Any,
                     log: Callable[[str], None], metric: Callable[[str, float], None],
                     seed: int = 0) -> tuple[FastTextModel, dict[str, float]]:
    torch = import_torch()
    dim = hps.get("vector_dim") or 10
    words, counts, labels, label_counts, ntokens = vocabulary(train, hps["min_count"])
    if len(labels) < 2:
        raise ValidationError(f"The train channel has {len(labels)} distinct label(s); supervised mode needs at "
                              "least two (__label__A ..., __label__B ...).")
    ngrams = hps["word_ngrams"]
    bucket = hps["buckets"] if ngrams > 1 else 0
    args = FastTextArgs(dim=dim, ws=hps["window_size"], epoch=hps["epochs"], min_count=hps["min_count"],
                        neg=hps["negative_samples"], word_ngrams=ngrams, loss="softmax", model="sup",
                        bucket=bucket, minn=0, maxn=0, t=hps["sampling_threshold"])
    model = FastTextModel(args, words, counts, labels, label_counts, ntokens=ntokens)
    rows, ylists = encode(model, train)
    val = encode(model, validation) if validation else None
    if hps["early_stopping"] and val is None:
        raise ValidationError("Hyperparameter 'early_stopping' is true but there is no validation channel: early "
                              "stopping watches validation accuracy; add a validation channel or set "
                              "early_stopping=false.")
    keep = [i for i, (r, y) in enumerate(zip(rows, ylists)) if len(r) and y]
    rows, ylists = [rows[i] for i in keep], [ylists[i] for i in keep]
    gen = torch.Generator(device=device).manual_seed(seed)
    rng = np.random.default_rng(seed)
    n_in = len(words) + bucket
    W_in = ((torch.rand(n_in, dim, generator=gen, device=device) * 2 - 1) / dim).contiguous()
    W_out = torch.zeros(len(labels), dim, device=device)
    lr0 = hps["learning_rate"]
    total = len(rows) * hps["epochs"]
    done = 0
    best: tuple[float, int, Any] = (-1.0, 0, None)
    waited = 0
    started = time.perf_counter()
    n_words = sum(len(r) for r in rows)
    epochs_run = 0
    lengths_all = np.asarray([len(r) for r in rows])
    for epoch in range(hps["epochs"]):
        order = rng.permutation(len(rows))
        loss_sum = 0.0
        for start in range(0, len(order), BATCH):
            idx = order[start:start + BATCH]
            lr = lr0 * max(0.0, 1.0 - done / total)
            lengths = lengths_all[idx]
            flat_np = np.concatenate([rows[i] for i in idx])
            flat = torch.from_numpy(flat_np).to(device)
            offsets = torch.from_numpy(np.concatenate([[0], np.cumsum(lengths)[:-1]])).to(device)
            target = torch.tensor([ylists[i][int(rng.integers(len(ylists[i])))] for i in idx], device=device)
            h = torch.nn.functional.embedding_bag(flat, W_in, offsets, mode="mean")    # [B, d]
            p = torch.softmax(h @ W_out.T, dim=1)                                         # [B, L]
            loss_sum += float(-torch.log(p[torch.arange(len(idx), device=device), target] + 1e-7).sum())
            g = -p
            g[torch.arange(len(idx), device=device), target] += 1.0
            g *= lr
            grad_h = g @ W_out                                                             # [B, d]
            W_out.add_(g.T @ h)
            scale = torch.from_numpy((1.0 / lengths).astype(np.float32)).to(device)
            per_row = (grad_h * scale[:, None]).repeat_interleave(torch.from_numpy(lengths).to(device), dim=0)
            W_in.index_add_(0, flat, per_row)
            done += len(idx)
        epochs_run = epoch + 1
        msg = f"epoch {epochs_run}/{hps['epochs']}: loss {loss_sum / max(len(rows), 1):.4f}"
        if val is not None:
            acc = accuracy(predict_top1(W_in, W_out, val[0], torch, device), val[1])
            metric("validation:accuracy", acc)
            msg += f", validation accuracy {acc:.4f}"
            if hps["early_stopping"]:
                if acc > best[0]:
                    best, waited = (acc, epochs_run, (W_in.clone(), W_out.clone())), 0
                else:
                    waited += 1
                if epochs_run >= hps["min_epochs"] and waited >= hps["patience"]:
                    log(msg)
                    log(f"early stopping: validation accuracy has not improved for {waited} epoch(s); keeping "
                        f"epoch {best[1]} ({best[0]:.4f})")
                    break
        log(msg)
    seconds = time.perf_counter() - started
    if hps["early_stopping"] and best[2] is not None:
        W_in, W_out = best[2]
    train_acc = accuracy(predict_top1(W_in, W_out, rows, torch, device), ylists)
    metric("train:accuracy", train_acc)
    if val is not None and hps["early_stopping"]:
        metric("validation:accuracy", best[0])
    model.input = W_in.cpu().numpy()
    model.output = W_out.cpu().numpy()
    model.args.epoch = epochs_run
    return model, {"seconds": seconds, "words_per_second": n_words * epochs_run / max(seconds, 1e-9),
                   "train_accuracy": train_acc}
