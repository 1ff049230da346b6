"""SageMaker Spark ``transform()`` throughput vs a pandas UDF calling the same XGBoost model in-process.

    .venv/bin/python bench/bench_spark.py [--rows 1000000] [--quick] [--features 10] [--batch 5000]
                                          [--serializer libsvm|csv|protobuf] [--concurrency 2]

One local Spark (``local[2]``) and one Shipyard server. ``XGBoostSageMakerEstimator.fit`` trains on 5,000 rows
and hosts the model; then, over the same ``--rows``-row DataFrame (``--quick``: 100,000) of a features Vector:

- SageMaker Spark: ``SageMakerModel.transform(df)``, each partition sending LibSVM batches of ``--batch`` rows
  to the endpoint with boto3 ``invoke_endpoint`` (what sagemaker_pyspark does);
- in-process: a pandas UDF over ``vector_to_array(features)`` running ``booster.inplace_predict`` on the same
  model (read back from the training job's ``model.tar.gz``), the floor of any remote call.
Both are forced with a sum of the predictions, which must agree; each runs once untimed (worker start-up,
model loading), then the best of three is kept. Prints rows/s of each and the ratio.
"""

import argparse
import io
import os
import sys
import tarfile
import tempfile
import time

import numpy as np

from shipyard.testing.server import ShipyardProcess

ROLE = "arn:aws:iam::123456789012:role/ShipyardBench"
BUCKET = "bench-spark"


def spark_session():
    os.environ["PYSPARK_PYTHON"] = os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master("local[2]").appName("bench-spark").config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.driver.memory", "2g").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def features_df(spark, rows: int, features: int, seed: int, partitions: int = 2):
    from pyspark.ml.functions import array_to_vector
    from pyspark.sql import functions as F

    cols = [F.randn(seed + i) for i in range(features)]
    df = spark.range(0, rows, numPartitions=partitions).select(
        F.col("id"), array_to_vector(F.array(*cols)).alias("features"))
    return df


def load_booster(s3, uri: str):
    import xgboost as xgb

    bucket, _, key = uri[5:].partition("/")
    with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) as tar:
        member = next(m for m in tar.getmembers() if m.isfile())
        raw = tar.extractfile(member).read()  # type: ignore[union-attr]
    booster = xgb.Booster()
    booster.load_model(bytearray(raw))
    return booster


def pandas_udf_predict(df, raw: bytes):
    import pandas as pd
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql.functions import pandas_udf

    cache: dict = {}

    @pandas_udf("double")
    def predict(arrays: pd.Series) -> pd.Series:
        if "b" not in cache:
            import xgboost as xgb

            b = xgb.Booster()
            b.load_model(bytearray(raw))
            cache["b"] = b
        X = np.stack(arrays.to_numpy()).astype(np.float32)
        return pd.Series(cache["b"].inplace_predict(X).astype(np.float64))

    return df.withColumn("prediction", predict(vector_to_array("features")))


def timed_sum(df) -> tuple[float, float]:
    from pyspark.sql import functions as F

    t0 = time.perf_counter()
    total = df.agg(F.sum("prediction")).collect()[0][0]
    return time.perf_counter() - t0, float(total)


def best_of(n: int, run) -> tuple[float, float]:
    return min((run() for _ in range(n)), key=lambda r: r[0])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true", help="100,000 rows")
    ap.add_argument("--features", type=int, default=10)
    ap.add_argument("--batch", type=int, default=5000, help="rows per InvokeEndpoint request")
    ap.add_argument("--serializer", choices=("libsvm", "csv", "protobuf"), default="libsvm",
                    help="request body: LibSVM (XGBoostSageMakerEstimator's default), CSV or RecordIO-protobuf")
    ap.add_argument("--concurrency", type=int, default=2, help="requests in flight per partition")
    args = ap.parse_args()
    rows = 100_000 if args.quick else args.rows
    from shipyard.spark import (
        CSVRequestRowSerializer,
        LibSVMRequestRowSerializer,
        ProtobufRequestRowSerializer,
        S3DataPath,
        SageMakerResourceCleanup,
        XGBoostSageMakerEstimator,
    )

    spark = spark_session()
    server = ShipyardProcess(tempfile.mkdtemp(prefix="bench-spark-")).start()
    try:
        sm, s3 = server.client("sagemaker"), server.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        from pyspark.ml.functions import vector_to_array
        from pyspark.sql import functions as F

        train = features_df(spark, 5000, args.features, seed=7)
        arr = vector_to_array("features")
        train = train.withColumn("label", arr[0] + arr[1] * arr[2] + F.when(arr[3] > 0, 1.0).otherwise(0.0))
        est = XGBoostSageMakerEstimator(
            trainingInstanceType="ml.m5.large", trainingInstanceCount=1, endpointInstanceType="ml.m5.large",
            endpointInitialInstanceCount=1, sagemakerRole=ROLE, sagemakerClient=sm,
            trainingInputS3DataPath=S3DataPath(BUCKET, "in"), trainingOutputS3DataPath=S3DataPath(BUCKET, "out"),
            requestBatchSize=args.batch,
            requestRowSerializer={"csv": CSVRequestRowSerializer, "libsvm": LibSVMRequestRowSerializer,
                                  "protobuf": ProtobufRequestRowSerializer}[args.serializer]())
        est.setNumRound(50).setMaxDepth(6).setObjective("reg:squarederror")
        t0 = time.perf_counter()
        model = est.fit(train)
        model.requestConcurrency = args.concurrency
        fit_s = time.perf_counter() - t0
        booster = load_booster(s3, model.modelPath.uri())
        raw = bytes(booster.save_raw("ubj"))

        df = features_df(spark, rows, args.features, seed=11).cache()
        df.count()
        # one untimed pass each first: Python workers, the booster in each worker, the endpoint's model warm
        timed_sum(pandas_udf_predict(df, raw))
        timed_sum(model.transform(df))
        udf_s, udf_sum = best_of(3, lambda: timed_sum(pandas_udf_predict(df, raw)))
        sm_s, sm_sum = best_of(3, lambda: timed_sum(model.transform(df)))
        SageMakerResourceCleanup(sm).deleteResources(model.getCreatedResources())
        if not np.isclose(sm_sum, udf_sum, rtol=1e-4, atol=1e-2 * rows ** 0.5):
            raise SystemExit(f"the sums of predictions differ: transform {sm_sum} vs in-process {udf_sum}")
    finally:
        server.stop(kill_children=True)
        spark.stop()
    print(f"rows: {rows:,} x {args.features} features, local[2], XGBoost 50 trees depth 6, batch {args.batch} rows, "
          f"{args.serializer} requests, {args.concurrency} in flight per partition")
    print(f"fit (write to S3, train, host)  : {fit_s:7.2f} s")
    print(f"in-process pandas UDF           : {udf_s:7.2f} s  {rows / udf_s:12,.0f} rows/s")
    print(f"SageMakerModel.transform        : {sm_s:7.2f} s  {rows / sm_s:12,.0f} rows/s")
    print(f"ratio transform/pandas-UDF rows/s: {udf_s / sm_s:.2f}x")


if __name__ == "__main__":
    main()
