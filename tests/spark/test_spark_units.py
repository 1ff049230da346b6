"""The parts of shipyard.spark that need neither Spark's JVM nor a server: serializers, deserializers, the
training-data encoder, typed hyperparameters, name policies and argument checks."""

from __future__ import annotations

import io

import numpy as np
import pytest

pytest.importorskip("pyspark", reason="shipyard.spark needs pyspark (pip install 'shipyard[spark]')")

from pyspark.ml.linalg import Vectors  # noqa: E402
from pyspark.sql import Row  # noqa: E402

from shipyard.errors import ValidationError
from shipyard.io.protobuf import decode_record, encode_record
from shipyard.io.recordio import frame, read_records
from shipyard.spark import (
    CSVRequestRowSerializer,
    KMeansProtobufResponseRowDeserializer,
    KMeansSageMakerEstimator,
    LibSVMRequestRowSerializer,
    LinearLearnerBinaryClassifier,
    PCAProtobufResponseRowDeserializer,
    ProtobufRequestRowSerializer,
    RandomNamePolicyFactory,
    S3DataPath,
    XGBoostCSVRowDeserializer,
    XGBoostSageMakerEstimator,
)
from shipyard.spark.policies import parse_s3
from shipyard.spark.writers import encode_rows


class _Client:
    """Enough of a boto3 SageMaker client for constructors (they only read the region)."""

    class meta:
        region_name = "eu-west-1"
        endpoint_url = "http://127.0.0.1:1"


ROWS = [Row(label=1.0, features=Vectors.dense([0.0, 2.5, -1.0])),
        Row(label=0.0, features=Vectors.sparse(3, [1], [4.0]))]
ROLE = "arn:aws:iam::123456789012:role/x"


def test_libsvm_and_csv_serializers_write_one_line_per_row():
    assert LibSVMRequestRowSerializer().serializeRows(ROWS) == b"0 1:2.5 2:-1\n0 1:4\n"
    assert CSVRequestRowSerializer().serializeRows(ROWS) == b"0,2.5,-1\n0,4,0\n"


def test_protobuf_serializer_writes_recordio_records_of_the_dense_features():
    body = ProtobufRequestRowSerializer().serializeRows(ROWS)
    records = [decode_record(p) for p in read_records(io.BytesIO(body))]
    assert [r.features["values"].values.tolist() for r in records] == [[0.0, 2.5, -1.0], [0.0, 4.0, 0.0]]


def test_training_encoders_carry_the_label():
    assert encode_rows(ROWS, "libsvm", "features", "label") == b"1.0 1:2.5 2:-1.0\n0.0 1:4.0\n"
    assert encode_rows(ROWS, "csv", "features", "label").splitlines()[0] == b"1.0,0.0,2.5,-1.0"
    recs = [decode_record(p) for p in read_records(io.BytesIO(encode_rows(ROWS, "sagemaker", "features", "label")))]
    assert [float(r.label["values"].values[0]) for r in recs] == [1.0, 0.0]


def test_deserializers_read_the_algorithms_answers():
    assert XGBoostCSVRowDeserializer().deserializeResponse(b"0.5\n1.25\n") == [(0.5,), (1.25,)]
    body = b"".join(frame(encode_record(label={"closest_cluster": np.array([3.0], np.float32),
                                               "distance_to_cluster": np.array([0.5], np.float32)}))
                    for _ in range(2))
    km = KMeansProtobufResponseRowDeserializer(closest_cluster_column_name="cc")
    assert km.fields() == [("distance_to_cluster", "double"), ("cc", "double")]
    assert km.deserializeResponse(body) == [(0.5, 3.0), (0.5, 3.0)]
    pca = frame(encode_record(label={"projection": np.array([1.0, 2.0], np.float32)}))
    assert PCAProtobufResponseRowDeserializer().deserializeResponse(pca) == [([1.0, 2.0],)]


def test_typed_setters_become_sagemaker_hyperparameters_and_images_follow_the_region():
    xgb = XGBoostSageMakerEstimator(sagemakerRole=ROLE, sagemakerClient=_Client(), hyperParameters={"eta": 0.1})
    xgb.setNumRound(7).setObjective("binary:logistic").setNumClasses(2).setEta(0.2)
    assert xgb.hyperparameters() == {"eta": "0.2", "num_round": "7", "objective": "binary:logistic",
                                     "num_class": "2"}
    assert xgb.getNumRound() == 7
    assert xgb.trainingImage == "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    ll = LinearLearnerBinaryClassifier(sagemakerRole=ROLE, sagemakerClient=_Client()).setFeatureDim(3)
    assert ll.hyperparameters() == {"predictor_type": "binary_classifier", "feature_dim": "3"}
    km = KMeansSageMakerEstimator(sagemakerRole=ROLE, sagemakerClient=_Client())
    assert km.copy({km.k: 4}).hyperparameters() == {"k": "4"}  # Spark's copy(extra) reaches the hyperparameters
    with pytest.raises(TypeError):
        km.setK("many")


def test_matrix_serializers_match_the_row_serializers():
    X = np.array([[0.5, 2.5, -1.0], [1.0, 4.0, 3.0]])
    rows = [Row(features=Vectors.dense(r.tolist())) for r in X]
    for ser in (LibSVMRequestRowSerializer(), CSVRequestRowSerializer(), ProtobufRequestRowSerializer()):
        assert ser.serializeArray(X) == ser.serializeRows(rows), type(ser).__name__
    sparse = np.array([[0.0, 2.5, 0.0], [1.0, 4.0, 3.0]])  # LibSVM leaves zeros out (missing, as in training)
    assert LibSVMRequestRowSerializer().serializeArray(sparse) == b"0 1:2.5\n0 0:1 1:4 2:3\n"


def test_arrow_vectors_become_a_matrix_and_predictions_become_columns():
    import pyarrow as pa

    from shipyard.spark.arrow import features_matrix, prediction_arrays, vector_type

    col = pa.array([{"type": 1, "size": None, "indices": None, "values": [1.0, 2.0]},
                    {"type": 0, "size": 2, "indices": [1], "values": [3.0]}], vector_type())
    assert features_matrix(col).tolist() == [[1.0, 2.0], [0.0, 3.0]]
    dense = pa.array([{"type": 1, "size": None, "indices": None, "values": [1.0, 2.0]}] * 2, vector_type())
    assert features_matrix(dense).tolist() == [[1.0, 2.0], [1.0, 2.0]]
    score, proj = prediction_arrays([(0.5, [1.0]), (0.25, [2.0])], [("score", "double"), ("projection", "vector")])
    assert score.to_pylist() == [0.5, 0.25]
    assert proj.type == vector_type() and proj.field("values").to_pylist() == [[1.0], [2.0]]


def test_name_policies_and_paths():
    names = RandomNamePolicyFactory("sparksm-").createNamePolicy()
    assert names.trainingJobName.startswith("sparksm-trainingJob-") and len(names.endpointConfigName) <= 63
    assert parse_s3("s3://b/some/prefix", "x") == S3DataPath("b", "some/prefix")
    with pytest.raises(ValidationError, match="S3DataPath"):
        parse_s3("/local/path", "trainingInputS3DataPath")
