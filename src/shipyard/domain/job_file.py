"""``job.json``: what a job's controller hands its executor, typed.

The training, processing and transform controllers write one into each job (host) folder before the runner
starts the executor (``training/executor.py``, ``processing/executor.py``, ``transform/executor.py``), which
reads it back; nothing else is passed (the runner may start the executor on another machine). It holds the
job's own key (``aws_env``), so it is written 0600 (:func:`write_private`).

The JSON keys are a contract between server versions: a job started by an older server must still run after
an upgrade, and an executor must not choke on a key a newer server added. So every field keeps the key it
always had, a missing key reads as the default the executors always used, and keys this version does not
know are kept in ``extra`` and written back unchanged. ``program`` stays a plain dict (``{"kind":
"builtin"|"script"|"container", ...}``): each program kind owns its own fields.
"""

from __future__ import annotations

import json
import os
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

FILE_NAME = "job.json"

_T = TypeVar("_T", bound="JobFile")


@dataclass
class JobFile:
    """The fields every job kind shares (each kind's file subclasses it)."""

    request: dict[str, Any]                    # the public request document (no ``_`` keys)
    aws_env: dict[str, str] = field(default_factory=dict)  # the job's own key (``job_keys.aws_env``)
    isolate: bool = False                      # hide the home but for the job's folder
    archive_caps: dict[str, int] | None = None  # the server's caps (``io.archives.Caps.from_json``)
    object_store_url: str = ""                 # written by older servers: the store itself
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know, kept as they are

    @classmethod
    def from_dict(cls: type[_T], data: dict[str, Any]) -> _T:
        known = {f.name for f in fields(cls)} - {"extra"}
        kwargs = {k: v for k, v in data.items() if k in known and v is not None}
        missing = [f.name for f in fields(cls) if f.name in known and f.name not in kwargs and _required(f)]
        if missing:
            raise ValueError(f"{FILE_NAME} lacks {', '.join(missing)}")
        return cls(**kwargs, extra={k: v for k, v in data.items() if k not in known})

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra)
        for f in fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if value is None or (f.name == "object_store_url" and not value):
                continue  # absent reads back as the default
            out[f.name] = value
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def read(cls: type[_T], folder: str | Path) -> _T:
        data = json.loads((Path(folder) / FILE_NAME).read_text())
        if not isinstance(data, dict):
            raise ValueError(f"{FILE_NAME} is not a JSON object")
        return cls.from_dict(data)


def _required(f: Field[Any]) -> bool:
    return f.default is MISSING and f.default_factory is MISSING


@dataclass
class TrainingJobFile(JobFile):
    """One host of a training job (``controllers/training.py`` -> ``training/executor.py``)."""

    arn: str = ""
    program: dict[str, Any] = field(default_factory=dict)  # {"kind": ..., ...}: see the module docstring
    region: str = "us-east-1"
    stop_grace: float | None = None            # SIGTERM -> SIGKILL for the program (None: the executor's)
    hosts: list[str] | None = None             # every host of the job, algo-1 first
    host_count: int | None = None              # older servers: the count instead of ``hosts``
    host_index: int = 0                        # which of ``hosts`` this one is
    host_addresses: dict[str, str] = field(default_factory=dict)  # host -> address its peers reach it at
    master_port: int | None = None             # MASTER_PORT of a multi-host job
    attempt: int = 0                           # retries so far (RetryStrategy)
    checkpoint_interval: float | None = None   # seconds between checkpoint uploads (tests shorten it)
    volume_check_interval: float | None = None  # seconds between checks of the volume limit (tests shorten it)

    def host_names(self) -> list[str]:
        return list(self.hosts or [f"algo-{i + 1}" for i in range(int(self.host_count or 1))])


@dataclass
class TransformJobFile(JobFile):
    """A transform job (``controllers/transform.py`` -> ``transform/executor.py``)."""

    model: dict[str, Any] = field(default_factory=dict)  # the model's public document


@dataclass
class ProcessingJobFile(JobFile):
    """One host (``algo-N``) of a processing job (``controllers/processing.py`` -> ``processing/executor.py``)."""

    arn: str = ""
    program: dict[str, Any] = field(default_factory=dict)  # processing/program.py: {"kind": ..., ...}
    region: str = "us-east-1"
    stop_grace: float | None = None            # SIGTERM -> SIGKILL for the program (None: the executor's)
    hosts: list[str] = field(default_factory=lambda: ["algo-1"])  # every host of the job, algo-1 first
    host_index: int = 0                        # which of ``hosts`` this one is
    continuous_interval: float | None = None   # seconds between Continuous output uploads (tests shorten it)


def write_private(folder: str | Path, text: str) -> None:
    """Write ``job.json`` into ``folder`` atomically, readable by its owner only (it holds the job's key)."""
    folder = Path(folder)
    tmp = folder / (FILE_NAME + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, folder / FILE_NAME)
