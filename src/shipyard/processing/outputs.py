"""Uploading a processing job's outputs from their ``LocalPath`` to ``S3Uri``.

``EndOfJob`` outputs are uploaded once the program has ended (also when it failed or was stopped, as AWS
does); ``Continuous`` outputs are also uploaded while it runs: a thread looks at their folders every few
seconds and uploads each file that is new or changed (size or modification time) since it last looked, then a
last pass runs after the exit. Keys keep each file's path relative to the LocalPath under the URI
(``<S3Uri>/<relative path>``). Several hosts upload to the same URI, as on AWS (name clashes are the script's).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Callable

from ..objectstore.base import ObjectStore, parse_s3_uri
from .inputs import local_folder


class OutputUploader:
    """Uploads the outputs of one host, remembering what it uploaded so each pass sends only what changed."""

    def __init__(self, store: ObjectStore, outputs: list[dict], job_dir: Path, log: Callable[[str], None]):
        self.store = store
        self.log = log
        self._seen: dict[Path, tuple[int, int]] = {}
        self._lock = threading.Lock()
        self.folders: list[tuple[dict, Path]] = []
        for item in outputs:
            s3 = item.get("S3Output") or {}
            folder = local_folder(job_dir, s3.get("LocalPath") or "", f"ProcessingOutput {item['OutputName']!r}"
                                  " LocalPath")
            self.folders.append((item, folder))

    def make_folders(self) -> None:
        """Outputs' LocalPaths exist before the program starts (AWS pre-creates them)."""
        for _, folder in self.folders:
            folder.mkdir(parents=True, exist_ok=True)

    def upload(self, continuous_only: bool = False) -> int:
        """One pass: upload new or changed files; returns how many were sent."""
        sent = 0
        with self._lock:
            for item, folder in self.folders:
                s3 = item["S3Output"]
                if continuous_only and s3.get("S3UploadMode") != "Continuous":
                    continue
                bucket, prefix = parse_s3_uri(s3["S3Uri"])
                for path in sorted(_files(folder)):
                    try:
                        st = path.stat()
                    except OSError:
                        continue
                    mark = (st.st_size, st.st_mtime_ns)
                    if self._seen.get(path) == mark:
                        continue
                    rel = path.relative_to(folder).as_posix()
                    key = f"{prefix.rstrip('/')}/{rel}" if prefix.strip("/") else rel
                    self.store.upload_file(path, bucket, key)
                    self._seen[path] = mark
                    sent += 1
        return sent

    def start_continuous(self, interval: float) -> threading.Event | None:
        """A thread uploading Continuous outputs every ``interval`` seconds until the returned event is set."""
        if not any(item["S3Output"].get("S3UploadMode") == "Continuous" for item, _ in self.folders):
            return None
        done = threading.Event()

        def loop() -> None:
            while not done.wait(interval):
                try:
                    self.upload(continuous_only=True)
                except Exception as e:  # noqa: BLE001 - retried next round and at the end
                    self.log(f"continuous upload failed (retried): {e}")

        threading.Thread(target=loop, name="continuous-upload", daemon=True).start()
        return done


def _files(folder: Path):
    """Regular files under ``folder`` (symbolic links are not followed: a link could point out of the job)."""
    for root, _dirs, names in os.walk(folder, followlinks=False):
        for name in names:
            path = Path(root) / name
            if path.is_file() and not path.is_symlink():
                yield path
