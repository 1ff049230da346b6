"""Reading a data set into columns, by the analyzer's ``dataset_format`` (AWS's container contract).

``dataset_format`` is JSON: ``{"csv": {"header": true, "output_columns_position": "START"}}``,
``{"json": {"lines": true}}``, ``{"parquet": {}}`` or ``{"sagemakerCaptureJson": {"captureIndexNames":
[...]}}`` (an endpoint's captured traffic: :mod:`.capture`). ``dataset_source`` is a folder (every file under it,
sorted, is one part of the data set) or one file. Columns without a header are named ``_c0``, ``_c1``... as AWS's
Spark-based analyzer names them. The result is a ``pyarrow.Table``: columnar, so 1M rows x 30 columns are read
by Arrow's multithreaded readers rather than row by row in Python.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from ...errors import ValidationError

# What counts as missing in a CSV cell (Arrow's default list without the words a category might be, like "NA").
CSV_NULLS = ["", "null", "NULL", "NaN", "nan", "None"]
FORMATS = ("csv", "json", "parquet", "sagemakerCaptureJson")


@dataclass(frozen=True)
class DatasetFormat:
    kind: str
    header: bool = False
    output_columns_position: str = "START"
    lines: bool = True
    capture_indexes: tuple[str, ...] = ("endpointInput", "endpointOutput")
    raw: dict = field(default_factory=dict)


def parse_format(text: str | None) -> DatasetFormat:
    """The ``dataset_format`` variable; a ValidationError naming the variable when it is not one of AWS's."""
    if not text:
        raise ValidationError("The analyzer needs the dataset_format environment variable, e.g. "
                              '{"csv": {"header": true}}, {"json": {"lines": true}}, {"parquet": {}}.')
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValidationError(f"dataset_format is not JSON ({e}): {text[:200]!r}") from None
    if not isinstance(doc, dict) or len(doc) != 1 or next(iter(doc)) not in FORMATS:
        raise ValidationError(f"dataset_format must be an object with one of {', '.join(FORMATS)}; got {text[:200]!r}")
    kind, options = next(iter(doc.items()))
    options = options if isinstance(options, dict) else {}
    if kind == "csv":
        position = str(options.get("output_columns_position") or "START").upper()
        if position not in ("START", "END"):
            raise ValidationError(f"dataset_format csv.output_columns_position must be START or END, not {position!r}")
        return DatasetFormat("csv", header=_truthy(options.get("header", False)), output_columns_position=position,
                             raw=doc)
    if kind == "json":
        return DatasetFormat("json", lines=_truthy(options.get("lines", options.get("line", True))), raw=doc)
    if kind == "parquet":
        return DatasetFormat("parquet", raw=doc)
    names = tuple(options.get("captureIndexNames") or ("endpointInput", "endpointOutput"))
    return DatasetFormat("sagemakerCaptureJson", capture_indexes=names, raw=doc)


def _truthy(value: Any) -> bool:
    if isinstance(value, list):  # the docs' {"csv": {"header": ["true","false"]}} notation
        value = value[0] if value else False
    return value is True or str(value).strip().lower() == "true"


def data_files(source: Path) -> list[Path]:
    """The data set's files: ``source`` itself, or every non-hidden file under it, in name order."""
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise ValidationError(f"The dataset_source {source} does not exist: the job's input was not staged there.")
    return sorted(p for p in source.rglob("*") if p.is_file() and not any(part.startswith(".")
                                                                          for part in p.relative_to(source).parts))


def read(source: Path, fmt: DatasetFormat) -> pa.Table:
    """The data set at ``source`` in ``fmt`` as one table (an empty table when there are no files)."""
    files = data_files(source)
    if fmt.kind == "sagemakerCaptureJson":
        from .capture import read_captures

        return read_captures(files, fmt.capture_indexes).table
    if not files:
        return pa.table({})
    readers = {"csv": _read_csv, "json": _read_json, "parquet": _read_parquet}
    return concat([readers[fmt.kind](f, fmt) for f in files])


def concat(tables: list[pa.Table]) -> pa.Table:
    """One table from parts whose columns may have been inferred differently (an int part and a string part of
    the same column become strings: the statistics then see the mixture, as AWS's would)."""
    tables = [t for t in tables if t.num_columns]
    if not tables:
        return pa.table({})
    if len(tables) == 1:
        return tables[0]
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return pa.concat_tables([_as_strings(t) for t in tables], promote_options="permissive")


def _as_strings(table: pa.Table) -> pa.Table:
    return pa.table({name: table.column(name).cast(pa.string()) for name in table.column_names})


def _read_csv(path: Path, fmt: DatasetFormat) -> pa.Table:
    from pyarrow import csv

    if path.stat().st_size == 0:
        return pa.table({})
    read_options = csv.ReadOptions(autogenerate_column_names=not fmt.header, block_size=1 << 24)
    convert = csv.ConvertOptions(null_values=CSV_NULLS, strings_can_be_null=True)
    parse = csv.ParseOptions(newlines_in_values=False)
    try:
        table = csv.read_csv(path, read_options=read_options, parse_options=parse, convert_options=convert)
    except pa.ArrowInvalid as e:
        raise ValidationError(f"{path.name} is not CSV as dataset_format says: {e}") from None
    if not fmt.header:
        table = table.rename_columns([f"_c{i}" for i in range(table.num_columns)])
    else:
        table = table.rename_columns([n.strip() for n in table.column_names])
    return table


def _read_json(path: Path, fmt: DatasetFormat) -> pa.Table:
    if path.stat().st_size == 0:
        return pa.table({})
    if fmt.lines:
        from pyarrow import json as pj

        try:
            return pj.read_json(path)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            return rows_to_table(rows)
    doc = json.loads(path.read_text())
    return rows_to_table(doc if isinstance(doc, list) else [doc])


def _read_parquet(path: Path, fmt: DatasetFormat) -> pa.Table:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise ValidationError(f"{path.name} is not Parquet as dataset_format says: {e}") from None


def rows_to_table(rows: list) -> pa.Table:
    """Rows (dicts, flattened to dotted names, or lists, named ``_c0``...) as a table of the values' own types,
    each column falling back to strings where its values mix types."""
    columns: dict[str, list] = {}
    for i, row in enumerate(rows):
        flat = flatten(row)
        for name, value in flat.items():
            columns.setdefault(name, [None] * i).append(value)
        for values in columns.values():
            if len(values) < i + 1:
                values.append(None)
    arrays = {}
    for name, values in columns.items():
        try:
            arrays[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays[name] = pa.array([None if v is None else str(v) for v in values], type=pa.string())
    return pa.table(arrays)


def flatten(row: Any, prefix: str = "") -> dict[str, Any]:
    """A record as ``{column: scalar}``: objects by dotted key, lists by position (``_c0``... at the top)."""
    if isinstance(row, dict):
        out: dict[str, Any] = {}
        for key, value in row.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    if isinstance(row, list):
        out = {}
        for i, value in enumerate(row):
            out.update(flatten(value, f"{prefix}{i}." if prefix else f"_c{i}."))
        return out
    return {prefix[:-1] if prefix else "_c0": row}
