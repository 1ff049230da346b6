"""Reading Object2Vec's data: JSON Lines pair records (training channels) and inference instances.

Kept apart so training and serving check records the same way, with messages that say which line is wrong
and how to fix it (they become the job's ``ClientError`` or the endpoint's 4xx).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ValidationError
from ...io.readers import channel_files


@dataclass
class Pairs:
    """A channel's examples: token id lists per side and labels (float; class indices for softmax)."""

    in0: list[list[int]]
    in1: list[list[int]]
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.in0)


def check_tokens(value: Any, side: str, vocab_size: int, max_len: int, where: str) -> list[int]:
    """A list of token ids in [0, vocab_size), truncated to ``max_len`` (as AWS truncates longer inputs)."""
    if not isinstance(value, list) or not value:
        raise ValidationError(f"{where}: '{side}' must be a non-empty list of integer token ids; got {value!r:.80}.")
    out = []
    for tok in value:
        if isinstance(tok, bool) or not isinstance(tok, (int, float)) or (isinstance(tok, float)
                                                                          and not tok.is_integer()):
            raise ValidationError(f"{where}: '{side}' holds {tok!r:.40}, which is not an integer token id.")
        t = int(tok)
        if t < 0 or t >= vocab_size:
            raise ValidationError(
                f"{where}: token id {t} in '{side}' is outside the vocabulary [0, {vocab_size}); raise "
                f"enc{side[-1]}_vocab_size or re-map the ids.")
        out.append(t)
    return out[:max_len]


def read_channel(path: str | Path, channel: str, vocab: tuple[int, int], max_len: tuple[int, int],
                 output_layer: str, num_classes: int) -> Pairs:
    """All records of a File-mode channel folder (every file, JSON Lines)."""
    in0: list[list[int]] = []
    in1: list[list[int]] = []
    labels: list[float] = []
    for f in channel_files(path):
        with open(f, "rb") as fh:
            for n, raw in enumerate(fh, 1):
                line = raw.strip()
                if not line:
                    continue
                where = f"Channel '{channel}', file {f.name}, line {n}"
                try:
                    rec = json.loads(line)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    raise ValidationError(
                        f"{where} is not JSON; each line must be a record like "
                        '{"label": 1, "in0": [12, 7], "in1": [3]} (ContentType application/jsonlines).') from None
                if not isinstance(rec, dict) or "in0" not in rec or "in1" not in rec:
                    raise ValidationError(f"{where} must be an object with 'in0' and 'in1' token id lists "
                                          '(and a label), e.g. {"label": 1, "in0": [12, 7], "in1": [3]}.')
                if "label" not in rec:
                    raise ValidationError(f"{where} has no 'label'; training, validation and test records need one.")
                label = rec["label"]
                if isinstance(label, bool) or not isinstance(label, (int, float)) or not np.isfinite(label):
                    raise ValidationError(f"{where}: 'label' must be a number; got {label!r:.40}.")
                if output_layer == "softmax" and (not float(label).is_integer() or not 0 <= label < num_classes):
                    raise ValidationError(
                        f"{where}: label {label} is not a class index in [0, {num_classes}) as "
                        "output_layer=softmax needs; set num_classes, or output_layer=mean_squared_error for "
                        "real-valued labels.")
                in0.append(check_tokens(rec["in0"], "in0", vocab[0], max_len[0], where))
                in1.append(check_tokens(rec["in1"], "in1", vocab[1], max_len[1], where))
                labels.append(float(label))
    return Pairs(in0, in1, np.asarray(labels, dtype=np.float64))
