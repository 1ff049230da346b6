"""The training-job controller: start the executor, follow it, record what it reports.

Every tick it looks at the jobs that are InProgress or Stopping:

- a job without ``_handle`` gets a job folder (``<home>/runs/training/<job>/`` with ``job.json``) and an
  executor started through the runner; the handle id goes into the document;
- a running job is polled: ``status.json`` becomes SecondaryStatus/transitions/times, the log file is read
  from the stored offset into CloudWatch-style events (tabs rendered ``#011`` as SageMaker's logs show
  them, so the SageMaker SDK's metric regexes match), metric lines become metric points and
  ``FinalMetricDataList``;
- Stopping (StopTrainingJob) sends the stop once; the executor reports Stopped after uploading ``model/``;
- when the work has ended the outcome is applied; work that ended without reporting one (killed, or lost
  while the server was down) fails with a reason that says so.

All state is in the document, so a restarted server resumes: a handle that still runs is followed again.
The executor enforces ``MaxRuntimeInSeconds`` itself; the controller only steps in if it overruns by far.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import sys
import time
from pathlib import Path

from ..domain.status import TRAINING_ACTIVE
from ..errors import ConflictError, MissingResource
from ..metastore.base import LogEvent
from ..runners.base import JobSpec
from ..training.status import JOB_FILE, LOG_FILE, MESSAGES, read_status
from .base import Controller

log = logging.getLogger("shipyard.controllers.training")

KIND = "training-job"
LOG_GROUP = "/aws/sagemaker/TrainingJobs"
DEFAULT_STOP_GRACE = 120.0       # SageMaker's SIGTERM -> SIGKILL grace for the training program
UPLOAD_ALLOWANCE = 300.0         # extra time the executor gets to upload model/ after the program ended
MAX_LOG_READ = 4 << 20           # bytes of log read per job per tick
HANDLE_FILE = "handle"
LOST_REASON = ("InternalServerError: The training job was lost: its process ended {how} without reporting an "
               "outcome (it was killed, or the host restarted while the Shipyard server was down).")


class TrainingController(Controller):
    kind = KIND
    tick = 0.5
    busy_tick = 0.2  # while jobs run: outcomes show up in Describe soon after the executor reports them

    def __init__(self, services):
        super().__init__(services)
        self._handles: dict[str, object] = {}
        self._regex_cache: dict[str, re.Pattern | None] = {}
        settings = services.settings
        extra = getattr(settings, "extra", {}) or {}
        self.stop_grace = float(extra.get("training_stop_grace")
                                or os.environ.get("SHIPYARD_TRAINING_STOP_GRACE") or DEFAULT_STOP_GRACE)

    # --- the loop ---
    def reconcile_all(self) -> None:
        active = self.services.meta.list_in_status(KIND, TRAINING_ACTIVE)
        self.tick = self.busy_tick if active else type(self).tick
        for r in active:
            try:
                self.reconcile(r)
            except MissingResource:
                self._handles.pop(r.name, None)  # deleted meanwhile
            except Exception:  # noqa: BLE001 - one job's trouble must not stop the others
                log.exception("reconciling training job %s failed; retrying next tick", r.name)

    def shutdown(self) -> None:
        self._handles.clear()

    def job_dir(self, name: str) -> Path:
        return Path(self.services.settings.home) / "runs" / "training" / name

    def reconcile(self, r) -> None:
        doc = r.doc
        if not doc.get("_handle"):
            if r.status == "Stopping":
                self._finish_unstarted(r)
                return
            try:
                self._start(r)
            except Exception as e:  # noqa: BLE001 - a job that cannot start fails, with the reason
                log.exception("starting training job %s failed", r.name)
                self._finalize(r, None, lost=None,
                               reason=f"InternalServerError: the training job could not be started: {e}")
            return
        handle = self._handles.get(r.name)
        if handle is None:
            handle = self.services.runner.attach(doc["_handle"])
            if handle is None:
                self._finalize(r, None, lost="(its runner no longer knows it)")
                return
            self._handles[r.name] = handle
        now = time.time()
        changes: dict = {}
        if r.status == "Stopping" and not doc.get("_stop_sent"):
            handle.stop(self.stop_grace + UPLOAD_ALLOWANCE)
            changes["_stop_sent"] = now
        max_runtime = float((doc.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds") or 86400)
        started = float(doc.get("_started") or r.created)
        if not doc.get("_stop_sent") and now > started + max_runtime + self.stop_grace + UPLOAD_ALLOWANCE:
            log.warning("training job %s overran MaxRuntimeInSeconds; stopping it", r.name)
            handle.stop(10.0)
            changes.update(_stop_sent=now, _stop_reason="MaxRuntimeExceeded")
        rc = handle.poll()
        status = read_status(doc.get("_job_dir") or self.job_dir(r.name)) or {}
        changes.update(self._tail(r, final=rc is not None))
        if rc is None:
            changes.update(self._progress(r, status))
            self._save(r, changes)
            return
        self._finalize(r, status, changes=changes, rc=rc)

    # --- starting ---
    def _start(self, r) -> None:
        doc = r.doc
        job_dir = self.job_dir(r.name)
        job_dir.mkdir(parents=True, exist_ok=True)
        handle = None
        marker = job_dir / HANDLE_FILE
        if marker.exists():  # started before a crash that lost the document update: follow that one
            handle = self.services.runner.attach(marker.read_text().strip())
        if handle is None:
            settings = self.services.settings
            request = {k: v for k, v in doc.items() if not k.startswith("_")}
            job = {"request": request, "arn": r.arn, "program": doc["_program"],
                   "object_store_url": settings.object_store_url, "region": settings.region,
                   "stop_grace": self.stop_grace, "aws_env": _aws_env(settings)}
            text = json.dumps(job)
            tmp = job_dir / (JOB_FILE + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the job's credentials
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.replace(tmp, job_dir / JOB_FILE)
            spec = JobSpec(name=f"{KIND}/{r.name}",
                           command=[sys.executable, "-m", "shipyard.training.executor", "{workdir}"],
                           env={"SHIPYARD_TRAINING_JOB": r.name}, workdir=str(job_dir),
                           log_path=str(job_dir / LOG_FILE), cpus=1.0,
                           extra={"files": {JOB_FILE: text}, "sync_back": ["status.json"]})
            handle = self.services.runner.start(spec)
            marker.write_text(handle.id)
        self._handles[r.name] = handle
        now = time.time()
        stream = f"{r.name}/algo-1-{int(r.created)}"
        self._save(r, {"_handle": handle.id, "_job_dir": str(job_dir), "_log_stream": stream,
                       "_log_offset": 0, "_started": now})

    def _finish_unstarted(self, r) -> None:
        now = time.time()
        transitions = list(r.doc.get("SecondaryStatusTransitions") or [])
        _close(transitions, now)
        transitions.append({"Status": "Stopped", "StartTime": now, "EndTime": now,
                            "StatusMessage": MESSAGES["Stopped"]})
        self._save(r, {"SecondaryStatus": "Stopped", "SecondaryStatusTransitions": transitions,
                       "TrainingEndTime": now, "_done": True}, status="Stopped")

    # --- following ---
    def _progress(self, r, status: dict) -> dict:
        doc = r.doc
        changes: dict = {}
        transitions = status.get("transitions")
        if transitions and transitions != doc.get("SecondaryStatusTransitions"):
            changes["SecondaryStatusTransitions"] = transitions
        secondary = status.get("secondary")
        if r.status == "Stopping":
            secondary = "Stopping"
        if secondary and secondary != doc.get("SecondaryStatus"):
            changes["SecondaryStatus"] = secondary
        if status.get("training_start") and not doc.get("TrainingStartTime"):
            changes["TrainingStartTime"] = status["training_start"]
        return changes

    def _regex(self, text: str) -> re.Pattern | None:
        if text not in self._regex_cache:
            try:
                self._regex_cache[text] = re.compile(text)
            except re.error:
                self._regex_cache[text] = None
        return self._regex_cache[text]

    def _tail(self, r, final: bool) -> dict:
        """New complete log lines -> log events and metric points; returns the document changes."""
        doc = r.doc
        path = Path(doc.get("_job_dir") or self.job_dir(r.name)) / LOG_FILE
        offset = int(doc.get("_log_offset") or 0)
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read() if final else f.read(MAX_LOG_READ)
        except OSError:
            return {}
        if not data:
            return {}
        end = data.rfind(b"\n") + 1
        if end == 0 and not final and len(data) < MAX_LOG_READ:
            return {}  # a partial line: wait for the rest
        if final or end == 0:
            end = len(data)
        chunk = data[:end]
        now = time.time()
        events = []
        defs = doc.get("_metric_definitions") or []
        latest = {m["MetricName"]: m for m in doc.get("FinalMetricDataList") or []}
        steps = dict(doc.get("_metric_steps") or {})
        points = []
        for raw in chunk.decode("utf-8", "replace").split("\n"):
            raw = raw.rstrip("\r")
            if not raw.strip():
                continue
            rendered = raw.replace("\t", "#011")
            events.append(LogEvent(timestamp=now, message=rendered))
            for d in defs:
                rx = self._regex(d.get("Regex", ""))
                if rx is None:
                    continue
                m = rx.search(rendered) or (rx.search(raw) if rendered != raw else None)
                if m is None or not m.groups():
                    continue
                try:
                    value = float(m.group(1))
                except (TypeError, ValueError):
                    continue
                if not math.isfinite(value):
                    continue
                step = steps.get(d["Name"], 0)
                steps[d["Name"]] = step + 1
                points.append((d["Name"], value, now, step))
                latest[d["Name"]] = {"MetricName": d["Name"], "Value": value, "Timestamp": now}
        if events:
            self.services.meta.append_logs(LOG_GROUP, doc.get("_log_stream") or f"{r.name}/algo-1-0", events)
        changes: dict = {"_log_offset": offset + end}
        if points:
            self.services.meta.append_metrics(r.name, points)
            order = [d["Name"] for d in defs]
            changes["FinalMetricDataList"] = sorted(
                latest.values(), key=lambda m: order.index(m["MetricName"]) if m["MetricName"] in order else 99)
            changes["_metric_steps"] = steps
        return changes

    # --- finishing ---
    def _finalize(self, r, status: dict | None, changes: dict | None = None, rc: int | None = None,
                  lost: str | None = None, reason: str | None = None) -> None:
        changes = dict(changes or {})
        status = status or {}
        now = time.time()
        outcome = status.get("outcome")
        transitions = list(status.get("transitions") or r.doc.get("SecondaryStatusTransitions") or [])
        if outcome is None and (r.doc.get("_stop_sent") or r.status == "Stopping") and lost is None:
            outcome, secondary = "Stopped", r.doc.get("_stop_reason") or "Stopped"
            _close(transitions, now)
            transitions.append({"Status": secondary, "StartTime": now, "EndTime": now,
                                "StatusMessage": MESSAGES.get(secondary, "")})
        elif outcome is None:
            how = lost or (f"(killed by signal {-rc})" if rc is not None and rc < 0 else f"(exit code {rc})")
            outcome, secondary = "Failed", "Failed"
            changes["FailureReason"] = reason or LOST_REASON.format(how=how)
            _close(transitions, now)
            transitions.append({"Status": "Failed", "StartTime": now, "EndTime": now,
                                "StatusMessage": MESSAGES["Failed"]})
        else:
            secondary = status.get("secondary") or outcome
            if outcome == "Failed":
                changes["FailureReason"] = status.get("failure_reason") or "AlgorithmError: the job failed."
        end = status.get("updated") or now
        changes.update(SecondaryStatus=secondary, SecondaryStatusTransitions=transitions, TrainingEndTime=end,
                       _done=True)
        if status.get("model_artifacts"):
            changes["ModelArtifacts"] = {"S3ModelArtifacts": status["model_artifacts"]}
        if status.get("training_start"):
            changes["TrainingStartTime"] = status["training_start"]
            seconds = max(1, int(math.ceil((status.get("training_end") or end) - status["training_start"])))
            changes["TrainingTimeInSeconds"] = seconds
            changes["BillableTimeInSeconds"] = seconds
        self._save(r, changes, status=outcome)
        if r.parent:  # a tuning job's child: its tuning job reacts now, not at its next tick
            self.services.wake("hyper-parameter-tuning-job")
        self._handles.pop(r.name, None)
        log.info("training job %s: %s (%s)", r.name, outcome, secondary)

    def _save(self, r, changes: dict, status: str | None = None) -> None:
        """Compare-and-set on the version; if the API changed the job meanwhile (a stop), merge and retry."""
        if not changes and status is None:
            return
        meta = self.services.meta
        current = r
        for _ in range(5):
            try:
                meta.update(KIND, current.name, changes, status=status, expect_version=current.version)
                return
            except ConflictError:
                current = meta.get(KIND, current.name)
                if current.status == "Stopping" and status is None and "SecondaryStatus" in changes:
                    changes["SecondaryStatus"] = "Stopping"
        meta.update(KIND, current.name, changes, status=status)


def _aws_env(settings) -> dict[str, str]:
    """What a training program's boto3 needs to reach this server, as an instance role would provide on AWS."""
    if not settings.access_key_id:
        return {}
    return {"AWS_ENDPOINT_URL": settings.endpoint_url, "AWS_ACCESS_KEY_ID": settings.access_key_id,
            "AWS_SECRET_ACCESS_KEY": settings.secret_access_key, "AWS_DEFAULT_REGION": settings.region,
            "AWS_REGION": settings.region}


def _close(transitions: list[dict], now: float) -> None:
    if transitions and "EndTime" not in transitions[-1]:
        transitions[-1]["EndTime"] = now
