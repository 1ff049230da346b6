"""Reading the training channels into memory, and turning one encoded image into the network's input.

Every image (from a ``.rec`` record, a file an ``.lst`` names, an augmented-manifest record, or a request body)
goes through :func:`prepare`: converted to RGB (or grey for 1-channel shapes), scaled so that its shorter side
is ``resize`` (when given) and it covers ``image_shape``, then centre-cropped to it. Training and serving share
this, so a served image is seen exactly as the validation images were. Images are kept decoded as uint8 at
``image_shape`` (3x224x224 is 150 KB an image): channels are read once, epochs replay them from memory.

Labels: single-label jobs take the first label of each record as the class index; ``multi_label=1`` takes a
multi-hot vector of ``num_classes`` values, or a list of class indices (as an augmented manifest's
``class`` attribute holds them).
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ...errors import ValidationError
from ...io.image_record import ImageRecordError, parse_lst, read_rec
from ...io.readers import open_streams
from ...io.recordio import RecordIOError, read_records

RECORDIO = "application/x-recordio"
IMAGE = "application/x-image"
_SKIP_SUFFIXES = (".lst", ".idx", ".json", ".manifest")


def prepare(img: Any, shape: tuple[int, int, int], resize: int | None = None) -> np.ndarray:
    """A PIL image -> uint8 array (C, H, W) at ``shape`` (see the module docstring)."""
    from PIL import Image

    c, h, w = shape
    img = img.convert("L" if c == 1 else "RGB")
    iw, ih = img.size
    scale = max(h / ih, w / iw)
    if resize:
        scale = max(scale, resize / min(iw, ih))
    nw, nh = max(w, round(iw * scale)), max(h, round(ih * scale))
    if (nw, nh) != (iw, ih):
        img = img.resize((nw, nh), Image.Resampling.BILINEAR)
    left, top = (nw - w) // 2, (nh - h) // 2
    img = img.crop((left, top, left + w, top + h))
    arr = np.array(img, dtype=np.uint8)
    return arr[None, :, :] if c == 1 else arr.transpose(2, 0, 1)


def decode(data: bytes, shape: tuple[int, int, int], resize: int | None, what: str) -> np.ndarray:
    """Encoded image bytes -> uint8 (C, H, W); a ValidationError naming ``what`` when they are no image."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ValidationError(f"{what} is empty; expected an encoded image (JPEG or PNG).")
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return prepare(img, shape, resize)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise ValidationError(f"{what} is not an image Pillow can decode (JPEG or PNG expected): {e}") from None


@dataclass
class Images:
    """A channel in memory: uint8 images (N, C, H, W) and labels (N,) int64 or (N, num_classes) float32."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.x)


def label_of(values: list[float], num_classes: int, multi_label: bool, what: str) -> Any:
    """One record's labels -> a class index, or a multi-hot vector when ``multi_label``."""
    if not values:
        raise ValidationError(f"{what} has no label.")
    if multi_label:
        if len(values) == num_classes and all(v in (0.0, 1.0) for v in values) and num_classes > 1:
            return np.asarray(values, dtype=np.float32)
        hot = np.zeros(num_classes, dtype=np.float32)
        for v in values:
            if not float(v).is_integer() or not 0 <= v < num_classes:
                raise ValidationError(
                    f"{what} has labels {values}; with multi_label=1 a record's labels are a multi-hot vector of "
                    f"num_classes ({num_classes}) values, or class indices in [0, {num_classes - 1}].")
            hot[int(v)] = 1.0
        return hot
    v = values[0]
    if not float(v).is_integer() or not 0 <= v < num_classes:
        raise ValidationError(
            f"{what} has label {v:g}; labels must be class indices 0 to num_classes - 1 ({num_classes - 1}). "
            "Set num_classes to the number of classes, or renumber the labels from 0.")
    return int(v)


def _stack(xs: list[np.ndarray], ys: list[Any], channel: str, multi_label: bool, num_classes: int) -> Images:
    if not xs:
        raise ValidationError(f"Channel '{channel}' holds no images.")
    x = np.stack(xs)
    y = (np.stack(ys).astype(np.float32) if multi_label else np.asarray(ys, dtype=np.int64))
    return Images(x, y)


def _files(folder: Path) -> list[Path]:
    if folder.is_file():
        return [folder]
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def _rec_stream_records(stream, channel: str, source: str) -> Iterator[tuple[list[float], bytes, str]]:
    try:
        for i, rec in enumerate(read_rec(stream)):
            yield rec.labels, rec.image, f"Record {i} of {source} (channel '{channel}')"
    except (RecordIOError, ImageRecordError) as e:
        raise ValidationError(
            f"Channel '{channel}' ({source}) is not MXNet image RecordIO (application/x-recordio, as im2rec.py "
            f"writes it): {e}") from None


def _manifest_records(stream, channel: str) -> Iterator[tuple[list[float], bytes, str]]:
    """An augmented manifest in Pipe mode with RecordWrapperType RecordIO: for each JSON line, one record per
    AttributeNames entry, here ["source-ref", "class"]: the image's bytes, then the label as JSON text."""
    records = read_records(stream)
    i = 0
    for image in records:
        label_raw = next(records, None)
        what = f"Augmented-manifest line {i} (channel '{channel}')"
        if label_raw is None:
            raise ValidationError(f"{what} has an image but no label record: AttributeNames must be "
                                  "['source-ref', '<label attribute>'], in that order.")
        try:
            value = json.loads(label_raw.decode("utf-8"))
            if isinstance(value, str):
                value = json.loads(value) if value.strip().startswith("[") else float(value)
            labels = [float(v) for v in value] if isinstance(value, list) else [float(value)]
        except (ValueError, TypeError, UnicodeDecodeError):
            raise ValidationError(
                f"{what}: the label record {label_raw[:40]!r} is not a number or a list of numbers; AttributeNames "
                "must be ['source-ref', '<label attribute>'] with the image reference first.") from None
        yield labels, image, what
        i += 1


def load(env: Any, channel: str, content_type: str, shape: tuple[int, int, int], resize: int | None,
         num_classes: int, multi_label: bool) -> Images:
    """Read one channel (``train`` or ``validation``) of a job into memory."""
    ct = content_type.split(";")[0].strip().lower()
    cfg = env.input_config.get(channel, {})
    mode = str(cfg.get("TrainingInputMode", "File")).lower()
    path = Path(env.channels[channel])
    xs: list[np.ndarray] = []
    ys: list[Any] = []

    def add(records: Iterator[tuple[list[float], bytes, str]]) -> None:
        for labels, image, what in records:
            ys.append(label_of(labels, num_classes, multi_label, what))
            xs.append(decode(image, shape, resize, what))

    if ct == RECORDIO:
        wrapped = str(cfg.get("RecordWrapperType", "None")).lower() == "recordio"
        if mode == "pipe":
            for f in open_streams(path, "Pipe", 0):  # the epoch-0 FIFO, gunzipped if gzip
                add(_manifest_records(f, channel) if wrapped else _rec_stream_records(f, channel, f"{channel}_0"))
        else:
            files = [p for p in _files(path) if not p.name.lower().endswith(_SKIP_SUFFIXES)]
            if not files:
                raise ValidationError(f"Channel '{channel}' has no .rec file.")
            for p in files:
                with open(p, "rb") as f:
                    add(_manifest_records(f, channel) if wrapped
                        else _rec_stream_records(f, channel, str(p.relative_to(path) if path.is_dir() else p.name)))
    elif ct == IMAGE:
        if mode == "pipe":
            raise ValidationError(
                f"Channel '{channel}' is application/x-image in Pipe mode; the .lst + images layout is read in "
                "File mode (use application/x-recordio for Pipe mode).")
        lst_channel = f"{channel}_lst"
        if lst_channel not in env.channels:
            raise ValidationError(
                f"Channel '{channel}' has content type application/x-image, which needs a '{lst_channel}' channel "
                f"holding an .lst file (index<TAB>label<TAB>relative path) of the images in '{channel}'.")
        lst_files = [p for p in _files(Path(env.channels[lst_channel])) if p.suffix.lower() == ".lst"]
        if not lst_files:
            raise ValidationError(f"Channel '{lst_channel}' has no .lst file.")
        for lst in lst_files:
            try:
                entries = parse_lst(lst.read_text(encoding="utf-8", errors="replace"), source=lst.name)
            except ImageRecordError as e:
                raise ValidationError(f"Channel '{lst_channel}': {e}") from None
            for entry in entries:
                what = f"Image '{entry.path}' ({lst.name} index {entry.index})"
                target = path / entry.path
                if not target.is_file():
                    raise ValidationError(
                        f"{what} is not in channel '{channel}': .lst paths are relative to the '{channel}' "
                        "channel's S3 prefix.")
                ys.append(label_of(entry.labels, num_classes, multi_label, what))
                xs.append(decode(target.read_bytes(), shape, resize, what))
    else:
        raise ValidationError(f"Channel '{channel}' has content type '{ct}'; the image-classification algorithm "
                              f"accepts {RECORDIO} (.rec files, or an augmented manifest) and {IMAGE} "
                              "(images with an .lst channel).")
    return _stack(xs, ys, channel, multi_label, num_classes)


def model_channel_file(folder: Path) -> Path | None:
    """The weights file of a ``model`` channel: ``image-classification.pt`` directly, or inside a
    ``model.tar.gz`` (extracted next to it)."""
    for p in _files(folder):
        if p.name == "image-classification.pt":
            return p
    for p in _files(folder):
        if p.name.endswith((".tar.gz", ".tgz")):
            import tarfile
            out = Path(os.environ.get("TMPDIR", "/tmp")) / f"ic-model-{os.getpid()}"
            with tarfile.open(p) as tar:
                tar.extractall(out, filter="data")
            for q in _files(out):
                if q.name == "image-classification.pt":
                    return q
    return None
