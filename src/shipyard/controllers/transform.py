"""The transform-job controller: start the transform executor through the runner, follow it, record the outcome.

State lives in the job's document (``_handle``, ``_log_offset``), so a restarted server follows a running
transform again; one whose process vanished without an outcome fails with a reason that says so.

Like a training job, a transform job never holds the server's key nor the object store's location: it gets a
key of its own (:mod:`shipyard.domain.job_keys`) that may read its input and its model, write its output
prefix and its log streams, and describe itself, and reaches objects through the server's S3 API with it. The
key is revoked when the job ends (and, on start, for jobs that ended while the server was down).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

from ..domain import job_keys
from ..domain.job_file import TransformJobFile, write_private
from ..environments.builder import root_for
from ..errors import ConflictError, MissingResource
from ..instance_types import instance_resources
from ..metastore.base import LogEvent
from ..runners.base import JobSpec
from ..resources import job_events
from ..runners.sandbox import Sandbox, isolation_enabled
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
        settings = services.settings
        extra = getattr(settings, "extra", {}) or {}
        self.keys = job_keys.for_home(settings.home)
        # the model servers see only the job's folder of the home, as a training program does
        self.isolate = isolation_enabled(extra.get("job_isolation"))
        self.keys.prune(self._key_in_use)

    def _key_in_use(self, kind: str, name: str) -> bool:
        if kind != KIND:
            return True  # another kind's controller decides
        try:
            return self.services.meta.get(KIND, name).status in ("InProgress", "Stopping")
        except MissingResource:
            return False

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
        settings = self.services.settings
        key = self.keys.for_job(KIND, r.name) or self.keys.issue(
            transform_scope(r.name, request, model, self._manifest_base(request)))
        text = TransformJobFile(request=request, model={k: v for k, v in model.items() if not k.startswith("_")},
                                aws_env=job_keys.aws_env(settings.endpoint_url, settings.region, key),
                                isolate=self.isolate, archive_caps=settings.archive_caps()).to_json()
        write_private(job_dir, text)  # 0600: it holds the job's credentials
        spec = JobSpec(name=f"{KIND}/{r.name}", command=[sys.executable, "-m", "shipyard.transform.executor",
                                                         "{workdir}"],
                       env={"SHIPYARD_TRANSFORM_JOB": r.name}, workdir=str(job_dir), log_path=str(job_dir / LOG_FILE),
                       cpus=1.0, files={JOB_FILE: text}, sync_back=["status.json"],
                       sandbox=self._sandbox(request, model) if self.isolate else None)
        handle = self.services.runner.start(spec)
        self._handles[r.name] = handle
        self._save(r, {"_handle": handle.id, "_log_offset": 0, "TransformStartTime": time.time()})

    def _sandbox(self, request: dict, model: dict) -> Sandbox:
        """What each model server of the job may see and use (the executor applies it, one cgroup per server):
        the job's folder at /opt/ml, the home hidden (the environments shown read-only), the instance type's
        memory and CPU share, and no network when the model says EnableNetworkIsolation."""
        home = self.services.settings.home
        instance_type = (request.get("TransformResources") or {}).get("InstanceType", "")
        per = instance_resources(instance_type) if instance_type else None
        return Sandbox(opt_ml="{workdir}", hide=[str(home)], read_only=[str(root_for(home))],
                       network=not model.get("EnableNetworkIsolation"), memory_mb=per.memory_mb if per else 0,
                       cpus=per.cpus if per else 0.0, instance_type=instance_type, applies_to="program")

    def _manifest_base(self, request: dict) -> str:
        """The ``prefix`` a ManifestFile input names (its objects may lie outside the manifest's folder), or ""."""
        source = ((request.get("TransformInput") or {}).get("DataSource") or {}).get("S3DataSource") or {}
        if source.get("S3DataType") != "ManifestFile":
            return ""
        bucket, _, key = job_keys.s3_prefix(source.get("S3Uri") or "").partition("/")
        try:
            entries = json.loads(self.services.objects.get_bytes(bucket, key))
        except Exception:  # noqa: BLE001 - the executor reports an unreadable manifest as the job's failure
            return ""
        first = entries[0] if isinstance(entries, list) and entries else None
        return str(first.get("prefix") or "") if isinstance(first, dict) else ""

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
        if status in ("Completed", "Failed", "Stopped"):
            self.keys.revoke(KIND, r.name)  # the job's key dies with it
        meta = self.services.meta
        for _ in range(5):
            try:
                saved = meta.update(KIND, r.name, changes, status=status, expect_version=r.version)
                break
            except ConflictError:
                r = meta.get(KIND, r.name)
                if status is None and r.status == "Stopping":
                    continue
        else:
            saved = meta.update(KIND, r.name, changes, status=status)
        if status in ("Completed", "Failed", "Stopped"):
            job_events.job_finished(self.services, KIND, saved)  # experiments and lineage record the outcome


def transform_scope(name: str, request: dict, model: dict, manifest_base: str = "") -> job_keys.JobScope:
    """A transform job's execution role: read its input (and a manifest's objects) and its model's artifacts
    and code, write under its output path, its log streams, and DescribeTransformJob on itself."""
    read: list[str] = []
    source = ((request.get("TransformInput") or {}).get("DataSource") or {}).get("S3DataSource") or {}
    for uri in (source.get("S3Uri") or "", manifest_base):
        if job_keys.s3_prefix(uri):
            read.append(job_keys.s3_prefix(uri))
    containers = [model["PrimaryContainer"]] if model.get("PrimaryContainer") else list(model.get("Containers") or [])
    for container in containers:
        data = (container.get("ModelDataSource") or {}).get("S3DataSource") or {}
        code = (container.get("Environment") or {}).get("SAGEMAKER_SUBMIT_DIRECTORY") or ""
        for uri in (container.get("ModelDataUrl") or "", data.get("S3Uri") or "", code):
            prefix = job_keys.s3_prefix(uri)
            if prefix:
                read.append(prefix)
    output = job_keys.s3_prefix((request.get("TransformOutput") or {}).get("S3OutputPath") or "")
    output = output.rstrip("/") + "/" if output else ""
    # the capture destination (DataCaptureConfig) is written by the job too: batch transform monitoring reads it
    capture = job_keys.s3_prefix((request.get("DataCaptureConfig") or {}).get("DestinationS3Uri") or "")
    write = [p.rstrip("/") + "/" for p in (output, capture) if p]
    return job_keys.JobScope(kind=KIND, name=name, read=read, write=write,
                             log_group=LOG_GROUP, log_stream_prefix=f"{name}/", metrics=False,
                             role_arn=str(model.get("ExecutionRoleArn") or ""),
                             own=[["sagemaker", "DescribeTransformJob", "TransformJobName"]])
