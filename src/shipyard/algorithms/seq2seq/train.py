"""seq2seq training: ``python -m shipyard.algorithms.seq2seq.train``.

Reads the vocab, train and validation channels (File mode), trains with teacher forcing and cross-entropy,
and checkpoints every ``checkpoint_frequency_num_batches`` batches and at the end of each epoch: validation
perplexity and token accuracy (teacher-forced) and, when asked for, BLEU of beam-search translations of
``bleu_sample_size`` validation sentences. Each checkpoint logs ``validation:*`` metric lines; the best
checkpoint by ``optimized_metric`` is kept, training stops after ``checkpoint_threshold`` checkpoints without
improvement (once ``min_num_epochs`` are done), at ``max_num_epochs`` or ``max_num_batches``, and the best
checkpoint's metrics are logged last, so the job's final metrics describe the saved model.

The artifact: ``seq2seq.pt`` (weights and the network's hyperparameters) and both vocabularies.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import numpy as np

from ...errors import ValidationError
from .. import neural
from ..builtin import TrainingRun, main
from . import ALGORITHM
from . import data as D

MODEL_FILE = "seq2seq.pt"
DEFAULT_MAX_EPOCHS = 100
SEED = 0
SMALL_MODEL_PARAMETERS = 2_000_000


def _channels(run: TrainingRun) -> None:
    if not run.has("vocab"):
        raise ValidationError(
            "The seq2seq algorithm needs a 'vocab' channel holding vocab.src.json and vocab.trg.json (token -> id "
            f"maps, as create_vocab_proto.py writes them); the job has channels {', '.join(sorted(run.env.channels))}.")
    for name in ("train", "validation"):
        if not run.has(name):
            raise ValidationError(f"The seq2seq algorithm needs a '{name}' channel of RecordIO-protobuf sentence "
                                  f"pairs; the job has channels {', '.join(sorted(run.env.channels))}.")
        if run.mode(name).lower() == "pipe":
            raise ValidationError(f"Channel '{name}' uses Pipe mode; seq2seq reads its channels in File mode.")
        run.check_format(name)


def train(run: TrainingRun) -> None:
    torch = neural.import_torch()
    from . import model as M

    hps = run.hps
    _channels(run)
    vocab_src, vocab_trg = D.read_vocab(run.env.channels["vocab"])
    n_src, n_trg = D.vocab_size(vocab_src), D.vocab_size(vocab_trg)
    max_src, max_trg = hps["max_seq_len_source"], hps["max_seq_len_target"]
    train_pairs = D.read_pairs(run.env.channels["train"], "train", n_src, n_trg, max_src, max_trg)
    val_pairs = D.read_pairs(run.env.channels["validation"], "validation", n_src, n_trg, max_src, max_trg)
    run.log(f"{len(train_pairs)} training and {len(val_pairs)} validation pairs; vocabularies {n_src} (source) "
            f"and {n_trg} (target)")

    neural.seed_everything(SEED)
    dev = neural.device()
    cfg = {k: hps.get(k) for k in M.CONFIG_KEYS}
    net = M.Seq2Seq(cfg, n_src, n_trg)
    M.initialize(net, hps["weight_init_type"], hps["weight_init_scale"], hps["xavier_factor_type"])
    net.to(dev)
    single_thread_if_small(torch, net, dev)
    optimizer = _optimizer(torch, net, hps)
    base_lr = hps["learning_rate"]
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=M.PAD)
    rng = np.random.default_rng(SEED)

    metric = hps["optimized_metric"]
    bleu_n = hps["bleu_sample_size"]
    if metric == "bleu" and bleu_n == 0:
        bleu_n = -1
    bleu_idx = (np.arange(len(val_pairs)) if bleu_n < 0 or bleu_n >= len(val_pairs)
                else np.sort(np.random.default_rng(SEED).choice(len(val_pairs), bleu_n, replace=False)))
    beam = hps["beam_size"]
    bucketing = hps["bucketing_enabled"]
    widths = (None, None) if bucketing else (max_src, max_trg)

    def to_device(index: list[int], pairs) -> tuple:
        src, lengths, y_in, y_out = D.pad(pairs, index, *widths)
        return (torch.from_numpy(src).to(dev), torch.from_numpy(lengths), torch.from_numpy(y_in).to(dev),
                torch.from_numpy(y_out).to(dev))

    val_batches = D.batches(val_pairs, hps["batch_size"], True, hps["bucket_width"], None)

    def evaluate() -> dict[str, float]:
        net.eval()
        total_loss = correct = count = 0.0
        with torch.inference_mode():
            for index in val_batches:
                src, lengths, y_in, y_out = to_device(index, val_pairs)
                logits = net(src, lengths, y_in)
                keep = y_out != M.PAD
                total_loss += float(torch.nn.functional.cross_entropy(
                    logits.reshape(-1, logits.size(-1)), y_out.reshape(-1), ignore_index=M.PAD, reduction="sum"))
                correct += float(((logits.argmax(-1) == y_out) & keep).sum())
                count += float(keep.sum())
            out = {"perplexity": math.exp(min(total_loss / max(count, 1), 50.0)), "accuracy": correct / max(count, 1)}
            if bleu_n != 0:
                hyps = [M.beam_search(net, val_pairs[i][0].tolist(), beam, max_trg, dev)[0] for i in bleu_idx]
                out["bleu"] = D.corpus_bleu(hyps, [val_pairs[i][1].tolist() for i in bleu_idx])
        net.train()
        return out

    max_epochs = hps.get("max_num_epochs") or DEFAULT_MAX_EPOCHS
    max_batches = hps.get("max_num_batches")
    freq = hps["checkpoint_frequency_num_batches"]
    threshold = hps["checkpoint_threshold"]
    better = (lambda a, b: a < b) if metric == "perplexity" else (lambda a, b: a > b)
    best: dict[str, Any] = {"value": None, "metrics": None, "state": None, "checkpoint": 0}
    not_improved = since_reduce = checkpoints = 0
    batches_done = 0
    started = time.monotonic()
    stop = False
    window_loss = window_tokens = 0.0

    def checkpoint(epoch: int) -> bool:
        """Evaluate, log, keep the best; True when early stopping says to stop."""
        nonlocal not_improved, since_reduce, checkpoints, window_loss, window_tokens
        checkpoints += 1
        scores = evaluate()
        train_ppl = math.exp(min(window_loss / max(window_tokens, 1), 50.0))
        window_loss = window_tokens = 0.0
        run.log(f"checkpoint {checkpoints} (epoch {epoch + 1}, {batches_done} batches, "
                f"{time.monotonic() - started:.1f}s): train perplexity {train_ppl:.4g}, "
                + ", ".join(f"validation {k} {v:.4g}" for k, v in scores.items())
                + f", learning rate {optimizer.param_groups[0]['lr']:.3g}")
        for k, v in scores.items():
            run.metric(f"validation:{k}", v)
        value = scores[metric]
        if best["value"] is None or better(value, best["value"]):
            best.update(value=value, metrics=scores, checkpoint=checkpoints,
                        state={k: v.detach().clone() for k, v in net.state_dict().items()})
            not_improved = since_reduce = 0
        else:
            not_improved += 1
            since_reduce += 1
        _schedule(hps, optimizer, base_lr, checkpoints, since_reduce)
        if hps["lr_scheduler_type"] == "plateau_reduce" and since_reduce >= hps["plateau_reduce_lr_threshold"]:
            since_reduce = 0
        return not_improved >= threshold and epoch + 1 >= hps["min_num_epochs"]

    net.train()
    for epoch in range(max_epochs):
        since_checkpoint = 0
        for index in D.batches(train_pairs, hps["batch_size"], bucketing, hps["bucket_width"], rng):
            src, lengths, y_in, y_out = to_device(index, train_pairs)
            logits = net(src, lengths, y_in)
            loss = loss_fn(logits.reshape(-1, logits.size(-1)), y_out.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            if hps["clip_gradient"] > 0:
                torch.nn.utils.clip_grad_value_(net.parameters(), hps["clip_gradient"])
            optimizer.step()
            tokens = float((y_out != M.PAD).sum())
            window_loss += float(loss.detach()) * tokens
            window_tokens += tokens
            batches_done += 1
            since_checkpoint += 1
            if batches_done % freq == 0:
                since_checkpoint = 0
                if checkpoint(epoch):
                    stop = True
                    break
            if max_batches and batches_done >= max_batches:
                stop = True
                break
        if since_checkpoint and checkpoint(epoch):
            stop = True
        if stop:
            break

    net.load_state_dict(best["state"])
    run.log(f"best checkpoint {best['checkpoint']} of {checkpoints} by validation {metric}: {best['value']:.4g}")
    for k, v in best["metrics"].items():
        run.metric(f"validation:{k}", v)
    _save(run, torch, net, cfg, vocab_src, vocab_trg, n_src, n_trg)


def single_thread_if_small(torch: Any, net: Any, dev: Any) -> None:
    """One CPU thread for a small network, whatever the instance type's vCPUs: its per-step operations are too
    small to split, and threads waiting on each other on a busy machine cost many times the work (measured: an
    epoch of the toy problem takes 0.3 s on one thread, 19 s on two contended cores)."""
    if dev.type == "cpu" and sum(p.numel() for p in net.parameters()) < SMALL_MODEL_PARAMETERS:
        torch.set_num_threads(1)


def _optimizer(torch: Any, net: Any, hps: dict) -> Any:
    lr, wd = hps["learning_rate"], hps["weight_decay"]
    if hps["optimizer_type"] == "sgd":
        return torch.optim.SGD(net.parameters(), lr=lr, momentum=hps.get("momentum") or 0.0, weight_decay=wd)
    if hps["optimizer_type"] == "rmsprop":
        return torch.optim.RMSprop(net.parameters(), lr=lr, weight_decay=wd)
    return torch.optim.Adam(net.parameters(), lr=lr, weight_decay=wd)


def _schedule(hps: dict, optimizer: Any, base_lr: float, checkpoints: int, since_reduce: int) -> None:
    """The learning rate after a checkpoint: halved-by-factor on a plateau, or a fixed 1/t or 1/sqrt(t) decay
    that halves it after ``fixed_rate_lr_half_life`` checkpoints."""
    kind = hps["lr_scheduler_type"]
    half = hps["fixed_rate_lr_half_life"]
    for group in optimizer.param_groups:
        if kind == "plateau_reduce":
            if since_reduce >= hps["plateau_reduce_lr_threshold"]:
                group["lr"] *= hps["plateau_reduce_lr_factor"]
        elif kind == "fixed_rate_inv_t":
            group["lr"] = base_lr / (1.0 + checkpoints / half)
        else:
            group["lr"] = base_lr / math.sqrt(1.0 + 3.0 * checkpoints / half)


def _save(run: TrainingRun, torch: Any, net: Any, cfg: dict, vocab_src: dict, vocab_trg: dict, n_src: int,
          n_trg: int) -> None:
    out = run.env.model_dir
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    torch.save({"config": cfg, "src_vocab_size": n_src, "trg_vocab_size": n_trg, "state_dict": state},
               out / MODEL_FILE)
    for name, vocab in zip(D.VOCAB_FILES, (vocab_src, vocab_trg)):
        (out / name).write_text(json.dumps(vocab, ensure_ascii=False))


if __name__ == "__main__":
    main(ALGORITHM, train)
