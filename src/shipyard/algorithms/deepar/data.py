"""DeepAR's data: reading series from a channel (JSON Lines, gzipped JSON Lines, Parquet), checking them with
errors that say what to fix, and the inputs ``time_freq`` decides (lags and calendar features).

Kept free of torch so the handler's request checks and the tests can use it without building a model.
"""

from __future__ import annotations

import gzip
import io
import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ...errors import ValidationError

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"


@dataclass
class Series:
    start: datetime
    target: np.ndarray              # float64, NaN where missing
    cat: list[int] = field(default_factory=list)
    dynamic_feat: np.ndarray | None = None   # [num_dynamic_feat, length] float32
    where: str = ""                 # "file line N" for messages


# ------------------------------------------------------------------ parsing one series

def parse_start(value: Any, where: str) -> datetime:
    """A series' start as a naive datetime ("YYYY-MM-DD HH:MM:SS", "YYYY-MM-DD" or ISO 8601; a time zone is
    dropped, as the calendar features are local time)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    try:
        text = str(value).strip()
        if text.endswith("Z"):
            text = text[:-1]
        return datetime.fromisoformat(text).replace(tzinfo=None)
    except (ValueError, TypeError):
        raise ValidationError(f"{where}: 'start' is {value!r}, not a timestamp; use the form "
                              "\"YYYY-MM-DD HH:MM:SS\".") from None


def _number(v: Any) -> float:
    if v is None:
        return math.nan
    if isinstance(v, bool):
        raise ValueError
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str) and v.strip().lower() in ("nan", "null", ""):
        return math.nan
    return float(v)


def parse_series(obj: Any, where: str) -> Series:
    """One JSON object -> Series; ``dynamic_feat`` lengths are checked by the caller (they depend on the use)."""
    if not isinstance(obj, dict):
        raise ValidationError(f"{where}: each series must be a JSON object with 'start' and 'target'.")
    if "target" not in obj:
        raise ValidationError(f"{where}: the series has no 'target' field (a list of numbers, \"NaN\" where "
                              "missing).")
    if "start" not in obj:
        raise ValidationError(f"{where}: the series has no 'start' field (\"YYYY-MM-DD HH:MM:SS\").")
    raw = obj["target"]
    if not isinstance(raw, (list, tuple)) and not hasattr(raw, "tolist"):
        raise ValidationError(f"{where}: 'target' must be a list of numbers.")
    try:
        target = np.array([_number(v) for v in list(raw)], dtype=np.float64)
    except (TypeError, ValueError):
        raise ValidationError(f"{where}: 'target' holds a value that is not a number or \"NaN\".") from None
    if np.isinf(target).any():
        raise ValidationError(f"{where}: 'target' holds an infinite value.")
    cat: list[int] = []
    if obj.get("cat") is not None:
        raw_cat = obj["cat"]
        raw_cat = list(raw_cat) if isinstance(raw_cat, (list, tuple)) or hasattr(raw_cat, "tolist") else [raw_cat]
        try:
            cat = [int(c) for c in raw_cat]
            if any(float(c) != int(c) or int(c) < 0 for c in raw_cat):
                raise ValueError
        except (TypeError, ValueError):
            raise ValidationError(f"{where}: 'cat' must be a list of non-negative integers; got {obj['cat']!r}.") \
                from None
    dyn = None
    if obj.get("dynamic_feat") is not None:
        rows = list(obj["dynamic_feat"])
        try:
            lists = [[_number(v) for v in list(r)] for r in rows]
        except (TypeError, ValueError):
            raise ValidationError(f"{where}: 'dynamic_feat' must be a list of lists of numbers.") from None
        lengths = {len(r) for r in lists}
        if len(lengths) > 1:
            raise ValidationError(f"{where}: the 'dynamic_feat' lists have different lengths {sorted(lengths)}.")
        dyn = np.array(lists, dtype=np.float32).reshape(len(lists), -1)
        if np.isnan(dyn).any():
            raise ValidationError(f"{where}: 'dynamic_feat' holds a missing value; dynamic features may not be "
                                  "NaN (only the target may).")
    return Series(parse_start(obj["start"], where), target, cat, dyn, where)


# ------------------------------------------------------------------ reading a channel

def _objects_jsonl(text: str, name: str) -> Iterator[tuple[Any, str]]:
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield json.loads(line), f"{name} line {i}"
        except json.JSONDecodeError as e:
            raise ValidationError(f"{name} line {i} is not valid JSON ({e.msg}); DeepAR reads JSON Lines: one "
                                  "series object per line.") from None


def _objects_parquet(data: bytes, name: str) -> Iterator[tuple[Any, str]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ValidationError("Reading Parquet needs pyarrow; install it or send JSON Lines.") from None
    try:
        rows = pq.read_table(io.BytesIO(data)).to_pylist()
    except Exception as e:  # noqa: BLE001 - pyarrow raises several kinds for a bad file
        raise ValidationError(f"{name} is not a readable Parquet file: {e}") from None
    for i, row in enumerate(rows, 1):
        if row.get("start") is not None and not isinstance(row["start"], str):
            row["start"] = str(row["start"])
        yield row, f"{name} row {i}"


def read_file(path: Path, content_type: str = "") -> Iterator[tuple[Any, str]]:
    data = path.read_bytes()
    name = path.name
    ct = content_type.split(";")[0].strip().lower()
    if data[:4] == PARQUET_MAGIC or name.endswith(".parquet") or "parquet" in ct:
        yield from _objects_parquet(data, name)
        return
    if data[:2] == GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as e:
            raise ValidationError(f"{name} looks gzipped but cannot be decompressed: {e}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError(f"{name} is neither UTF-8 JSON Lines, gzipped JSON Lines nor Parquet.") from None
    yield from _objects_jsonl(text, name)


def read_channel(folder: Path, content_type: str = "") -> list[Series]:
    """Every series in a File-mode channel folder (sub-folders included, hidden files skipped)."""
    files = sorted(p for p in Path(folder).rglob("*") if p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    series = [parse_series(obj, where) for f in files for obj, where in read_file(f, content_type)]
    if not series:
        raise ValidationError(f"The channel at {Path(folder).name} holds no series.")
    return series


# ------------------------------------------------------------------ what time_freq decides

_SEASONS = {"min": (60, 1440), "H": (24, 168), "D": (7, 14, 21, 28, 365), "W": (52,), "M": (12, 24)}
_FEATURES = {"min": ("minute_of_hour", "hour_of_day", "day_of_week", "day_of_month", "day_of_year"),
             "H": ("hour_of_day", "day_of_week", "day_of_month", "day_of_year"),
             "D": ("day_of_week", "day_of_month", "day_of_year"),
             "W": ("day_of_month", "week_of_year"),
             "M": ("month_of_year",)}


def lags_for(multiple: int, base: str) -> list[int]:
    """Lags 1..7 plus each seasonal period of the base frequency (and its neighbours), in steps of the
    frequency: for daily data 1..7, 13..15, 20..22, 27..29 and 364..366 (a week, 2, 3, 4 weeks, a year)."""
    lags = set(range(1, 8))
    for period in _SEASONS[base]:
        p = round(period / multiple)
        if p >= 8:
            lags.update((p - 1, p, p + 1))
    return sorted(lags)


def num_time_features(base: str) -> int:
    return len(_FEATURES[base])


def time_features(start: datetime, multiple: int, base: str, index: np.ndarray) -> np.ndarray:
    """Calendar features in [-0.5, 0.5] of the steps ``index`` (may be negative) after ``start``:
    [len(index), num_time_features(base)] float32. NumPy calendar arithmetic (no pandas needed)."""
    index = np.asarray(index, dtype=np.int64)
    if base == "M":
        months = start.year * 12 + (start.month - 1) + index * multiple
        return ((months % 12) / 11.0 - 0.5).astype(np.float32)[:, None]
    unit: Any = {"min": "m", "H": "h", "D": "D", "W": "D"}[base]
    step = multiple * (7 if base == "W" else 1)
    t0 = np.datetime64(start, "m")
    stamps = t0 + index * np.timedelta64(step, unit).astype("timedelta64[m]")
    hours = stamps.astype("datetime64[h]")
    days = stamps.astype("datetime64[D]")
    day_number = days.astype(np.int64)
    dow = (day_number + 3) % 7                                   # 1970-01-01 was a Thursday; Monday = 0
    doy = (days - days.astype("datetime64[Y]")).astype(np.int64)  # 0-based
    columns = []
    for name in _FEATURES[base]:
        if name == "minute_of_hour":
            columns.append((stamps - hours).astype(np.int64) / 59.0)
        elif name == "hour_of_day":
            columns.append((hours - days).astype(np.int64) / 23.0)
        elif name == "day_of_week":
            columns.append(dow / 6.0)
        elif name == "day_of_month":
            columns.append((days - days.astype("datetime64[M]")).astype(np.int64) / 30.0)
        elif name == "day_of_year":
            columns.append(doy / 365.0)
        elif name == "week_of_year":  # ISO week, 1 .. 53
            week = (doy + 1 - (dow + 1) + 10) // 7
            year = days.astype("datetime64[Y]").astype(np.int64) + 1970
            week = np.where(week < 1, _iso_weeks(year - 1), week)
            week = np.where(week > _iso_weeks(year), 1, week)
            columns.append((week - 1) / 52.0)
    return (np.stack([np.asarray(c, dtype=np.float64) for c in columns], axis=1) - 0.5).astype(np.float32)


def _iso_weeks(year: np.ndarray) -> np.ndarray:
    """52 or 53: the number of ISO weeks of each year."""
    def p(y):
        return (y + y // 4 - y // 100 + y // 400) % 7
    return np.where((p(year) == 4) | (p(year - 1) == 3), 53, 52)


def forward_fill(target: np.ndarray) -> np.ndarray:
    """NaN -> the last observed value before it (0 before the first), for the model's inputs only."""
    mask = ~np.isnan(target)
    idx = np.where(mask, np.arange(len(target)), -1)
    np.maximum.accumulate(idx, out=idx)
    out = np.where(idx >= 0, target[np.maximum(idx, 0)], 0.0)
    return out


# ------------------------------------------------------------------ checks across series

def resolve_cardinality(series: list[Series], setting: str | list[int]) -> list[int]:
    """The cardinality per categorical feature the model uses ([] when none or ignored)."""
    if setting == "ignore":
        return []
    counts = {len(s.cat) for s in series}
    if len(counts) > 1:
        raise ValidationError("Every series must have the same number of 'cat' values; found "
                              f"{sorted(counts)}. Set cardinality to 'ignore' to train without them.")
    n = counts.pop() if counts else 0
    if setting == "auto":
        return [max(s.cat[i] for s in series) + 1 for i in range(n)]
    assert isinstance(setting, list)
    if len(setting) != n:
        raise ValidationError(f"Hyperparameter 'cardinality' names {len(setting)} categorical feature(s) but "
                              f"the series have {n} 'cat' value(s) each.")
    for s in series:
        for i, (c, card) in enumerate(zip(s.cat, setting)):
            if c >= card:
                raise ValidationError(f"{s.where}: cat[{i}] is {c}, outside the cardinality {card} given for "
                                      "it (values must be 0 .. cardinality-1).")
    return list(setting)


def resolve_num_dynamic_feat(series: list[Series], setting: str | int) -> int:
    if setting == "ignore":
        return 0
    counts = {0 if s.dynamic_feat is None else s.dynamic_feat.shape[0] for s in series}
    if len(counts) > 1:
        raise ValidationError("Every series must have the same number of 'dynamic_feat' lists; found "
                              f"{sorted(counts)}. Set num_dynamic_feat to 'ignore' to train without them.")
    n = counts.pop()
    if setting != "auto" and setting != n:
        raise ValidationError(f"Hyperparameter 'num_dynamic_feat' is {setting} but the series have {n} "
                              "dynamic feature(s) each.")
    return n


def check_dynamic_lengths(series: list[Series], num_dynamic_feat: int, extra: int, what: str) -> None:
    """Each series' dynamic features must cover its target plus ``extra`` steps."""
    if not num_dynamic_feat:
        return
    for s in series:
        assert s.dynamic_feat is not None
        need = len(s.target) + extra
        if s.dynamic_feat.shape[1] != need:
            raise ValidationError(
                f"{s.where}: each 'dynamic_feat' list must have {need} values ({what}); got "
                f"{s.dynamic_feat.shape[1]}.")


def check_likelihood_support(series: list[Series], likelihood: str) -> None:
    for s in series:
        obs = s.target[~np.isnan(s.target)]
        if likelihood == "beta" and ((obs < 0) | (obs > 1)).any():
            raise ValidationError(f"{s.where}: the beta likelihood needs targets in [0, 1]; use gaussian or "
                                  "student-T for other values.")
        if likelihood == "negative-binomial" and (obs < 0).any():
            raise ValidationError(f"{s.where}: the negative-binomial likelihood needs non-negative targets "
                                  "(counts).")
