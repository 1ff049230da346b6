"""Image classification: learning a tiny generated image set, each input layout (.rec in File and Pipe mode,
.lst + images, an augmented-manifest record stream), multi-label, incremental training, the hyperparameter
cross-checks, clear errors on bad data, and the served shapes.

Training runs in this process through the same TrainingRun the job uses (no interpreter start per test), on
one CPU thread: with a thread per core on a busy machine, torch's threads wait on each other.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("PIL")

from shipyard.algorithms.builtin import TrainingRun  # noqa: E402
from shipyard.algorithms.env import TrainingEnv  # noqa: E402
from shipyard.algorithms.image_classification import ALGORITHM, synthetic  # noqa: E402
from shipyard.errors import ValidationError  # noqa: E402
from shipyard.io.recordio import frame  # noqa: E402
from shipyard.testing.algorithm_harness import PipeFeeder, logged_metrics, prepare_job  # noqa: E402

REC, IMG = "application/x-recordio", "application/x-image"
TINY = {"num_classes": "3", "num_layers": "20", "image_shape": "3,16,16", "epochs": "1", "mini_batch_size": "16",
        "learning_rate": "0.05"}


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    import torch
    before = torch.get_num_threads()
    monkeypatch.setenv("SM_NUM_CPUS", "1")
    monkeypatch.delenv("SM_NUM_GPUS", raising=False)
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def run_job(base: Path, hps: dict, channels: dict, mode: str = "File", pipe: dict | None = None,
            wrapper: dict | None = None) -> dict[str, float]:
    """Train in this process under ``base`` (an /opt/ml); returns the metrics logged (the log itself is in
    ``run_job.output``)."""
    import contextlib

    from shipyard.algorithms.image_classification.train import train

    prepare_job(base, {k: str(v) for k, v in hps.items()}, channels, mode)
    if wrapper:
        cfg = base / "input" / "config" / "inputdataconfig.json"
        doc = json.loads(cfg.read_text())
        for name, value in wrapper.items():
            doc[name]["RecordWrapperType"] = value
        cfg.write_text(json.dumps(doc))
    import os
    old = os.environ.get("SAGEMAKER_BASE_DIR")
    os.environ["SAGEMAKER_BASE_DIR"] = str(base)
    buf = io.StringIO()
    try:
        stack = contextlib.ExitStack()
        stack.enter_context(contextlib.redirect_stdout(buf))
        run = TrainingRun(ALGORITHM, TrainingEnv.load())
        if pipe:
            with PipeFeeder(base / "input" / "data", pipe, max_epochs=2):
                for name in pipe:  # the platform creates each FIFO before the program starts
                    fifo = base / "input" / "data" / f"{name}_0"
                    for _ in range(500):
                        if fifo.exists():
                            break
                        time.sleep(0.01)
                train(run)
        else:
            train(run)
    finally:
        stack.close()
        run_job.output = buf.getvalue()  # type: ignore[attr-defined]
        if old is None:
            os.environ.pop("SAGEMAKER_BASE_DIR", None)
        else:
            os.environ["SAGEMAKER_BASE_DIR"] = old
    return logged_metrics(buf.getvalue(), ALGORITHM.metrics)


def handler_for(model_dir: Path):
    from shipyard.algorithms.image_classification.handler import ImageClassificationHandler
    return ImageClassificationHandler(str(model_dir))


def rec_channels(n_train=60, n_val=30, classes=3, size=16):
    tr = synthetic.images(n_train, classes, size, seed=1)
    va = synthetic.images(n_val, classes, size, seed=2)
    return {"train": ({"train.rec": synthetic.rec_bytes(tr)}, REC),
            "validation": ({"sub/val.rec": synthetic.rec_bytes(va, "png")}, REC)}


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    """ResNet-20 on 24x24 shapes, 3 classes, 3 epochs: (model dir, logged metrics, log)."""
    import torch
    base = tmp_path_factory.mktemp("learned")
    mp = pytest.MonkeyPatch()
    mp.setenv("SM_NUM_CPUS", "1")
    before = torch.get_num_threads()
    try:
        tr = synthetic.images(300, 3, 24, seed=1)
        va = synthetic.images(90, 3, 24, seed=2)
        metrics = run_job(base, {"num_classes": 3, "num_training_samples": 300, "num_layers": 20,
                                 "image_shape": "3,24,24", "epochs": 3, "mini_batch_size": 32, "learning_rate": 0.05},
                          {"train": ({"train.rec": synthetic.rec_bytes(tr)}, REC),
                           "validation": ({"val.rec": synthetic.rec_bytes(va)}, REC)})
    finally:
        mp.undo()
        torch.set_num_threads(before)
    return base / "model", metrics, run_job.output  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """ResNet-20 on 16x16 shapes, one epoch: a model to serve (its quality is not the point)."""
    import torch
    base = tmp_path_factory.mktemp("tiny")
    before = torch.get_num_threads()
    mp = pytest.MonkeyPatch()
    mp.setenv("SM_NUM_CPUS", "1")
    try:
        run_job(base, {**TINY, "num_training_samples": 30}, rec_channels(30, 9))
    finally:
        mp.undo()
        torch.set_num_threads(before)
    return base / "model"


@pytest.mark.slow
def test_learns_generated_shapes(learned):
    model_dir, metrics, out = learned
    assert metrics["validation:accuracy"] >= 0.7, out[-2000:]
    assert 0 <= metrics["train:accuracy"] <= 1
    assert "Epoch[2] Validation-accuracy=" in out  # MXNet-style lines as AWS's container prints them
    meta = json.loads((model_dir / "image-classification-meta.json").read_text())
    assert meta["image_shape"] == [3, 24, 24] and meta["num_classes"] == 3
    # the served model classifies fresh images (other seed, other size: the handler resizes them)
    handler = handler_for(model_dir)
    fresh = synthetic.images(30, 3, 40, seed=7)
    right = 0
    for img, y in fresh:
        body, ct = handler.invoke(synthetic.encode(img, "jpeg"), "image/jpeg", "application/json")
        probs = json.loads(body)
        assert ct == "application/json" and len(probs) == 3 and abs(sum(probs) - 1) < 1e-4
        right += int(np.argmax(probs) == y)
    assert right / len(fresh) >= 0.6, right


def test_serving_shapes_and_errors(tiny_model, monkeypatch):
    handler = handler_for(tiny_model)
    img = synthetic.images(1, 3, 24, seed=5)[0][0]
    png, jpeg = synthetic.encode(img, "png"), synthetic.encode(img, "jpeg")
    answers = {}
    for ct, body in (("image/png", png), ("application/x-image", png), ("image/jpeg", jpeg)):
        out, accept = handler.invoke(body, ct, "application/json")
        answers[ct] = json.loads(out)
    assert answers["image/png"] == answers["application/x-image"]  # same bytes, same answer
    assert np.allclose(answers["image/png"], answers["image/jpeg"], atol=0.1)
    assert handler.invoke(png, "image/png", "application/json")[0] == handler.invoke(png, "image/png", "")[0]
    line, accept = handler.invoke(png, "image/png", "application/jsonlines")
    assert accept == "application/jsonlines" and json.loads(line) == {"prediction": answers["image/png"]}
    monkeypatch.setenv("SAGEMAKER_BATCH", "true")  # batch transform: {"prediction": [...]} as AWS writes it
    assert json.loads(handler.invoke(png, "image/png", "application/json")[0]) == {"prediction": answers["image/png"]}
    monkeypatch.delenv("SAGEMAKER_BATCH")
    grey = synthetic.encode(img.convert("L"), "png")  # a grey image is served too (converted to RGB)
    assert len(json.loads(handler.invoke(grey, "image/png", "application/json")[0])) == 3
    for body, ct, accept, match in ((b"", "image/png", "application/json", "empty"),
                                    (b"GIF89a not really", "image/jpeg", "application/json", "not an image"),
                                    (png, "text/csv", "application/json", "not supported"),
                                    (png, "image/png", "text/csv", "Accept")):
        with pytest.raises(ValidationError, match=match):
            handler.invoke(body, ct, accept)


def test_lst_layout_with_subfolders_and_png(tmp_path):
    tr = synthetic.images(45, 3, 16, seed=1)
    va = synthetic.images(15, 3, 16, seed=2)
    tr_files, tr_lst = synthetic.lst_files(tr, folder="imgs/")
    va_files, va_lst = synthetic.lst_files(va, fmt="png")
    metrics = run_job(tmp_path, {**TINY, "num_training_samples": 45},
                      {"train": (tr_files, IMG), "validation": (va_files, IMG),
                       "train_lst": ({"train.lst": tr_lst}, IMG), "validation_lst": ({"v.lst": va_lst}, IMG)})
    assert {"train:accuracy", "validation:accuracy"} <= set(metrics)
    assert (tmp_path / "model" / "image-classification.pt").exists()


def test_recordio_in_pipe_mode(tmp_path):
    tr = synthetic.images(40, 3, 16, seed=1)
    va = synthetic.images(12, 3, 16, seed=2)
    pipe = {"train": synthetic.rec_bytes(tr), "validation": synthetic.rec_bytes(va)}
    metrics = run_job(tmp_path, {**TINY, "num_training_samples": 40, "epochs": 2},
                      {"train": (b"", REC), "validation": (b"", REC)}, mode="Pipe", pipe=pipe)
    assert {"train:accuracy", "validation:accuracy"} <= set(metrics)


def manifest_stream(pairs, multi: bool = False) -> bytes:
    """What SageMaker feeds a Pipe-mode channel of an augmented manifest with AttributeNames
    ["source-ref", "class"] and RecordWrapperType RecordIO: per line, the image's bytes, then the label."""
    out = []
    for img, y in pairs:
        out.append(frame(synthetic.encode(img, "jpeg")))
        out.append(frame(json.dumps([y, (y + 1) % 3] if multi else y).encode()))
    return b"".join(out)


def test_augmented_manifest_stream(tmp_path):
    tr = synthetic.images(40, 3, 16, seed=1)
    metrics = run_job(tmp_path, {**TINY, "num_training_samples": 40},
                      {"train": (b"", REC)}, mode="Pipe", pipe={"train": manifest_stream(tr)},
                      wrapper={"train": "RecordIO"})
    assert "train:accuracy" in metrics and "validation:accuracy" not in metrics


def test_multi_label(tmp_path):
    tr = synthetic.images(40, 3, 16, seed=1)
    va = synthetic.images(12, 3, 16, seed=2)
    # .lst multi-hot vectors (AWS's multi-label .lst layout) for train, class-index lists in a manifest for
    # validation
    from shipyard.io.image_record import ListEntry, format_lst
    files = {f"i{i}.png": synthetic.encode(img, "png") for i, (img, _) in enumerate(tr)}
    lst = format_lst(ListEntry(i, [1.0 if c in (y, (y + 1) % 3) else 0.0 for c in range(3)], f"i{i}.png")
                     for i, (_, y) in enumerate(tr)).encode()
    metrics = run_job(tmp_path, {**TINY, "num_training_samples": 40, "multi_label": 1, "use_weighted_loss": 1},
                      {"train": (files, IMG), "train_lst": ({"t.lst": lst}, IMG)})
    assert "train:accuracy" in metrics
    handler = handler_for(tmp_path / "model")
    probs = json.loads(handler.invoke(synthetic.encode(va[0][0], "png"), "image/png", "application/json")[0])
    assert len(probs) == 3 and all(0 <= p <= 1 for p in probs)
    base2 = tmp_path / "manifest"
    metrics = run_job(base2, {**TINY, "num_training_samples": 40, "multi_label": 1},
                      {"train": (b"", REC)}, mode="Pipe", pipe={"train": manifest_stream(tr, multi=True)},
                      wrapper={"train": "RecordIO"})
    assert "train:accuracy" in metrics


def test_incremental_training_from_a_model_channel(tiny_model, tmp_path):
    import tarfile

    import torch
    model_tar = tmp_path / "model.tar.gz"
    with tarfile.open(model_tar, "w:gz") as tar:
        for p in tiny_model.iterdir():
            tar.add(p, arcname=p.name)
    tr = synthetic.images(30, 3, 16, seed=4)
    hps = {**TINY, "num_training_samples": 30, "use_pretrained_model": 1, "learning_rate": 1e-6}
    metrics = run_job(tmp_path / "job", hps, {"train": ({"t.rec": synthetic.rec_bytes(tr)}, REC),
                                              "model": ({"model.tar.gz": model_tar.read_bytes()}, REC)})
    assert "train:accuracy" in metrics
    assert "initialised 121 of 121 tensors from channel 'model'" in run_job.output  # type: ignore[attr-defined]
    before = torch.load(tiny_model / "image-classification.pt", weights_only=True)
    after = torch.load(tmp_path / "job" / "model" / "image-classification.pt", weights_only=True)
    # started from the given weights: at a learning rate of 1e-6 they barely move (batch-norm statistics do)
    assert torch.allclose(before["fc.weight"], after["fc.weight"], atol=1e-4)
    # a new num_classes keeps the body and starts a new classifier
    metrics = run_job(tmp_path / "job2", {**hps, "num_classes": 4},
                      {"train": ({"t.rec": synthetic.rec_bytes(synthetic.images(40, 4, 16, seed=5))}, REC),
                       "model": ({"image-classification.pt": (tiny_model / "image-classification.pt").read_bytes()},
                                 REC)})
    assert "(the rest, e.g. a classifier for a new num_classes, is new)" in run_job.output  # type: ignore[attr-defined]


@pytest.mark.parametrize("change, channels, match", [
    ({"use_pretrained_model": 1}, None, "cannot download"),
    ({"num_classes": 2}, None, "label 2; labels must be class indices"),
    ({}, {"train": ({"a.rec": b"not recordio at all"}, REC)}, "not MXNet image RecordIO"),
    ({}, {"train": ({"a.rec": frame(b"\0" * 24 + b"no image")}, REC)}, "Record 0 of a.rec.*not an image"),
    ({}, {"train": ({"a.jpg": b"x"}, IMG)}, "needs a 'train_lst' channel"),
    ({}, {"train": ({"a.jpg": b"x"}, IMG), "train_lst": ({"t.lst": b"0\t1\tmissing.jpg\n"}, IMG)},
     "'missing.jpg'.*is not in channel 'train'"),
    ({}, {"train": ({"a.jpg": b"x"}, IMG), "train_lst": ({"t.lst": b"0 1 a.jpg\n"}, IMG)}, "tab-separated"),
    ({}, {"train": ({"t.csv": b"1,2"}, "text/csv")}, "accepts application/x-recordio"),
])
def test_bad_data_is_a_clear_client_error(tmp_path, change, channels, match):
    hps = {**TINY, "num_training_samples": 30, **change}
    chans = channels or rec_channels(30, 9)
    with pytest.raises(ValidationError, match=match):
        run_job(tmp_path, hps, chans)


@pytest.mark.parametrize("change, match", [
    ({"image_shape": "3,224"}, "'image_shape'.*expected 'channels,height,width'"),
    ({"image_shape": "4,32,32"}, "'image_shape'"),
    ({"top_k": "4"}, "'top_k'.*num_classes"),
    ({"lr_scheduler_step": "20,10"}, "'lr_scheduler_step'.*increasing"),
    ({"resize": "8"}, "'resize'.*at least"),
    ({"num_layers": "19"}, "'num_layers'.*one of"),
    ({"optimizer": "adagrad"}, "'optimizer'"),
])
def test_hyperparameter_cross_checks(change, match):
    base = {"num_classes": "3", "num_training_samples": "10", "image_shape": "3,32,32"}
    with pytest.raises(ValidationError, match=match):
        ALGORITHM.validate({**base, **change})
    full = ALGORITHM.validate({**base, "lr_scheduler_step": "10,20", "top_k": "2", "resize": "40"})
    assert full["num_layers"] == 152 and full["optimizer"] == "sgd" and full["epochs"] == 30


@pytest.mark.parametrize("kind", [None, "crop", "crop_color", "crop_color_transform"])
def test_augmentation_keeps_shape_and_range(kind):
    import torch

    from shipyard.algorithms.image_classification.train import _augment
    x = torch.rand(4, 3, 16, 16)
    out = _augment(torch, x, kind, torch.Generator().manual_seed(1))
    again = _augment(torch, x, kind, torch.Generator().manual_seed(1))
    assert out.shape == x.shape and float(out.min()) >= 0 and float(out.max()) <= 1 + 1e-6
    assert torch.equal(out, again)  # seeded: the same job augments the same way
    if kind:
        assert not torch.equal(out, x)


@pytest.mark.parametrize("depth, shape, params", [
    (20, (3, 32, 32), (0.25e6, 0.3e6)), (18, (3, 32, 32), (10e6, 12e6)), (50, (3, 64, 64), (22e6, 26e6)),
    (110, (1, 16, 16), (1.6e6, 1.8e6))])
def test_resnet_layouts(depth, shape, params):
    import torch

    from shipyard.algorithms.image_classification.model import build
    model = build(depth, 7, shape).eval()
    n = sum(p.numel() for p in model.parameters())
    assert params[0] <= n <= params[1], n
    with torch.no_grad():
        assert model(torch.rand(2, *shape)).shape == (2, 7)
