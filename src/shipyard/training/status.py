"""``status.json``: what the executor tells the controller, written atomically after every change.

The controller may read it at any moment (or after a restart, long after the executor ended), so every write
replaces the whole file with a rename. Shape::

    {"transitions": [{"Status", "StartTime", "EndTime"?, "StatusMessage"}], "secondary": "Training",
     "training_start": t?, "training_end": t?, "outcome": "Completed"|"Failed"|"Stopped"|null,
     "stop_reason": "MaxRuntimeExceeded"?, "failure_reason": str?, "model_artifacts": "s3://..."?,
     "exit_code": int?, "updated": t}
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

STATUS_FILE = "status.json"
JOB_FILE = "job.json"
LOG_FILE = "output.log"

MESSAGES = {
    "Starting": "Preparing the instances for training",
    "Downloading": "Downloading input data",
    "Training": "Training image download completed. Training in progress.",
    "Uploading": "Uploading generated training model",
    "Completed": "Training job completed",
    "Failed": "Training job failed",
    "Stopping": "Stopping the training job",
    "Stopped": "Training job stopped",
    "MaxRuntimeExceeded": "Training job exceeded MaxRuntimeInSeconds provided",
}


def read_status(job_dir: str | Path) -> dict | None:
    try:
        return json.loads((Path(job_dir) / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None


class StatusWriter:
    def __init__(self, job_dir: str | Path):
        self.path = Path(job_dir) / STATUS_FILE
        self.data: dict = read_status(job_dir) or {"transitions": [], "secondary": "", "outcome": None}
        self._lock = threading.Lock()

    def _flush(self) -> None:
        self.data["updated"] = time.time()
        tmp = self.path.with_name(f"{self.path.name}.tmp")
        tmp.write_text(json.dumps(self.data))
        os.replace(tmp, self.path)

    def transition(self, status: str, message: str | None = None) -> None:
        with self._lock:
            now = time.time()
            trs = self.data["transitions"]
            if trs and trs[-1]["Status"] == status:
                return
            if trs and "EndTime" not in trs[-1]:
                trs[-1]["EndTime"] = now
            trs.append({"Status": status, "StartTime": now, "StatusMessage": message or MESSAGES.get(status, "")})
            self.data["secondary"] = status
            self._flush()

    def set(self, **fields) -> None:
        with self._lock:
            self.data.update(fields)
            self._flush()

    def finish(self, outcome: str, secondary: str, **fields) -> None:
        """The final record: the outcome and the last transition (closed, as SageMaker shows it)."""
        with self._lock:
            now = time.time()
            trs = self.data["transitions"]
            if trs and "EndTime" not in trs[-1]:
                trs[-1]["EndTime"] = now
            message = fields.pop("message", None) or MESSAGES.get(secondary, "")
            trs.append({"Status": secondary, "StartTime": now, "EndTime": now, "StatusMessage": message})
            self.data.update(fields, outcome=outcome, secondary=secondary)
            self._flush()
