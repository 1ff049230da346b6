"""The processing-job controller: start one executor per host through the runner, follow them, record the outcome.

Every tick it looks at the jobs that are InProgress or Stopping:

- a job without hosts gets its folders (``<home>/runs/processing/<job>/algo-N/``, each that host's ``/opt/ml``,
  with ``job.json``) and one executor per host started through the runner (``JobSpec`` + ``Sandbox``, as
  training does); the handles go into the document;
- a running job is polled: each host's log is read from its stored offset into its stream
  ``<job>/algo-N-<created>`` of ``/aws/sagemaker/ProcessingJobs``; ``status.json`` gives ProcessingStartTime;
- Stopping (StopProcessingJob) sends the stop once; one host failing stops the others;
- when every host has ended the outcome is applied: Completed when all completed, else Failed with the
  failing host's reason (or Stopped), ``ExitMessage`` joined across hosts (at most 1 KB).

All state is in the document (:class:`~shipyard.domain.processing_state.ProcessingState`), so a restarted server
resumes: a handle that still runs is followed again, one that vanished without an outcome fails with a reason.
Each job holds a key of its own, scoped by :func:`shipyard.processing.scope.job_scope`, revoked when it ends.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from ..context import Services
from ..domain import job_keys
from ..domain.job_file import write_private
from ..domain.processing_state import ProcessingState
from ..domain.status import PROCESSING_ACTIVE
from ..domain.training_state import Host
from ..errors import ConflictError, MissingResource
from ..instance_types import job_request
from ..metastore.base import LogEvent
from ..processing.job_file import ProcessingJobFile
from ..processing.scope import KIND, LOG_GROUP, job_scope
from ..runners.base import JobSpec
from ..runners.sandbox import Sandbox, isolation_enabled
from ..training.status import JOB_FILE, LOG_FILE, read_status
from .base import Controller
from .joblog import read_new_lines

log = logging.getLogger("shipyard.controllers.processing")

DEFAULT_STOP_GRACE = 30.0        # SIGTERM -> SIGKILL for the processing program
UPLOAD_ALLOWANCE = 300.0         # extra time before the controller steps in on an overrunning job
HANDLE_FILE = "handle"
MESSAGE_LIMIT = 1024
LOST_REASON = ("InternalServerError: host {host} of the processing job was lost: its process ended ({how}) "
               "without reporting an outcome (it was killed, or the host restarted while the server was down).")


class ProcessingController(Controller):
    kind = KIND
    tick = 0.5
    busy_tick = 0.2

    def __init__(self, services: Services):
        super().__init__(services)
        self._handles: dict[str, object] = {}
        settings = services.settings
        extra = getattr(settings, "extra", {}) or {}
        self.stop_grace = float(extra.get("processing_stop_grace")
                                or os.environ.get("SHIPYARD_PROCESSING_STOP_GRACE") or DEFAULT_STOP_GRACE)
        interval = extra.get("processing_continuous_interval") or os.environ.get(
            "SHIPYARD_PROCESSING_CONTINUOUS_INTERVAL")
        self.continuous_interval = float(interval) if interval else None
        self.keys = job_keys.for_home(settings.home)
        self.isolate = isolation_enabled(extra.get("job_isolation"))
        self.keys.prune(self._key_in_use)

    def _key_in_use(self, kind: str, name: str) -> bool:
        if kind != KIND:
            return True  # another kind's controller decides
        try:
            return self.services.meta.get(KIND, name).status in PROCESSING_ACTIVE
        except MissingResource:
            return False

    def job_dir(self, name: str) -> Path:
        return Path(self.services.settings.home) / "runs" / "processing" / name

    # --- the loop ---
    def reconcile_all(self) -> None:
        active = self.services.meta.list_in_status(KIND, PROCESSING_ACTIVE)
        self.tick = self.busy_tick if active else type(self).tick
        for r in active:
            try:
                self.reconcile(r)
            except MissingResource:
                pass  # deleted meanwhile
            except Exception:  # noqa: BLE001 - one job's trouble must not stop the others
                log.exception("reconciling processing job %s failed; retrying next tick", r.name)

    def shutdown(self) -> None:
        self._handles.clear()

    def reconcile(self, r) -> None:
        state = ProcessingState.from_doc(r.doc)
        if not state.hosts:
            if r.status == "Stopping":
                self._save(r, {"ProcessingEndTime": time.time(), **state.changes(done=True)}, status="Stopped")
            else:
                try:
                    self._start(r)
                except Exception as e:  # noqa: BLE001 - a job that cannot start fails, with the reason
                    log.exception("starting processing job %s failed", r.name)
                    self._save(r, {"FailureReason": f"InternalServerError: the processing job could not be "
                                                    f"started: {e}"[:1024], "ProcessingEndTime": time.time(),
                                   **state.changes(done=True)}, status="Failed")
            return
        hosts = state.hosts
        handles = [self._attach(h) for h in hosts]
        now = time.time()
        changes: dict = {}
        stop_sent = state.stop_sent
        if r.status == "Stopping" and not stop_sent:
            self._stop_all(handles, self.stop_grace + UPLOAD_ALLOWANCE)
            stop_sent = now
            changes.update(state.changes(stop_sent=now))
        max_runtime = float((r.doc.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds") or 86400)
        if not stop_sent and now > float(state.started or r.created) + max_runtime + self.stop_grace + UPLOAD_ALLOWANCE:
            log.warning("processing job %s overran MaxRuntimeInSeconds; stopping it", r.name)
            self._stop_all(handles, 10.0)
            stop_sent = now
            changes.update(state.changes(stop_sent=now, stop_reason="MaxRuntimeExceeded"))
        rcs = [h.poll() if h is not None else -9 for h in handles]
        statuses = [read_status(h.dir) or {} for h in hosts]
        new_hosts = []
        for h, rc in zip(hosts, rcs):
            new_hosts.append(replace(h, offset=self._tail(r, h, final=rc is not None)))
        if new_hosts != hosts:
            changes.update(state.changes(hosts=new_hosts))
        start = statuses[0].get("processing_start")
        if start and not r.doc.get("ProcessingStartTime"):
            changes["ProcessingStartTime"] = start
        running = [rc is None for rc in rcs]
        if any(running):
            ended_badly = any(rc is not None and st.get("outcome") != "Completed" for rc, st in zip(rcs, statuses))
            if ended_badly and not stop_sent:  # one host failed: the others would wait for it forever
                self._stop_all(handles, 10.0)
                changes.update(state.changes(stop_sent=now, stop_reason="HostFailed"))
            self._save(r, changes)
            return
        self._finalize(r, changes, hosts, rcs, statuses, handles)

    def _attach(self, h: Host):
        handle = self._handles.get(h.handle)
        if handle is None:
            handle = self.services.runner.attach(h.handle)
            if handle is not None:
                self._handles[h.handle] = handle
        return handle

    def _stop_all(self, handles, grace: float) -> None:
        for h in handles:
            if h is not None:
                try:
                    h.stop(grace)
                except Exception:  # noqa: BLE001 - a host already gone needs no stop
                    log.debug("stopping a host failed", exc_info=True)

    # --- starting ---
    def _start(self, r) -> None:
        doc = r.doc
        state = ProcessingState.from_doc(doc)
        cluster = (doc.get("ProcessingResources") or {}).get("ClusterConfig") or {}
        per, count = job_request(cluster)
        names = [f"algo-{i + 1}" for i in range(count)]
        settings = self.services.settings
        request = {k: v for k, v in doc.items() if not k.startswith("_")}
        key = self.keys.for_job(KIND, r.name) or self.keys.issue(job_scope(r.name, doc, self._manifest_reads(doc)))
        aws_env = job_keys.aws_env(settings.endpoint_url, settings.region, key)
        hosts = []
        for i, host in enumerate(names):
            hdir = self.job_dir(r.name) / host
            hdir.mkdir(parents=True, exist_ok=True)
            handle = None
            marker = hdir / HANDLE_FILE
            if marker.exists():  # started before a crash that lost the document update: follow that one
                handle = self.services.runner.attach(marker.read_text().strip())
            if handle is None:
                text = ProcessingJobFile(
                    request=request, arn=r.arn, program=dict(state.program or {}), region=settings.region,
                    stop_grace=self.stop_grace, aws_env=aws_env, hosts=names, host_index=i, isolate=self.isolate,
                    archive_caps=settings.archive_caps(), continuous_interval=self.continuous_interval).to_json()
                write_private(hdir, text)  # 0600: it holds the job's credentials
                spec = JobSpec(name=f"{KIND}/{r.name}/{host}",
                               command=[sys.executable, "-m", "shipyard.processing.executor", "{workdir}"],
                               env={"SHIPYARD_PROCESSING_JOB": r.name}, workdir=str(hdir),
                               log_path=str(hdir / LOG_FILE), cpus=per.cpus, gpus=per.gpus, memory_mb=per.memory_mb,
                               files={JOB_FILE: text}, sync_back=["status.json"],
                               sandbox=self._sandbox(doc, per) if self.isolate else None)
                handle = self.services.runner.start(spec)
                marker.write_text(handle.id)
            self._handles[handle.id] = handle
            hosts.append(Host(host=host, handle=handle.id, dir=str(hdir), offset=0,
                              stream=f"{r.name}/{host}-{int(r.created)}"))
        self._save(r, state.changes(hosts=hosts, started=time.time()))

    def _manifest_reads(self, doc: dict) -> list[str]:
        """Where a ManifestFile input's entries live (its ``prefix``), read once with the server's store."""
        reads: list[str] = []
        for item in doc.get("ProcessingInputs") or []:
            s3 = item.get("S3Input") or {}
            if s3.get("S3DataType") != "ManifestFile":
                continue
            bucket, _, key = job_keys.s3_prefix(s3.get("S3Uri") or "").partition("/")
            try:
                body = self.services.objects.get_bytes(bucket, key)
            except Exception:  # noqa: BLE001 - the executor reports an unreadable manifest as the job's failure
                continue
            reads.extend(p for p in job_keys.manifest_reads("ManifestFile", body) if p not in reads)
        return reads

    def _sandbox(self, doc: dict, per) -> Sandbox:
        """What the program may see and use: its host folder at /opt/ml, the home hidden (the environments
        shown read-only), no network under NetworkConfig.EnableNetworkIsolation, its instance's memory/CPU."""
        from ..environments.builder import root_for

        cluster = (doc.get("ProcessingResources") or {}).get("ClusterConfig") or {}
        home = self.services.settings.home
        return Sandbox(opt_ml="{workdir}", hide=[str(home)], read_only=[str(root_for(home))],
                       network=not (doc.get("NetworkConfig") or {}).get("EnableNetworkIsolation"),
                       memory_mb=per.memory_mb, cpus=per.cpus, volume_gb=int(cluster.get("VolumeSizeInGB") or 0),
                       instance_type=cluster.get("InstanceType") or "", applies_to="program")

    # --- following ---
    def _tail(self, r, host: Host, final: bool) -> int:
        """New log lines of one host -> events in its stream; returns the new offset."""
        lines, offset = read_new_lines(Path(host.dir) / LOG_FILE, host.offset, final)
        if lines:
            now = time.time()
            self.services.meta.append_logs(LOG_GROUP, host.stream or f"{r.name}/{host.host}",
                                           [LogEvent(timestamp=now, message=ln) for ln in lines])
        return offset

    # --- finishing ---
    def _finalize(self, r, changes: dict, hosts: list[Host], rcs: list, statuses: list[dict], handles) -> None:
        state = ProcessingState.from_doc(r.doc)
        now = time.time()
        several = len(hosts) > 1
        messages = [(h.host, st.get("exit_message") or "") for h, st in zip(hosts, statuses)]
        messages = [(h, m) for h, m in messages if m]
        if messages:
            text = "\n".join(f"{h}: {m}" if several else m for h, m in messages)
            changes["ExitMessage"] = text[:MESSAGE_LIMIT]
        outcomes = [st.get("outcome") for st in statuses]
        overran = state.stop_reason == "MaxRuntimeExceeded" or any(st.get("stop_reason") == "MaxRuntimeExceeded"
                                                                  for st in statuses)
        stop_asked = r.status == "Stopping" or overran
        if all(o == "Completed" for o in outcomes):
            outcome = "Completed"
        elif stop_asked and all(o in ("Completed", "Stopped", None) for o in outcomes):  # None: stopped early
            outcome = "Stopped"
            if overran:
                changes["FailureReason"] = "MaxRuntimeExceeded: the job ran longer than its MaxRuntimeInSeconds."
        else:
            outcome = "Failed"
            changes["FailureReason"] = self._failure(hosts, rcs, statuses, handles)
        changes["ProcessingEndTime"] = max([float(st.get("updated") or 0) for st in statuses] + [0]) or now
        if statuses[0].get("processing_start"):
            changes["ProcessingStartTime"] = statuses[0]["processing_start"]
        changes.update(state.changes(done=True))
        self._save(r, changes, status=outcome)
        for h in hosts:
            self._handles.pop(h.handle, None)
        log.info("processing job %s: %s", r.name, outcome)

    def _failure(self, hosts: list[Host], rcs: list, statuses: list[dict], handles) -> str:
        """The first failing host's reason (naming the host when there are several)."""
        several = len(hosts) > 1
        for h, st in zip(hosts, statuses):
            if st.get("outcome") == "Failed":
                reason = st.get("failure_reason") or "AlgorithmError: the processing job failed."
                if several:
                    kind, _, rest = reason.partition(": ")
                    reason = f"{kind}: host {h.host} failed: {rest or kind}"
                return reason[:1024]
        for h, rc, st, handle in zip(hosts, rcs, statuses, handles):
            if st.get("outcome") is None:
                why = (handle.lost_reason if handle is not None else "its runner no longer knows it") or (
                    f"killed by signal {-rc}" if rc is not None and rc < 0 else f"exit code {rc}")
                return LOST_REASON.format(host=h.host, how=why)[:1024]
        stopped = [h.host for h, st in zip(hosts, statuses) if st.get("outcome") == "Stopped"]
        return f"AlgorithmError: host(s) {', '.join(stopped)} stopped before the job completed."

    def _save(self, r, changes: dict, status: str | None = None) -> None:
        """Compare-and-set on the version; if the API changed the job meanwhile (a stop), merge and retry."""
        if not changes and status is None:
            return
        if status in ("Completed", "Failed", "Stopped"):
            self.keys.revoke(KIND, r.name)  # the job's key dies with it
        meta = self.services.meta
        current = r
        for _ in range(5):
            try:
                meta.update(KIND, current.name, changes, status=status, expect_version=current.version)
                return
            except ConflictError:
                current = meta.get(KIND, current.name)
        meta.update(KIND, current.name, changes, status=status)
