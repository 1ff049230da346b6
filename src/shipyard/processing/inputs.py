"""Staging a processing job's ``ProcessingInputs`` at their ``LocalPath`` (a folder of the host's ``/opt/ml``).

Object selection is training's (:mod:`shipyard.training.channels`): ``S3Prefix`` takes every object under the
URI as a key prefix (one exact object names itself), ``ManifestFile`` reads the JSON array that starts with
``{"prefix": ...}``; files keep their key path relative to the prefix; ``ShardedByS3Key`` gives host ``i`` of
``N`` every N-th object of the sorted keys (a host may get none), ``FullyReplicated`` gives every host all.

Pipe mode is staged as File mode (the data is a complete file at ``LocalPath`` before the program starts), with
a note in the job's log: a processing script reads its inputs as files either way; AWS only allows
``S3CompressionType=Gzip`` with Pipe mode, and such objects are decompressed on the way (a ``.gz`` suffix is
dropped from the file name), as Pipe mode would have streamed them.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path
from typing import Callable

from ..domain.paths import safe_join, under_opt_ml
from ..objectstore.base import ObjectStore
from ..training.channels import list_objects, shard, stage_file_channel


def local_folder(job_dir: Path, path: str, what: str) -> Path:
    """The host folder that stands for the container path ``path`` (under /opt/ml) in ``job_dir``."""
    return safe_join(job_dir, under_opt_ml(path, what), what=what)


def _stage_gzipped(store: ObjectStore, refs, dest: Path) -> int:
    total = 0
    dest.mkdir(parents=True, exist_ok=True)
    for ref in refs:
        rel = ref.rel[:-3] if ref.rel.endswith(".gz") and len(ref.rel) > 3 else ref.rel
        target = safe_join(dest, rel, what="input S3 key")
        target.parent.mkdir(parents=True, exist_ok=True)
        packed = target.with_name(target.name + ".download")
        store.download_file(ref.bucket, ref.key, packed)
        with gzip.open(packed, "rb") as src, open(target, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        packed.unlink()
        total += target.stat().st_size
    return total


def stage_inputs(store: ObjectStore, inputs: list[dict], job_dir: Path, host_index: int, host_count: int,
                 log: Callable[[str], None]) -> None:
    """Download every input of this host into its LocalPath (ValueError when an input names no objects)."""
    for item in inputs:
        s3 = item.get("S3Input") or {}
        name = item["InputName"]
        dest = local_folder(job_dir, s3.get("LocalPath") or "", f"ProcessingInput {name!r} LocalPath")
        source = {"S3Uri": s3["S3Uri"], "S3DataType": s3.get("S3DataType") or "S3Prefix"}
        refs = shard(list_objects(store, source), s3.get("S3DataDistributionType") or "FullyReplicated",
                     host_index, host_count)
        if s3.get("S3InputMode") == "Pipe":
            log(f"note: input {name!r} asks for Pipe mode; Shipyard stages it as File mode at {s3['LocalPath']}")
        if s3.get("S3CompressionType") == "Gzip":
            size = _stage_gzipped(store, refs, dest)
        else:
            size = stage_file_channel(store, refs, dest)
        log(f"input {name!r}: {len(refs)} object(s), {size} bytes -> {s3['LocalPath']}")
