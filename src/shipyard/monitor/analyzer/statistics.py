"""Per-feature statistics of a table, and ``statistics.json`` in AWS's schema.

Each column is classified value by value as AWS's (Deequ-based) analyzer does: a value is Integral (``42``),
Fractional (``4.2``) or a String; a column is String when any present value is a string, else Fractional when any
is fractional, else Integral; Unknown when nothing is present. The counts by kind are kept (not written): the
data-type check of a monitoring run needs "how many values fit the baseline's type".

Numeric features get count, mean, sum, standard deviation (population, as Deequ), min, max and a KLL sketch with
10 buckets (:mod:`.sketch`); string features their distinct count and value buckets. Typed columns (Parquet,
JSON numbers, CSV columns Arrow inferred as numbers) are classified by type without looking at each value;
string columns by two vectorised regular expressions.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import sketch as kll

INTEGRAL = r"^\s*[+-]?\d+\s*$"
FRACTIONAL = r"^\s*[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|[iI]nfinity|[nN]a[nN])\s*$"
BLANK = r"^\s*$"
NUMBER_START = r"^\s*([+-]?[\d.]|[iI]nf|[nN]a[nN])"  # a cheap first pass: most categorical columns stop here
MAX_CATEGORICAL_BUCKETS = 1000  # the most frequent values kept in a string feature's distribution


@dataclass
class ColumnProfile:
    name: str
    inferred_type: str  # Integral | Fractional | String | Unknown
    num_present: int
    num_missing: int
    integral: int = 0  # present values that are integers
    fractional: int = 0  # present values that are numbers with a fraction
    values: np.ndarray | None = None  # numeric features: the present values (float64)
    categories: dict[str, int] = field(default_factory=dict)  # string features: value -> count
    distinct_count: int = 0
    sketch: object | None = None

    @property
    def numeric(self) -> bool:
        return self.inferred_type in ("Integral", "Fractional")

    @property
    def completeness(self) -> float:
        total = self.num_present + self.num_missing
        return self.num_present / total if total else 0.0

    def conforming(self, expected: str) -> int:
        """How many present values fit ``expected`` (a String fits anything; a Fractional takes integers)."""
        if expected == "Integral":
            return self.integral
        if expected == "Fractional":
            return self.integral + self.fractional
        return self.num_present


def profile(table: pa.Table, workers: int | None = None) -> list[ColumnProfile]:
    """Every column's profile, in the table's column order; columns in parallel threads (Arrow's kernels
    release the GIL)."""
    names = table.column_names
    workers = workers or min(len(names), os.cpu_count() or 1, 16)
    if workers <= 1 or len(names) <= 1:
        return [profile_column(name, table.column(name)) for name in names]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda name: profile_column(name, table.column(name)), names))


def profile_column(name: str, column: pa.ChunkedArray) -> ColumnProfile:
    total = len(column)
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = column.type
    if pa.types.is_floating(kind):
        column = pc.if_else(pc.is_nan(column), pa.scalar(None, kind), column)  # NaN is missing
    missing = column.null_count
    present = total - missing
    if pa.types.is_integer(kind):
        return _numeric(name, column, present, missing, integral=present, fractional=0)
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return _numeric(name, column, present, missing, integral=0, fractional=present)
    strings = column if pa.types.is_string(kind) or pa.types.is_large_string(kind) else column.cast(pa.string())
    blank = pc.match_substring_regex(strings, BLANK)
    empty = pc.sum(blank).as_py() or 0  # "" is missing, as Deequ's
    if empty:
        strings = pc.if_else(blank, pa.scalar(None, pa.string()), strings)
        missing += empty
        present -= empty
    if present == 0:
        return ColumnProfile(name, "Unknown", 0, missing)
    integral = fractional = 0
    if pc.sum(pc.match_substring_regex(strings, NUMBER_START)).as_py():  # only then count the numbers exactly
        integral = pc.sum(pc.match_substring_regex(strings, INTEGRAL)).as_py() or 0
        fractional = max((pc.sum(pc.match_substring_regex(strings, FRACTIONAL)).as_py() or 0) - integral, 0)
    if integral + fractional == present and not pa.types.is_boolean(kind):
        numbers = pc.cast(pc.utf8_trim_whitespace(strings), pa.float64())
        return _numeric(name, numbers, present, missing, integral=integral, fractional=fractional)
    return _categorical(name, strings, present, missing, integral, fractional)


def _numeric(name: str, column, present: int, missing: int, *, integral: int, fractional: int) -> ColumnProfile:
    values = column.drop_null().to_numpy().astype(np.float64, copy=False) if present else np.empty(0)
    values = values[np.isfinite(values)] if present else values
    kind = "Unknown" if present == 0 else "Fractional" if fractional else "Integral"
    return ColumnProfile(name, kind, present, missing, integral=integral, fractional=fractional, values=values,
                         sketch=kll.build(values) if present else None)


def _categorical(name: str, strings, present: int, missing: int, integral: int, fractional: int) -> ColumnProfile:
    counts = pc.value_counts(strings.drop_null())
    values = counts.field("values").to_pylist()
    numbers = counts.field("counts").to_pylist()
    categories = dict(sorted(zip(values, numbers), key=lambda vc: (-vc[1], str(vc[0]))))
    return ColumnProfile(name, "String", present, missing, integral=integral, fractional=fractional,
                         categories=categories, distinct_count=len(categories))


def feature_statistics(p: ColumnProfile) -> dict:
    """One ``features[]`` entry of statistics.json."""
    common = {"num_present": p.num_present, "num_missing": p.num_missing}
    if p.numeric and p.values is not None and len(p.values):
        v = p.values
        low, high = float(v.min()), float(v.max())
        return {"name": p.name, "inferred_type": p.inferred_type, "numerical_statistics": {
            "common": common, "mean": float(v.mean()), "sum": float(v.sum()), "std_dev": float(v.std()),
            "min": low, "max": high,
            "distribution": {"kll": {"buckets": kll.buckets(p.sketch, low, high, len(v)),
                                     "sketch": kll.document(p.sketch)}}}}
    if p.inferred_type == "String":
        top = list(p.categories.items())[:MAX_CATEGORICAL_BUCKETS]
        return {"name": p.name, "inferred_type": "String", "string_statistics": {
            "common": common, "distinct_count": float(p.distinct_count),
            "distribution": {"categorical": {"buckets": [{"value": str(v), "count": c} for v, c in top]}}}}
    return {"name": p.name, "inferred_type": p.inferred_type, "numerical_statistics": {"common": common}}


def statistics_document(profiles: list[ColumnProfile], item_count: int) -> dict:
    """statistics.json: ``{version: 0, dataset: {item_count}, features: [...]}``."""
    return {"version": 0.0, "dataset": {"item_count": item_count},
            "features": [feature_statistics(p) for p in profiles]}
