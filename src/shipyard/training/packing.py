"""Results out, checkpoints both ways: ``model/`` -> model.tar.gz, ``output/data`` -> output.tar.gz.

The archives hold the folder's contents at the top level (``xgboost-model``, not ``model/xgboost-model``),
which is what SageMaker uploads and what model servers unpack into ``/opt/ml/model``. Checkpoints mirror
the local folder to ``CheckpointConfig.S3Uri`` (deletes included) and are restored from it at start.
"""

from __future__ import annotations

import os
import tarfile
import tempfile
from pathlib import Path

from ..domain.paths import safe_join
from ..objectstore.base import ObjectStore, is_s3_uri, parse_s3_uri


def has_files(folder: Path) -> bool:
    return folder.is_dir() and any(p.is_file() for p in folder.rglob("*"))


def make_tarball(folder: Path, dest: Path) -> Path:
    with tarfile.open(dest, "w:gz", compresslevel=6) as tar:
        for p in sorted(folder.rglob("*")):
            if p.is_file() or p.is_dir():
                tar.add(p, arcname=p.relative_to(folder).as_posix(), recursive=False)
    return dest


def join_uri(*parts: str) -> str:
    head = parts[0].rstrip("/")
    return "/".join([head] + [p.strip("/") for p in parts[1:] if p])


def upload_tarball(store: ObjectStore, folder: Path, uri: str) -> str:
    """Tar ``folder`` and upload it to ``uri`` (an object key); returns the URI."""
    bucket, key = parse_s3_uri(uri)
    with tempfile.TemporaryDirectory(prefix="shipyard-pack-") as tmp:
        tarball = make_tarball(folder, Path(tmp) / "archive.tar.gz")
        store.upload_file(tarball, bucket, key, content_type="application/x-tar")
    return uri


def upload_model(store: ObjectStore, model_dir: Path, output_path: str, job_name: str,
                 compression: str = "GZIP") -> str:
    """Upload the model as SageMaker does; returns ``ModelArtifacts.S3ModelArtifacts``."""
    base = join_uri(output_path, job_name, "output")
    if (compression or "GZIP").upper() == "NONE":
        prefix = join_uri(base, "model") + "/"
        store.upload_dir(model_dir, prefix)
        return prefix
    return upload_tarball(store, model_dir, join_uri(base, "model.tar.gz"))


def upload_output_data(store: ObjectStore, data_dir: Path, output_path: str, job_name: str) -> str | None:
    if not has_files(data_dir):
        return None
    return upload_tarball(store, data_dir, join_uri(output_path, job_name, "output", "output.tar.gz"))


def restore_checkpoints(store: ObjectStore, uri: str, local: Path) -> int:
    """Download every object under ``uri`` into ``local``; a key that would land outside ``local`` (``../``)
    raises :class:`~shipyard.errors.UnsafePath` (the job's FailureReason) before anything is written."""
    bucket, prefix = parse_s3_uri(uri)
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    local.mkdir(parents=True, exist_ok=True)
    if not store.bucket_exists(bucket):
        return 0
    keys = [info.key for info in store.iter_keys(bucket, prefix)
            if info.key[len(prefix):] and not info.key.endswith("/")]
    targets = [safe_join(local, key[len(prefix):], what="checkpoint S3 key") for key in keys]
    for key, target in zip(keys, targets):
        store.download_file(bucket, key, target)
    return len(keys)


def sync_checkpoints(store: ObjectStore, local: Path, uri: str) -> int:
    """Mirror ``local`` to ``uri``: upload new or changed files, delete remote files gone locally."""
    bucket, prefix = parse_s3_uri(uri)
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    remote = {info.key[len(prefix):]: info for info in store.iter_keys(bucket, prefix)}
    seen = set()
    n = 0
    for p in sorted(local.rglob("*")) if local.is_dir() else []:
        if not p.is_file():
            continue
        rel = p.relative_to(local).as_posix()
        seen.add(rel)
        info = remote.get(rel)
        st = p.stat()
        if info is not None and info.size == st.st_size and info.last_modified >= st.st_mtime:
            continue
        store.upload_file(p, bucket, prefix + rel)
        n += 1
    for rel in remote:
        if rel not in seen:
            store.delete_object(bucket, prefix + rel)
    return n


def fetch_to_file(store: ObjectStore, uri: str, dest: Path) -> Path:
    """An ``s3://`` object, a ``file://`` URL or a local path, copied to ``dest``."""
    if is_s3_uri(uri):
        bucket, key = parse_s3_uri(uri)
        store.download_file(bucket, key, dest)
        return dest
    path = uri[len("file://"):] if uri.startswith("file://") else uri
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "rb") as src, open(dest, "wb") as out:
        while chunk := src.read(1 << 20):
            out.write(chunk)
    os.utime(dest)
    return dest
