"""Reading BlazingText's channels: text lines from every file of a channel folder, the fastText vocabulary
(words by count, ``</s>`` counted once per line, ``__label__`` tokens as labels), and supervised examples from
``__label__X text`` lines or augmented-manifest JSON lines (``{"source": "...", "label": 1}``)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from ...errors import ValidationError
from .fasttext_format import EOS, LABEL_PREFIX, tokenize_line

MAX_LINE_SIZE = 1024  # fastText splits longer lines (text8 is one line) into chunks of this many tokens


def channel_files(folder: Path, channel: str) -> list[Path]:
    files = sorted(p for p in Path(folder).rglob("*") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise ValidationError(f"The {channel} channel holds no files; it needs text files with one "
                              f"{'labelled example' if channel != 'train' else 'sentence'} per line.")
    return files


def read_lines(folder: Path, channel: str) -> list[str]:
    lines: list[str] = []
    for path in channel_files(folder, channel):
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValidationError(f"File {path.name} of the {channel} channel is not UTF-8 text ({e}); "
                                  "BlazingText reads UTF-8 text, one sentence per line.") from None
        lines.extend(line for line in text.splitlines() if line.strip())
    if not lines:
        raise ValidationError(f"The {channel} channel holds no text: every file is empty.")
    return lines


def _label_token(value) -> str:
    text = str(value).strip()
    return text if text.startswith(LABEL_PREFIX) else LABEL_PREFIX + text.replace(" ", "_")


def supervised_examples(folder: Path, channel: str) -> list[list[str]]:
    """Each example as tokens: its ``__label__`` tokens and words, ending with ``</s>``."""
    out = []
    for n, line in enumerate(read_lines(folder, channel), 1):
        if line.lstrip().startswith("{"):
            try:
                doc = json.loads(line)
                source, label = doc["source"], doc["label"]
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise ValidationError(f"Line {n} of the {channel} channel looks like an augmented-manifest JSON "
                                      f"line but is not {{\"source\": \"text\", \"label\": 1}}: {e}") from None
            labels = label if isinstance(label, list) else [label]
            tokens = [_label_token(v) for v in labels] + tokenize_line(str(source))
        else:
            tokens = tokenize_line(line)
        if not any(t.startswith(LABEL_PREFIX) for t in tokens):
            raise ValidationError(f"Line {n} of the {channel} channel has no label: supervised mode needs lines "
                                  f"like '__label__sports the match ended ...' (got {line[:60]!r}).")
        out.append(tokens)
    return out


def word_sentences(folder: Path) -> list[list[str]]:
    """The train channel's sentences as tokens (each ending with ``</s>``), long lines split as fastText does."""
    out = []
    for line in read_lines(folder, "train"):
        tokens = tokenize_line(line)
        for start in range(0, len(tokens), MAX_LINE_SIZE):
            out.append(tokens[start:start + MAX_LINE_SIZE])
    return out


def vocabulary(sentences: list[list[str]], min_count: int) -> tuple[list[str], list[int], list[str], list[int], int]:
    """(words, counts, labels, label counts, tokens): words kept when seen ``min_count`` times, most frequent
    first (ties in order of appearance); labels all kept. ``</s>`` is kept whatever its count, as it ends
    every line the model reads."""
    counts: Counter[str] = Counter()
    for s in sentences:
        counts.update(s)
    ntokens = sum(counts.values())
    words = [(w, c) for w, c in counts.items() if not w.startswith(LABEL_PREFIX) and (c >= min_count or w == EOS)]
    labels = [(w, c) for w, c in counts.items() if w.startswith(LABEL_PREFIX)]
    words.sort(key=lambda wc: -wc[1])
    labels.sort(key=lambda wc: -wc[1])
    return [w for w, _ in words], [c for _, c in words], [w for w, _ in labels], [c for _, c in labels], ntokens
