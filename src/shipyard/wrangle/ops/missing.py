"""Handle missing values: impute (mean, median, mode), fill with a value, add an indicator, drop rows."""

from __future__ import annotations

import pandas as pd

from ._common import OperatorError, column_list, default, dispatch, is_numeric, need_columns, need_numeric


def _missing_impute(df, column_type="Numeric", numeric_parameters=None, categorical_parameters=None, **_):
    params = dict((numeric_parameters if column_type == "Numeric" else categorical_parameters) or {})
    names = column_list(params.get("input_column"))
    need_columns(df, names)
    out = df.copy(deep=False)
    for name in names:
        series = df[name]
        if column_type == "Numeric":
            need_numeric(df, name)
            strategy = params.get("strategy", "Mean")
            if strategy == "Mean":
                value = series.mean()
            elif strategy in ("Median", "Approximate Median"):
                value = series.median()
            else:
                raise OperatorError(f"Impute: strategy {strategy!r} is not 'Mean', 'Median' or 'Approximate Median'")
        elif column_type == "Categorical":
            modes = series.mode(dropna=True)
            value = modes.iloc[0] if len(modes) else None
        else:
            raise OperatorError(f"Impute: column_type {column_type!r} is not 'Numeric' or 'Categorical'")
        if value is None or (isinstance(value, float) and pd.isna(value)):
            raise OperatorError(f"Impute: column {name!r} has no values to compute an imputation value from")
        if pd.api.types.is_integer_dtype(series) and column_type == "Numeric":
            series = series.astype("float64")  # a mean of integers is not an integer
        target = params.get("output_column") or name if len(names) == 1 else name
        out[target] = series.fillna(value)
    return out


def _missing_fill(df, input_column=None, fill_value=None, output_column=None, **_):
    names = column_list(input_column)
    need_columns(df, names)
    out = df.copy(deep=False)
    for name in names:
        series = df[name]
        value = fill_value
        try:
            if pd.api.types.is_integer_dtype(series):
                value = int(fill_value)
            elif is_numeric(series):
                value = float(fill_value)
        except (TypeError, ValueError):
            raise OperatorError(f"Fill missing: {fill_value!r} is not a number, and column {name!r} is "
                                f"numeric ({series.dtype})") from None
        out[output_column or name if len(names) == 1 else name] = series.fillna(value)
    return out


def _missing_indicator(df, input_column=None, output_column=None, **_):
    names = column_list(input_column)
    need_columns(df, names)
    out = df.copy(deep=False)
    for name in names:
        out[output_column or f"{name}_indicator" if len(names) == 1 else f"{name}_indicator"] = df[name].isna()
    return out


def _missing_drop(df, input_column=None, dimension=None, drop_rows_parameters=None, **_):
    if dimension == "Drop Rows" and drop_rows_parameters:
        input_column = drop_rows_parameters.get("input_column", input_column)
    if input_column in (None, "", []):
        return df.dropna().reset_index(drop=True)
    names = column_list(input_column)
    need_columns(df, names)
    return df.dropna(subset=names).reset_index(drop=True)


def handle_missing(df, trained_parameters=None, **parameters):
    fn, params = dispatch(parameters, {"Impute": (_missing_impute, "impute_parameters"),
                                       "Fill missing": (_missing_fill, "fill_missing_parameters"),
                                       "Add indicator for missing": (_missing_indicator,
                                                                     "add_indicator_for_missing_parameters"),
                                       "Drop missing": (_missing_drop, "drop_missing_parameters")},
                          "Handle missing")
    return default(fn(df, **params))
