"""Reading a trial (smdebug's layout, see :mod:`.writer`) from a local folder or from S3, as it grows.

A rule calls :meth:`Trial.refresh` in a loop: each call reads only the index files it has not read yet, so
following a job's ``debug-output/`` while the job writes it costs one listing and the new steps.
:meth:`Trial.ended` says whether ``training_job_end.ts`` is there: then no step will be added.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from .records import decode_event, unframe
from .writer import END_FILE, MODES


class Source(Protocol):
    def list(self, prefix: str) -> list[str]: ...
    def read(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...


class LocalSource:
    """A trial folder on this machine."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def list(self, prefix: str) -> list[str]:
        base = self.root / prefix
        if not base.is_dir():
            return []
        return sorted(str(p.relative_to(self.root)) for p in base.rglob("*")
                      if p.is_file() and not p.name.startswith("."))

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def exists(self, key: str) -> bool:
        return (self.root / key).is_file()


class S3Source:
    """A trial under ``s3://bucket/prefix/`` through a boto3 S3 client (a rule job's own key)."""

    def __init__(self, client, uri: str):
        bucket, _, prefix = uri[len("s3://"):].partition("/")
        self.client, self.bucket, self.prefix = client, bucket, prefix.rstrip("/") + "/"

    def list(self, prefix: str) -> list[str]:
        keys, token = [], None
        for _ in range(10_000):  # bounded: 10 million keys
            kw = {"Bucket": self.bucket, "Prefix": self.prefix + prefix}
            if token:
                kw["ContinuationToken"] = token
            page = self.client.list_objects_v2(**kw)
            keys += [o["Key"][len(self.prefix):] for o in page.get("Contents") or []]
            token = page.get("NextContinuationToken")
            if not token:
                break
        return sorted(keys)

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()

    def exists(self, key: str) -> bool:
        return bool(self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix + key).get("KeyCount"))


def open_source(path: str) -> Source:
    """A LocalSource, or an S3Source through boto3 (``AWS_ENDPOINT_URL`` and the job's key from the
    environment) for an ``s3://`` path."""
    if path.startswith("s3://"):
        import boto3
        from botocore.config import Config

        client = boto3.session.Session().client("s3", config=Config(s3={"addressing_style": "path"}))
        return S3Source(client, path)
    return LocalSource(path)


@dataclass(frozen=True)
class Location:
    event_file: str
    start: int
    length: int
    mode: int
    mode_step: int


class Trial:
    def __init__(self, source: Source | str):
        self.source: Source = open_source(source) if isinstance(source, str) else source
        self._seen: set[str] = set()
        self._tensors: dict[str, dict[int, Location]] = {}
        self._collections: dict[str, list[str]] = {}
        self._files: dict[str, bytes] = {}

    def refresh(self) -> int:
        """Read the index files that appeared since the last call; returns how many steps were new."""
        new = [k for k in self.source.list("index/") if k.endswith(".json") and k not in self._seen]
        for key in sorted(new):
            try:
                index = json.loads(self.source.read(key))
            except (ValueError, OSError):
                continue  # torn or vanished: read again next time
            self._seen.add(key)
            step = int(Path(key).name.split("_")[0])
            meta = index.get("meta") or {}
            mode = MODES.get(str(meta.get("mode", "GLOBAL")).strip(), 4)
            for t in index.get("tensor_payload") or []:
                self._tensors.setdefault(t["tensorname"], {})[step] = Location(
                    meta["event_file_name"], int(t["start_idx"]), int(t["length"]), mode,
                    int(meta.get("mode_step", step)))
        if new:
            self._read_collections()
        return len(new)

    def _read_collections(self) -> None:
        for key in self.source.list("collections/"):
            if not key.endswith("_collections.json"):
                continue
            try:
                doc = json.loads(self.source.read(key))
            except (ValueError, OSError):
                continue
            for name, c in (doc.get("collections") or {}).items():
                names = set(self._collections.get(name, [])) | set(c.get("tensor_names") or [])
                self._collections[name] = sorted(names)

    def ended(self) -> bool:
        return self.source.exists(END_FILE)

    # --- what is there ---
    def tensor_names(self, collection: str | None = None, regex: str | None = None) -> list[str]:
        names = sorted(self._tensors)
        if collection is not None:
            wanted = set(self._collections.get(collection, []))
            names = [n for n in names if n in wanted]
        if regex:
            rx = re.compile(regex)
            names = [n for n in names if rx.search(n)]
        return names

    def collections(self) -> dict[str, list[str]]:
        return dict(self._collections)

    def steps(self, name: str | None = None, mode: str | None = None) -> list[int]:
        wanted = MODES[mode] if mode else None
        pool = [self._tensors.get(name, {})] if name else list(self._tensors.values())
        return sorted({s for t in pool for s, loc in t.items() if wanted is None or loc.mode == wanted})

    def mode_of(self, name: str, step: int) -> str:
        loc = self._tensors[name][step]
        return next(k for k, v in MODES.items() if v == loc.mode)

    def value(self, name: str, step: int) -> np.ndarray:
        loc = self._tensors[name][step]
        data = self._files.get(loc.event_file)
        if data is None:
            data = self.source.read(loc.event_file)
            if len(self._files) > 64:
                self._files.clear()
            self._files[loc.event_file] = data
        payload, _ = unframe(data[loc.start:loc.start + loc.length])
        return decode_event(payload)[0].value

    def series(self, name: str, mode: str | None = None) -> list[tuple[int, float]]:
        """``(step, mean value)`` of a tensor over its saved steps (a scalar's own value)."""
        return [(s, float(np.mean(self.value(name, s)))) for s in self.steps(name, mode)]


class StoreSource:
    """A trial under ``s3://bucket/prefix/`` read through an :class:`~shipyard.objectstore.base.ObjectStore`
    (the server's own store: the console)."""

    def __init__(self, store, uri: str):
        bucket, _, prefix = uri[len("s3://"):].partition("/")
        self.store, self.bucket, self.prefix = store, bucket, prefix.rstrip("/") + "/"

    def list(self, prefix: str) -> list[str]:
        if not self.store.bucket_exists(self.bucket):
            return []
        return sorted(info.key[len(self.prefix):] for info in self.store.iter_keys(self.bucket, self.prefix + prefix)
                      if not info.key.endswith("/"))

    def read(self, key: str) -> bytes:
        return self.store.get_bytes(self.bucket, self.prefix + key)

    def exists(self, key: str) -> bool:
        return bool(self.list(key))
