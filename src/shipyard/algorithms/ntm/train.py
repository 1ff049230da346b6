"""NTM training program: ``python -m shipyard.algorithms.ntm.train``.

Channels: train (required), validation (early stopping on ``validation:total_loss``), test
(``test:total_loss`` of the final model) and auxiliary (``vocab.txt``, one word per line: the log then names
each topic's top words). File-mode data is held in memory and shuffled every epoch; Pipe-mode data streams.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import scipy.sparse as sp

from ...errors import ValidationError
from .. import neural
from ..builtin import TrainingRun, main
from ..lda.spectral import check_counts
from . import ALGORITHM, encoder_sizes
from .model import build, topic_words

SMALL_MODEL = 1 << 20  # weights in the widest layer below which training uses one CPU thread


def _optimizer(torch: Any, name: str, params, lr: float, wd: float):
    opt = torch.optim
    if name == "adam":
        return opt.Adam(params, lr=lr, weight_decay=wd)
    if name == "adagrad":
        return opt.Adagrad(params, lr=lr, weight_decay=wd)
    if name == "rmsprop":
        return opt.RMSprop(params, lr=lr, weight_decay=wd)
    if name == "sgd":
        return opt.SGD(params, lr=lr, momentum=0.9, weight_decay=wd)
    return opt.Adadelta(params, lr=1.0, weight_decay=wd)  # MXNet's AdaDelta has no learning rate


class Data:
    """One channel's documents: in memory (File mode, shuffled each epoch) or streamed (Pipe mode)."""

    def __init__(self, run: TrainingRun, channel: str):
        self.run, self.channel = run, channel
        h = run.hps
        self.D, self.batch = h["feature_dim"], h["mini_batch_size"]
        self.pipe = run.mode(channel).lower() == "pipe"
        self.passes = 0  # Pipe mode: the next FIFO to read is <channel>_<passes>
        self.X: sp.csr_matrix | None = None
        if not self.pipe:
            parts = [self._check(b.X) for b in run.batches(channel, self.batch, 0, label_size=0, feature_dim=self.D)]
            if not parts:
                raise ValidationError(f"The {channel} channel holds no documents.")
            self.X = sp.vstack([sp.csr_matrix(p) for p in parts], format="csr").astype(np.float32)

    def _check(self, X):
        if X.shape[1] != self.D:
            raise ValidationError(f"The {self.channel} channel has rows of {X.shape[1]} word counts; feature_dim is "
                                  f"{self.D} (the vocabulary size): each row must hold one count per word.")
        check_counts(X, f"{self.channel} channel")
        return X

    def epoch(self, rng: np.random.Generator | None = None, keep: float = 1.0) -> Iterator[np.ndarray]:
        """One pass: shuffled (and sub-sampled to ``keep``) when ``rng`` is given."""
        if self.X is not None:
            order = rng.permutation(self.X.shape[0]) if rng is not None else np.arange(self.X.shape[0])
            if keep < 1.0 and rng is not None:
                order = order[: max(1, int(round(keep * len(order))))]
            for i in range(0, len(order), self.batch):
                yield self.X[order[i:i + self.batch]].toarray()
            return
        self.passes += 1
        for b in self.run.batches(self.channel, self.batch, self.passes - 1, label_size=0, feature_dim=self.D):
            X = self._check(b.X)
            X = X.toarray() if sp.issparse(X) else np.asarray(X)
            if keep < 1.0 and rng is not None:
                X = X[rng.random(len(X)) < keep]
            if len(X):
                yield X


def read_vocab(run: TrainingRun) -> list[str] | None:
    if not run.has("auxiliary"):
        return None
    folder = Path(run.env.channels["auxiliary"])
    path = folder / "vocab.txt" if folder.is_dir() else folder
    if not path.is_file():
        run.log("auxiliary channel has no vocab.txt; topics are logged by word index")
        return None
    words = path.read_text(encoding="utf-8", errors="replace").splitlines()
    if len(words) != run.hps["feature_dim"]:
        run.log(f"vocab.txt has {len(words)} words but feature_dim is {run.hps['feature_dim']}; ignoring it")
        return None
    return words


def train(run: TrainingRun) -> None:
    torch = neural.import_torch()
    h = run.hps
    k, D = h["num_topics"], h["feature_dim"]
    hidden = encoder_sizes(h["encoder_layers"], k)
    neural.seed_everything(0)
    dev = neural.device()
    if dev.type == "cpu" and D * max(hidden + [k]) < SMALL_MODEL:
        torch.set_num_threads(1)  # small matrices gain nothing from intra-op threads, and lose much when busy
    vocab = read_vocab(run)
    train_data = Data(run, "train")
    val_data = Data(run, "validation") if run.has("validation") else None
    model = build(torch, D, k, hidden, h["encoder_layers_activation"], h["batch_norm"]).to(dev)
    opt = _optimizer(torch, h["optimizer"], model.parameters(), h["learning_rate"], h["weight_decay"])
    clip = h["clip_gradient"]
    rng = np.random.default_rng(0)
    run.log(f"encoder layers {hidden}, {h['encoder_layers_activation']}, device {dev}")

    def evaluate(data: Data) -> tuple[float, float, float]:
        model.eval()
        tot = rec = kld = 0.0
        n = 0
        with torch.no_grad():
            for X in data.epoch():
                x = torch.as_tensor(X, dtype=torch.float32, device=dev)
                r, kl = model.losses(x, sample=False)
                rec, kld, n = rec + float(r.sum()), kld + float(kl.sum()), n + len(X)
        model.train()
        n = max(n, 1)
        tot = (rec + kld) / n
        return tot, rec / n, kld / n

    best, best_state, bad = math.inf, None, 0
    for epoch in range(h["epochs"]):
        model.train()
        total, n = 0.0, 0
        for X in train_data.epoch(rng, h["sub_sample"]):
            if len(X) < 2 and h["batch_norm"]:
                continue  # batch norm needs two documents
            x = torch.as_tensor(X, dtype=torch.float32, device=dev)
            r, kl = model.losses(x)
            loss = (r + kl).mean()
            opt.zero_grad()
            (loss * h["rescale_gradient"]).backward()
            if math.isfinite(clip):
                torch.nn.utils.clip_grad_value_(model.parameters(), clip)
            opt.step()
            total, n = total + float(loss.detach()) * len(X), n + len(X)
        if n == 0:
            raise ValidationError("The train channel holds no documents.")
        if not math.isfinite(total):
            raise ValidationError("The training loss diverged (not a number); lower learning_rate or set "
                                  "clip_gradient.")
        run.log(f"epoch {epoch + 1}: train total_loss {total / n:.4f}")
        print(f"#quality_metric: host={run.env.current_host}, epoch={epoch}, train total_loss <loss>={total / n:.6g}",
              flush=True)
        if val_data is not None:
            score, rec, kld = evaluate(val_data)
            run.log(f"epoch {epoch + 1}: validation total_loss {score:.4f} (recons {rec:.4f}, kld {kld:.4f})")
            run.metric("validation:total_loss", score)
        else:
            score = total / n
        improved = not math.isfinite(best) or score < best - h["tolerance"] * abs(best)
        if improved:
            best, bad = score, 0
            best_state = {name: t.detach().clone() for name, t in model.state_dict().items()}
        else:
            bad += 1
            if bad >= h["num_patience_epochs"]:
                run.log(f"early stopping after epoch {epoch + 1}: no improvement of the "
                        f"{'validation' if val_data else 'train'} loss by {h['tolerance']} for {bad} epochs")
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    if val_data is not None:
        run.metric("validation:total_loss", best)  # the kept epoch's, last so it is the final value
    arrays = {name: t.detach().cpu().numpy().astype(np.float32) for name, t in model.state_dict().items()
              if t.dtype.is_floating_point}
    run.save({"feature_dim": D, "num_topics": k, "hidden": hidden, "activation": h["encoder_layers_activation"],
              "batch_norm": h["batch_norm"]}, **arrays)
    if vocab is not None:
        topics = topic_words(arrays)
        for i, row in enumerate(topics):
            top = [vocab[j] for j in np.argsort(-row)[:10]]
            run.log(f"topic {i}: {' '.join(top)}")
    if run.has("test"):
        run.metric("test:total_loss", evaluate(Data(run, "test"))[0])


if __name__ == "__main__":
    main(ALGORITHM, train)
