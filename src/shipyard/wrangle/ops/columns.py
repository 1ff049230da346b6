"""Column operators: type inference and casts, manage columns (drop, rename, duplicate, move), string
formatting and find-and-replace."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ._common import OperatorError, column_list, default, dispatch, need_columns

# Data Wrangler's type names (a flow's trained schema) -> the pandas dtype the engine uses
TYPE_NAMES = {"string": "string", "long": "Int64", "integer": "Int64", "int": "Int64", "float": "float64",
              "double": "float64", "bool": "boolean", "boolean": "boolean", "date": "datetime64[ns]",
              "datetime": "datetime64[ns]", "timestamp": "datetime64[ns]"}


def type_name(series: pd.Series) -> str:
    """The Data Wrangler type name of a pandas column."""
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_integer_dtype(series):
        return "long"
    if pd.api.types.is_float_dtype(series):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    return "string"


def cast_series(series: pd.Series, name: str, data_type: str) -> pd.Series:
    """``series`` as ``data_type``; values that do not parse become missing (AWS's default, "replace_null")."""
    target = TYPE_NAMES.get(str(data_type).lower())
    if target is None:
        raise OperatorError(f"column {name!r}: type {data_type!r} is not one of {sorted(TYPE_NAMES)}")
    if target == "string":
        return series if pd.api.types.is_string_dtype(series) else series.astype("string")
    if target in ("Int64", "float64"):
        if str(series.dtype) == target:
            return series
        values = pd.to_numeric(series, errors="coerce")
        if target == "Int64":
            whole = values.where(values.isna() | (values == np.floor(values)))  # 1.5 is not a long
            return whole.astype("Int64")
        return values.astype("float64")
    if target == "boolean":
        if pd.api.types.is_bool_dtype(series):
            return series.astype("boolean")
        text = series.astype("string").str.strip().str.lower()
        return text.map({"true": True, "false": False, "1": True, "0": False}).astype("boolean")
    return pd.to_datetime(series, errors="coerce")


def infer_and_cast_type(df, trained_parameters=None, **_):
    """Cast every column to the flow's trained schema; without one the reader's inferred types stand (and
    become the schema)."""
    schema = (trained_parameters or {}).get("schema")
    if not schema:
        return default(df)
    need_columns(df, list(schema))
    out = df.copy(deep=False)
    for name, data_type in schema.items():
        out[name] = cast_series(df[name], name, data_type)
    return default(out)


def cast_single_data_type(df, column=None, data_type=None, **_):
    name = column_list(column, "column")[0]
    need_columns(df, [name])
    out = df.copy(deep=False)
    out[name] = cast_series(df[name], name, data_type or "string")
    return default(out)


def _columns_drop(df, column_to_drop=None, **_):
    names = column_list(column_to_drop, "column_to_drop")
    need_columns(df, names)
    return df.drop(columns=names)


def _columns_rename(df, input_column=None, new_name=None, **_):
    name = column_list(input_column)[0]
    need_columns(df, [name])
    if not new_name:
        raise OperatorError("Rename column: new_name is required")
    return df.rename(columns={name: new_name})


def _columns_duplicate(df, input_column=None, new_name=None, **_):
    name = column_list(input_column)[0]
    need_columns(df, [name])
    out = df.copy(deep=False)
    out[new_name or f"{name}_copy"] = df[name]
    return out


def _columns_move(df, move_type="Move to start", move_to_start_parameters=None, move_to_end_parameters=None, **_):
    params = (move_to_start_parameters if move_type == "Move to start" else move_to_end_parameters) or {}
    names = column_list(params.get("column_to_move"), "column_to_move")
    need_columns(df, names)
    rest = [c for c in df.columns if c not in names]
    if move_type == "Move to start":
        return df[names + rest]
    if move_type == "Move to end":
        return df[rest + names]
    raise OperatorError(f"Move column: move_type {move_type!r} is not 'Move to start' or 'Move to end'")


def manage_columns(df, trained_parameters=None, **parameters):
    fn, params = dispatch(parameters, {"Drop column": (_columns_drop, "drop_column_parameters"),
                                       "Rename column": (_columns_rename, "rename_column_parameters"),
                                       "Duplicate column": (_columns_duplicate, "duplicate_column_parameters"),
                                       "Move column": (_columns_move, "move_column_parameters")}, "Manage columns")
    return default(fn(df, **params))


def _columns_string_op(df, params, fn):
    names = column_list(params.get("input_column"))
    need_columns(df, names)
    out = df.copy(deep=False)
    for name in names:
        target = params.get("output_column") or name
        out[target] = fn(df[name].astype("string"))
    return out


def format_string(df, trained_parameters=None, **parameters):
    """Lower/upper case, strip, remove symbols (``remove_symbols_parameters.symbols``)."""
    def remove(params):
        symbols = params.get("symbols") or ""
        pattern = "[" + re.escape(symbols) + "]" if symbols else r"[^\w\s]"
        return lambda s: s.str.replace(pattern, "", regex=True)

    simple = {"Lower case": lambda s: s.str.lower(), "Upper case": lambda s: s.str.upper(),
              "Strip left and right": lambda s: s.str.strip(), "Strip left": lambda s: s.str.lstrip(),
              "Strip right": lambda s: s.str.rstrip()}
    choice = parameters.get("operator")
    key = (choice or "").lower().replace(" ", "_") + "_parameters"
    params = dict(parameters.get(key) or {})
    if choice == "Remove symbols":
        return default(_columns_string_op(df, params, remove(params)))
    if choice in simple:
        return default(_columns_string_op(df, params, simple[choice]))
    raise OperatorError(f"Format string: operator {choice!r} is not one of {sorted([*simple, 'Remove symbols'])}")


def search_and_edit(df, trained_parameters=None, **parameters):
    """Find and replace substring (a regular expression, as AWS's)."""
    if parameters.get("operator") != "Find and replace substring":
        raise OperatorError(f"Search and edit: operator {parameters.get('operator')!r} is not supported "
                            "(supported: 'Find and replace substring')")
    params = dict(parameters.get("find_and_replace_substring_parameters") or {})
    pattern, replacement = params.get("pattern", ""), params.get("replacement", "")
    return default(_columns_string_op(df, params, lambda s: s.str.replace(pattern, replacement, regex=True)))
