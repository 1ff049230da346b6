"""Helpers for the wrangle tests: a frame written where a flow's source reads it, and one-step flows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from shipyard import wrangle


def sample_frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "id": np.arange(n, dtype="int64"),
        "num": rng.normal(10, 3, n),
        "count": rng.integers(0, 50, n).astype("int64"),
        "cat": rng.choice(["red", "green", "blue", "green"], n),
        "when": pd.date_range("2021-01-01", periods=n, freq="37h").astype(str),
        "text": rng.choice(["the cat sat", "a dog ran far", "The Cat ran", "dog"], n),
    })
    df.loc[rng.choice(n, n // 10, replace=False), "num"] = np.nan
    df["cat"] = df["cat"].astype(object)
    df.loc[rng.choice(n, n // 20, replace=False), "cat"] = None
    return df


def parquet_source(df: pd.DataFrame, folder: Path, name: str = "data.parquet") -> str:
    path = folder / name
    df.to_parquet(path, index=False)
    return str(path)


def one_step(df: pd.DataFrame, folder: Path, operator: str, params: dict, *, output: str = "default") -> pd.DataFrame:
    """``df`` through one step of a flow (read back from Parquet, as a flow's source reads it)."""
    flow = wrangle.new_flow(parquet_source(df, folder), content_type="parquet", infer_types=False)
    node = wrangle.add_step(flow, operator, params)
    return wrangle.preview(flow, node, output=output, sample_rows=None)


def read_back(df: pd.DataFrame, folder: Path) -> pd.DataFrame:
    """``df`` as a flow's source reads it (the baseline the hand-written pandas starts from)."""
    return pd.read_parquet(parquet_source(df, folder, "baseline.parquet"))
