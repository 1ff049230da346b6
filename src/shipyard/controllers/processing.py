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
What it shares with the training controller (launching a host, following handles, saving, the key and the
sandbox) is :class:`~.job_hosts.HostJobController`; a multi-instance job is admitted as a training job is
(:mod:`.job_admission`: all its instances or none, first come first served), so jobs queue rather than
oversubscribe the machine.
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
from ..domain.job_file import ProcessingJobFile
from ..domain.processing_state import ProcessingState
from ..domain.status import PROCESSING_ACTIVE
from ..domain.training_state import Host
from ..errors import MissingResource
from ..instance_types import job_request
from ..metastore.base import LogEvent
from ..processing.scope import KIND, LOG_GROUP, job_scope
from ..runners.base import JobSpec
from ..training.status import JOB_FILE, LOG_FILE, read_status
from .job_admission import as_admitted, cluster_config, group_name, running_processing, running_training
from .job_hosts import HostJobController
from .joblog import read_new_lines
from .training_admission import Admission

log = logging.getLogger("shipyard.controllers.processing")

DEFAULT_STOP_GRACE = 30.0        # SIGTERM -> SIGKILL for the processing program
UPLOAD_ALLOWANCE = 300.0         # extra time before the controller steps in on an overrunning job
MESSAGE_LIMIT = 1024
LOST_REASON = ("InternalServerError: host {host} of the processing job was lost: its process ended ({how}) "
               "without reporting an outcome (it was killed, or the host restarted while the server was down).")


class ProcessingController(HostJobController):
    kind = KIND
    run_kind = "processing"
    active = PROCESSING_ACTIVE
    stop_grace_setting = "processing_stop_grace"
    stop_grace_env = "SHIPYARD_PROCESSING_STOP_GRACE"
    default_stop_grace = DEFAULT_STOP_GRACE
    tick = 0.5
    busy_tick = 0.2

    def __init__(self, services: Services):
        super().__init__(services)
        extra = getattr(services.settings, "extra", {}) or {}
        interval = extra.get("processing_continuous_interval") or os.environ.get(
            "SHIPYARD_PROCESSING_CONTINUOUS_INTERVAL")
        self.continuous_interval = float(interval) if interval else None

    # --- the loop ---
    def reconcile_all(self) -> None:
        active = self.services.meta.list_in_status(KIND, PROCESSING_ACTIVE)
        self.tick = self.busy_tick if active else type(self).tick
        waiting = sorted((r for r in active if _waiting(r)), key=lambda r: (r.created, r.name))
        if waiting:
            try:
                self._admit(waiting)
            except Exception:  # noqa: BLE001
                log.exception("admitting processing jobs failed; retrying next tick")
        for r in active:
            if _waiting(r):
                continue
            try:
                self.reconcile(r)
            except MissingResource:
                pass  # deleted meanwhile
            except Exception:  # noqa: BLE001 - one job's trouble must not stop the others
                log.exception("reconciling processing job %s failed; retrying next tick", r.name)

    # --- admission ---
    def _admit(self, waiting: list) -> None:
        """A one-host job starts at once; a multi-host job goes through training's admission (FIFO, all its
        hosts or none), counting the processing and training jobs that hold their hosts now."""
        several = []
        for r in waiting:
            if job_request(cluster_config(r.doc))[1] > 1:
                several.append(as_admitted(r))
            else:
                self._start_or_fail(r, group=False)
        if not several:
            return
        running = running_processing(self.services) + running_training(self.services)
        for view, action, value in Admission(self.services.runner).decide(several, running, group_name):
            r = view.resource  # type: ignore[attr-defined]
            if action == "start":
                self._start_or_fail(r, group=True)
            elif action == "fail":
                self.services.runner.release_group(group_name(r))
                self.save(r, {"FailureReason": str(value)[:1024], "ProcessingEndTime": time.time(),
                              **ProcessingState.from_doc(r.doc).changes(done=True)}, status="Failed")
            else:
                log.debug("processing job %s waits: %s", r.name, value)

    def _start_or_fail(self, r, group: bool) -> None:
        try:
            self._start(r, group)
        except MissingResource:
            pass
        except Exception as e:  # noqa: BLE001 - a job that cannot start fails, with the reason
            log.exception("starting processing job %s failed", r.name)
            self.services.runner.release_group(group_name(r))
            self.save(r, {"FailureReason": f"InternalServerError: the processing job could not be "
                                           f"started: {e}"[:1024], "ProcessingEndTime": time.time(),
                          **ProcessingState.from_doc(r.doc).changes(done=True)}, status="Failed")

    def reconcile(self, r) -> None:
        state = ProcessingState.from_doc(r.doc)
        if not state.hosts:
            if r.status == "Stopping":  # stopped before its hosts were started (or while it waited)
                self.services.runner.release_group(group_name(r))
                self.save(r, {"ProcessingEndTime": time.time(), **state.changes(done=True)}, status="Stopped")
            return  # not started yet: reconcile_all admits it
        hosts = state.hosts
        handles = [self.attach(h) for h in hosts]
        now = time.time()
        changes: dict = {}
        stop_sent = state.stop_sent
        if r.status == "Stopping" and not stop_sent:
            self.stop_all(handles, self.stop_grace + UPLOAD_ALLOWANCE)
            stop_sent = now
            changes.update(state.changes(stop_sent=now))
        max_runtime = float((r.doc.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds") or 86400)
        if not stop_sent and now > float(state.started or r.created) + max_runtime + self.stop_grace + UPLOAD_ALLOWANCE:
            log.warning("processing job %s overran MaxRuntimeInSeconds; stopping it", r.name)
            self.stop_all(handles, 10.0)
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
                self.stop_all(handles, 10.0)
                changes.update(state.changes(stop_sent=now, stop_reason="HostFailed"))
            self.save(r, changes)
            return
        self._finalize(r, changes, hosts, rcs, statuses, handles)

    # --- starting ---
    def _start(self, r, group: bool) -> None:
        doc = r.doc
        state = ProcessingState.from_doc(doc)
        cluster = cluster_config(doc)
        per, count = job_request(cluster)
        names = [f"algo-{i + 1}" for i in range(count)]
        settings = self.services.settings
        request = {k: v for k, v in doc.items() if not k.startswith("_")}
        inputs = [item.get("S3Input") or {} for item in doc.get("ProcessingInputs") or []]
        sources = [(str(s3.get("S3DataType") or "S3Prefix"), str(s3.get("S3Uri") or "")) for s3 in inputs]
        key = self.keys.for_job(KIND, r.name) or self.keys.issue(job_scope(r.name, doc, self.manifest_reads(sources)))
        aws_env = job_keys.aws_env(settings.endpoint_url, settings.region, key)
        sandbox = self.sandbox(per, network=not (doc.get("NetworkConfig") or {}).get("EnableNetworkIsolation"),
                               volume_gb=int(cluster.get("VolumeSizeInGB") or 0),
                               instance_type=cluster.get("InstanceType") or "") if self.isolate else None
        hosts = []
        for i, host in enumerate(names):
            hdir = self.job_dir(r.name) / host

            def job_text(i: int = i) -> str:
                return ProcessingJobFile(
                    request=request, arn=r.arn, program=dict(state.program or {}), region=settings.region,
                    stop_grace=self.stop_grace, aws_env=aws_env, hosts=names, host_index=i, isolate=self.isolate,
                    archive_caps=settings.archive_caps(), continuous_interval=self.continuous_interval).to_json()

            def spec(text: str, i: int = i, host: str = host, hdir: Path = hdir) -> JobSpec:
                return JobSpec(name=f"{KIND}/{r.name}/{host}",
                               command=[sys.executable, "-m", "shipyard.processing.executor", "{workdir}"],
                               env={"SHIPYARD_PROCESSING_JOB": r.name}, workdir=str(hdir),
                               log_path=str(hdir / LOG_FILE), cpus=per.cpus, gpus=per.gpus, memory_mb=per.memory_mb,
                               files={JOB_FILE: text}, sync_back=["status.json"],
                               group=(group_name(r), i) if group else None, sandbox=sandbox)

            handle = self.launch_host(hdir, job_text, spec)
            hosts.append(Host(host=host, handle=handle.id, dir=str(hdir), offset=0,
                              stream=f"{r.name}/{host}-{int(r.created)}"))
        self.save(r, state.changes(hosts=hosts, started=time.time()))

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
        self.save(r, changes, status=outcome)
        self.services.runner.release_group(group_name(r))
        self.forget(hosts)
        self.services.wake(KIND)  # hosts were freed: a waiting multi-host job (or training job) may start now
        self.services.wake("training-job")
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


def _waiting(r) -> bool:
    """An InProgress job whose hosts have not been started yet."""
    return r.status == "InProgress" and not ProcessingState.from_doc(r.doc).hosts
