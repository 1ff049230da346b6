"""Batch transform data capture (CreateTransformJob's ``DataCaptureConfig``), in AWS's layout.

AWS does not copy a transform job's data when it captures it: it writes, per job, a manifest of the input
objects it read and one of the output objects it wrote, each a manifest file in the ``ManifestFile`` format
(``[{"prefix": "s3://bucket/folder/"}, "relative/key", ...]``), under the hour the job ran::

    <DestinationS3Uri>/input/yyyy/mm/dd/hh/<job name>-<uuid>.json
    <DestinationS3Uri>/output/yyyy/mm/dd/hh/<job name>-<uuid>.json

Model Monitor's ``BatchTransformInput.DataCapturedDestinationS3Uri`` names that destination; a monitoring
execution reads the input manifests of its window's hours as ``ManifestFile`` processing inputs, so the analyzer
sees the very files the job transformed (:mod:`shipyard.resources.monitoring_contract`).

Written once the whole job has succeeded: a failed job's partial data is not captured.
"""

from __future__ import annotations

import json
import posixpath
import time
import uuid
from datetime import datetime, timezone
from typing import Iterable

from ..errors import ShipyardError
from ..objectstore.base import ObjectStore, parse_s3_uri

INPUT_FOLDER = "input"
OUTPUT_FOLDER = "output"


def manifests(uris: Iterable[tuple[str, str]]) -> list[list]:
    """``(bucket, key)`` pairs as manifests: one per bucket, its prefix the keys' longest common folder."""
    by_bucket: dict[str, list[str]] = {}
    for bucket, key in uris:
        by_bucket.setdefault(bucket, []).append(key)
    out: list[list] = []
    for bucket, keys in sorted(by_bucket.items()):
        folder = posixpath.commonpath([posixpath.dirname(k) or "." for k in keys]) if keys else ""
        folder = "" if folder in (".", "/") else folder.strip("/")
        prefix = f"s3://{bucket}/{folder}/" if folder else f"s3://{bucket}/"
        strip = len(folder) + 1 if folder else 0
        out.append([{"prefix": prefix}, *[k[strip:] for k in keys]])
    return out


def capture_key(destination: str, folder: str, job_name: str, when: float, n: int = 0) -> tuple[str, str]:
    """(bucket, key) of one manifest of ``job_name`` under ``<destination>/<folder>/yyyy/mm/dd/hh/``."""
    bucket, prefix = parse_s3_uri(destination)
    hour = datetime.fromtimestamp(when, timezone.utc).strftime("%Y/%m/%d/%H")
    suffix = f"-{n}" if n else ""
    name = f"{job_name}-{uuid.uuid4().hex}{suffix}.json"
    parts = [p for p in (prefix.strip("/"), folder, hour, name) if p]
    return bucket, "/".join(parts)


def write_capture(store: ObjectStore, config: dict, job_name: str, inputs: list[tuple[str, str]],
                  outputs: list[tuple[str, str]], when: float | None = None) -> list[str]:
    """Write the job's input and output manifests under ``config['DestinationS3Uri']``; returns their URIs."""
    when = time.time() if when is None else when
    written = []
    for folder, objects in ((INPUT_FOLDER, inputs), (OUTPUT_FOLDER, outputs)):
        for n, manifest in enumerate(manifests(objects)):
            bucket, key = capture_key(config["DestinationS3Uri"], folder, job_name, when, n)
            try:
                store.put_object(bucket, key, json.dumps(manifest).encode(), content_type="application/json")
            except ShipyardError as e:
                raise ShipyardError(f"Writing the data capture to DataCaptureConfig.DestinationS3Uri "
                                    f"{config['DestinationS3Uri']} failed: {e.message}", code=e.code) from None
            written.append(f"s3://{bucket}/{key}")
    return written
