"""Training data from a channel, in mini-batches: CSV, LibSVM or RecordIO-protobuf into numpy / scipy.sparse.

A channel is a folder of files (File / FastFile mode: every regular file under it, in sorted order, gzip
detected by its magic bytes) or, in Pipe mode, a FIFO ``<channel>_<epoch>`` read once to EOF (contract
§1.2). Both are read as streams, so a Pipe channel is never held whole in memory; ``load_channel`` is the
convenience that concatenates every batch.

Formats follow the built-ins: CSV has no header and ``label_size`` leading label columns (``text/csv;
label_size=0`` for unlabelled data), LibSVM is ``label idx:val ...`` with indices used as given (0-based,
like XGBoost), RecordIO-protobuf is one ``aialgs.data.Record`` per example with ``features["values"]`` and
an optional ``label["values"]``.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np
import scipy.sparse as sp

from ..errors import ValidationError
from .protobuf import Tensor, decode_record
from .recordio import read_records

CSV = "csv"
LIBSVM = "libsvm"
RECORDIO = "recordio-protobuf"
_FORMATS = {
    "text/csv": CSV, "csv": CSV, "text/x-csv": CSV,
    "text/libsvm": LIBSVM, "text/x-libsvm": LIBSVM, "libsvm": LIBSVM,
    "application/x-recordio-protobuf": RECORDIO, "application/x-recordio": RECORDIO,
    "recordio-protobuf": RECORDIO,
}


@dataclass
class Batch:
    X: np.ndarray | sp.csr_matrix       # float32, 2-D
    y: np.ndarray | None                # float32 labels (first label column when label_size > 1), or None

    def __len__(self) -> int:
        return self.X.shape[0]


def parse_content_type(content_type: str | None, default: str = "text/csv") -> tuple[str, dict[str, str]]:
    """``"text/csv; label_size=0"`` -> ("text/csv", {"label_size": "0"})."""
    text = (content_type or default).strip()
    mime, *params = [p.strip() for p in text.split(";")]
    out = {}
    for p in params:
        if "=" in p:
            k, v = p.split("=", 1)
            out[k.strip().lower()] = v.strip()
    return mime.lower(), out


def data_format(content_type: str | None, default: str = "text/csv") -> str:
    mime, _ = parse_content_type(content_type, default)
    fmt = _FORMATS.get(mime)
    if fmt is None:
        raise ValidationError(f"Content type '{content_type}' is not supported; use one of "
                              "text/csv, text/libsvm, application/x-recordio-protobuf.")
    return fmt


def channel_files(path: str | os.PathLike) -> list[Path]:
    """Regular files under a File-mode channel folder, sorted, hidden files (``.``-prefixed) skipped."""
    p = Path(path)
    if p.is_file():
        return [p]
    if not p.is_dir():
        return []
    files = []
    for root, dirs, names in os.walk(p):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        files.extend(Path(root) / n for n in sorted(names) if not n.startswith("."))
    return [f for f in files if f.is_file()]


def pipe_path(channel_path: str | os.PathLike, epoch: int) -> Path:
    return Path(f"{os.fspath(channel_path)}_{epoch}")


def is_fifo(path: str | os.PathLike) -> bool:
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


def _maybe_gunzip(f: BinaryIO) -> BinaryIO:
    buffered = f if isinstance(f, io.BufferedReader) else io.BufferedReader(f)  # type: ignore[arg-type]
    if buffered.peek(2)[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=buffered)  # type: ignore[return-value]
    return buffered


def open_streams(channel_path: str | os.PathLike, mode: str = "File", epoch: int = 0) -> Iterator[BinaryIO]:
    """Binary streams of a channel: each file in turn (File/FastFile), or the epoch's FIFO (Pipe)."""
    if mode.lower() == "pipe":
        with open(pipe_path(channel_path, epoch), "rb", buffering=1 << 20) as f:
            yield _maybe_gunzip(f)
        return
    for path in channel_files(channel_path):
        with open(path, "rb", buffering=1 << 20) as f:
            yield _maybe_gunzip(f)


# ---------------------------------------------------------------- per-format batch readers

def _csv_batches(f: BinaryIO, batch_rows: int, label_size: int) -> Iterator[Batch]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        reader = pacsv.open_csv(f, read_options=pacsv.ReadOptions(autogenerate_column_names=True,
                                                                 block_size=1 << 20))
    except pa.ArrowInvalid as e:
        if "Empty CSV" in str(e):
            return
        raise ValidationError(f"Could not parse CSV training data: {e}") from None
    try:
        for rb in reader:
            if rb.num_rows == 0:
                continue
            cols = []
            for c in rb.columns:
                if not pa.types.is_floating(c.type) and not pa.types.is_integer(c.type):
                    if pa.types.is_null(c.type):
                        c = pa.array(np.full(len(c), np.nan))
                    else:
                        raise ValidationError(
                            f"CSV training data must be numeric; found a column of type {c.type}.")
                cols.append(c.to_numpy(zero_copy_only=False).astype(np.float32, copy=False))
            arr = np.column_stack(cols)
            y = arr[:, 0].copy() if label_size > 0 else None
            yield Batch(np.ascontiguousarray(arr[:, label_size:]), y)
    except pa.ArrowInvalid as e:
        raise ValidationError(f"Could not parse CSV training data: {e}") from None


def _libsvm_batches(f: BinaryIO, batch_rows: int, feature_dim: int | None) -> Iterator[Batch]:
    text = io.TextIOWrapper(f, encoding="utf-8", errors="strict")
    labels, data, indices, indptr = [], [], [], [0]
    width = feature_dim or 0

    def flush():
        nonlocal labels, data, indices, indptr
        n_cols = feature_dim or width
        X = sp.csr_matrix((np.asarray(data, np.float32), np.asarray(indices, np.int64), np.asarray(indptr)),
                          shape=(len(labels), n_cols))
        b = Batch(X, np.asarray(labels, np.float32))
        labels, data, indices, indptr = [], [], [], [0]
        return b

    for lineno, line in enumerate(text, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        try:
            labels.append(float(parts[0].split(":")[0]))
            for tok in parts[1:]:
                if tok.startswith("qid:"):
                    continue
                k, v = tok.split(":", 1)
                idx = int(k)
                if idx < 0 or (feature_dim and idx >= feature_dim):
                    raise ValueError(f"feature index {idx} out of range")
                indices.append(idx)
                data.append(float(v))
                width = max(width, idx + 1)
        except ValueError as e:
            raise ValidationError(f"Could not parse LibSVM line {lineno}: {e}") from None
        indptr.append(len(indices))
        if len(labels) >= batch_rows:
            yield flush()
    if labels:
        yield flush()


def _fast_dense(payloads: list[bytes]) -> Batch | None:
    """Vectorised parse of records that share one layout (dense Float32 features, optional Float32 scalar
    label), which is what the SDK writes: every byte outside the value regions must equal the first
    record's, so each record parses exactly like the first. None when that does not hold."""
    size = len(payloads[0])
    if any(len(p) != size for p in payloads):
        return None
    first = decode_record(payloads[0])
    t, lab = first.features.get("values"), first.label.get("values")
    if (len(first.features) != 1 or not isinstance(t, Tensor) or t.keys is not None or t.shape is not None
            or t.values.dtype != np.float32 or t.values.size == 0):
        return None
    fb = t.values.tobytes()
    fo = payloads[0].find(fb)
    if fo < 0 or payloads[0].find(fb, fo + 1) >= 0:
        return None
    lo = None
    if first.label:
        if (len(first.label) != 1 or not isinstance(lab, Tensor) or lab.keys is not None
                or lab.values.dtype != np.float32 or lab.values.size != 1):
            return None
        lo = payloads[0].find(lab.values.tobytes(), fo + len(fb))
        if lo < 0 or payloads[0].find(lab.values.tobytes(), lo + 1) >= 0:
            return None
    arr = np.frombuffer(b"".join(payloads), dtype=np.uint8).reshape(len(payloads), size)
    mask = np.ones(size, dtype=bool)
    mask[fo:fo + len(fb)] = False
    if lo is not None:
        mask[lo:lo + 4] = False
    if not (arr[:, mask] == arr[0, mask]).all():
        return None
    X = np.ascontiguousarray(arr[:, fo:fo + len(fb)]).view("<f4").astype(np.float32, copy=False)
    y = np.ascontiguousarray(arr[:, lo:lo + 4]).view("<f4").ravel().astype(np.float32) if lo is not None else None
    return Batch(X, y)


def _decode_payloads(payloads: list[bytes], feature_dim: int | None) -> Batch:
    fast = _fast_dense(payloads)
    if fast is not None:
        return fast
    dense_rows: list[np.ndarray] = []
    sp_data, sp_idx, sp_ptr = [], [], [0]
    labels: list[float] = []
    has_label = None
    width = feature_dim or 0
    for payload in payloads:
        rec = decode_record(payload)
        t = rec.features.get("values")
        if not isinstance(t, Tensor):
            raise ValidationError("RecordIO-protobuf record has no features['values'] tensor.")
        sparse = t.keys is not None or (t.shape is not None and t.values.size != int(np.prod(t.shape)))
        if sparse:
            keys = t.keys.astype(np.int64) if t.keys is not None else np.zeros(0, np.int64)
            dim = int(t.shape[-1]) if t.shape else (int(keys.max()) + 1 if keys.size else 0)
            width = max(width, dim)
            sp_data.append(t.values)
            sp_idx.append(keys)
            sp_ptr.append(sp_ptr[-1] + len(keys))
        else:
            dense_rows.append(t.values.reshape(-1))
        lab = rec.label.get("values")
        if has_label is None:
            has_label = isinstance(lab, Tensor) and lab.values.size > 0
        if has_label:
            if not isinstance(lab, Tensor) or lab.values.size == 0:
                raise ValidationError("RecordIO-protobuf records mix labelled and unlabelled examples.")
            labels.append(float(lab.values.reshape(-1)[0]))
        elif isinstance(lab, Tensor) and lab.values.size:
            raise ValidationError("RecordIO-protobuf records mix labelled and unlabelled examples.")
    y = np.asarray(labels, np.float32) if has_label else None
    if dense_rows and len(sp_ptr) > 1:
        raise ValidationError("RecordIO-protobuf data mixes dense and sparse records.")
    if dense_rows:
        widths = {len(r) for r in dense_rows}
        if len(widths) > 1:
            raise ValidationError(f"Training rows have different numbers of features: {sorted(widths)}.")
        return Batch(np.vstack(dense_rows).astype(np.float32, copy=False), y)
    X = sp.csr_matrix((np.concatenate(sp_data).astype(np.float32) if sp_data else np.zeros(0, np.float32),
                       np.concatenate(sp_idx) if sp_idx else np.zeros(0, np.int64), np.asarray(sp_ptr)),
                      shape=(len(sp_ptr) - 1, feature_dim or width))
    return Batch(X, y)


def _recordio_batches(f: BinaryIO, batch_rows: int, feature_dim: int | None) -> Iterator[Batch]:
    payloads: list[bytes] = []
    for payload in read_records(f):
        payloads.append(payload)
        if len(payloads) >= batch_rows:
            yield _decode_payloads(payloads, feature_dim)
            payloads = []
    if payloads:
        yield _decode_payloads(payloads, feature_dim)


def _rebatch(batches: Iterator[Batch], size: int) -> Iterator[Batch]:
    """Re-cut batches of any size into batches of exactly ``size`` rows (the last may be smaller)."""
    pending: list[Batch] = []
    count = 0
    for b in batches:
        pending.append(b)
        count += len(b)
        while count >= size:
            merged = concat(pending)
            yield Batch(merged.X[:size], None if merged.y is None else merged.y[:size])
            rest = Batch(merged.X[size:], None if merged.y is None else merged.y[size:])
            pending, count = ([rest], len(rest)) if len(rest) else ([], 0)
    if count:
        yield concat(pending)


def concat(batches: list[Batch]) -> Batch:
    if len(batches) == 1:
        return batches[0]
    if any(sp.issparse(b.X) for b in batches):
        width = max(b.X.shape[1] for b in batches)
        mats = []
        for b in batches:
            m = sp.csr_matrix(b.X)
            if m.shape[1] < width:
                m = sp.csr_matrix((m.data, m.indices, m.indptr), shape=(m.shape[0], width))
            mats.append(m)
        X = sp.vstack(mats, format="csr")
    else:
        widths = {b.X.shape[1] for b in batches}
        if len(widths) > 1:
            raise ValidationError(f"Training rows have different numbers of features: {sorted(widths)}.")
        X = np.vstack([b.X for b in batches])
    ys = [b.y for b in batches]
    if any(y is None for y in ys) and not all(y is None for y in ys):
        raise ValidationError("Some training files have labels and some do not.")
    y = None if ys[0] is None else np.concatenate(ys)
    return Batch(X, y)


def iter_batches(channel_path: str | os.PathLike, content_type: str | None = None, batch_size: int = 1000,
                 mode: str = "File", epoch: int = 0, label_size: int | None = None,
                 feature_dim: int | None = None) -> Iterator[Batch]:
    """Mini-batches of ``batch_size`` rows from a channel (one pass; in Pipe mode, the epoch's FIFO).

    ``label_size`` overrides the default of 1 (a ``label_size`` in the content type overrides both) for CSV.
    """
    fmt = data_format(content_type)
    _, params = parse_content_type(content_type)
    if "label_size" in params:
        label_size = int(params["label_size"])
    label_size = 1 if label_size is None else label_size

    def raw() -> Iterator[Batch]:
        for f in open_streams(channel_path, mode, epoch):
            if fmt == CSV:
                yield from _csv_batches(f, batch_size, label_size)
            elif fmt == LIBSVM:
                yield from _libsvm_batches(f, batch_size, feature_dim)
            else:
                yield from _recordio_batches(f, batch_size, feature_dim)

    for b in _rebatch(raw(), batch_size):
        if feature_dim is not None and b.X.shape[1] != feature_dim:
            raise ValidationError(
                f"Training data has {b.X.shape[1]} features but hyperparameter 'feature_dim' is {feature_dim}.")
        yield b


def load_channel(channel_path: str | os.PathLike, content_type: str | None = None, mode: str = "File",
                 epoch: int = 0, label_size: int | None = None, feature_dim: int | None = None) -> Batch | None:
    """The whole channel as one Batch (None if it holds no rows)."""
    batches = list(iter_batches(channel_path, content_type, 1 << 16, mode, epoch, label_size, feature_dim))
    return concat(batches) if batches else None


def iter_string_rows(channel_path: str | os.PathLike, n_columns: int, batch_size: int = 10000,
                     mode: str = "File", epoch: int = 0) -> Iterator[list[np.ndarray]]:
    """CSV rows of strings (e.g. IP Insights' ``entity,ip``) in batches: a list of ``n_columns`` string arrays."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    pending: list[list[np.ndarray]] = []
    count = 0
    for f in open_streams(channel_path, mode, epoch):
        names = [f"c{i}" for i in range(n_columns)]
        try:
            reader = pacsv.open_csv(f, read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 20),
                                    convert_options=pacsv.ConvertOptions(
                                        column_types={n: pa.string() for n in names}))
            for rb in reader:
                if rb.num_columns != n_columns:
                    raise ValidationError(f"CSV rows must have {n_columns} columns.")
                pending.append([np.asarray(c.to_numpy(zero_copy_only=False), dtype=object) for c in rb.columns])
                count += rb.num_rows
                while count >= batch_size:
                    cols = [np.concatenate([p[i] for p in pending]) for i in range(n_columns)]
                    yield [c[:batch_size] for c in cols]
                    rest = [c[batch_size:] for c in cols]
                    count -= batch_size
                    pending = [rest] if count else []
        except pa.ArrowInvalid as e:
            if "Empty CSV" in str(e):
                continue
            raise ValidationError(f"Could not parse CSV data: {e}") from None
    if count:
        yield [np.concatenate([p[i] for p in pending]) for i in range(n_columns)]
