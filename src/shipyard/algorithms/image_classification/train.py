"""Training program: ``python -m shipyard.algorithms.image_classification.train`` (see the package docstring).

Each epoch logs ``train:accuracy`` and, with a ``validation`` channel, ``validation:accuracy`` (and the top-k
accuracy when ``top_k`` is set), plus MXNet-style ``Epoch[3] Validation-accuracy=0.91`` lines. The model kept is
the epoch with the best validation accuracy (the last epoch without validation data), as AWS's container keeps
it; ``checkpoint_frequency`` also saves every k-th epoch's weights. ``early_stopping`` stops once the validation
accuracy has not improved by more than ``early_stopping_tolerance`` (relative) for ``early_stopping_patience``
epochs, after ``early_stopping_min_epochs``.
"""

from __future__ import annotations

import copy
import json
import math
import time
from typing import Any

import numpy as np

from ...errors import ValidationError
from .. import neural
from ..builtin import TrainingRun, main
from . import ALGORITHM, parse_image_shape, parse_steps
from .data import Images, load, model_channel_file

WEIGHTS = "image-classification.pt"
META = "image-classification-meta.json"


def _augment(torch: Any, x: Any, kind: str | None, gen: Any) -> Any:
    """Random augmentation of a float batch in [0, 1] (N, C, H, W), on its device.

    crop: a random crop of the image padded by 1/8 of its size, and a horizontal flip half the time;
    crop_color: also random hue, saturation and lightness shifts (AWS: [-36, 36], [-50, 50], [-50, 50] on a
    0-255 scale); crop_color_transform: also a random rotation (up to 10 degrees), shear and aspect ratio."""
    if not kind:
        return x
    n, c, h, w = x.shape
    dev = x.device

    def rand(*shape):
        return torch.rand(*shape, generator=gen).to(dev)

    if kind == "crop_color_transform":
        angle = (rand(n) - 0.5) * (2 * math.pi / 18)
        shear = (rand(n) - 0.5) * 0.2
        aspect = torch.exp((rand(n) - 0.5) * 0.5)
        cos, sin = torch.cos(angle), torch.sin(angle)
        theta = torch.zeros(n, 2, 3, device=dev)
        theta[:, 0, 0] = cos * aspect.sqrt()
        theta[:, 0, 1] = -sin + shear
        theta[:, 1, 0] = sin
        theta[:, 1, 1] = cos / aspect.sqrt()
        grid = torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
        x = torch.nn.functional.grid_sample(x, grid, padding_mode="reflection", align_corners=False)
    pad = max(1, h // 8)
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad), mode="reflect")
    ox = (rand(n) * (2 * pad + 1)).long().clamp(max=2 * pad)
    oy = (rand(n) * (2 * pad + 1)).long().clamp(max=2 * pad)
    rows = (oy[:, None] + torch.arange(h, device=dev)[None, :])           # (n, h)
    cols = (ox[:, None] + torch.arange(w, device=dev)[None, :])           # (n, w)
    idx = torch.arange(n, device=dev)[:, None, None]
    x = padded.permute(0, 2, 3, 1)[idx, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
    flip = rand(n) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    if kind in ("crop_color", "crop_color_transform") and c == 3:
        light = (rand(n) - 0.5) * (100 / 255)
        sat = 1 + (rand(n) - 0.5) * (100 / 255)
        hue = (rand(n) - 0.5) * (72 / 180) * math.pi / 2
        # hue: a rotation in YIQ space
        yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], device=dev)
        inv = torch.linalg.inv(yiq)
        q = torch.einsum("ij,njhw->nihw", yiq, x)
        ch, sh = torch.cos(hue)[:, None, None], torch.sin(hue)[:, None, None]
        i2 = q[:, 1] * ch - q[:, 2] * sh
        q2 = q[:, 1] * sh + q[:, 2] * ch
        q = torch.stack([q[:, 0], i2 * sat[:, None, None], q2 * sat[:, None, None]], 1)
        x = torch.einsum("ij,njhw->nihw", inv, q) + light[:, None, None, None]
        x = x.clamp(0, 1)
    return x


def _to_input(torch: Any, x_uint8: np.ndarray, dev: Any) -> Any:
    return torch.from_numpy(x_uint8).to(dev).float().div_(255.0)


def _accuracy(torch: Any, logits: Any, y: Any, multi_label: bool, k: int = 1) -> tuple[float, float]:
    """(correct count, total count) of a batch: top-k hits, or label positions right at 0.5 (multi-label)."""
    if multi_label:
        pred = (logits > 0).float()
        return float((pred == y).float().sum()), float(y.numel())
    if k == 1:
        return float((logits.argmax(1) == y).sum()), float(len(y))
    top = logits.topk(k, 1).indices
    return float((top == y[:, None]).any(1).sum()), float(len(y))


def evaluate(torch: Any, model: Any, data: Images, dev: Any, batch: int, multi_label: bool,
             top_k: int | None) -> tuple[float, float | None]:
    model.eval()
    hits = tot = hits_k = 0.0
    with torch.no_grad():
        for i in range(0, len(data), batch):
            x = _to_input(torch, data.x[i:i + batch], dev)
            y = torch.from_numpy(data.y[i:i + batch]).to(dev)
            logits = model(x).float()
            h, t = _accuracy(torch, logits, y, multi_label)
            hits, tot = hits + h, tot + t
            if top_k and not multi_label:
                hits_k += _accuracy(torch, logits, y, False, top_k)[0]
    model.train()
    return hits / max(tot, 1.0), (hits_k / max(len(data), 1) if top_k and not multi_label else None)


def _optimizer(torch: Any, params: Any, hps: dict[str, Any]) -> Any:
    lr, wd = hps["learning_rate"], hps["weight_decay"]
    name = hps["optimizer"]
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(hps["beta_1"], hps["beta_2"]), eps=hps["eps"],
                                weight_decay=wd)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=hps["gamma"], eps=hps["eps"], weight_decay=wd)
    return torch.optim.SGD(params, lr=lr, momentum=hps["momentum"], weight_decay=wd,
                           nesterov=(name == "nag" and hps["momentum"] > 0))


def _initial_weights(run: TrainingRun, torch: Any, model: Any) -> None:
    hps = run.hps
    if run.has("model"):
        path = model_channel_file(run.env.channels["model"])
        if path is None:
            raise ValidationError("Channel 'model' holds no image-classification.pt (a model.tar.gz of an earlier "
                                  "Shipyard image-classification job, or the file itself).")
        state = torch.load(path, map_location="cpu", weights_only=True)
        own = model.state_dict()
        kept = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        if not kept:
            raise ValidationError("The weights in channel 'model' do not fit this network: train with the "
                                  "num_layers and image_shape of the job that made them.")
        model.load_state_dict(kept, strict=False)
        run.log(f"initialised {len(kept)} of {len(own)} tensors from channel 'model'"
                + ("" if len(kept) == len(own) else " (the rest, e.g. a classifier for a new num_classes, is new)"))
    elif hps["use_pretrained_model"] == 1:
        raise ValidationError(
            "use_pretrained_model=1 needs pretrained weights, and Shipyard cannot download AWS's ImageNet weights: "
            "supply them in a 'model' channel (the model.tar.gz of an earlier image-classification job), or set "
            "use_pretrained_model=0 to train from scratch.")


def train(run: TrainingRun) -> None:
    torch = neural.import_torch()
    from .model import build

    hps = run.hps
    shape = parse_image_shape(hps["image_shape"])
    steps = parse_steps(hps["lr_scheduler_step"]) if "lr_scheduler_step" in hps else []
    multi_label = hps["multi_label"] == 1
    num_classes, batch = hps["num_classes"], hps["mini_batch_size"]
    resize = hps.get("resize")
    top_k = hps.get("top_k")
    if "train" not in run.env.channels:
        raise ValidationError("The image-classification algorithm needs a 'train' channel.")
    dev = neural.device()
    neural.seed_everything(0)

    def read(channel: str) -> Images:
        run.check_format(channel)
        return load(run.env, channel, run.content_type(channel), shape, resize, num_classes, multi_label)

    t0 = time.monotonic()
    train_set = read("train")
    val_set = read("validation") if run.has("validation") else None
    run.log(f"read {len(train_set)} training and {len(val_set) if val_set else 0} validation images "
            f"({time.monotonic() - t0:.1f} s), image_shape {shape}")
    if len(train_set) != hps["num_training_samples"]:
        run.log(f"num_training_samples is {hps['num_training_samples']} but the train channel holds "
                f"{len(train_set)} images; an epoch is one pass over the images read")
    if not multi_label:
        present = set(np.unique(train_set.y).tolist())
        if len(present) < 2:
            raise ValidationError("The train channel holds images of a single class; a classifier needs at least two.")

    model = build(hps["num_layers"], num_classes, shape)
    _initial_weights(run, torch, model)
    model.to(dev)
    opt = _optimizer(torch, model.parameters(), hps)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=steps, gamma=hps["lr_scheduler_factor"]) \
        if steps else None

    weight = None
    if hps["use_weighted_loss"] == 1:
        if multi_label:
            pos = train_set.y.sum(0)
            weight = torch.tensor(np.where(pos > 0, (len(train_set) - pos) / np.maximum(pos, 1), 1.0),
                                  dtype=torch.float32, device=dev)
        else:
            counts = np.bincount(train_set.y, minlength=num_classes).astype(np.float64)
            w = np.where(counts > 0, len(train_set) / (num_classes * np.maximum(counts, 1)), 0.0)
            weight = torch.tensor(w, dtype=torch.float32, device=dev)
    loss_fn = (torch.nn.BCEWithLogitsLoss(pos_weight=weight) if multi_label
               else torch.nn.CrossEntropyLoss(weight=weight))

    use_amp = hps["precision_dtype"] == "float16" and dev.type == "cuda"
    if hps["precision_dtype"] == "float16" and not use_amp:
        run.log("precision_dtype float16 applies on GPUs; training in float32 on the CPU")
    scaler = torch.amp.GradScaler("cuda") if use_amp else None
    gen = torch.Generator().manual_seed(0)
    best_acc, best_state, best_epoch, since_best = -1.0, None, 0, 0
    run.env.model_dir.mkdir(parents=True, exist_ok=True)
    model.train()
    for epoch in range(hps["epochs"]):
        t_epoch = time.monotonic()
        order = torch.randperm(len(train_set), generator=gen).numpy()
        hits = tot = 0.0
        for i in range(0, len(order), batch):
            idx = np.sort(order[i:i + batch])
            if len(idx) < 2 and len(order) > 1:
                continue  # batch norm needs two images; the odd one is seen in the next epoch's order
            x = _augment(torch, _to_input(torch, train_set.x[idx], dev), hps.get("augmentation_type"), gen)
            y = torch.from_numpy(train_set.y[idx]).to(dev)
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
                logits = model(x)
                loss = loss_fn(logits.float(), y)
            if not torch.isfinite(loss):
                raise ValidationError(f"The training loss became {float(loss)} in epoch {epoch}: lower learning_rate "
                                      f"(now {hps['learning_rate']}).")
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()
            h, t = _accuracy(torch, logits.detach().float(), y, multi_label)
            hits, tot = hits + h, tot + t
        if sched is not None:
            sched.step()
        train_acc = hits / max(tot, 1.0)
        print(f"Epoch[{epoch}] Train-accuracy={train_acc:f}", flush=True)
        print(f"Epoch[{epoch}] Time cost={time.monotonic() - t_epoch:.3f}", flush=True)
        run.metric("train:accuracy", train_acc)
        acc = train_acc
        if val_set is not None:
            acc, acc_k = evaluate(torch, model, val_set, dev, max(batch, 64), multi_label, top_k)
            print(f"Epoch[{epoch}] Validation-accuracy={acc:f}", flush=True)
            run.metric("validation:accuracy", acc)
            if acc_k is not None:
                print(f"Epoch[{epoch}] Validation-top_k_accuracy_{top_k}={acc_k:f}", flush=True)
        if val_set is None or acc > best_acc:  # the model kept: best validation accuracy, else the last epoch
            improved = val_set is None or acc > best_acc * (1 + hps["early_stopping_tolerance"])
            best_acc, best_epoch = acc, epoch
            best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
            since_best = 0 if improved else since_best + 1
        else:
            since_best += 1
        freq = hps.get("checkpoint_frequency")
        if freq and (epoch + 1) % freq == 0:
            torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()},
                       run.env.model_dir / f"image-classification-{epoch + 1:04d}.pt")
        if (hps["early_stopping"] and val_set is not None and epoch + 1 >= hps["early_stopping_min_epochs"]
                and since_best >= hps["early_stopping_patience"]):
            run.log(f"early stopping after epoch {epoch}: validation accuracy has not improved for {since_best} "
                    f"epochs (best {best_acc:.4f} in epoch {best_epoch})")
            break
    if val_set is not None:
        run.log(f"keeping the weights of epoch {best_epoch} (validation accuracy {best_acc:.4f})")
    torch.save(best_state, run.env.model_dir / WEIGHTS)
    meta = {"num_layers": hps["num_layers"], "num_classes": num_classes, "image_shape": list(shape),
            "resize": resize, "multi_label": multi_label, "epoch": best_epoch,
            "validation_accuracy": best_acc if val_set is not None else None}
    (run.env.model_dir / META).write_text(json.dumps(meta))


if __name__ == "__main__":
    main(ALGORITHM, train)
