"""Small generated image sets (no downloads here): coloured shapes on noisy backgrounds, one class per shape.

Used by the conformance sample, the tests, the benchmark and the example. Each image is drawn with Pillow at
``size`` x ``size`` pixels: the shape's colour, size, position and the background vary at random, so a
classifier has to look at the outline, not at one pixel or one colour.
"""

from __future__ import annotations

import io

import numpy as np

SHAPES = ("circle", "square", "triangle", "cross", "ring", "bar")


def draw(label: int, size: int, rng: np.random.Generator):
    """One RGB PIL image of shape ``SHAPES[label]``."""
    from PIL import Image, ImageDraw

    bg = rng.integers(0, 90, size=3)
    noise = rng.integers(-25, 25, size=(size, size, 3))
    base = np.clip(bg[None, None, :] + noise, 0, 255).astype("uint8")
    img = Image.fromarray(base, "RGB")
    d = ImageDraw.Draw(img)
    colour = tuple(int(v) for v in rng.integers(130, 256, size=3))
    r = size * rng.uniform(0.22, 0.36)
    cx, cy = rng.uniform(r + 1, size - r - 1, size=2)
    box = [cx - r, cy - r, cx + r, cy + r]
    kind = SHAPES[label % len(SHAPES)]
    width = max(1, int(size / 10))
    if kind == "circle":
        d.ellipse(box, fill=colour)
    elif kind == "square":
        d.rectangle(box, fill=colour)
    elif kind == "triangle":
        d.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
    elif kind == "cross":
        d.line([(cx - r, cy), (cx + r, cy)], fill=colour, width=width + 1)
        d.line([(cx, cy - r), (cx, cy + r)], fill=colour, width=width + 1)
    elif kind == "ring":
        d.ellipse(box, outline=colour, width=width)
    else:
        d.rectangle([cx - r, cy - r / 4, cx + r, cy + r / 4], fill=colour)
    return img


def images(n: int, num_classes: int, size: int = 32, seed: int = 0) -> list[tuple[object, int]]:
    """``n`` (PIL image, label) pairs, labels cycling through ``num_classes`` (at most len(SHAPES))."""
    if not 2 <= num_classes <= len(SHAPES):
        raise ValueError(f"num_classes must be in [2, {len(SHAPES)}]")
    rng = np.random.default_rng(seed)
    return [(draw(i % num_classes, size, rng), i % num_classes) for i in range(n)]


def encode(img, fmt: str = "jpeg") -> bytes:
    buf = io.BytesIO()
    if fmt.lower() in ("jpeg", "jpg"):
        img.save(buf, "JPEG", quality=92)
    else:
        img.save(buf, "PNG")
    return buf.getvalue()


def rec_bytes(pairs, fmt: str = "jpeg") -> bytes:
    """A ``.rec`` file of the pairs (MXNet image records)."""
    from ...io.image_record import ImageRecord, write_rec

    buf = io.BytesIO()
    write_rec(buf, (ImageRecord([float(y)], encode(img, fmt), i) for i, (img, y) in enumerate(pairs)))
    return buf.getvalue()


def lst_files(pairs, folder: str = "", fmt: str = "jpeg") -> tuple[dict[str, bytes], bytes]:
    """(images by relative path, one per class folder, ``.lst`` text) for the .lst + images layout."""
    from ...io.image_record import ListEntry, format_lst

    ext = "jpg" if fmt.lower() in ("jpeg", "jpg") else "png"
    files, entries = {}, []
    for i, (img, y) in enumerate(pairs):
        rel = f"{folder}class{y}/img_{i:05d}.{ext}"
        files[rel] = encode(img, fmt)
        entries.append(ListEntry(i, [float(y)], rel))
    return files, format_lst(entries).encode()
