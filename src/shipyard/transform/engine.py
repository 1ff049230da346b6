"""Run a transform over input objects: split, filter, batch, invoke concurrently in order, assemble, upload.

``invoke(body) -> bytes`` is given by the caller (the executor posts to model servers), so this module is pure
data movement and is tested without any server. Memory stays bounded by ``MaxConcurrentTransforms`` batches in
flight: objects of any size stream through.
"""

from __future__ import annotations

import collections
import os
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from ..errors import ShipyardError, ValidationError
from ..objectstore.base import ObjectStore, parse_s3_uri
from .dataprocessing import DataProcessing, split_output
from .split import batches, join_records, split_records


class TransformFailure(ShipyardError):
    """A record or object could not be transformed; the message names the object and record."""

    code = "TransformFailure"


@dataclass
class TransformSpec:
    input_uri: str
    data_type: str = "S3Prefix"          # S3Prefix | ManifestFile
    content_type: str = "text/csv"
    split_type: str = "None"
    batch_strategy: str = "MultiRecord"
    max_payload_mb: int = 6
    max_concurrent: int = 1
    output_path: str = ""
    accept: str = ""
    assemble_with: str = "None"
    processing: DataProcessing = field(default_factory=DataProcessing)

    @classmethod
    def from_request(cls, req: dict, max_concurrent: int) -> "TransformSpec":
        tin, tout = req["TransformInput"], req["TransformOutput"]
        src = tin["DataSource"]["S3DataSource"]
        split = tin.get("SplitType", "None")
        return cls(
            input_uri=src["S3Uri"], data_type=src.get("S3DataType", "S3Prefix"),
            content_type=tin.get("ContentType", "text/csv"), split_type=split,
            batch_strategy=req.get("BatchStrategy") or ("MultiRecord" if split != "None" else "SingleRecord"),
            max_payload_mb=int(req.get("MaxPayloadInMB", 6)), max_concurrent=max_concurrent,
            output_path=tout["S3OutputPath"], accept=tout.get("Accept", ""),
            assemble_with=tout.get("AssembleWith", "None"),
            processing=DataProcessing.from_request(req.get("DataProcessing")))


def output_name(prefix: str, key: str) -> str:
    """The name of ``key``'s output under S3OutputPath (before ``.out``), for an input S3Uri ``prefix``, as
    SageMaker names it: the key relative to the folder the prefix names. ``in/`` or ``in`` (a folder):
    ``in/a.csv`` -> ``a.csv``, ``in/sub/b.csv`` -> ``sub/b.csv``; a prefix that ends inside a name,
    ``in/data`` with ``in/data1.csv``, or a whole key: relative to the prefix's own folder (``data1.csv``)."""
    if prefix and not prefix.endswith("/") and key.startswith(prefix + "/"):
        return key[len(prefix) + 1:]
    folder = prefix.rsplit("/", 1)[0] + "/" if "/" in prefix else ""
    return key[len(folder):]


def input_objects(store: ObjectStore, spec: TransformSpec) -> list[tuple[str, str, str]]:
    """(bucket, key, output-relative name) of every input object, in key order."""
    bucket, prefix = parse_s3_uri(spec.input_uri)
    if spec.data_type == "ManifestFile":
        import json

        entries = json.loads(store.get_bytes(bucket, prefix))
        base = entries[0]["prefix"] if entries and isinstance(entries[0], dict) else ""
        b2, p2 = parse_s3_uri(base) if base else (bucket, "")
        return [(b2, p2 + rel, rel) for rel in entries[1:]]
    found = [(bucket, o.key, output_name(prefix, o.key)) for o in store.iter_keys(bucket, prefix)
             if not o.key.endswith("/")]
    if not found:
        raise ValidationError(f"No S3 objects found under {spec.input_uri}.")
    return found


def _line_blocks(chunks: Iterable[bytes], max_payload: int) -> Iterator[tuple[int, list[bytes]]]:
    """Fast path for Line + MultiRecord without filters: cut the stream at newlines into payload-sized blocks
    without looking at each record (the body sent is the raw bytes)."""
    buf = bytearray()
    for chunk in chunks:
        buf += chunk
        while len(buf) >= max_payload:
            cut = buf.rfind(b"\n", 0, max_payload)
            if cut < 0:
                raise ValidationError(f"A record is larger than MaxPayloadInMB ({max_payload >> 20} MB).")
            yield 0, [bytes(buf[:cut + 1])]
            del buf[:cut + 1]
    if buf.strip():
        yield 0, [bytes(buf)]


def transform_object(chunks: Iterable[bytes], spec: TransformSpec, invoke: Callable[[bytes], bytes],
                     out, pool: ThreadPoolExecutor, name: str) -> int:
    """Transform one object's bytes into ``out`` (a binary file). Returns the number of requests made."""
    dp = spec.processing
    max_payload = spec.max_payload_mb << 20
    raw_fast = (spec.split_type == "Line" and spec.batch_strategy == "MultiRecord"
                and not dp.filters_input and not dp.per_record_output)
    if raw_fast:
        groups: Iterator = _line_blocks(chunks, max_payload or (6 << 20))
    else:
        groups = batches(split_records(chunks, spec.split_type), spec.batch_strategy, max_payload, spec.split_type)

    def body_of(records: list[bytes]) -> bytes:
        if raw_fast:
            return records[0]
        sent = [dp.filter_input(r, spec.content_type) for r in records]
        return join_records(sent, spec.split_type) if spec.split_type != "None" else sent[0]

    window: collections.deque[tuple[int, list[bytes], Future]] = collections.deque()
    requests = 0

    def drain_one() -> None:
        first, records, fut = window.popleft()
        try:
            result = fut.result()
        except ShipyardError as e:
            where = f"records {first}-{first + len(records) - 1}" if not raw_fast else "a block of records"
            raise TransformFailure(f"Transform of {name} failed at {where}: {e.message}") from None
        if dp.per_record_output:
            outputs = split_output(result, len(records), spec.accept or spec.content_type)
            pieces = [dp.finish(r, o, spec.content_type, spec.accept or spec.content_type)
                      for r, o in zip(records, outputs)]
            result = b"\n".join(pieces)
        if spec.assemble_with == "Line":
            if not result.endswith(b"\n"):
                result += b"\n"
        out.write(result)

    for first, records in groups:
        window.append((first, records, pool.submit(invoke, body_of(records))))
        requests += 1
        if len(window) >= spec.max_concurrent * 2:
            drain_one()
    while window:
        drain_one()
    return requests


def run_transform(store: ObjectStore, spec: TransformSpec, invoke: Callable[[bytes], bytes],
                  workdir: str, on_object: Callable[[str], None] | None = None) -> dict:
    """Transform every input object to ``<output>/<relative name>.out``. An object's output is written only when
    the whole object succeeded; the first failure stops the job with a message naming the object. The stats
    list the ``(bucket, key)`` of every input and output object (what data capture records)."""
    objects = input_objects(store, spec)
    out_bucket, out_prefix = parse_s3_uri(spec.output_path)
    out_prefix = out_prefix.rstrip("/")
    stats: dict = {"objects": 0, "requests": 0, "inputs": [], "outputs": []}  # inputs/outputs: (bucket, key)
    with ThreadPoolExecutor(max_workers=max(1, spec.max_concurrent)) as pool:
        for bucket, key, rel in objects:
            fd, tmp = tempfile.mkstemp(dir=workdir, suffix=".out")
            try:
                with os.fdopen(fd, "wb") as out:
                    _, chunks = store.open_object(bucket, key)
                    stats["requests"] += transform_object(chunks, spec, invoke, out, pool, f"s3://{bucket}/{key}")
                dest = f"{out_prefix}/{rel}.out" if out_prefix else f"{rel}.out"
                store.upload_file(tmp, out_bucket, dest, content_type=spec.accept or None)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            stats["objects"] += 1
            stats["inputs"].append((bucket, key))
            stats["outputs"].append((out_bucket, dest))
            if on_object:
                on_object(key)
    return stats
