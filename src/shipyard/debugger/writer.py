"""Writing a trial folder in smdebug's layout (what a Debugger hook leaves under ``/opt/ml/output/tensors``).

::

    <trial>/events/<step:012>/<step:012>_<worker>.tfevents   one TFRecord file of Event protobufs per step
    <trial>/index/<step // 1000:09>/<step:012>_<worker>.json   where each tensor lies in that file
    <trial>/collections/000000000/<worker>_collections.json   which tensors each collection holds
    <trial>/training_job_end.ts                               written last: the trial is complete

Each step's event file is complete before its index file appears (the index written to a temporary name
and renamed), so a reader that lists ``index/`` while training runs (a rule) never sees half a step, and a
folder synced to S3 mid-training holds only whole steps. This is the layout smdebug's ``create_trial``
reads, locally or from S3.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from .records import TensorEvent, encode_event, frame

MODES = {"TRAIN": 1, "EVAL": 2, "PREDICT": 3, "GLOBAL": 4}
MODE_NAMES = {v: k for k, v in MODES.items()}
END_FILE = "training_job_end.ts"
DEFAULT_WORKER = "worker_0"


def event_path(step: int, worker: str) -> str:
    return f"events/{step:012d}/{step:012d}_{worker}.tfevents"


def index_path(step: int, worker: str) -> str:
    return f"index/{step // 1000:09d}/{step:012d}_{worker}.json"


def collections_path(worker: str) -> str:
    return f"collections/000000000/{worker}_collections.json"


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class TrialWriter:
    """Writes steps into one trial folder for one worker. Not thread-safe: one writer per process."""

    def __init__(self, out_dir: str | Path, worker: str = DEFAULT_WORKER):
        self.out_dir = Path(out_dir)
        self.worker = worker
        self.collections: dict[str, set[str]] = {}
        self._mode_steps: dict[int, int] = {}

    def write_step(self, step: int, tensors: list[tuple[str, object]], mode: str = "GLOBAL",
                   collection: str | dict[str, str] = "default", mode_step: int | None = None) -> None:
        """Save ``tensors`` (``(name, value)`` pairs) as global step ``step`` in ``mode``; ``collection`` names
        the collection of all of them, or maps each tensor name to its own."""
        if not tensors:
            return
        mode_value = MODES[mode]
        if mode_step is None:
            mode_step = self._mode_steps.get(mode_value, -1) + 1
        self._mode_steps[mode_value] = mode_step
        rel = event_path(step, self.worker)
        blob, payload = bytearray(), []
        now = time.time()
        changed = False
        for name, value in tensors:
            record = frame(encode_event(TensorEvent(name, step, np.asarray(value), mode_value, mode_step, now)))
            payload.append({"tensorname": name, "start_idx": len(blob), "length": len(record)})
            blob += record
            coll = collection.get(name, "default") if isinstance(collection, dict) else collection
            names = self.collections.setdefault(coll, set())
            if name not in names:
                names.add(name)
                changed = True
        event = self.out_dir / rel  # written in place: no reader looks at it before its index file exists
        event.parent.mkdir(parents=True, exist_ok=True)
        event.write_bytes(bytes(blob))
        index = {"meta": {"mode": mode, "mode_step": mode_step, "event_file_name": rel},
                 "tensor_payload": payload, "shape_payload": []}
        _atomic_write(self.out_dir / index_path(step, self.worker), json.dumps(index).encode())
        if changed:  # rewritten only when a tensor joins a collection
            self._write_collections()

    def _write_collections(self) -> None:
        doc = {"collections": {name: {"name": name, "include_regex": [], "tensor_names": sorted(names),
                                      "save_histogram": True}
                               for name, names in sorted(self.collections.items())},
               "_meta": {"num_workers": 1}}
        _atomic_write(self.out_dir / collections_path(self.worker), json.dumps(doc).encode())

    def close(self) -> None:
        """Mark the trial complete (smdebug's ``training_job_end.ts``)."""
        _atomic_write(self.out_dir / END_FILE, str(time.time()).encode())
