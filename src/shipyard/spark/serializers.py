"""Request row serializers and response row deserializers (sagemaker_pyspark's names and content types).

Constructor arguments are sagemaker_pyspark's (the deserializers' column names are snake_case there, e.g.
``KMeansProtobufResponseRowDeserializer(closest_cluster_column_name=...)``). A :class:`SageMakerModel` sends
each partition's rows to the endpoint in batches: a serializer turns a batch of rows (their ``features`` Vector
column) into one request body; a deserializer turns the response body back into one tuple of prediction values
per row, with the Spark fields those values fill. Both are plain picklable objects, since they run in the
executors.
"""

from __future__ import annotations

import io
from typing import Any, Sequence

import numpy as np

from ..io.protobuf import decode_record, encode_record, write_recordio_protobuf
from ..io.recordio import frame, read_records

RECORDIO = "application/x-recordio-protobuf"


def _dense(vector: Any) -> np.ndarray:
    if hasattr(vector, "toArray"):
        return np.asarray(vector.toArray(), dtype=np.float64)
    return np.asarray(vector, dtype=np.float64)


def _pairs(vector: Any) -> tuple[Sequence[int], Sequence[float]]:
    """(indices, values) of the non-zero entries of a pyspark Vector, a list or an array."""
    if type(vector).__name__ == "SparseVector":
        return vector.indices.tolist(), vector.values.tolist()
    arr = _dense(vector)
    idx = np.flatnonzero(arr)
    return idx.tolist(), arr[idx].tolist()


class RequestRowSerializer:
    """Turns a batch of rows into one request body of ``contentType``.

    Text formats write 9 significant digits: exact for the float32 the algorithms compute in, and formatted a
    few times faster than a double's shortest repr."""

    contentType = "text/csv"

    def __init__(self, featuresColumnName: str = "features") -> None:
        self.featuresColumnName = featuresColumnName

    def serializeRows(self, rows: Sequence[Any]) -> bytes:
        raise NotImplementedError

    def serializeRow(self, row: Any) -> bytes:
        """One row's body (sagemaker_pyspark's per-row method)."""
        return self.serializeRows([row])

    def serializeArray(self, matrix: np.ndarray) -> bytes:
        """A batch given as a dense (rows x features) matrix: what transform() calls. Subclasses that only
        define serializeRows work too, through pyspark Vectors."""
        from pyspark.ml.linalg import DenseVector

        return self.serializeRows([{self.featuresColumnName: DenseVector(r)} for r in matrix])


class LibSVMRequestRowSerializer(RequestRowSerializer):
    """``label idx:val ...`` lines, zero-based indices as XGBoost reads them; the label is a 0 placeholder."""

    contentType = "text/libsvm"

    def __init__(self, schema: Any = None, labelColumnName: str = "label",
                 featuresColumnName: str = "features") -> None:
        super().__init__(featuresColumnName)
        self.labelColumnName = labelColumnName

    def serializeRows(self, rows: Sequence[Any]) -> bytes:
        lines = []
        for row in rows:
            idx, vals = _pairs(row[self.featuresColumnName])
            lines.append("0 " + " ".join(f"{i}:{v:.9g}" for i, v in zip(idx, vals)))
        return ("\n".join(lines) + "\n").encode()

    def serializeArray(self, matrix: np.ndarray) -> bytes:
        """Rows without zeros go through one %-format of the whole block; others list their non-zeros."""
        n, d = matrix.shape
        full = (matrix != 0).all(axis=1) if d else np.zeros(n, dtype=bool)
        if full.all():
            line = "0 " + " ".join(f"{j}:%.9g" for j in range(d)) + "\n"
            return ((line * n) % tuple(matrix.ravel().tolist())).encode()
        out = []
        for row in matrix:
            idx = np.flatnonzero(row)
            out.append("0 " + " ".join(f"{i}:{v:.9g}" for i, v in zip(idx.tolist(), row[idx].tolist())) + "\n")
        return "".join(out).encode()


class CSVRequestRowSerializer(RequestRowSerializer):
    """One CSV line of the dense features per row."""

    contentType = "text/csv"

    def __init__(self, schema: Any = None, featuresColumnName: str = "features") -> None:
        super().__init__(featuresColumnName)

    def serializeRows(self, rows: Sequence[Any]) -> bytes:
        return "".join(",".join(format(float(x), ".9g") for x in _dense(r[self.featuresColumnName])) + "\n"
                       for r in rows).encode()

    def serializeArray(self, matrix: np.ndarray) -> bytes:
        n, d = matrix.shape
        return (((",".join(["%.9g"] * d) + "\n") * n) % tuple(matrix.ravel().tolist())).encode()


class ProtobufRequestRowSerializer(RequestRowSerializer):
    """RecordIO-framed ``aialgs.data.Record`` messages, features under ``values`` (the Amazon algorithms')."""

    contentType = RECORDIO

    def __init__(self, schema: Any = None, featuresColumnName: str = "features") -> None:
        super().__init__(featuresColumnName)

    def serializeRows(self, rows: Sequence[Any]) -> bytes:
        return b"".join(frame(encode_record(features={"values": _dense(r[self.featuresColumnName])
                                                      .astype(np.float32)})) for r in rows)

    def serializeArray(self, matrix: np.ndarray) -> bytes:
        buf = io.BytesIO()
        write_recordio_protobuf(buf, matrix.astype(np.float32))
        return buf.getvalue()


class ResponseRowDeserializer:
    """Turns a response body into one tuple per row; ``fields()`` names and types the appended columns."""

    accept = "text/csv"

    def fields(self) -> list[tuple[str, str]]:
        """(column name, Spark type: "double" or "vector") of the prediction columns, in order."""
        raise NotImplementedError

    def deserializeResponse(self, body: bytes) -> list[tuple]:
        raise NotImplementedError


class XGBoostCSVRowDeserializer(ResponseRowDeserializer):
    """XGBoost's CSV answer: one score per line (or per comma) into ``prediction``."""

    accept = "text/csv"

    def __init__(self, prediction_column_name: str = "prediction") -> None:
        self.predictionColumnName = prediction_column_name

    def fields(self) -> list[tuple[str, str]]:
        return [(self.predictionColumnName, "double")]

    def deserializeResponse(self, body: bytes) -> list[tuple]:
        values = np.array(body.replace(b",", b" ").split(), dtype=np.float64)
        return list(zip(values.tolist()))


class _ProtobufDeserializer(ResponseRowDeserializer):
    """Reads RecordIO-protobuf records and takes named label tensors as columns."""

    accept = RECORDIO
    _labels: tuple[tuple[str, str, str], ...] = ()  # (label key, column attribute, "double" | "vector")

    def fields(self) -> list[tuple[str, str]]:
        return [(getattr(self, attr), kind) for _, attr, kind in self._labels]

    def deserializeResponse(self, body: bytes) -> list[tuple]:
        out = []
        for payload in read_records(io.BytesIO(body)):
            label = decode_record(payload).label
            row = []
            for key, _, kind in self._labels:
                values = label[key].values if key in label else np.zeros(1)
                row.append(values.astype(float).tolist() if kind == "vector" else float(values[0]))
            out.append(tuple(row))
        return out


class KMeansProtobufResponseRowDeserializer(_ProtobufDeserializer):
    """k-means: ``distance_to_cluster`` and ``closest_cluster``."""

    _labels = (("distance_to_cluster", "distanceToClusterColumnName", "double"),
               ("closest_cluster", "closestClusterColumnName", "double"))

    def __init__(self, distance_to_cluster_column_name: str = "distance_to_cluster",
                 closest_cluster_column_name: str = "closest_cluster") -> None:
        self.distanceToClusterColumnName = distance_to_cluster_column_name
        self.closestClusterColumnName = closest_cluster_column_name


class PCAProtobufResponseRowDeserializer(_ProtobufDeserializer):
    """PCA: the ``projection`` Vector."""

    _labels = (("projection", "projectionColumnName", "vector"),)

    def __init__(self, projection_column_name: str = "projection") -> None:
        self.projectionColumnName = projection_column_name


class LinearLearnerBinaryClassifierProtobufResponseRowDeserializer(_ProtobufDeserializer):
    """Linear learner (binary classifier): ``score`` and ``predicted_label``."""

    _labels = (("score", "scoreColumnName", "double"), ("predicted_label", "predictedLabelColumnName", "double"))

    def __init__(self, score_column_name: str = "score", predicted_label_column_name: str = "predicted_label") -> None:
        self.scoreColumnName = score_column_name
        self.predictedLabelColumnName = predicted_label_column_name


class LinearLearnerRegressorProtobufResponseRowDeserializer(_ProtobufDeserializer):
    """Linear learner (regressor): ``score``."""

    _labels = (("score", "scoreColumnName", "double"),)

    def __init__(self, score_column_name: str = "score") -> None:
        self.scoreColumnName = score_column_name
