"""Numeric columns: scale values (standard, robust, min-max, max-absolute, as Spark ML's scalers compute them)
and bin values (equal width, equal frequency, custom edges)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._common import OperatorError, column_list, default, dispatch, need_columns, need_numeric


def _numeric_standard(x: pd.Series, center=False, scale=True, **_) -> pd.Series:
    """Spark's StandardScaler: centre optional (off by default), divide by the sample standard deviation."""
    out = x
    if center:
        out = out - x.mean()
    if scale:
        std = x.std(ddof=1)
        out = out / std if std and not pd.isna(std) else out * 0.0
    return out


def _numeric_robust(x: pd.Series, lower_quantile=0.25, upper_quantile=0.75, center=False, scale=True, **_):
    out = x
    if center:
        out = out - x.median()
    if scale:
        spread = x.quantile(float(upper_quantile)) - x.quantile(float(lower_quantile))
        out = out / spread if spread else out * 0.0
    return out


def _numeric_min_max(x: pd.Series, min=0.0, max=1.0, **_):  # noqa: A002 - AWS's parameter names
    low, high = x.min(), x.max()
    lo, hi = float(min), float(max)
    if high == low:
        return pd.Series(np.full(len(x), (lo + hi) / 2), index=x.index)
    return (x - low) / (high - low) * (hi - lo) + lo


def _numeric_max_abs(x: pd.Series, **_):
    peak = x.abs().max()
    return x / peak if peak else x * 0.0


def _numeric_scale(df, scaler="Standard scaler", input_column=None, output_column=None, **params):
    table = {"Standard scaler": (_numeric_standard, "standard_scaler_parameters"),
             "Robust scaler": (_numeric_robust, "robust_scaler_parameters"),
             "Min-max scaler": (_numeric_min_max, "min_max_scaler_parameters"),
             "Max absolute scaler": (_numeric_max_abs, "max_absolute_scaler_parameters")}
    if scaler not in table:
        raise OperatorError(f"Scale values: scaler {scaler!r} is not one of {sorted(table)}")
    fn, key = table[scaler]
    names = column_list(input_column)
    need_columns(df, names)
    out = df.copy(deep=False)
    for name in names:
        need_numeric(df, name)
        target = output_column or name if len(names) == 1 else name
        out[target] = fn(df[name].astype("float64"), **dict(params.get(key) or {}))
    return out


def _numeric_bin(df, input_column=None, binning_strategy="Equal width", number_of_bins=10, bin_edges=None,
                 output_column=None, **_):
    names = column_list(input_column)
    need_columns(df, names)
    out = df.copy(deep=False)
    for name in names:
        need_numeric(df, name)
        x = df[name].astype("float64")
        if binning_strategy == "Equal width":
            codes = pd.cut(x, bins=int(number_of_bins), labels=False)
        elif binning_strategy == "Equal frequency":
            codes = pd.qcut(x, q=int(number_of_bins), labels=False, duplicates="drop")
        elif binning_strategy == "Custom":
            if not bin_edges or len(bin_edges) < 2:
                raise OperatorError("Bin values: a Custom binning_strategy needs bin_edges (two or more numbers)")
            codes = pd.cut(x, bins=[float(e) for e in bin_edges], labels=False, include_lowest=True)
        else:
            raise OperatorError(f"Bin values: binning_strategy {binning_strategy!r} is not 'Equal width', "
                                "'Equal frequency' or 'Custom'")
        out[output_column or f"{name}_binned" if len(names) == 1 else f"{name}_binned"] = codes.astype("float64")
    return out


def process_numeric(df, trained_parameters=None, **parameters):
    fn, params = dispatch(parameters, {"Scale values": (_numeric_scale, "scale_values_parameters"),
                                       "Bin values": (_numeric_bin, "bin_values_parameters")}, "Process numeric")
    return default(fn(df, **params))
