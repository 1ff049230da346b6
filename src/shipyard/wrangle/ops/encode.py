"""Encode categorical columns: one-hot (a column per value, ``<column>_<value>``) and ordinal (an index per
value, most frequent first, as Spark's StringIndexer orders them)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._common import OperatorError, column_list, default, dispatch, need_columns


def _encode_ranks(series: pd.Series) -> tuple[np.ndarray, list[str]]:
    """(each row's category index, -1 when missing; the categories as text), categories most frequent first,
    ties by value (Spark's StringIndexer frequencyDesc order). One factorize pass: no per-row conversions."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    names = [str(v) for v in uniques]
    if len(names) != len(set(names)):  # 1 and "1" are one category in text: factorize the text instead
        codes, uniques = pd.factorize(series.astype("string"), use_na_sentinel=True)
        names = [str(v) for v in uniques]
    counts = np.bincount(codes[codes >= 0], minlength=len(names))
    order = sorted(range(len(names)), key=lambda i: (-counts[i], names[i]))
    rank = np.empty(len(names) + 1, dtype=np.int64)
    rank[np.array(order, dtype=np.int64)] = np.arange(len(order))
    rank[-1] = -1  # code -1 (missing) indexes the last slot
    return rank[codes], [names[i] for i in order]


def _encode_ordinal(df, input_column=None, invalid_handling_strategy="Replace with NaN", output_column=None, **_):
    names = column_list(input_column)
    need_columns(df, names)
    out = df.copy(deep=False)
    invalid = np.zeros(len(df), dtype=bool)
    for name in names:
        ranks, _ = _encode_ranks(df[name])
        codes = ranks.astype("float64")
        codes[ranks < 0] = np.nan
        invalid |= np.isnan(codes)
        out[output_column or name if len(names) == 1 else name] = codes
    if invalid_handling_strategy == "Skip" and invalid.any():  # drop the rows whose value has no index
        out = out[~invalid].reset_index(drop=True)
    return out


def _encode_one_hot(df, input_column=None, drop_last=False, output_style="Columns", invalid_handling_strategy="Keep",
                    **_):
    if output_style not in (None, "Columns"):
        raise OperatorError(f"One-hot encode: output_style {output_style!r} is not supported here (use 'Columns')")
    names = column_list(input_column)
    need_columns(df, names)
    out = df.drop(columns=names)
    for name in names:
        codes, categories = _encode_ranks(df[name])
        if drop_last and categories:
            categories = categories[:-1]
        for i, value in enumerate(categories):
            out[f"{name}_{value}"] = (codes == i).astype("float64")
    return out


def encode_categorical(df, trained_parameters=None, **parameters):
    fn, params = dispatch(parameters, {"One-hot encode": (_encode_one_hot, "one_hot_encode_parameters"),
                                       "Ordinal encode": (_encode_ordinal, "ordinal_encode_parameters")},
                          "Encode categorical")
    return default(fn(df, **params))
