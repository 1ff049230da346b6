"""Operators over two datasets: join on a key (AWS's join_tables: duplicate column names become ``<name>_0``
(left) and ``<name>_1`` (right)) and concatenate rows."""

from __future__ import annotations

import pandas as pd

from ._common import OperatorError, default, need_columns

JOIN_TYPES = {"inner": "inner", "leftouter": "left", "left": "left", "rightouter": "right", "right": "right",
              "fullouter": "outer", "full": "outer", "outer": "outer", "cross": "cross", "crossjoin": "cross"}


def _combine_dedupe(columns: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    for c in columns:
        seen[c] = seen.get(c, 0) + 1
    counters: dict[str, int] = {}
    out = []
    for c in columns:
        if seen[c] > 1:
            out.append(f"{c}_{counters.get(c, 0)}")
            counters[c] = counters.get(c, 0) + 1
        else:
            out.append(c)
    return out


def join_tables(left, right, trained_parameters=None, left_column=None, right_column=None, join_type="inner",
                **_):
    how = str(join_type or "inner").lower()
    if how in ("leftsemi", "leftanti"):
        need_columns(left, [left_column])
        need_columns(right, [right_column])
        hit = left[left_column].isin(right[right_column])
        return default(left[hit if how == "leftsemi" else ~hit].reset_index(drop=True))
    if how not in JOIN_TYPES:
        known = sorted([*JOIN_TYPES, "leftsemi", "leftanti"])
        raise OperatorError(f"Join: join_type {join_type!r} is not one of {known}")
    if JOIN_TYPES[how] != "cross":
        need_columns(left, [left_column])
        need_columns(right, [right_column])
    names = list(left.columns) + list(right.columns)
    tmp_right = right.set_axis([f"__right_{i}" for i in range(right.shape[1])], axis=1)
    if JOIN_TYPES[how] == "cross":
        merged = left.merge(tmp_right, how="cross")
    else:
        key = f"__right_{list(right.columns).index(right_column)}"
        merged = left.merge(tmp_right, left_on=left_column, right_on=key, how=JOIN_TYPES[how])
    return default(merged.set_axis(_combine_dedupe(names), axis=1))


def concatenate_datasets(first, second, trained_parameters=None, concatenate_type="row_wise", apply_dedupe=False,
                         indicator_column_name=None, **_):
    if concatenate_type not in (None, "row_wise"):
        raise OperatorError(f"Concatenate: concatenate_type {concatenate_type!r} is not supported (use 'row_wise')")
    if set(first.columns) != set(second.columns):
        only = sorted(set(first.columns) ^ set(second.columns))
        raise OperatorError(f"Concatenate: the datasets' columns differ ({only} are in one only); make them match "
                            "first (manage_columns)")
    parts = [first, second[list(first.columns)]]
    if indicator_column_name:
        parts = [p.assign(**{indicator_column_name: i}) for i, p in enumerate(parts)]
    out = pd.concat(parts, ignore_index=True)
    if apply_dedupe:
        out = out.drop_duplicates().reset_index(drop=True)
    return default(out)


def identity(df, trained_parameters=None, **_):
    return default(df)
