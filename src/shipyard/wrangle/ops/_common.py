"""Helpers every operator shares (standalone: numpy and pandas only)."""

from __future__ import annotations

import pandas as pd


class OperatorError(ValueError):
    """A flow step that cannot run on this data or with these parameters (the message says what to fix)."""


def dispatch(parameters: dict, table: dict, what: str):
    """AWS's ``{"operator": "Drop column", "drop_column_parameters": {...}}`` -> (function, its parameters)."""
    choice = parameters.get("operator")
    if choice not in table:
        raise OperatorError(f"{what}: operator {choice!r} is not one of {sorted(table)}")
    fn, key = table[choice]
    return fn, dict(parameters.get(key) or {})


def column_list(value, what: str = "input_column") -> list[str]:
    """A column parameter given as a name or a list of names."""
    if value is None or value == "" or value == []:
        raise OperatorError(f"{what} is required")
    return [value] if isinstance(value, str) else [str(v) for v in value]


def need_columns(df: pd.DataFrame, names: list[str]) -> None:
    missing = [n for n in names if n not in df.columns]
    if missing:
        raise OperatorError(f"column(s) {missing} not found; the data has {list(df.columns)}")


def is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def need_numeric(df: pd.DataFrame, name: str) -> None:
    if not is_numeric(df[name]):
        raise OperatorError(f"column {name!r} has type {df[name].dtype}, a numeric column is required; cast it "
                            "first (infer_and_cast_type or cast_single_data_type)")


def default(df: pd.DataFrame) -> dict:
    return {"default": df}
