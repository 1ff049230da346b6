"""The transform-job controller: start the transform executor through the runner, follow it, record the outcome.

State lives in the job's document (``_handle``, ``_log_offset``), so a restarted server follows a running
transform again; one whose process vanished without an outcome fails with a reason that says so.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

from ..errors import ConflictError, MissingResource
from ..metastore.base import LogEvent
from ..runners.base import JobSpec
from ..training.status import JOB_FILE, LOG_FILE, read_status
from .base import Controller
from .joblog import read_new_lines

log = logging.getLogger("shipyard.controllers.transform")

KIND = "transform-job"
LOG_GROUP = "/aws/sagemaker/TransformJobs"


class TransformController(Controller):
    kind = KIND
    tick = 0.5

    def __init__(self, services):
        super().__init__(services)
        self._handles: dict[str, object] = {}

    def reconcile_all(self) -> None:
        for r in self.services.meta.list_in_status(KIND, ("InProgress", "Stopping")):
            try:
                self.reconcile(r)
            except MissingResource:
                self._handles.pop(r.name, None)
            except Exception:  # noqa: BLE001 - one job's trouble must not stop the others
                log.exception("reconciling transform job %s failed; retrying next tick", r.name)

    def job_dir(self, name: str) -> Path:
        return Path(self.services.settings.home) / "runs" / "transform" / name

    def reconcile(self, r) -> None:
        if not r.doc.get("_handle"):
            if r.status == "Stopping":
                self._save(r, {"TransformEndTime": time.time()}, status="Stopped")
            else:
                self._start(r)
            return
        handle = self._handles.get(r.name) or self.services.runner.attach(r.doc["_handle"])
        if handle is None:
            self._finish(r, {}, None, lost=True)
            return
        self._handles[r.name] = handle
        changes: dict = {}
        if r.status == "Stopping" and not r.doc.get("_stop_sent"):
            handle.stop(30.0)
            changes["_stop_sent"] = time.time()
        rc = handle.poll()
        changes.update(self._tail(r, final=rc is not None))
        if rc is None:
            self._save(r, changes)
            return
        self._finish(r, changes, rc)

    def _start(self, r) -> None:
        meta = self.services.meta
        model = meta.get("model", r.doc["ModelName"]).doc
        job_dir = self.job_dir(r.name)
        job_dir.mkdir(parents=True, exist_ok=True)
        request = {k: v for k, v in r.doc.items() if not k.startswith("_")}
        text = json.dumps({"request": request, "model": {k: v for k, v in model.items() if not k.startswith("_")},
                           "object_store_url": self.services.settings.object_store_url})
        tmp = job_dir / (JOB_FILE + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, job_dir / JOB_FILE)
        spec = JobSpec(name=f"{KIND}/{r.name}", command=[sys.executable, "-m", "shipyard.transform.executor",
                                                         "{workdir}"],
                       env={"SHIPYARD_TRANSFORM_JOB": r.name}, workdir=str(job_dir), log_path=str(job_dir / LOG_FILE),
                       cpus=1.0, extra={"files": {JOB_FILE: text}, "sync_back": ["status.json"]})
        handle = self.services.runner.start(spec)
        self._handles[r.name] = handle
        self._save(r, {"_handle": handle.id, "_log_offset": 0, "TransformStartTime": time.time()})

    def _tail(self, r, final: bool) -> dict:
        lines, offset = read_new_lines(self.job_dir(r.name) / LOG_FILE, int(r.doc.get("_log_offset") or 0), final)
        if not lines:
            return {}
        now = time.time()
        self.services.meta.append_logs(LOG_GROUP, f"{r.name}/{int(r.created)}",
                                       [LogEvent(timestamp=now, message=ln.replace("\t", "#011")) for ln in lines])
        return {"_log_offset": offset}

    def _finish(self, r, changes: dict, rc: int | None, lost: bool = False) -> None:
        status = read_status(self.job_dir(r.name)) or {}
        outcome = status.get("outcome")
        if outcome is None and (r.status == "Stopping" or r.doc.get("_stop_sent")) and not lost:
            outcome = "Stopped"
        if outcome is None:
            outcome = "Failed"
            how = "vanished" if lost or rc is None else (f"was killed by signal {-rc}" if rc < 0 else f"exited {rc}")
            changes["FailureReason"] = (f"InternalServerError: the transform process {how} without reporting an "
                                        "outcome (killed, or lost while the Shipyard server was down).")
        elif outcome == "Failed":
            changes["FailureReason"] = status.get("failure_reason") or "ClientError: the transform failed."
        changes["TransformEndTime"] = status.get("updated") or time.time()
        self._save(r, changes, status=outcome)
        self._handles.pop(r.name, None)

    def _save(self, r, changes: dict, status: str | None = None) -> None:
        meta = self.services.meta
        for _ in range(5):
            try:
                meta.update(KIND, r.name, changes, status=status, expect_version=r.version)
                return
            except ConflictError:
                r = meta.get(KIND, r.name)
                if status is None and r.status == "Stopping":
                    continue
        meta.update(KIND, r.name, changes, status=status)
