"""User code: custom pandas (``df`` in, ``df`` out), custom SQL over the table ``df`` (DuckDB when installed,
else SQLite in memory) and custom formulas (a SQL expression as a new column). They run where the flow runs:
the user's own machine for the CLI, a processing job's sandbox on a server, never the server process."""

from __future__ import annotations

import contextlib
import io
import sqlite3

import pandas as pd

from ._common import OperatorError, default


def custom_pandas(df, trained_parameters=None, code="", **_):
    namespace = {"df": df.copy(), "pd": pd}
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile(code or "", "<custom pandas>", "exec"), namespace)  # noqa: S102 - the user's own code
    result = namespace.get("df")
    if not isinstance(result, pd.DataFrame):
        raise OperatorError(f"Custom pandas: the code must leave a pandas DataFrame in `df`, not "
                            f"{type(result).__name__}")
    return default(result)


def custom_pyspark(df, trained_parameters=None, code="", **_):
    """The user's PySpark code on a local Spark session: ``df`` is a Spark DataFrame of the step's input,
    ``spark`` the session; the ``df`` it leaves comes back to pandas. Needs pyspark and Java 17+."""
    import os
    import sys

    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise OperatorError("Custom PySpark needs pyspark (pip install 'shipyard[spark]') and Java 17 or later; "
                            "or rewrite the step as 'Python (Pandas)'") from None
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    spark = (SparkSession.builder.master("local[2]").appName("shipyard-wrangle")
             .config("spark.ui.enabled", "false").config("spark.sql.execution.arrow.pyspark.enabled", "true")
             .getOrCreate())
    text_columns = [c for c in df.columns if pd.api.types.is_string_dtype(df[c])]
    plain = df.astype({c: object for c in text_columns})  # Spark reads text as Python objects
    namespace = {"df": spark.createDataFrame(plain), "spark": spark}
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile(code or "", "<custom pyspark>", "exec"), namespace)  # noqa: S102 - the user's own code
    result = namespace.get("df")
    if not hasattr(result, "toPandas"):
        raise OperatorError(f"Custom PySpark: the code must leave a Spark DataFrame in `df`, not "
                            f"{type(result).__name__}")
    return default(result.toPandas())


def run_sql(tables: dict, sql: str) -> pd.DataFrame:
    """``sql`` over the named frames."""
    try:
        import duckdb
    except ImportError:
        duckdb = None
    if duckdb is not None:
        con = duckdb.connect()
        for name, frame in tables.items():
            con.register(name, frame)
        try:
            return con.execute(sql).df()
        except Exception as e:  # noqa: BLE001 - the user's SQL: say what failed
            raise OperatorError(f"SQL failed: {e}") from None
        finally:
            con.close()
    con = sqlite3.connect(":memory:")
    try:
        for name, frame in tables.items():
            frame.to_sql(name, con, index=False)
        return pd.read_sql_query(sql, con)
    except Exception as e:  # noqa: BLE001
        raise OperatorError(f"SQL failed: {e}") from None
    finally:
        con.close()


def custom_sql(df, trained_parameters=None, sql="", **_):
    if not (sql or "").strip():
        raise OperatorError("Custom SQL: sql is required (a query over the table `df`)")
    return default(run_sql({"df": df}, sql))


def custom_formula(df, trained_parameters=None, formula="", output_column=None, **_):
    if not formula or not output_column:
        raise OperatorError("Custom formula: formula and output_column are required")
    result = run_sql({"df": df}, f"SELECT {formula} AS __value FROM df")
    out = df.copy(deep=False)
    out[output_column] = result["__value"].to_numpy()
    return default(out)


def custom_code(df, trained_parameters=None, **parameters):
    """AWS's custom transform: ``Python (Pandas)``, ``Python (PySpark)`` or ``SQL (PySpark SQL)``."""
    choice = parameters.get("operator")
    if choice == "Python (Pandas)":
        return custom_pandas(df, code=(parameters.get("pandas_parameters") or {}).get("code", ""))
    if choice == "SQL (PySpark SQL)":
        return custom_sql(df, sql=(parameters.get("sql_parameters") or {}).get("sql", ""))
    if choice == "Python (PySpark)":
        return custom_pyspark(df, code=(parameters.get("pyspark_parameters") or {}).get("code", ""))
    raise OperatorError(f"Custom code: operator {choice!r} is not 'Python (Pandas)', 'SQL (PySpark SQL)' or "
                        "'Python (PySpark)'")
