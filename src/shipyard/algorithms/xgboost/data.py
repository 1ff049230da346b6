"""Reading a training channel into an ``xgboost.DMatrix``, at the speed of the underlying parser.

CSV (label first, no header; with ``csv_weights=1`` the second column is the instance weight) is parsed by
``pyarrow.csv`` (multithreaded) straight into float32 columns, which xgboost then reads column by column
through Arrow's buffers (its columnar input): no pandas, no row-major copy, no second parse.
LibSVM goes through xgboost's own loader (``?format=libsvm``, which keeps ``qid:`` query groups for the
ranking objectives), Parquet through ``pyarrow.parquet``, RecordIO-protobuf (dense or sparse) through
:mod:`shipyard.io.readers`. Every file in the channel folder is read (hidden files skipped), as SageMaker's
container does.

Pipe mode (CSV and RecordIO-protobuf, as on AWS; LibSVM is refused there too) reads the FIFO
``<channel>_0`` once, streaming: pyarrow parses CSV blocks while the platform is still writing the rest.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from ...errors import ValidationError

CSV_TYPES = ("text/csv", "csv")
LIBSVM_TYPES = ("text/libsvm", "text/x-libsvm", "libsvm", "application/x-libsvm")
PARQUET_TYPES = ("application/x-parquet", "application/parquet", "parquet")
RECORDIO_TYPES = ("application/x-recordio-protobuf", "application/x-recordio", "recordio-protobuf")


def base_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def channel_files(folder: Path) -> list[Path]:
    if folder.is_file():
        return [folder]
    files = sorted(p for p in folder.rglob("*")
                   if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    if not files:
        raise ValidationError(f"No data files found in channel folder {folder}.")
    return files


def import_xgboost():
    """``import xgboost`` without scikit-learn, for a training program's own fresh process.

    xgboost imports scikit-learn (and through it scipy.stats) at start-up only to define its sklearn-style
    wrappers, which the built-in never uses: about 1.3 s of a 1.5 s import on a small machine. With
    ``sklearn`` marked missing during that one import, xgboost falls back to its stand-ins; the mark is
    removed afterwards, so a later ``import sklearn`` works as usual. Where xgboost or scikit-learn is
    already loaded (a test, a notebook) this is a plain import."""
    if "xgboost" in sys.modules or "sklearn" in sys.modules:
        import xgboost

        return xgboost
    sys.modules["sklearn"] = None  # type: ignore[assignment]  # "import sklearn..." raises ImportError
    try:
        import xgboost
    finally:
        if sys.modules.get("sklearn", 0) is None:
            del sys.modules["sklearn"]
    return xgboost


def _count_columns(path: Path) -> int:
    import pyarrow.csv as pacsv

    opts = pacsv.ReadOptions(autogenerate_column_names=True, block_size=1 << 16)
    with pacsv.open_csv(path, read_options=opts) as reader:
        return len(reader.schema)


def _float32_array(column):
    """One arrow column as a single float32 arrow array (chunks joined: a memcpy; other types cast)."""
    import pyarrow as pa

    if column.type != pa.float32():
        column = column.cast(pa.float32())
    return column.combine_chunks()


def _column(table, i: int) -> np.ndarray:
    """Column ``i`` as a float32 numpy array, nulls as NaN, read from Arrow's buffers (pyarrow's own
    ``to_numpy`` imports pandas: a third of a second of start-up this program does not need)."""
    arr = _float32_array(table.column(i))
    values = np.frombuffer(arr.buffers()[1], dtype=np.float32, count=len(arr), offset=arr.offset * 4).copy()
    if arr.null_count:
        bits = np.frombuffer(arr.buffers()[0], dtype=np.uint8)
        valid = np.unpackbits(bits, count=arr.offset + len(arr), bitorder="little")[arr.offset:].astype(bool)
        values[~valid] = np.nan
    return values


def _feature_table(table, first: int):
    """Columns ``first..`` as an arrow table xgboost reads directly (its columnar input): one contiguous
    float32 array per column (``combine_chunks`` joins the reader's blocks: a memcpy per column, not the
    strided transpose a row-major matrix costs), named so xgboost's own name check never trips; the names
    are dropped from the DMatrix afterwards, so the model has no feature names, as before."""
    import pyarrow as pa

    columns = []
    for j in range(first, table.num_columns):
        col = _float32_array(table.column(j))
        if col.offset:  # xgboost reads the buffers from their start
            col = pa.concat_arrays([col.slice(0, 0), col])
        columns.append(col)
    return pa.table(columns, names=[f"f{j}" for j in range(len(columns))])


def _csv_options(ncols: int):
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [f"c{i}" for i in range(ncols)]
    read = pacsv.ReadOptions(column_names=names, block_size=16 << 20)
    convert = pacsv.ConvertOptions(column_types={n: pa.float32() for n in names},
                                   null_values=["", "NA", "NaN", "nan", "?"], strings_can_be_null=True)
    return read, convert


def _parse_csv(source, name: str, ncols: int):
    import pyarrow as pa
    import pyarrow.csv as pacsv

    read, convert = _csv_options(ncols)
    try:
        return pacsv.read_csv(source, read_options=read, convert_options=convert)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise ValidationError(f"Could not parse CSV file {name}: {e}. Expected numbers only, label in "
                              "the first column, no header, the same column count in every file.") from None


def read_csv_table(files: list[Path]):
    import pyarrow as pa

    ncols = _count_columns(files[0])
    tables = [_parse_csv(f, f.name, ncols) for f in files]
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


class _Prefixed(io.RawIOBase):
    """A stream that yields ``head`` and then the rest of ``stream``: the first line, already consumed to
    count the columns, goes back in front, so a FIFO is read exactly once."""

    def __init__(self, head: bytes, stream):
        super().__init__()
        self.head, self.stream = memoryview(head), stream

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if self.head.nbytes:
            n = min(len(buf), self.head.nbytes)
            buf[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        return self.stream.readinto(buf)


def read_csv_stream(stream, name: str):
    """A CSV stream (a Pipe-mode FIFO) as one arrow table; the column count comes from its first line."""
    first = stream.readline()
    if not first.strip():
        raise ValidationError(f"Pipe-mode channel {name} delivered no data.")
    ncols = first.count(b",") + 1
    return _parse_csv(io.BufferedReader(_Prefixed(first, stream), 1 << 20), name, ncols)


def read_parquet_table(files: list[Path]):
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = [pq.read_table(f) for f in files]
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
    return table.cast(pa.schema([(f.name, pa.float32()) for f in table.schema]))


def table_to_dmatrix(table, csv_weights: bool, nthread: int, quantile: dict | None = None):
    """``quantile``: build a QuantileDMatrix (hist only) with these keyword arguments (max_bin, ref): it
    bins the features as it reads them instead of storing floats first, saving time and memory."""
    import xgboost as xgb

    first = 2 if csv_weights else 1
    if table.num_columns <= first:
        raise ValidationError(f"Training data has {table.num_columns} column(s): expected the label"
                              f"{', the weight' if csv_weights else ''} and at least one feature.")
    label = _column(table, 0)
    weight = _column(table, 1) if csv_weights else None
    features = _feature_table(table, first)
    del table
    if quantile is not None:
        dmatrix = xgb.QuantileDMatrix(features, label=label, weight=weight, nthread=nthread, missing=np.nan,
                                      **quantile)
    else:
        dmatrix = xgb.DMatrix(features, label=label, weight=weight, nthread=nthread, missing=np.nan)
    dmatrix.feature_names = None  # as from a numpy matrix: the model carries no names ("f0".. at predict)
    dmatrix.feature_types = None
    return dmatrix


def _libsvm_dmatrix(path: Path, nthread: int):
    import warnings

    import xgboost as xgb

    with warnings.catch_warnings():  # xgboost 3.1 deprecates text input, still the reference parser
        warnings.simplefilter("ignore", UserWarning)
        return xgb.DMatrix(f"{path}?format=libsvm", nthread=nthread)


def load_libsvm(files: list[Path], nthread: int):
    if len(files) == 1:
        return _libsvm_dmatrix(files[0], nthread)
    with tempfile.TemporaryDirectory() as tmp:
        joined = Path(tmp) / "joined.libsvm"
        with open(joined, "wb") as out:
            for f in files:
                with open(f, "rb") as src:
                    shutil.copyfileobj(src, out)
                if out.tell() and not _ends_with_newline(f):
                    out.write(b"\n")
        return _libsvm_dmatrix(joined, nthread)


def _ends_with_newline(path: Path) -> bool:
    size = path.stat().st_size
    if size == 0:
        return True
    with open(path, "rb") as f:
        f.seek(size - 1)
        return f.read(1) == b"\n"


def batch_to_dmatrix(batch, nthread: int, quantile: dict | None = None):
    """A :class:`shipyard.io.readers.Batch` (dense or CSR features, labels) as a DMatrix."""
    import xgboost as xgb

    if batch is None or batch.X.shape[0] == 0:
        raise ValidationError("The channel holds no records.")
    if batch.y is None:
        raise ValidationError("RecordIO-protobuf training records need a label['values'] tensor.")
    if quantile is not None:
        return xgb.QuantileDMatrix(batch.X, label=batch.y, nthread=nthread, missing=np.nan, **quantile)
    return xgb.DMatrix(batch.X, label=batch.y, nthread=nthread, missing=np.nan)


def load_recordio(folder: Path, mode: str, nthread: int, quantile: dict | None = None):
    from ...io.readers import load_channel as read_batches

    return batch_to_dmatrix(read_batches(folder, "application/x-recordio-protobuf", mode), nthread, quantile)


def load_pipe(base: Path, content_type: str, csv_weights: bool, nthread: int, quantile: dict | None = None):
    """A Pipe-mode channel (the FIFO ``<base>_0``) as a DMatrix, read in one streaming pass."""
    from ...io.readers import pipe_path

    ctype = base_type(content_type)
    if ctype in CSV_TYPES:
        with open(pipe_path(base, 0), "rb", buffering=1 << 20) as f:
            table = read_csv_stream(f, Path(base).name)
        return table_to_dmatrix(table, csv_weights, nthread, quantile)
    if ctype in RECORDIO_TYPES:
        return load_recordio(Path(base), "Pipe", nthread, quantile)
    raise ValidationError(f"Pipe mode is not supported for content type {content_type!r} by the XGBoost "
                          "algorithm; use text/csv or application/x-recordio-protobuf, or File mode.")


def load_channel(folder: Path, content_type: str, csv_weights: bool = False, nthread: int = 0,
                 quantile: dict | None = None, mode: str = "File"):
    """The channel's data as a DMatrix; raises ValidationError with a message for the user."""
    ctype = base_type(content_type)
    nthread = nthread or os.cpu_count() or 1
    if mode.lower() == "pipe":
        return load_pipe(Path(folder), content_type, csv_weights, nthread, quantile)
    files = channel_files(Path(folder))
    if ctype in RECORDIO_TYPES:
        return load_recordio(Path(folder), "File", nthread, quantile)
    if ctype in CSV_TYPES:
        return table_to_dmatrix(read_csv_table(files), csv_weights, nthread, quantile)
    if ctype in LIBSVM_TYPES:
        return load_libsvm(files, nthread)
    if ctype in PARQUET_TYPES:
        return table_to_dmatrix(read_parquet_table(files), csv_weights, nthread, quantile)
    raise ValidationError(f"Content type {content_type!r} is not supported by the XGBoost algorithm; use "
                          "text/csv, text/libsvm, application/x-recordio-protobuf or application/x-parquet.")
