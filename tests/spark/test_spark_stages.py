"""sagemaker_pyspark's API on a real local Spark against a real Shipyard server.

XGBoost and k-means estimators fit on small DataFrames (the data goes to S3 from the executors, a training
job runs, an endpoint comes up), their models transform DataFrames through the endpoint from the executors,
``fromEndpoint`` reuses an endpoint, an estimator works inside a ``pyspark.ml.Pipeline``, clean-up deletes what
was created, and bad input is refused saying what to fix.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from botocore.exceptions import ClientError

from shipyard.errors import ValidationError
from shipyard.spark import (
    EndpointCreationPolicy,
    KMeansSageMakerEstimator,
    LibSVMRequestRowSerializer,
    PCASageMakerEstimator,
    S3DataPath,
    SageMakerEstimator,
    SageMakerModel,
    SageMakerResourceCleanup,
    XGBoostCSVRowDeserializer,
    XGBoostSageMakerEstimator,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ROLE = "arn:aws:iam::123456789012:role/ShipyardSpark"
BUCKET = "shipyard-spark-tests"


@pytest.fixture(scope="module")
def sm(server):
    s3 = server.client("s3")
    try:
        s3.head_bucket(Bucket=BUCKET)
    except ClientError:
        s3.create_bucket(Bucket=BUCKET)
    return server.client("sagemaker")


def _regression(spark, n=120, seed=0):
    from pyspark.ml.linalg import Vectors

    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(n, 3))
    y = 3.0 * x[:, 0] - 2.0 * x[:, 1] + 0.5
    rows = [(float(t), Vectors.dense(r.tolist())) for t, r in zip(y, x)]
    return spark.createDataFrame(rows, ["label", "features"]).repartition(2), y


def _blobs(spark):
    from pyspark.ml.linalg import Vectors

    rng = np.random.default_rng(1)
    centers = np.array([[5.0, 5.0], [-5.0, -5.0]])
    pts = np.vstack([c + rng.normal(scale=0.3, size=(40, 2)) for c in centers])
    truth = [0] * 40 + [1] * 40
    return spark.createDataFrame([(t, Vectors.dense(p.tolist())) for t, p in zip(truth, pts)],
                                 ["truth", "features"]).repartition(2)


def _xgb(sm, **kwargs):
    est = XGBoostSageMakerEstimator(
        trainingInstanceType="ml.m5.large", trainingInstanceCount=1, endpointInstanceType="ml.m5.large",
        endpointInitialInstanceCount=1, sagemakerRole=ROLE, sagemakerClient=sm,
        trainingInputS3DataPath=S3DataPath(BUCKET, "xgb/in"), trainingOutputS3DataPath=S3DataPath(BUCKET, "xgb/out"),
        **kwargs)
    return est.setNumRound(30).setObjective("reg:squarederror").setMaxDepth(3).setEta(0.3)


@pytest.fixture(scope="module")
def xgb_model(spark, sm):
    df, y = _regression(spark)
    model = _xgb(sm).fit(df)
    yield model, df, y
    SageMakerResourceCleanup(sm).deleteResources(model.getCreatedResources())


def test_xgboost_fit_and_transform_appends_sane_predictions(xgb_model, sm):
    model, df, y = xgb_model
    out = model.transform(df)
    assert out.columns == ["label", "features", "prediction"]
    rows = out.collect()
    assert len(rows) == len(y)
    err = np.array([r["prediction"] - r["label"] for r in rows])
    assert float(np.sqrt(np.mean(err ** 2))) < 0.5 * float(np.std(y))
    job = sm.describe_training_job(TrainingJobName=model.getCreatedResources().trainingJobName)
    assert job["HyperParameters"]["num_round"] == "30"
    assert job["InputDataConfig"][0]["ContentType"] == "text/libsvm"


def test_from_endpoint_reuses_the_endpoint_and_creates_nothing(xgb_model, sm, spark):
    model, df, _ = xgb_model
    again = SageMakerModel.fromEndpoint(model.getCreatedResources().endpointName, LibSVMRequestRowSerializer(),
                                        XGBoostCSVRowDeserializer(), sagemakerClient=sm, prependResultRows=False)
    assert again.getCreatedResources().endpointName is None
    got = [r["prediction"] for r in again.transform(df).collect()]
    want = [r["prediction"] for r in model.transform(df).collect()]
    assert np.allclose(got, want)
    with pytest.raises(ValidationError, match="already has a 'prediction' column"):
        model.transform(model.transform(df))
    with pytest.raises(ClientError) as e:
        SageMakerModel.fromEndpoint("no-such-endpoint", LibSVMRequestRowSerializer(), XGBoostCSVRowDeserializer(),
                                    sagemakerClient=sm)
    assert e.value.response["Error"]["Code"] == "ValidationException"


def test_kmeans_in_a_pipeline_finds_the_two_blobs_and_cleanup_deletes_what_it_made(spark, sm):
    from pyspark.ml import Pipeline

    df = _blobs(spark)
    kmeans = KMeansSageMakerEstimator(
        trainingInstanceType="ml.m5.large", trainingInstanceCount=1, endpointInstanceType="ml.m5.large",
        endpointInitialInstanceCount=1, sagemakerRole=ROLE, sagemakerClient=sm,
        trainingInputS3DataPath=S3DataPath(BUCKET, "km/in"), trainingOutputS3DataPath=S3DataPath(BUCKET, "km/out"),
        endpointCreationPolicy=EndpointCreationPolicy.CREATE_ON_TRANSFORM).setK(2)
    fitted = Pipeline(stages=[kmeans]).fit(df)
    model = fitted.stages[-1]
    created = model.getCreatedResources()
    assert created.endpointName is None  # CREATE_ON_TRANSFORM: nothing hosted yet
    job = sm.describe_training_job(TrainingJobName=created.trainingJobName)
    assert job["HyperParameters"]["feature_dim"] == "2"  # inferred from the features Vector
    assert job["InputDataConfig"][0]["ContentType"] == "application/x-recordio-protobuf"
    try:
        rows = fitted.transform(df).collect()
        assert set(rows[0].asDict()) == {"truth", "features", "distance_to_cluster", "closest_cluster"}
        by_truth = {t: {r["closest_cluster"] for r in rows if r["truth"] == t} for t in (0, 1)}
        assert all(len(c) == 1 for c in by_truth.values()) and by_truth[0] != by_truth[1], by_truth
        assert max(r["distance_to_cluster"] for r in rows) < 2.0
    finally:
        SageMakerResourceCleanup(sm).deleteResources(created)
    assert _gone(lambda: sm.describe_endpoint(EndpointName=created.endpointName))  # deletion is asynchronous
    assert _gone(lambda: sm.describe_endpoint_config(EndpointConfigName=created.endpointConfigName))
    assert _gone(lambda: sm.describe_model(ModelName=created.modelName))


def _gone(describe, timeout_s=30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            describe()
        except ClientError as e:
            return e.response["Error"]["Code"] in ("ValidationException", "ResourceNotFound")
        time.sleep(0.2)
    return False


def test_pca_appends_a_projection_vector_without_the_input_rows(spark, sm):
    df = _blobs(spark)
    pca = PCASageMakerEstimator(
        trainingInstanceType="ml.m5.large", trainingInstanceCount=1, endpointInstanceType="ml.m5.large",
        endpointInitialInstanceCount=1, sagemakerRole=ROLE, sagemakerClient=sm,
        trainingInputS3DataPath=S3DataPath(BUCKET, "pca/in"), trainingOutputS3DataPath=S3DataPath(BUCKET, "pca/out"),
        modelPrependInputRowsToTransformationRows=False).setNumComponents(1)
    model = pca.fit(df)
    try:
        out = model.transform(df)
        assert out.columns == ["projection"]
        proj = np.array([r["projection"].toArray() for r in out.collect()])
        assert proj.shape == (80, 1)
        # the blobs (+-5, +-5) project to about +-7 on the one component, 40 rows each
        assert (np.abs(proj[:, 0]) > 5.0).all() and int((proj[:, 0] > 0).sum()) == 40
    finally:
        SageMakerResourceCleanup(sm).deleteResources(model.getCreatedResources())


def test_a_dataframe_without_features_is_refused_naming_the_column(spark, sm):
    df = spark.createDataFrame([(1.0, 2.0)], ["label", "x"])
    with pytest.raises(ValidationError, match="no 'features' column"):
        _xgb(sm).fit(df)


def test_an_unknown_image_is_refused_by_create_training_job(spark, sm):
    df, _ = _regression(spark, n=10)
    est = SageMakerEstimator(
        trainingImage="no-such-algorithm:1", modelImage="no-such-algorithm:1", trainingInstanceType="ml.m5.large",
        trainingInstanceCount=1, endpointInstanceType="ml.m5.large", endpointInitialInstanceCount=1,
        requestRowSerializer=LibSVMRequestRowSerializer(), responseRowDeserializer=XGBoostCSVRowDeserializer(),
        sagemakerRole=ROLE, sagemakerClient=sm, trainingInputS3DataPath=S3DataPath(BUCKET, "bad/in"),
        trainingOutputS3DataPath=S3DataPath(BUCKET, "bad/out"))
    with pytest.raises(ClientError) as e:
        est.fit(df)
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert "no-such-algorithm" in e.value.response["Error"]["Message"]


def test_constructor_mistakes_are_refused_before_anything_runs(sm):
    with pytest.raises(ValidationError, match="sagemakerRole is required"):
        XGBoostSageMakerEstimator(sagemakerClient=sm)
    with pytest.raises(ValidationError, match="trainingSparkDataFormat"):
        XGBoostSageMakerEstimator(sagemakerClient=sm, sagemakerRole=ROLE, trainingSparkDataFormat="parquet")
    with pytest.raises(ValidationError, match="requestRowSerializer"):
        SageMakerModel.fromEndpoint("x", object(), XGBoostCSVRowDeserializer(), sagemakerClient=sm)
