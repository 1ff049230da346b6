"""Featurize dates (year, month, day... as columns) and text (tokens counted into columns)."""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np
import pandas as pd

from ._common import OperatorError, column_list, default, dispatch, need_columns

DATE_PARTS = {"year": lambda d: d.dt.year, "month": lambda d: d.dt.month, "day": lambda d: d.dt.day,
              "hour": lambda d: d.dt.hour, "minute": lambda d: d.dt.minute, "second": lambda d: d.dt.second,
              "week_of_year": lambda d: d.dt.isocalendar().week, "day_of_year": lambda d: d.dt.day_of_year,
              "quarter": lambda d: d.dt.quarter, "day_of_week": lambda d: d.dt.day_of_week}


def _features_dates(df, input_column=None, output_column_prefix=None, features=None, **flags):
    names = column_list(input_column)
    need_columns(df, names)
    wanted = list(features or [p for p in DATE_PARTS if flags.get(p)])
    unknown = [p for p in wanted if p not in DATE_PARTS]
    if unknown or not wanted:
        raise OperatorError(f"Extract columns: name the date parts to extract from {list(DATE_PARTS)}"
                            + (f" ({unknown} are not)" if unknown else ""))
    out = df.copy(deep=False)
    for name in names:
        dates = pd.to_datetime(df[name], errors="coerce")
        prefix = output_column_prefix or name if len(names) == 1 else name
        for part in wanted:
            out[f"{prefix}_{part}"] = DATE_PARTS[part](dates)
    return out


def featurize_date_time(df, trained_parameters=None, **parameters):
    fn, params = dispatch(parameters, {"Extract columns": (_features_dates, "extract_columns_parameters")},
                          "Featurize date/time")
    return default(fn(df, **params))


def _features_tokens(texts: pd.Series, tokenizer: str, custom: dict) -> list[list[str]]:
    if tokenizer == "Custom":
        pattern = custom.get("pattern") or r"\s+"
        gaps = custom.get("gaps", True)
        lower = custom.get("lowercase", True)
        shortest = int(custom.get("minimum_token_length", 1))
        rx = re.compile(pattern)
        out = []
        for t in texts:
            t = t.lower() if lower else t
            tokens = rx.split(t) if gaps else rx.findall(t)
            out.append([w for w in tokens if len(w) >= shortest])
        return out
    return [t.lower().split() for t in texts]  # Spark's Tokenizer: lower case, split on white space


def _features_vectorize(df, input_column=None, tokenizer="Standard", tokenizer_custom_parameters=None,
                        vectorizer="Count Vectorizer", vectorizer_count_vectorizer_parameters=None, apply_idf="No",
                        output_format="Columns", output_column=None, **_):
    name = column_list(input_column)[0]
    need_columns(df, [name])
    if vectorizer != "Count Vectorizer" or output_format not in (None, "Columns"):
        raise OperatorError("Vectorize: only vectorizer 'Count Vectorizer' with output_format 'Columns' is supported")
    params = dict(vectorizer_count_vectorizer_parameters or {})
    min_tf = float(params.get("minimum_term_frequency", 1))
    min_df = float(params.get("minimum_document_frequency", 1))
    vocab_size = int(params.get("maximum_vocabulary_size", 262144))
    docs = _features_tokens(df[name].fillna("").astype(str), tokenizer, dict(tokenizer_custom_parameters or {}))
    n = len(docs)
    doc_freq: Counter = Counter()
    term_freq: Counter = Counter()
    for tokens in docs:
        term_freq.update(tokens)
        doc_freq.update(set(tokens))
    floor = min_df if min_df >= 1 else min_df * n
    vocab = sorted((t for t in term_freq if doc_freq[t] >= floor), key=lambda t: (-term_freq[t], t))[:vocab_size]
    index = {t: i for i, t in enumerate(vocab)}
    matrix = np.zeros((n, len(vocab)), dtype="float64")
    for row, tokens in enumerate(docs):
        for term, count in Counter(tokens).items():
            if term in index and count >= min_tf:
                matrix[row, index[term]] = count
    if apply_idf == "Yes":  # Spark's IDF: log((n + 1) / (df + 1))
        matrix *= np.array([math.log((n + 1) / (doc_freq[t] + 1)) for t in vocab])
    prefix = output_column or f"{name}_vec"
    counts = pd.DataFrame(matrix, columns=[f"{prefix}_{t}" for t in vocab], index=df.index)
    return pd.concat([df, counts], axis=1)


def featurize_text(df, trained_parameters=None, **parameters):
    fn, params = dispatch(parameters, {"Vectorize": (_features_vectorize, "vectorize_parameters")},
                          "Featurize text")
    return default(fn(df, **params))
