"""The operator table: each ``.flow`` operator name -> the pandas function that runs it (in :mod:`.ops`) and how
many input datasets it takes. AWS's names where AWS has the operator; ours (same naming) where it has none
(documented in docs/wrangle.md). Analyses (``VISUALIZATION`` nodes) produce a report, not data."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Operator:
    name: str
    module: str      # the module under shipyard.wrangle.ops
    function: str
    inputs: int      # datasets it takes (0: a source)

    def load(self) -> Callable:
        return getattr(importlib.import_module(f"shipyard.wrangle.ops.{self.module}"), self.function)


_TABLE = [
    ("sagemaker.s3_source_0.1", "source", "s3_source", 0),
    ("sagemaker.spark.infer_and_cast_type_0.1", "columns", "infer_and_cast_type", 1),
    ("sagemaker.spark.cast_single_data_type_0.1", "columns", "cast_single_data_type", 1),
    ("sagemaker.spark.manage_columns_0.1", "columns", "manage_columns", 1),
    ("sagemaker.spark.format_string_0.1", "columns", "format_string", 1),
    ("sagemaker.spark.search_and_edit_0.1", "columns", "search_and_edit", 1),
    ("sagemaker.spark.handle_missing_0.1", "missing", "handle_missing", 1),
    ("sagemaker.spark.encode_categorical_0.1", "encode", "encode_categorical", 1),
    ("sagemaker.spark.process_numeric_0.1", "numeric", "process_numeric", 1),
    ("sagemaker.spark.featurize_date_time_0.1", "features", "featurize_date_time", 1),
    ("sagemaker.spark.featurize_text_0.1", "features", "featurize_text", 1),
    ("sagemaker.spark.manage_rows_0.1", "rows", "manage_rows", 1),
    ("sagemaker.spark.split_0.1", "rows", "split", 1),
    ("sagemaker.spark.join_tables_0.1", "combine", "join_tables", 2),
    ("sagemaker.spark.concatenate_datasets_0.1", "combine", "concatenate_datasets", 2),
    ("sagemaker.dataset.identity_0.1", "combine", "identity", 1),
    ("sagemaker.spark.custom_pandas_0.1", "custom", "custom_pandas", 1),
    ("sagemaker.spark.custom_pyspark_0.1", "custom", "custom_pyspark", 1),
    ("sagemaker.spark.custom_sql_0.1", "custom", "custom_sql", 1),
    ("sagemaker.spark.custom_formula_0.1", "custom", "custom_formula", 1),
    ("sagemaker.spark.custom_code_0.1", "custom", "custom_code", 1),
]
OPERATORS: dict[str, Operator] = {name: Operator(name, m, f, n) for name, m, f, n in _TABLE}

# Analyses: the data quality and insights report, histograms, scatter plots (shipyard.wrangle.report)
REPORT = "sagemaker.visualizations.data_insights_report_0.1"
HISTOGRAM = "sagemaker.visualizations.histogram_0.1"
SCATTER = "sagemaker.visualizations.scatterplot_0.1"
ANALYSES = (REPORT, HISTOGRAM, SCATTER)

# Short names for `shipyard wrangle add` (the operator's name without "sagemaker.spark." and "_0.1")
SHORT_NAMES = {name.removeprefix("sagemaker.spark.").removeprefix("sagemaker.").removesuffix("_0.1"): name
               for name in [*OPERATORS, *ANALYSES]}


def resolve(name: str) -> str:
    """A full operator name from a full or short one (``manage_columns``); KeyError if neither."""
    if name in OPERATORS or name in ANALYSES:
        return name
    return SHORT_NAMES[name]
