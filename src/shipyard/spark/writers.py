"""Training data from a DataFrame to S3, written by Spark itself: each partition becomes one object.

Spark's own S3 connector (``s3a://``) needs Hadoop jars and settings a local Spark lacks, so the writer is a
``mapPartitionsWithIndex`` whose function encodes its rows in the algorithm's format and puts them with boto3
(one object per partition, ``part-00000.<ext>``): every executor writes its share, the driver only collects
counts. Formats are sagemaker_pyspark's ``trainingSparkDataFormat`` values.
"""

from __future__ import annotations

import io
from typing import Any, Iterable, Iterator

import numpy as np

from ..errors import ValidationError
from ..io.protobuf import encode_record
from ..io.recordio import frame
from .clients import ClientSpec
from .serializers import RECORDIO, _dense, _pairs

# trainingSparkDataFormat -> (ContentType of the channel, object suffix)
FORMATS = {"libsvm": ("text/libsvm", "libsvm"), "sagemaker": (RECORDIO, "pbr"), "csv": ("text/csv", "csv")}


def _label(row: Any, column: str | None) -> float:
    if column is None or column not in row.__fields__:
        return 0.0
    value = row[column]
    return 0.0 if value is None else float(value)


def encode_rows(rows: Iterable[Any], fmt: str, features: str, label: str | None) -> bytes:
    """One partition's rows in ``fmt`` (``libsvm``, ``sagemaker`` = RecordIO-protobuf, ``csv`` label first)."""
    buf = io.StringIO() if fmt != "sagemaker" else None
    out = io.BytesIO()
    for row in rows:
        vec, y = row[features], _label(row, label)
        if fmt == "libsvm":
            idx, vals = _pairs(vec)
            assert buf is not None
            buf.write(f"{y!r} " + " ".join(f"{i}:{v!r}" for i, v in zip(idx, vals)) + "\n")
        elif fmt == "csv":
            assert buf is not None
            buf.write(",".join([repr(y)] + [repr(float(x)) for x in _dense(vec)]) + "\n")
        else:
            lab = {"values": np.asarray([y], dtype=np.float32)} if label and label in row.__fields__ else None
            out.write(frame(encode_record(features={"values": _dense(vec).astype(np.float32)}, label=lab)))
    return buf.getvalue().encode() if buf is not None else out.getvalue()


def check_columns(df: Any, features: str, label: str | None, need_label: bool) -> None:
    """Refuse a DataFrame that lacks the columns the algorithm reads, naming them and what is there."""
    have = list(df.columns)
    missing = [c for c in ([features] + ([label] if need_label and label else [])) if c not in have]
    if missing:
        raise ValidationError(f"The DataFrame has no {', '.join(repr(c) for c in missing)} column "
                              f"(it has {have}); the features must be a Vector column "
                              f"(pyspark.ml.feature.VectorAssembler makes one) and the label a numeric column, "
                              f"or set featuresColumnName / labelColumnName.")


def write_training_data(df: Any, spec: ClientSpec, bucket: str, prefix: str, fmt: str, features: str,
                        label: str | None) -> int:
    """Write ``df`` under ``s3://bucket/prefix/`` (one object per non-empty partition); the row count."""
    if fmt not in FORMATS:
        raise ValidationError(f"trainingSparkDataFormat {fmt!r} is not supported; use one of {sorted(FORMATS)}.")
    suffix = FORMATS[fmt][1]
    prefix = prefix.strip("/")

    def put(index: int, rows: Iterator[Any]) -> Iterator[int]:
        batch = list(rows)
        if batch:
            body = encode_rows(batch, fmt, features, label)
            spec.client("s3").put_object(Bucket=bucket, Key=f"{prefix}/part-{index:05d}.{suffix}", Body=body)
        yield len(batch)

    count = sum(df.select(*[c for c in (features, label) if c and c in df.columns]).rdd
                .mapPartitionsWithIndex(put).collect())
    if count == 0:
        raise ValidationError("The training DataFrame is empty: there is nothing to train on.")
    return count
