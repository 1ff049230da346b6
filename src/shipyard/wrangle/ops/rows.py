"""Row operators: filter (a column compared with a value), sort, drop duplicates, and the randomized split
(one output per split: ``Train``, ``Test``...)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._common import OperatorError, column_list, default, dispatch, is_numeric, need_columns

CONDITIONS = ("==", "!=", "<", "<=", ">", ">=", "is missing", "is not missing", "in", "not in", "contains")


def _rows_value(series: pd.Series, value):
    if isinstance(value, list):
        return [_rows_value(series, v) for v in value]
    if is_numeric(series) and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise OperatorError(f"Filter: {value!r} is not a number, and column {series.name!r} is numeric") from None
    return value


def _rows_filter(df, input_column=None, condition="==", value=None, **_):
    name = column_list(input_column)[0]
    need_columns(df, [name])
    x, v = df[name], _rows_value(df[name], value)
    tests = {"==": lambda: x == v, "!=": lambda: x != v, "<": lambda: x < v, "<=": lambda: x <= v,
             ">": lambda: x > v, ">=": lambda: x >= v, "is missing": lambda: x.isna(),
             "is not missing": lambda: x.notna(), "in": lambda: x.isin(v if isinstance(v, list) else [v]),
             "not in": lambda: ~x.isin(v if isinstance(v, list) else [v]),
             "contains": lambda: x.astype("string").str.contains(str(value), regex=False)}
    if condition not in tests:
        raise OperatorError(f"Filter: condition {condition!r} is not one of {list(CONDITIONS)}")
    mask = tests[condition]()
    return df[mask.fillna(False).astype(bool)].reset_index(drop=True)


def _rows_sort(df, sort_by=None, order="Ascending", **_):
    names = column_list(sort_by, "sort_by")
    need_columns(df, names)
    return df.sort_values(names, ascending=order != "Descending", kind="stable").reset_index(drop=True)


def _rows_dedupe(df, **_):
    return df.drop_duplicates().reset_index(drop=True)


def manage_rows(df, trained_parameters=None, **parameters):
    fn, params = dispatch(parameters, {"Filter": (_rows_filter, "filter_parameters"),
                                       "Sort": (_rows_sort, "sort_parameters"),
                                       "Drop duplicates": (_rows_dedupe, "drop_duplicates_parameters")},
                          "Manage rows")
    return default(fn(df, **params))


def split(df, trained_parameters=None, **parameters):
    """Randomized split: each row goes to one split, by a seeded draw, in the splits' proportions."""
    if parameters.get("operator") != "Randomized split":
        raise OperatorError(f"Split data: operator {parameters.get('operator')!r} is not supported "
                            "(supported: 'Randomized split')")
    params = dict(parameters.get("randomized_split_parameters") or {})
    splits = list(params.get("splits") or [])
    if not splits:
        raise OperatorError("Randomized split: splits ([{name, percentage}, ...]) is required")
    shares = np.array([float(s["percentage"]) for s in splits])
    if (shares < 0).any() or shares.sum() <= 0:
        raise OperatorError("Randomized split: percentages must be non-negative and add up to more than 0")
    edges = np.cumsum(shares / shares.sum())
    draw = np.random.default_rng(int(params.get("seed", 42))).random(len(df))
    which = np.minimum(np.searchsorted(edges, draw, side="right"), len(splits) - 1)
    return {s["name"]: df[which == i].reset_index(drop=True) for i, s in enumerate(splits)}
