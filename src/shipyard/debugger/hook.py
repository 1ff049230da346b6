"""A small Debugger hook for training scripts: save scalars and tensors in smdebug's layout.

On AWS a script saves through smdebug's hook, configured by ``/opt/ml/input/config/debughookconfig.json``
(the job's ``DebugHookConfig``: ``LocalPath``, ``HookParameters``, ``CollectionConfigurations``). smdebug pins
protobuf 3.20 and cannot be installed beside this environment's protobuf, so Shipyard offers the same
layout through this hook (the job uploads ``LocalPath`` to ``<S3OutputPath>/<job>/debug-output/`` as it
grows, where rules and ``smdebug.trials.create_trial`` read it)::

    from shipyard.debugger.hook import Hook

    hook = Hook.create_from_json_file()
    for step in range(steps):
        hook.save_scalar("loss", loss, step=step, collection="losses")
        hook.save_tensor("gradients/w", grad, step=step, collection="gradients")
    hook.close()

A collection is saved every ``save_interval`` steps (its ``CollectionParameters``, else the hook's
``HookParameters.save_interval``, else 500, smdebug's default); ``save_steps`` ("1,5,10") picks steps outright.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .writer import TrialWriter

CONFIG_FILE = "/opt/ml/input/config/debughookconfig.json"
DEFAULT_OUT_DIR = "/opt/ml/output/tensors"
DEFAULT_SAVE_INTERVAL = 500
CONFIG_ENV = "SHIPYARD_DEBUGHOOKCONFIG"  # the job's config file under its /opt/ml (set by the executor)


class Hook:
    def __init__(self, out_dir: str = DEFAULT_OUT_DIR, save_interval: int = DEFAULT_SAVE_INTERVAL,
                 collections: dict[str, dict[str, str]] | None = None):
        self.writer = TrialWriter(out_dir)
        self.out_dir = out_dir
        self.save_interval = int(save_interval)
        self.collections = {k: dict(v or {}) for k, v in (collections or {}).items()}
        self.mode = "TRAIN"
        self._step: int | None = None
        self._pending: list[tuple[str, object]] = []
        self._pending_colls: dict[str, str] = {}
        self._pending_mode = self.mode

    @classmethod
    def create_from_json_file(cls, path: str | None = None) -> "Hook":
        """The hook the job's ``debughookconfig.json`` describes (a default hook when the job has none)."""
        path = path or os.environ.get(CONFIG_ENV) or CONFIG_FILE
        try:
            config = json.loads(Path(path).read_text())
        except (OSError, ValueError):
            return cls()
        params = config.get("HookParameters") or {}
        colls = {c.get("CollectionName"): c.get("CollectionParameters") or {}
                 for c in config.get("CollectionConfigurations") or [] if c.get("CollectionName")}
        local = os.environ.get("SHIPYARD_DEBUG_LOCAL_PATH") or config.get("LocalPath") or DEFAULT_OUT_DIR
        return cls(local, int(params.get("save_interval") or DEFAULT_SAVE_INTERVAL), colls)

    def set_mode(self, mode: str) -> None:
        """TRAIN, EVAL, PREDICT or GLOBAL: the mode the next saves belong to."""
        self.mode = mode.upper()

    def should_save(self, step: int, collection: str) -> bool:
        params = self.collections.get(collection) or {}
        steps = params.get("save_steps")
        if steps:
            return step in {int(s) for s in str(steps).split(",") if s.strip()}
        interval = int(params.get("save_interval") or params.get(f"{self.mode.lower()}.save_interval")
                       or self.save_interval)
        start = int(params.get("start_step") or 0)
        end = params.get("end_step")
        if step < start or (end not in (None, "") and step >= int(end)):
            return False
        return interval > 0 and (step - start) % interval == 0

    def save_tensor(self, name: str, value, step: int, collection: str = "default") -> bool:
        """Save ``value`` (array-like) as ``name`` at ``step`` if the collection's schedule says so."""
        if not self.should_save(step, collection):
            return False
        self.add(name, value, step, collection)
        return True

    def add(self, name: str, value, step: int, collection: str = "default") -> None:
        """Save ``value`` at ``step`` whatever the schedule (the caller decided the step is due)."""
        if self._step is not None and (step != self._step or self.mode != self._pending_mode):
            self.flush()
        self._step, self._pending_mode = step, self.mode
        self._pending.append((name, value))
        self._pending_colls[name] = collection

    def save_scalar(self, name: str, value: float, step: int, collection: str = "default") -> bool:
        return self.save_tensor(name, float(value), step, collection)

    def flush(self) -> None:
        if self._step is not None and self._pending:
            self.writer.write_step(self._step, self._pending, mode=self._pending_mode,
                                   collection=dict(self._pending_colls))
        self._step, self._pending, self._pending_colls = None, [], {}

    def close(self) -> None:
        """Write what is pending (the job marks the trial complete when it uploads it at the end)."""
        self.flush()
