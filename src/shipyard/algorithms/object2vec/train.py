"""Object2Vec training program: ``python -m shipyard.algorithms.object2vec.train``.

Channels ``train`` (required), ``validation`` (metrics each epoch, early stopping, the best epoch is kept),
``test`` (metrics of the final model) and ``auxiliary`` (vocabulary and pretrained embedding files). Writes
``object2vec.pt`` (torch state dict) and ``object2vec.json`` (the network's settings) to the model folder.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ValidationError
from .. import neural
from ..builtin import TrainingRun, main
from . import ALGORITHM
from .data import Pairs, read_channel

WEIGHTS_FILE = "object2vec.pt"
CONFIG_FILE = "object2vec.json"
# Below this many parameters a CPU step is a few small matrix products: one thread is several times faster
# than two on a busy machine (measured: 3 ms against 90 ms a step on a loaded 2-core host).
SMALL_MODEL = 2_000_000


def _optimizer(torch: Any, name: str, params: Any, lr: float, wd: float) -> Any:
    cls = {"adam": torch.optim.Adam, "adagrad": torch.optim.Adagrad, "rmsprop": torch.optim.RMSprop,
           "sgd": torch.optim.SGD, "adadelta": torch.optim.Adadelta}[name]
    return cls(params, lr=lr, weight_decay=wd)


class Tensors:
    """A channel padded once to its longest sequences, plus each row's lengths (batches are trimmed to theirs)."""

    def __init__(self, torch: Any, pairs: Pairs, pads: tuple[int, int], softmax: bool):
        from .model import pad_batch

        self.in0 = pad_batch(pairs.in0, pads[0])
        self.in1 = pad_batch(pairs.in1, pads[1])
        self.len0 = np.array([len(s) for s in pairs.in0])
        self.len1 = np.array([len(s) for s in pairs.in1])
        dtype = torch.long if softmax else torch.float32
        self.y = torch.tensor(pairs.labels, dtype=dtype)

    def __len__(self) -> int:
        return len(self.y)

    def batch(self, idx: np.ndarray, device: Any) -> tuple[Any, Any, Any]:
        t0, t1 = max(1, int(self.len0[idx].max())), max(1, int(self.len1[idx].max()))
        return (self.in0[idx, :t0].to(device), self.in1[idx, :t1].to(device), self.y[idx].to(device))


def batches(data: Tensors, size: int, rng: np.random.Generator | None, bucket_width: int) -> list[np.ndarray]:
    """Index batches: shuffled when ``rng`` is given; with ``bucket_width`` > 0 rows of similar lengths go together
    (sorted by length bucket, then the batches shuffled), which saves padding on long sequences."""
    order = rng.permutation(len(data)) if rng is not None else np.arange(len(data))
    if bucket_width > 0:
        keys = (data.len0[order] // bucket_width) * 100000 + data.len1[order] // bucket_width
        order = order[np.argsort(keys, kind="stable")]
    out = [order[i:i + size] for i in range(0, len(order), size)]
    if bucket_width > 0 and rng is not None:
        out = [out[i] for i in rng.permutation(len(out))]
    return out


def evaluate(torch: Any, net: Any, data: Tensors, softmax: bool, device: Any, size: int = 1024) -> dict[str, float]:
    net.eval()
    total, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for idx in batches(data, size, None, 0):
            a, b, y = data.batch(idx, device)
            out = net(a, b)
            if softmax:
                total += float(torch.nn.functional.cross_entropy(out, y, reduction="sum"))
                correct += int((out.argmax(dim=1) == y).sum())
            else:
                total += float(((out - y) ** 2).sum())
            count += len(idx)
    if softmax:
        return {"cross_entropy": total / count, "accuracy": correct / count}
    return {"mean_squared_error": total / count}


def load_pretrained(run: TrainingRun, net: Any, torch: Any) -> None:
    """Copy GloVe-format vectors (``token v1 v2 ...`` per line) into the token embedding rows that the JSON
    vocabulary file (``{token: id}``) names; freeze them when ``enc*_freeze_pretrained_embedding``."""
    h = run.hps
    for i in (0, 1):
        name = h.get(f"enc{i}_pretrained_embedding_file")
        if not name:
            continue
        if i == 1 and net.cfg["shared_encoder"]:
            continue
        if not run.has("auxiliary"):
            raise ValidationError(f"enc{i}_pretrained_embedding_file is set but there is no 'auxiliary' channel "
                                  "holding it and the vocabulary file.")
        aux = Path(run.env.channels["auxiliary"])
        vocab_path, emb_path = aux / h[f"enc{i}_vocab_file"], aux / name
        for p in (vocab_path, emb_path):
            if not p.is_file():
                raise ValidationError(f"File '{p.name}' is not in the auxiliary channel.")
        try:
            vocab = json.loads(vocab_path.read_text())
            assert isinstance(vocab, dict)
        except (json.JSONDecodeError, AssertionError):
            raise ValidationError(f"Vocabulary file '{vocab_path.name}' must be a JSON object {{token: id}}.") from None
        emb = (net.enc0 if i == 0 else net.enc1).embedding
        dim, rows = emb.weight.shape[1], emb.weight.shape[0] - 1
        found = 0
        with torch.no_grad():
            for line in emb_path.read_text(errors="replace").splitlines():
                parts = line.rstrip().split(" ")
                if len(parts) != dim + 1 or parts[0] not in vocab:
                    continue
                tid = int(vocab[parts[0]])
                if 0 <= tid < rows:
                    emb.weight[tid] = torch.tensor([float(v) for v in parts[1:]])
                    found += 1
        if found == 0:
            raise ValidationError(
                f"No line of '{name}' matched a vocabulary token with {dim} values; the file must hold "
                f"'token v1 ... v{dim}' lines (enc{i}_token_embedding_dim={dim}).")
        run.log(f"enc{i}: {found} pretrained token vectors loaded from {name}")
        if h[f"enc{i}_freeze_pretrained_embedding"]:
            emb.weight.requires_grad_(False)


def train(run: TrainingRun) -> None:
    torch = neural.import_torch()
    from .model import Object2VecNet, model_config

    h = run.hps
    if not run.has("train"):
        raise ValidationError("Object2Vec needs a 'train' channel of JSON Lines pair records.")
    cfg = model_config(h)
    softmax = cfg["output_layer"] == "softmax"
    vocab = (cfg["enc0"]["vocab_size"], cfg["enc1"]["vocab_size"])
    max_len = (cfg["enc0"]["max_seq_len"], cfg["enc1"]["max_seq_len"])
    channels: dict[str, Tensors] = {}
    for name in ("train", "validation", "test"):
        if run.has(name):
            run.check_format(name)
            pairs = read_channel(run.env.channels[name], name, vocab, max_len, cfg["output_layer"],
                                 cfg["num_classes"])
            if not len(pairs):
                if name == "train":
                    raise ValidationError("The train channel holds no records.")
                continue
            channels[name] = Tensors(torch, pairs, vocab, softmax)
    train_data = channels["train"]
    neural.seed_everything(0)
    dev = neural.device()
    net = Object2VecNet(cfg)
    n_params = sum(p.numel() for p in net.parameters())
    if dev.type == "cpu" and n_params < SMALL_MODEL:
        torch.set_num_threads(1)  # tiny matrices: threads cost more in synchronisation than they save
    load_pretrained(run, net, torch)
    net.to(dev)
    opt = _optimizer(torch, h["optimizer"], [p for p in net.parameters() if p.requires_grad], h["learning_rate"],
                     h["weight_decay"])
    loss_fn = torch.nn.CrossEntropyLoss() if softmax else torch.nn.MSELoss()
    rng = np.random.default_rng(0)
    neg_rate = h["negative_sampling_rate"] if softmax else 0
    run.log(f"{len(train_data)} training pairs on {dev}; {n_params} parameters")
    val = channels.get("validation")
    best_loss, best_state, waited = math.inf, None, 0
    loss_key = "cross_entropy" if softmax else "mean_squared_error"
    for epoch in range(h["epochs"]):
        net.train()
        total, count = 0.0, 0
        for idx in batches(train_data, h["mini_batch_size"], rng, h["bucket_width"]):
            a, b, y = train_data.batch(idx, dev)
            if neg_rate and len(idx) > 1:
                # negatives: each in0 with the in1 of another row of this batch, labelled 0
                n = len(idx)
                perms = [torch.as_tensor((np.arange(n) + rng.integers(1, n, n)) % n) for _ in range(neg_rate)]
                a = torch.cat([a] + [a] * neg_rate)
                b = torch.cat([b] + [b[p.to(dev)] for p in perms])
                y = torch.cat([y] + [torch.zeros_like(y)] * neg_rate)
            opt.zero_grad()
            loss = loss_fn(net(a, b), y)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(y)
            count += len(y)
        run.log(f"epoch {epoch + 1}: train {loss_key} {total / max(count, 1):.5g}")
        if val is None:
            continue
        scores = evaluate(torch, net, val, softmax, dev)
        for k, v in scores.items():
            run.metric(f"validation:{k}", v)
        if scores[loss_key] < best_loss - h["early_stopping_tolerance"]:
            best_loss, waited = scores[loss_key], 0
            best_state = copy.deepcopy(net.state_dict())
        else:
            waited += 1
            if best_state is None:
                best_state = copy.deepcopy(net.state_dict())
            if waited >= h["early_stopping_patience"]:
                run.log(f"early stopping after epoch {epoch + 1}: no {loss_key} improvement over "
                        f"{h['early_stopping_tolerance']} for {waited} epochs")
                break
    if best_state is not None and val is not None:
        net.load_state_dict(best_state)
        for k, v in evaluate(torch, net, val, softmax, dev).items():  # the kept model's figures come last
            run.metric(f"validation:{k}", v)
    if "test" in channels:
        for k, v in evaluate(torch, net, channels["test"], softmax, dev).items():
            run.metric(f"test:{k}", v)
    out = run.env.model_dir
    out.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().cpu() for k, v in net.state_dict().items()}, out / WEIGHTS_FILE)
    (out / CONFIG_FILE).write_text(json.dumps(cfg, indent=1))


if __name__ == "__main__":
    main(ALGORITHM, train)
