"""Channel staging: File mode puts objects into ``input/data/<channel>/`` (copies; hard links to the local
object store's files for built-in algorithms, which only read them); Pipe mode streams them into FIFOs.

Object selection follows SageMaker: ``S3Prefix`` takes every object under the URI taken as a key prefix
(an exact object names just itself); ``ManifestFile`` reads a JSON array whose first element is
``{"prefix": "s3://bucket/p/"}`` and the rest keys relative to it. Files keep their key path relative to the
prefix (the SageMaker SDK's local mode does the same). ``ShardedByS3Key`` gives host ``i`` of ``N`` every
N-th object of the sorted list. Pipe mode creates ``<channel>_0`` and, when the reader reaches EOF, the
next epoch's ``<channel>_1``...; with ``RecordWrapperType=RecordIO`` each object becomes one RecordIO record,
and ``CompressionType=Gzip`` objects are decompressed on the way (as SageMaker does in Pipe mode).

``AugmentedManifestFile`` (Pipe mode only, as on AWS): the manifest is JSON Lines; for each line, each name in
``AttributeNames`` in order becomes one payload on the pipe: the object a ``*-ref`` attribute points at, else
the attribute's value as JSON text (a string as it is). With ``RecordWrapperType=RecordIO`` each payload is
one record, which is how the built-ins (image classification) tell them apart.
"""

from __future__ import annotations

import gzip
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from ..domain.paths import safe_join
from ..objectstore.base import ObjectStore, parse_s3_uri

MAX_EPOCHS = 10000


@dataclass
class ObjectRef:
    bucket: str
    key: str
    rel: str  # path below the channel folder


def _rel(key: str, prefix: str) -> str:
    rel = key[len(prefix):].lstrip("/")
    return rel or key.rsplit("/", 1)[-1]


def list_objects(store: ObjectStore, source: dict) -> list[ObjectRef]:
    """The objects a channel's ``S3DataSource`` names, sorted by key."""
    uri = source["S3Uri"]
    data_type = source.get("S3DataType", "S3Prefix")
    bucket, prefix = parse_s3_uri(uri)
    if data_type == "ManifestFile":
        manifest = json.loads(store.get_bytes(bucket, prefix))
        if not manifest or not isinstance(manifest[0], dict) or "prefix" not in manifest[0]:
            raise ValueError(f"Manifest {uri} must start with {{\"prefix\": \"s3://...\"}}")
        m_bucket, m_prefix = parse_s3_uri(manifest[0]["prefix"])
        return [ObjectRef(m_bucket, m_prefix + rel, rel) for rel in manifest[1:]]
    if data_type == "AugmentedManifestFile":
        return [ObjectRef(bucket, prefix, prefix.rsplit("/", 1)[-1])]  # the manifest; its lines are read later
    refs = [ObjectRef(bucket, info.key, _rel(info.key, prefix))
            for info in store.iter_keys(bucket, prefix) if not info.key.endswith("/")]
    if not refs:
        raise ValueError(f"No S3 objects found under S3 URL \"{uri}\" given in input data source. "
                         "Please ensure that the bucket exists in the selected region, that objects exist "
                         "under that S3 prefix, and that the role has access to them.")
    return refs


def shard(refs: list[ObjectRef], distribution: str, host_index: int, host_count: int) -> list[ObjectRef]:
    if distribution != "ShardedByS3Key" or host_count <= 1:
        return refs
    ordered = sorted(refs, key=lambda r: r.key)
    return [r for i, r in enumerate(ordered) if i % host_count == host_index]


def stage_file_channel(store: ObjectStore, refs: list[ObjectRef], dest: Path, link: bool = False) -> int:
    """Download every object into ``dest``; returns bytes staged.

    ``link``: the program only reads its input (a built-in algorithm), so where the object store keeps
    bodies as local files on the same file system (:meth:`LocalObjectStore.link_file`) each file is a hard
    link to the stored body: staging a channel of any size takes milliseconds. A user's script gets copies
    (it may write to its input folder); so does every object a link cannot be made for."""
    total = 0
    dest.mkdir(parents=True, exist_ok=True)
    linker = getattr(store, "link_file", None) if link else None
    for ref in refs:
        target = safe_join(dest, ref.rel, what="channel S3 key")
        if linker is not None:
            try:
                if target.exists() or target.is_symlink():
                    target.unlink()
                total += linker(ref.bucket, ref.key, target)
                continue
            except OSError:  # another file system, a link limit...: copy this one and the rest
                linker = None
        total += store.download_file(ref.bucket, ref.key, target)
    return total


class PipeFeeder(threading.Thread):
    """Streams a channel's objects into ``<channel>_<epoch>`` FIFOs, one epoch after another, in the background.

    The next epoch's FIFO is created just before the current one is closed, so a program that sees EOF and
    opens ``<channel>_<epoch+1>`` at once always finds it; a program that reads one epoch and stops leaves the
    thread waiting on that open, which is harmless: the thread is a daemon and dies with the executor.
    """

    def __init__(self, store: ObjectStore, refs: list[ObjectRef], base: Path, record_io: bool, gzipped: bool):
        super().__init__(name=f"pipe-{base.name}", daemon=True)
        self.store, self.refs, self.base = store, refs, base
        self.record_io, self.gzipped = record_io, gzipped
        self.error: BaseException | None = None
        self.make_fifo(0)

    def make_fifo(self, epoch: int) -> Path:
        path = self.base.with_name(f"{self.base.name}_{epoch}")
        if not path.exists():
            os.mkfifo(path)
        return path

    def _epoch(self):
        """The bytes of one epoch, in order."""
        for ref in self.refs:
            yield from self._chunks(ref)

    def _chunks(self, ref: ObjectRef):
        _, chunks = self.store.open_object(ref.bucket, ref.key)
        if self.gzipped:
            data = gzip.decompress(b"".join(chunks))
            chunks = iter([data])
        if self.record_io:
            from ..io.recordio import frame

            yield frame(b"".join(chunks))
        else:
            yield from chunks

    def run(self) -> None:
        try:
            for epoch in range(MAX_EPOCHS):
                path = self.make_fifo(epoch)
                with open(path, "wb") as f:  # blocks until the program opens the FIFO
                    for chunk in self._epoch():
                        f.write(chunk)
                    self.make_fifo(epoch + 1)  # before EOF reaches the reader
        except BrokenPipeError:
            pass  # the reader closed early: allowed
        except BaseException as e:  # noqa: BLE001 - reported by the executor
            self.error = e


def manifest_lines(store: ObjectStore, ref: ObjectRef) -> list[dict]:
    """The JSON objects of an augmented manifest, one a line (blank lines skipped); ValueError names a bad line."""
    lines = []
    text = store.get_bytes(ref.bucket, ref.key).decode("utf-8")
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            raise ValueError(f"Augmented manifest s3://{ref.bucket}/{ref.key}, line {n}: not a JSON object.") from None
        if not isinstance(doc, dict):
            raise ValueError(f"Augmented manifest s3://{ref.bucket}/{ref.key}, line {n}: not a JSON object.")
        lines.append(doc)
    return lines


class AugmentedManifestFeeder(PipeFeeder):
    """A Pipe-mode channel of an augmented manifest: one payload per line and attribute (see the module)."""

    def __init__(self, store: ObjectStore, manifest: ObjectRef, lines: list[dict], attributes: list[str],
                 base: Path, record_io: bool):
        super().__init__(store, [], base, record_io, gzipped=False)
        self.manifest, self.lines, self.attributes = manifest, lines, attributes

    def _epoch(self):
        from ..io.recordio import frame

        where = f"s3://{self.manifest.bucket}/{self.manifest.key}"
        for n, line in enumerate(self.lines, 1):
            for name in self.attributes:
                if name not in line:
                    raise ValueError(f"Augmented manifest {where}, line {n}: no attribute {name!r} "
                                     f"(AttributeNames {self.attributes}).")
                value = line[name]
                if name.endswith("-ref"):
                    if not isinstance(value, str) or not value.startswith("s3://"):
                        raise ValueError(f"Augmented manifest {where}, line {n}: {name} must be an s3:// URI.")
                    bucket, key = parse_s3_uri(value)
                    payload = self.store.get_bytes(bucket, key)
                else:
                    payload = (value if isinstance(value, str) else json.dumps(value)).encode("utf-8")
                yield frame(payload) if self.record_io else payload


def stage_channels(store: ObjectStore, channels: list[dict], data_dir: Path, job_input_mode: str,
                   host_index: int = 0, host_count: int = 1, link: bool = False) -> list[PipeFeeder]:
    """Stage every channel; returns the Pipe-mode feeders (not started yet). ``link``: see
    :func:`stage_file_channel` (for programs that only read their input)."""
    feeders: list[PipeFeeder] = []
    for ch in channels:
        name = ch["ChannelName"]
        channel_dir = safe_join(data_dir, name, what="channel name")  # never input/config, never "."
        source = (ch.get("DataSource") or {}).get("S3DataSource")
        if source is None:
            raise ValueError(f"Channel {name!r}: only S3DataSource is supported by Shipyard.")
        mode = ch.get("InputMode") or job_input_mode or "File"
        if source.get("S3DataType") == "AugmentedManifestFile":
            if mode != "Pipe":
                raise ValueError(f"Channel {name!r}: AugmentedManifestFile needs Pipe input mode.")
            manifest = list_objects(store, source)[0]
            lines = manifest_lines(store, manifest)
            if source.get("S3DataDistributionType") == "ShardedByS3Key" and host_count > 1:
                lines = lines[host_index::host_count]  # each host its share of the lines
            data_dir.mkdir(parents=True, exist_ok=True)
            feeders.append(AugmentedManifestFeeder(store, manifest, lines, list(source.get("AttributeNames") or []),
                                                   channel_dir, ch.get("RecordWrapperType") == "RecordIO"))
            continue
        refs = shard(list_objects(store, source), source.get("S3DataDistributionType", "FullyReplicated"),
                     host_index, host_count)
        if mode == "Pipe":
            data_dir.mkdir(parents=True, exist_ok=True)
            feeders.append(PipeFeeder(store, refs, channel_dir, ch.get("RecordWrapperType") == "RecordIO",
                                      ch.get("CompressionType") == "Gzip"))
        else:  # File and FastFile both become local files here
            stage_file_channel(store, refs, channel_dir, link=link)
    return feeders
