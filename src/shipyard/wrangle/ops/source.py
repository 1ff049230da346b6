"""Import from S3 (AWS's ``sagemaker.s3_source_0.1``): CSV, Parquet or JSON Lines, one object or every object
under a prefix, the first ``sample_rows`` rows (a preview's sample) or all of them.

``locate(uri)`` may map an ``s3://`` URI to a local copy (a processing job's staged input); otherwise objects
are read with ``s3_client`` (default: boto3's, with the caller's credentials; ``AWS_ENDPOINT_URL`` points it
at a Shipyard server). A path without ``s3://`` is read from the local file system."""

from __future__ import annotations

import io
import os

import pandas as pd

from ._common import OperatorError, default

CONTENT_TYPES = ("csv", "parquet", "json", "jsonl")


def _source_local_files(path: str) -> list[str]:
    if os.path.isdir(path):
        return sorted(os.path.join(root, f) for root, _, names in os.walk(path) for f in names
                      if not f.startswith((".", "_")))
    if os.path.exists(path):
        return [path]
    raise OperatorError(f"no data at {path!r}")


def _source_s3_objects(uri: str, s3=None) -> list:
    bucket, _, key = uri[len("s3://"):].partition("/")
    if s3 is None:
        import boto3

        s3 = boto3.client("s3")
    keys: list[str] = []
    token = None
    while True:
        extra: dict = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=bucket, Prefix=key, **extra)
        keys += [o["Key"] for o in page.get("Contents") or [] if not o["Key"].endswith("/")]
        if not page.get("IsTruncated"):
            break
        token = page.get("NextContinuationToken")
    if key in keys:
        keys = [key]
    else:  # a prefix: the objects under it as a folder (not "data.csv" matching "data.csv.bak")
        folder = key.rstrip("/") + "/" if key else ""
        keys = sorted(k for k in keys if k.startswith(folder) and not os.path.basename(k).startswith((".", "_")))
    if not keys:
        raise OperatorError(f"no S3 objects at {uri!r}")
    return [lambda k=k: io.BytesIO(s3.get_object(Bucket=bucket, Key=k)["Body"].read()) for k in keys]


def _source_read_one(f, content_type: str, has_header: bool, delimiter: str, nrows):
    if content_type == "csv":
        df = pd.read_csv(f, header=0 if has_header else None, sep=delimiter or ",", nrows=nrows)
        if not has_header:
            df.columns = [f"_c{i}" for i in range(df.shape[1])]
        return df
    if content_type == "parquet":
        if nrows is None:
            return pd.read_parquet(f)
        import pyarrow as pa
        import pyarrow.parquet as pq

        first = next(pq.ParquetFile(f).iter_batches(batch_size=max(int(nrows), 1)), None)
        if first is None:
            return pd.DataFrame()
        table = pa.Table.from_batches([first])
        if getattr(pd.options.future, "infer_string", False):  # the text dtype pd.read_parquet gives
            text = pd.StringDtype(storage="pyarrow", na_value=float("nan"))
            return table.to_pandas(types_mapper={pa.string(): text, pa.large_string(): text}.get)
        return table.to_pandas()
    return pd.read_json(f, lines=True, nrows=nrows)


def s3_source(dataset_definition=None, trained_parameters=None, sample_rows=None, locate=None, s3_client=None,
              **_):
    context = dict((dataset_definition or {}).get("s3ExecutionContext") or {})
    uri = context.get("s3Uri")
    if not uri:
        raise OperatorError("dataset_definition.s3ExecutionContext.s3Uri is required")
    content_type = str(context.get("s3ContentType") or "csv").lower()
    if content_type not in CONTENT_TYPES:
        raise OperatorError(f"s3ContentType {content_type!r} is not one of {list(CONTENT_TYPES)}")
    has_header = bool(context.get("s3HasHeader", True))
    delimiter = context.get("s3FieldDelimiter") or ","
    local = locate(uri) if locate else None
    if local is None and not uri.startswith("s3://"):
        local = uri[len("file://"):] if uri.startswith("file://") else uri
    openers = ([lambda p=p: p for p in _source_local_files(local)] if local is not None
               else _source_s3_objects(uri, s3_client))
    frames, left = [], sample_rows
    for opener in openers:
        frame = _source_read_one(opener(), content_type, has_header, delimiter, left)
        frames.append(frame)
        if left is not None:
            left -= len(frame)
            if left <= 0:
                break
    df = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return default(df)
