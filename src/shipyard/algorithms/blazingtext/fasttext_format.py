"""fastText's binary model format (``.bin``, version 12) and its dictionary semantics, in NumPy.

BlazingText's ``vectors.bin`` (Word2Vec modes) and ``model.bin`` (supervised) are fastText models: users load
them with ``fasttext.load_model``. This module writes and reads that format byte for byte as fastText 0.9.x
does (``src/fasttext.cc`` ``saveModel``/``loadModel``, ``args.cc``, ``dictionary.cc``, ``densematrix.cc``)::

    int32 magic 793712314, int32 version 12
    Args: int32 dim, ws, epoch, minCount, neg, wordNgrams, loss, model, bucket, minn, maxn, lrUpdateRate;
          float64 t
    Dictionary: int32 size, nwords, nlabels; int64 ntokens, pruneidx_size (-1: not pruned);
                per entry: UTF-8 word, NUL, int64 count, int8 type (0 word, 1 label)
    bool quant (0), input DenseMatrix (int64 rows, int64 cols, float32 row-major)
    bool qout (0), output DenseMatrix

It also holds the parts of fastText's dictionary that decide which input rows a text uses, so that training,
serving and ``fasttext`` itself agree: the FNV-1a hash (with fastText's sign-extension of bytes), character
n-grams of ``<word>`` hashed into ``bucket`` rows after the words, word n-grams hashed the same way, and the
end-of-sentence token ``</s>`` that ends every line.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MAGIC = 793712314
VERSION = 12
EOS = "</s>"
BOW, EOW = "<", ">"
LABEL_PREFIX = "__label__"
# fastText's enums
LOSS = {"hs": 1, "ns": 2, "softmax": 3, "ova": 4}
MODEL = {"cbow": 1, "sg": 2, "sup": 3}
_WHITESPACE = " \n\r\t\v\f\0"


@functools.lru_cache(maxsize=1 << 20)  # the same words recur: training hashes each token of every line
def fnv_hash(word: str) -> int:
    """fastText's ``Dictionary::hash``: 32-bit FNV-1a over the UTF-8 bytes, each byte sign-extended."""
    h = 2166136261
    for b in word.encode("utf-8"):
        h ^= (b - 256 if b >= 128 else b) & 0xFFFFFFFF
        h = (h * 16777619) & 0xFFFFFFFF
    return h


def tokenize_line(line: str) -> list[str]:
    """The tokens fastText reads from one line: whitespace-separated, then ``</s>`` for the newline."""
    for ch in "\r\t\v\f\0":
        line = line.replace(ch, " ")
    return [t for t in line.split(" ") if t] + [EOS]


def char_ngrams(word: str, minn: int, maxn: int) -> list[str]:
    """fastText's ``computeSubwords`` substrings of ``word`` (already wrapped in ``<`` ``>``): n-grams of
    ``minn..maxn`` characters (UTF-8 aware), without the lone ``<`` and ``>``."""
    data = word.encode("utf-8")
    out: list[str] = []
    size = len(data)
    for i in range(size):
        if (data[i] & 0xC0) == 0x80:
            continue
        j, n = i, 1
        ngram = bytearray()
        while j < size and n <= maxn:
            ngram.append(data[j])
            j += 1
            while j < size and (data[j] & 0xC0) == 0x80:
                ngram.append(data[j])
                j += 1
            if n >= minn and not (n == 1 and (i == 0 or j == size)):
                out.append(ngram.decode("utf-8", errors="replace"))
            n += 1
    return out


@dataclass
class FastTextArgs:
    """The ``Args`` block of a model file (only what the format stores)."""

    dim: int
    ws: int = 5
    epoch: int = 5
    min_count: int = 5
    neg: int = 5
    word_ngrams: int = 1
    loss: str = "ns"
    model: str = "sg"
    bucket: int = 0
    minn: int = 0
    maxn: int = 0
    lr_update_rate: int = 100
    t: float = 1e-4


@dataclass
class FastTextModel:
    """A fastText model in memory: args, vocabulary (words then labels, with counts), input and output."""

    args: FastTextArgs
    words: list[str]
    counts: list[int]
    labels: list[str] = field(default_factory=list)
    label_counts: list[int] = field(default_factory=list)
    input: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    output: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    ntokens: int = 0

    def __post_init__(self) -> None:
        self.word2id = {w: i for i, w in enumerate(self.words)}
        self._subwords: dict[int, np.ndarray] = {}

    @property
    def nwords(self) -> int:
        return len(self.words)

    # ------------------------------------------------------------ which input rows a text uses
    def ngram_rows(self, token: str) -> list[int]:
        """Input rows of the character n-grams of ``token`` (none when the model has no subwords)."""
        a = self.args
        if a.maxn <= 0 or a.bucket <= 0 or token == EOS:
            return []
        return [self.nwords + fnv_hash(g) % a.bucket for g in char_ngrams(BOW + token + EOW, a.minn, a.maxn)]

    def subword_rows(self, token: str) -> list[int]:
        """fastText's ``getSubwords``: a known word's own row plus its n-gram rows; an unknown word's n-grams."""
        wid = self.word2id.get(token, -1)
        if wid < 0:
            return self.ngram_rows(token)
        cached = self._subwords.get(wid)
        if cached is None:
            cached = np.asarray([wid, *self.ngram_rows(token)], np.int64)
            self._subwords[wid] = cached
        return cached.tolist()

    def line_rows(self, tokens: list[str]) -> list[int]:
        """fastText's supervised ``getLine`` + ``addWordNgrams``: the input rows of one tokenised line (which
        ends with ``</s>``): each word's subword rows, then the hashed word n-grams (unknown words count)."""
        rows: list[int] = []
        hashes: list[int] = []
        for tok in tokens:
            if tok.startswith(LABEL_PREFIX) and tok not in self.word2id:
                continue
            rows.extend(self.subword_rows(tok))
            hashes.append(fnv_hash(tok))
        n, bucket = self.args.word_ngrams, self.args.bucket
        if n > 1 and bucket > 0:
            rows.extend(self.nwords + h % bucket for h in word_ngram_hashes(hashes, n))
        return rows

    def word_vector(self, word: str) -> np.ndarray:
        """fastText's ``getWordVector``: the mean of the word's subword rows (zeros when it has none)."""
        rows = self.subword_rows(word)
        if not rows:
            return np.zeros(self.args.dim, np.float32)
        return self.input[rows].mean(axis=0)

    # ------------------------------------------------------------ file format
    def save(self, path: str | Path) -> None:
        a = self.args
        with open(path, "wb") as f:
            f.write(struct.pack("<ii", MAGIC, VERSION))
            f.write(struct.pack("<12id", a.dim, a.ws, a.epoch, a.min_count, a.neg, a.word_ngrams, LOSS[a.loss],
                                MODEL[a.model], a.bucket, a.minn, a.maxn, a.lr_update_rate, a.t))
            size = len(self.words) + len(self.labels)
            f.write(struct.pack("<iiiqq", size, len(self.words), len(self.labels), self.ntokens, -1))
            parts = []
            for w, c in zip(self.words, self.counts):
                parts.append(w.encode("utf-8") + b"\0" + struct.pack("<qb", c, 0))
            for w, c in zip(self.labels, self.label_counts):
                parts.append(w.encode("utf-8") + b"\0" + struct.pack("<qb", c, 1))
            f.write(b"".join(parts))
            for matrix in (self.input, self.output):
                m = np.ascontiguousarray(matrix, dtype="<f4")
                f.write(struct.pack("<?qq", False, m.shape[0], m.shape[1]))
                f.write(m.tobytes())

    @classmethod
    def load(cls, path: str | Path) -> "FastTextModel":
        data = Path(path).read_bytes()
        try:
            return cls._parse(data)
        except (struct.error, ValueError, UnicodeDecodeError) as e:
            raise ValueError(f"{path} is not a fastText model file: {e}") from None

    @classmethod
    def _parse(cls, data: bytes) -> "FastTextModel":
        magic, version = struct.unpack_from("<ii", data, 0)
        if magic != MAGIC:
            raise ValueError("wrong magic number")
        if version > VERSION:
            raise ValueError(f"version {version} is newer than {VERSION}")
        pos = 8
        v = struct.unpack_from("<12id", data, pos)
        pos += struct.calcsize("<12id")
        loss = {n: k for k, n in LOSS.items()}[v[6]]
        model = {n: k for k, n in MODEL.items()}[v[7]]
        args = FastTextArgs(dim=v[0], ws=v[1], epoch=v[2], min_count=v[3], neg=v[4], word_ngrams=v[5], loss=loss,
                            model=model, bucket=v[8], minn=v[9], maxn=v[10], lr_update_rate=v[11], t=v[12])
        size, nwords, nlabels, ntokens, prune = struct.unpack_from("<iiiqq", data, pos)
        pos += struct.calcsize("<iiiqq")
        words: list[str] = []
        labels: list[str] = []
        counts: list[int] = []
        label_counts: list[int] = []
        for _ in range(size):
            end = data.index(b"\0", pos)
            word = data[pos:end].decode("utf-8")
            count, kind = struct.unpack_from("<qb", data, end + 1)
            pos = end + 1 + 9
            (labels if kind == 1 else words).append(word)
            (label_counts if kind == 1 else counts).append(count)
        if prune > 0:
            raise ValueError("pruned (quantized) models are not supported")
        mats = []
        for _ in range(2):
            quant, m, n = struct.unpack_from("<?qq", data, pos)
            if quant:
                raise ValueError("quantized models are not supported")
            pos += struct.calcsize("<?qq")
            mats.append(np.frombuffer(data, "<f4", m * n, pos).reshape(m, n).astype(np.float32))
            pos += 4 * m * n
        return cls(args, words, counts, labels, label_counts, mats[0], mats[1], ntokens)


def word_ngram_hashes(hashes: list[int], n: int) -> list[int]:
    """fastText's ``addWordNgrams`` before ``% bucket``: for each position, the hashes of the 2..n-grams starting
    there, ``h = h * 116049371 + hash`` in uint64 over the int32 hashes sign-extended (as fastText's C++ does)."""
    signed = [h - (1 << 32) if h >= (1 << 31) else h for h in hashes]
    out = []
    mask = (1 << 64) - 1
    for i in range(len(signed)):
        h = signed[i] & mask
        for j in range(i + 1, min(len(signed), i + n)):
            h = (h * 116049371 + (signed[j] & mask)) & mask
            out.append(h)
    return out


def write_vectors_txt(path: str | Path, words: list[str], vectors: np.ndarray) -> None:
    """word2vec's text format: a header ``N dim``, then ``word v1 v2 ...`` per line (fastText's ``.vec``)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{len(words)} {vectors.shape[1]}\n")
        for w, vec in zip(words, vectors):
            f.write(w + " " + " ".join(f"{x:.5g}" for x in vec) + " \n")


def read_vectors_txt(path: str | Path) -> tuple[list[str], np.ndarray]:
    with open(path, encoding="utf-8") as f:
        n, dim = (int(x) for x in f.readline().split())
        words, rows = [], []
        for line in f:
            parts = line.rstrip().split(" ")
            if len(parts) != dim + 1:
                continue
            words.append(parts[0])
            rows.append([float(x) for x in parts[1:]])
    return words, np.asarray(rows, np.float32).reshape(len(words), dim)
