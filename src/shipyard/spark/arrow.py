"""transform()'s partition function over Arrow record batches (``DataFrame.mapInArrow``).

Going through Arrow instead of ``rdd.mapPartitions`` keeps rows out of Python objects: Spark hands each
partition's columns over as record batches, a Vector column arrives as its struct (``type``: 0 sparse, 1 dense;
``size``, ``indices``, ``values``), the features become one numpy matrix per request, and the other columns
pass through untouched. Up to ``concurrency`` requests are in flight per partition, so the endpoint works on
one batch while the executor serializes the next; batches come out in input order.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from .clients import ClientSpec


def vector_type() -> Any:
    """The Arrow type Spark uses for a pyspark.ml Vector (VectorUDT's SQL struct)."""
    import pyarrow as pa

    return pa.struct([pa.field("type", pa.int8(), False), pa.field("size", pa.int32(), True),
                      pa.field("indices", pa.list_(pa.field("element", pa.int32(), False)), True),
                      pa.field("values", pa.list_(pa.field("element", pa.float64(), False)), True)])


def features_matrix(column: Any) -> np.ndarray:
    """A VectorUDT struct column (or a list column) as a dense float64 (rows x features) matrix."""
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not pa.types.is_struct(column.type):  # an array<double> column
        lists = column.to_pylist()
        return np.asarray(lists, dtype=np.float64)
    kinds = column.field("type").to_numpy(zero_copy_only=False)
    values = column.field("values")
    n = len(column)
    if n and (kinds == 1).all():
        flat = values.flatten().to_numpy(zero_copy_only=False)
        widths = np.diff(values.offsets.to_numpy())
        if (widths == widths[0]).all():
            return flat.astype(np.float64, copy=False).reshape(n, int(widths[0]))
    sizes = column.field("size").to_numpy(zero_copy_only=False)
    rows_values = values.to_pylist()
    rows_indices = column.field("indices").to_pylist()
    width = max([int(s) for s, k in zip(sizes, kinds) if k == 0] + [len(v) for v, k in zip(rows_values, kinds)
                                                                     if k == 1] + [0])
    out = np.zeros((n, width), dtype=np.float64)
    for i, (k, idx, vals) in enumerate(zip(kinds, rows_indices, rows_values)):
        if k == 1:
            out[i, :len(vals)] = vals
        elif idx:
            out[i, idx] = vals
    return out


def prediction_arrays(preds: list[tuple], fields: list[tuple[str, str]]) -> list[Any]:
    """Deserialized per-row tuples as one Arrow array per prediction column (doubles, or dense Vectors)."""
    import pyarrow as pa

    columns = list(zip(*preds)) if preds else [() for _ in fields]
    out = []
    for (_, kind), col in zip(fields, columns):
        if kind == "vector":
            n = len(col)
            out.append(pa.StructArray.from_arrays(
                [pa.array(np.ones(n, dtype=np.int8)), pa.nulls(n, pa.int32()), pa.nulls(n, vector_type()[2].type),
                 pa.array(list(col), vector_type()[3].type)], fields=list(vector_type())))
        else:
            out.append(pa.array(np.asarray(col, dtype=np.float64)))
    return out


def partition_fn(spec: ClientSpec, endpoint: str, serializer: Any, deserializer: Any, batch_size: int,
                 prepend: bool, concurrency: int, features: str, error: type) -> Any:
    """The function each partition runs under mapInArrow (a closure over picklable values)."""
    fields = deserializer.fields()

    def call(chunk: Any) -> tuple[Any, list]:
        body = serializer.serializeArray(features_matrix(chunk.column(features)))
        answer = spec.client("sagemaker-runtime").invoke_endpoint(
            EndpointName=endpoint, Body=body, ContentType=serializer.contentType, Accept=deserializer.accept)
        preds = deserializer.deserializeResponse(answer["Body"].read())
        if len(preds) != chunk.num_rows:
            raise error(f"Endpoint {endpoint} answered {len(preds)} predictions for {chunk.num_rows} rows.")
        return chunk, preds

    def emit(done: tuple[Any, list]) -> Any:
        import pyarrow as pa

        chunk, preds = done
        arrays = prediction_arrays(preds, fields)
        names = [name for name, _ in fields]
        if prepend:
            return pa.RecordBatch.from_arrays(list(chunk.columns) + arrays, names=list(chunk.schema.names) + names)
        return pa.RecordBatch.from_arrays(arrays, names=names)

    def run(batches: Iterator[Any]) -> Iterator[Any]:
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        pending: deque = deque()
        with ThreadPoolExecutor(max(1, concurrency)) as pool:
            for batch in batches:
                for start in range(0, batch.num_rows, batch_size):
                    pending.append(pool.submit(call, batch.slice(start, batch_size)))
                    if len(pending) >= concurrency:
                        yield emit(pending.popleft().result())
            while pending:
                yield emit(pending.popleft().result())

    return run
