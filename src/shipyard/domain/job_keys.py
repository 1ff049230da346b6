"""Per-job key pairs, scoped like an execution role.

A job never holds the server's key. When a job is launched its controller asks for a key pair of its own
(:meth:`JobKeys.issue`) with a :class:`JobScope`: the S3 prefixes it may read (input channels, checkpoints,
its output), the prefixes it may write (checkpoints, output), its CloudWatch Logs stream prefix and its own
resource name. The key is revoked when the job ends (:meth:`JobKeys.revoke`) and, on server start, keys of
jobs that are no longer running are revoked (:meth:`JobKeys.prune`). A multi-model endpoint's model servers
get one the same way (:mod:`shipyard.serving.multimodel`): read-only on the endpoint's model prefix.

Keys live in ``<home>/job_keys.json`` (mode 0600), written only by the server process; every request signed
with a job key is authorized against its scope by :mod:`shipyard.server.auth` after the signature is checked.
"""

from __future__ import annotations

import json
import os
import secrets
import string
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import ValidationError
from .s3_uri import parse_s3_uri
from .users import User

FILE_NAME = "job_keys.json"
KEY_PREFIX = "ASIA"  # AWS's prefix for temporary credentials


@dataclass
class JobScope:
    """What one job's key may do: everything else is refused."""

    kind: str                      # "training", ...
    name: str                      # the job's name
    read: list[str] = field(default_factory=list)    # "bucket/prefix" entries readable (GET/HEAD/List)
    write: list[str] = field(default_factory=list)   # "bucket/prefix" entries writable (PUT/multipart/DELETE)
    log_group: str = ""
    log_stream_prefix: str = ""
    # read-only calls on the job's own resource, e.g. ("sagemaker", "DescribeTrainingJob", "TrainingJobName")
    own: list[list[str]] = field(default_factory=list)
    metrics: bool = True           # CloudWatch PutMetricData
    role_arn: str = ""             # the job's execution role (what GetCallerIdentity names as assumed)
    # the ExperimentName, TrialName and RunName of the job's ExperimentConfig (lower-cased): the SDK's load_run()
    # inside the job may read and write these, and only these, experiment entities
    experiment: list[str] = field(default_factory=list)

    def buckets(self) -> set[str]:
        return {p.split("/", 1)[0] for p in self.read + self.write}


@dataclass(frozen=True)
class Caller:
    """Who signed a request, as a handler that asks for it (a ``caller`` parameter) is told: the access key
    id and, for a job's key, the job's scope, for a user's key (:mod:`shipyard.domain.users`), the user (both
    None: the server's own key)."""

    access_key_id: str
    job: JobScope | None = None
    user: "User | None" = None


def experiment_names(config: dict[str, Any] | None) -> list[str]:
    """The experiment entities a job's ExperimentConfig names (lower-cased), for :attr:`JobScope.experiment`."""
    return [str(v).lower() for k in ("ExperimentName", "TrialName", "RunName") if (v := (config or {}).get(k))]


def s3_prefix(uri: str) -> str:
    """``s3://bucket/a/b`` (or one of S3's https URLs for it) -> ``bucket/a/b``; "" for anything else."""
    try:
        bucket, key = parse_s3_uri(uri) if uri else ("", "")
    except ValidationError:
        return ""
    return f"{bucket}/{key}" if bucket else ""


def aws_env(endpoint_url: str, region: str, key: "JobKey") -> dict[str, str]:
    """What a job's boto3 needs to reach the server with the job's own key, as an instance role gives a
    container on AWS (never the server's key)."""
    return {"AWS_ENDPOINT_URL": endpoint_url, "AWS_ACCESS_KEY_ID": key.access_key_id,
            "AWS_SECRET_ACCESS_KEY": key.secret_access_key, "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region}


MAX_MANIFEST_FOLDERS = 256  # an augmented manifest naming objects in more folders than this is cut short


def manifest_reads(data_type: str, body: bytes) -> list[str]:
    """The ``bucket/prefix`` entries a job must read besides the manifest object itself, from the manifest's
    bytes: a ManifestFile's ``{"prefix": "s3://..."}`` (its entries are keys relative to it, anywhere the
    prefix says, not only beside the manifest), or the folders of every ``s3://`` value on the JSON lines of an
    AugmentedManifestFile (``"source-ref"`` and the like). A manifest that cannot be parsed gives nothing: the
    executor reports it as the job's failure when it reads it."""
    text = body.decode("utf-8", "replace")
    if data_type == "ManifestFile":
        try:
            entries = json.loads(text)
        except ValueError:
            return []
        first = entries[0] if isinstance(entries, list) and entries else None
        prefix = s3_prefix(str(first.get("prefix") or "")) if isinstance(first, dict) else ""
        return [prefix] if prefix else []
    if data_type != "AugmentedManifestFile":
        return []
    folders: list[str] = []
    for line in text.splitlines():
        try:
            record = json.loads(line) if line.strip() else None
        except ValueError:
            continue
        values = record.values() if isinstance(record, dict) else []
        for value in values:
            prefix = s3_prefix(value) if isinstance(value, str) else ""
            folder = prefix.rsplit("/", 1)[0] + "/" if "/" in prefix else ""
            if folder and folder not in folders:
                folders.append(folder)
                if len(folders) >= MAX_MANIFEST_FOLDERS:
                    return folders
    return folders


@dataclass
class JobKey:
    access_key_id: str
    secret_access_key: str
    scope: JobScope


class JobKeys:
    """The issued job keys of one home: in memory, persisted to a 0600 file on every change."""

    def __init__(self, home: Path):
        self.path = Path(home) / FILE_NAME
        self._lock = threading.Lock()
        self._keys: dict[str, JobKey] = {}
        self._mtime = 0
        self._load()

    def _load(self) -> None:
        try:
            self._mtime = self.path.stat().st_mtime_ns
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return
        for key_id, item in (data.get("keys") or {}).items():
            try:
                self._keys[key_id] = JobKey(key_id, item["secret"], JobScope(**item["scope"]))
            except (KeyError, TypeError):
                continue

    def _persist(self) -> None:
        data = {"keys": {k: {"secret": v.secret_access_key, "scope": asdict(v.scope)}
                         for k, v in self._keys.items()}}
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(data))
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)
        self._mtime = self.path.stat().st_mtime_ns

    # --- issuing and revoking ---
    def issue(self, scope: JobScope) -> JobKey:
        """A fresh key pair for a job; an older key of the same job is revoked (a restart gets a new one)."""
        alphabet = string.ascii_uppercase + string.digits
        key = JobKey(KEY_PREFIX + "".join(secrets.choice(alphabet) for _ in range(16)),
                     secrets.token_urlsafe(30)[:40], scope)
        with self._lock:
            for k in [k for k, v in self._keys.items() if (v.scope.kind, v.scope.name) == (scope.kind, scope.name)]:
                del self._keys[k]
            self._keys[key.access_key_id] = key
            self._persist()
        return key

    def revoke(self, kind: str, name: str) -> int:
        with self._lock:
            gone = [k for k, v in self._keys.items() if (v.scope.kind, v.scope.name) == (kind, name)]
            for k in gone:
                del self._keys[k]
            if gone:
                self._persist()
        return len(gone)

    def revoke_where(self, match: Callable[[JobScope], bool]) -> int:
        """Revoke every key whose scope ``match`` selects (e.g. all keys of one endpoint's model servers)."""
        with self._lock:
            gone = [k for k, v in self._keys.items() if match(v.scope)]
            for k in gone:
                del self._keys[k]
            if gone:
                self._persist()
        return len(gone)

    def prune(self, is_running: Callable[[str, str], bool]) -> int:
        """Revoke every key whose job is not running (any more): called when the server starts."""
        with self._lock:
            items = list(self._keys.items())
        gone = [k for k, v in items if not _safe(is_running, v.scope.kind, v.scope.name)]
        with self._lock:
            for k in gone:
                self._keys.pop(k, None)
            if gone:
                self._persist()
        return len(gone)

    def lookup(self, access_key_id: str) -> JobKey | None:
        key = self._keys.get(access_key_id)
        if key is None and access_key_id.startswith(KEY_PREFIX):  # issued by another process of this home?
            self._reload_if_changed()
            key = self._keys.get(access_key_id)
        return key

    def _reload_if_changed(self) -> None:
        try:
            mtime = self.path.stat().st_mtime_ns
        except OSError:
            return
        with self._lock:
            if mtime != self._mtime:
                self._keys.clear()
                self._load()

    def for_job(self, kind: str, name: str) -> JobKey | None:
        for v in list(self._keys.values()):
            if (v.scope.kind, v.scope.name) == (kind, name):
                return v
        return None


def _safe(fn: Callable[[str, str], bool], kind: str, name: str) -> bool:
    try:
        return bool(fn(kind, name))
    except Exception:  # noqa: BLE001 - a job we cannot find is not running
        return False


_registry: dict[str, JobKeys] = {}
_registry_lock = threading.Lock()


def for_home(home: str | Path) -> JobKeys:
    """The one :class:`JobKeys` of a home in this process (the app and the controllers share it)."""
    path = str(Path(home).resolve())
    with _registry_lock:
        keys = _registry.get(path)
        if keys is None:
            keys = _registry[path] = JobKeys(Path(path))
        return keys
