"""One local Spark (``local[2]``) per test module, and a skip saying why when Java or pyspark is missing.

Java comes from ``scripts/spark_setup.py`` (as for the PySparkProcessor tests); Spark starts in seconds, so a
module shares one session. Executors run this interpreter, so they import the same shipyard.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys

import pytest

HAVE_JAVA = bool(os.environ.get("JAVA_HOME")) or shutil.which("java") is not None
HAVE_PYSPARK = importlib.util.find_spec("pyspark") is not None
SPARK_MISSING = " and ".join(w for w, ok in (("Java (python scripts/spark_setup.py)", HAVE_JAVA),
                                             ("pyspark (pip install 'shipyard[spark]')", HAVE_PYSPARK)) if not ok)
needs_spark = pytest.mark.skipif(bool(SPARK_MISSING), reason=f"a real Spark needs {SPARK_MISSING}")


@pytest.fixture(scope="module")
def spark():
    if SPARK_MISSING:
        pytest.skip(f"a real Spark needs {SPARK_MISSING}")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("shipyard-spark-tests")
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
               .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
