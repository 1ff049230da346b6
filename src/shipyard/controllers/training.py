"""The training-job controller: start the executor, follow it, record what it reports.

Every tick it looks at the jobs that are InProgress or Stopping:

- a job without ``_handle`` gets a job folder (``<home>/runs/training/<job>/`` with ``job.json``) and an
  executor started through the runner; the handle id goes into the document;
- a running job is polled: ``status.json`` becomes SecondaryStatus/transitions/times, the log file is read
  from the stored offset into CloudWatch-style events (tabs rendered ``#011`` as SageMaker's logs show
  them, so the SageMaker SDK's metric regexes match), metric lines become metric points and
  ``FinalMetricDataList`` (the MetricDefinitions regexes run in a worker process under a time budget, see
  :mod:`shipyard.training.metric_matcher`; one that overruns it is disabled for the job, with a warning in
  its log);
- Stopping (StopTrainingJob) sends the stop once; the executor reports Stopped after uploading ``model/``;
- when the work has ended the outcome is applied; work that ended without reporting one (killed, or lost
  while the server was down) fails with a reason that says so.

All state is in the document, so a restarted server resumes: a handle that still runs is followed again.
The private part of it (the ``_`` keys) is read and written through
:class:`~shipyard.domain.training_state.TrainingState`.
The executor enforces ``MaxRuntimeInSeconds`` itself; the controller only steps in if it overruns by far.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from ..context import Services
from ..domain import job_keys
from ..domain.job_file import TrainingJobFile
from ..domain.status import TRAINING_ACTIVE
from ..domain.training_state import Failure, Host, TrainingState
from ..errors import MissingResource
from ..instance_types import job_request
from ..metastore.base import LogEvent
from ..runners.base import JobSpec
from ..training.metric_matcher import DEFAULT_BUDGET, MetricMatcher, warning_line
from ..training.status import JOB_FILE, LOG_FILE, MESSAGES, read_status
from .job_admission import running_processing
from .job_hosts import HostJobController
from .joblog import cap_event
from .training_admission import Admission
from .training_scope import KIND, LOG_GROUP, job_scope

log = logging.getLogger("shipyard.controllers.training")

DEFAULT_STOP_GRACE = 120.0       # SageMaker's SIGTERM -> SIGKILL grace for the training program
UPLOAD_ALLOWANCE = 300.0         # extra time the executor gets to upload model/ after the program ended
MAX_LOG_READ = 4 << 20           # bytes of log read per job per tick
LOST_EXIT_CODE = -9
LOST_REASON = ("InternalServerError: The training job was lost: its process ended {how} without reporting an "
               "outcome (it was killed, or the host restarted while the Shipyard server was down).")


class TrainingController(HostJobController):
    kind = KIND
    run_kind = "training"
    active = TRAINING_ACTIVE
    stop_grace_setting = "training_stop_grace"
    stop_grace_env = "SHIPYARD_TRAINING_STOP_GRACE"
    default_stop_grace = DEFAULT_STOP_GRACE
    tick = 0.5
    busy_tick = 0.2  # while jobs run: outcomes show up in Describe soon after the executor reports them

    def __init__(self, services: Services):
        super().__init__(services)  # the stop grace, job keys (pruned) and isolation: HostJobController
        extra = getattr(services.settings, "extra", {}) or {}
        # MetricDefinitions regexes are the user's: they run in a worker process under a time budget, never here
        self.metric_budget = float(extra.get("metric_match_budget")
                                   or os.environ.get("SHIPYARD_METRIC_MATCH_BUDGET") or DEFAULT_BUDGET)
        self._matcher = MetricMatcher(budget=self.metric_budget)

    def _job_key(self, r) -> job_keys.JobKey:
        """The job's key: the one it already holds (its hosts share it), or a new one scoped to the job."""
        return self.keys.for_job(KIND, r.name) or self.keys.issue(
            job_scope(r.name, r.doc, self._manifest_reads(r.doc)))

    def _manifest_reads(self, doc: dict) -> list[str]:
        """What the job's (augmented) manifest channels point at besides the manifest itself: the objects
        may lie anywhere the manifest says (see :func:`job_keys.manifest_reads`), so the server reads each
        manifest once, with its own store, to scope the job's key."""
        sources = [((channel.get("DataSource") or {}).get("S3DataSource") or {}) for channel in
                   doc.get("InputDataConfig") or []]
        return self.manifest_reads([(src.get("S3DataType") or "S3Prefix", src.get("S3Uri") or "") for src in sources])

    # --- the loop ---
    def reconcile_all(self) -> None:
        active = self.services.meta.list_in_status(KIND, TRAINING_ACTIVE)
        self.tick = self.busy_tick if active else type(self).tick
        waiting = sorted((r for r in active if not _started(r) and r.status == "InProgress"),
                         key=lambda r: (r.created, r.name))
        if waiting:
            try:
                # processing jobs that hold their hosts count too: together the kinds never oversubscribe
                self._admit(waiting, [r for r in active if _started(r)] + running_processing(self.services))
            except Exception:  # noqa: BLE001
                log.exception("admitting training jobs failed; retrying next tick")
        for r in active:
            if not _started(r) and r.status == "InProgress":
                continue
            try:
                self.reconcile(r)
            except MissingResource:
                self._handles.pop(r.name, None)  # deleted meanwhile
            except Exception:  # noqa: BLE001 - one job's trouble must not stop the others
                log.exception("reconciling training job %s failed; retrying next tick", r.name)

    def shutdown(self) -> None:
        super().shutdown()
        self._matcher.close()

    # --- admission (FIFO, whole jobs; see training_admission) ---
    def _admit(self, waiting: list, running: list) -> None:
        for r, action, value in Admission(self.services.runner).decide(waiting, running, _group_name):
            try:
                if action == "start":
                    self._start(r, value)
                elif action == "wait":
                    self._pending(r, value)
                else:
                    self._finalize(r, None, lost=None, reason=value)
            except MissingResource:
                pass
            except Exception as e:  # noqa: BLE001 - a job that cannot start fails, with the reason
                log.exception("starting training job %s failed", r.name)
                self._finalize(r, None, lost=None,
                               reason=f"InternalServerError: the training job could not be started: {e}")

    def _pending(self, r, message: str) -> None:
        doc = r.doc
        transitions = list(doc.get("SecondaryStatusTransitions") or [])
        if doc.get("SecondaryStatus") == "Pending" and transitions and transitions[-1]["StatusMessage"] == message:
            return
        now = time.time()
        if transitions and transitions[-1]["Status"] == "Pending":
            transitions[-1] = dict(transitions[-1], StatusMessage=message)
        else:
            _close(transitions, now)
            transitions.append({"Status": "Pending", "StartTime": now, "StatusMessage": message})
        self.save(r, {"SecondaryStatus": "Pending", "SecondaryStatusTransitions": transitions})

    # --- following ---
    def reconcile(self, r) -> None:
        doc = r.doc
        state = TrainingState.from_doc(doc)
        if not state.handle:
            if r.status == "Stopping":
                self._finish_unstarted(r)
            return
        hosts = state.current_hosts(r.name)
        handles = [self.attach(h) for h in hosts]
        now = time.time()
        changes: dict = {}
        stop_sent = state.stop_sent
        if r.status == "Stopping" and not stop_sent:
            self.stop_all(handles, self.stop_grace + UPLOAD_ALLOWANCE)
            stop_sent = now
            changes.update(state.changes(stop_sent=now))
        max_runtime = float((doc.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds") or 86400)
        started = float(state.started_at or r.created)
        if not state.stop_sent and now > started + max_runtime + self.stop_grace + UPLOAD_ALLOWANCE:
            log.warning("training job %s overran MaxRuntimeInSeconds; stopping it", r.name)
            self.stop_all(handles, 10.0)
            stop_sent = now
            changes.update(state.changes(stop_sent=now, stop_reason="MaxRuntimeExceeded"))
        rcs = [h.poll() if h is not None else LOST_EXIT_CODE for h in handles]
        statuses = [read_status(h.dir) or {} for h in hosts]
        new_hosts = []
        for i, (h, rc) in enumerate(zip(hosts, rcs)):
            offset, tail_changes = self._tail(r, h, final=rc is not None, metrics=i == 0)
            changes.update(tail_changes)
            new_hosts.append(replace(h, offset=offset))
        if new_hosts != hosts:
            changes.update(state.changes(hosts=new_hosts, log_offset=new_hosts[0].offset))
        # One host ending badly ends the job: the others are stopped (they would wait for it forever).
        failure = state.failure
        if not failure and not stop_sent:
            for h, handle, rc, st in zip(hosts, handles, rcs, statuses):
                if rc is None or (rc == 0 and st.get("outcome") in ("Completed", "Stopped")):
                    continue
                failure = self._host_failure(r, h, handle, rc, st, len(hosts))
                retries = int((doc.get("RetryStrategy") or {}).get("MaximumRetryAttempts") or 0)
                failure.retry = failure.lost and state.attempt_number < retries
                changes.update(state.changes(failure=failure))
                if any(x is None for x in rcs):
                    self.stop_all(handles, 10.0)
                break
        if any(rc is None for rc in rcs):
            if failure and failure.retry:
                changes.update(self._restarting(r, failure))
            else:
                changes.update(self._progress(r, statuses[0], doc))
            self.save(r, changes)
            return
        if failure and failure.retry and r.status == "InProgress":
            self._restart(r, changes, failure)
            return
        self._finalize(r, statuses[0], changes=changes, rc=rcs[0], failure=failure, statuses=statuses)

    def _host_failure(self, r, host: Host, handle, rc: int, status: dict, count: int) -> Failure:
        """Why one host ended badly, naming it when there are several."""
        name = host.host
        if status.get("outcome") == "Failed":
            reason = status.get("failure_reason") or "AlgorithmError: the job failed."
            if count > 1:
                kind, _, rest = reason.partition(": ")
                reason = f"{kind}: host {name} failed: {rest or kind}"
            return Failure(host=name, reason=reason[:1024], lost=False)
        if status.get("outcome") == "Stopped":
            return Failure(host=name, reason=f"AlgorithmError: host {name} was stopped.", lost=False)
        why = handle.lost_reason if handle is not None else "its runner no longer knows it"
        how = f"killed by signal {-rc}" if rc < 0 else f"exit code {rc}"
        detail = why or f"its process ended ({how}) without reporting an outcome"
        if count > 1:
            return Failure(host=name, reason=f"AlgorithmError: host {name} was lost: {detail}"[:1024], lost=True)
        return Failure(host=name, reason=LOST_REASON.format(how=f"({why or how})"), lost=True)

    def _restarting(self, r, failure: Failure) -> dict:
        doc = r.doc
        if doc.get("SecondaryStatus") == "Restarting":
            return {}
        now = time.time()
        transitions = list(doc.get("SecondaryStatusTransitions") or [])
        _close(transitions, now)
        transitions.append({"Status": "Restarting", "StartTime": now,
                            "StatusMessage": f"Restarting the training job: {failure.reason[:400]}"})
        return {"SecondaryStatus": "Restarting", "SecondaryStatusTransitions": transitions}

    def _restart(self, r, changes: dict, failure: Failure) -> None:
        """Every host of the attempt has ended: give its resources back and queue the job again."""
        self.services.runner.release_group(_group_name(r))
        changes.update(self._restarting(r, failure))
        transitions = changes.get("SecondaryStatusTransitions") or list(r.doc.get("SecondaryStatusTransitions") or [])
        state = TrainingState.from_doc(r.doc)
        self.forget(state.current_hosts(r.name))
        changes.update({"SecondaryStatus": "Restarting", "SecondaryStatusTransitions": transitions})
        changes.update(state.changes(handle=None, hosts=None, failure=None, prior_transitions=transitions,
                                     attempt=state.attempt_number + 1))
        self.save(r, changes)
        log.info("training job %s: restarting (%s)", r.name, failure.reason)
        self.services.wake(KIND)

    # --- starting ---
    def _start(self, r, addresses: list[str]) -> None:
        doc = r.doc
        state = TrainingState.from_doc(doc)
        attempt = state.attempt_number
        per, count = job_request(doc.get("ResourceConfig") or {})
        names = [f"algo-{i + 1}" for i in range(count)]
        job_dir = self.job_dir(r.name)
        port = int(state.master_port or 0) or _free_port()
        settings = self.services.settings
        request = {k: v for k, v in doc.items() if not k.startswith("_")}
        now = time.time()
        epoch = int(r.created) if attempt == 0 else max(int(now), int(r.created) + attempt)  # a stream per attempt
        hosts = []
        for i, host in enumerate(names):
            single = count == 1 and attempt == 0  # the layout single-instance jobs always had
            hdir = job_dir if single else job_dir / f"attempt-{attempt}" / host

            def job_text(i: int = i) -> str:
                return TrainingJobFile(
                    request=request, arn=r.arn, program=dict(doc["_program"]),
                    region=settings.region,
                    stop_grace=self.stop_grace, aws_env=_aws_env(settings, self._job_key(r)), hosts=names,
                    isolate=self.isolate, archive_caps=settings.archive_caps(), host_index=i,
                    host_addresses=dict(zip(names, addresses)), master_port=port, attempt=attempt).to_json()

            def spec(text: str, i: int = i, host: str = host, hdir: Path = hdir, single: bool = single) -> JobSpec:
                return JobSpec(name=f"{KIND}/{r.name}" if single else f"{KIND}/{r.name}/{attempt}/{host}",
                               command=[sys.executable, "-m", "shipyard.training.executor", "{workdir}"],
                               env={"SHIPYARD_TRAINING_JOB": r.name}, workdir=str(hdir),
                               log_path=str(hdir / LOG_FILE), cpus=per.cpus, gpus=per.gpus,
                               memory_mb=per.memory_mb,
                               files={JOB_FILE: text}, sync_back=["status.json"], group=(_group_name(r), i),
                               sandbox=self._sandbox(doc, per) if self.isolate else None)

            handle = self.launch_host(hdir, job_text, spec)
            hosts.append(Host(host=host, handle=handle.id, dir=str(hdir), offset=0, address=addresses[i],
                              stream=f"{r.name}/{host}-{epoch}"))
        changes = state.changes(handle=hosts[0].handle, hosts=hosts, job_dir=hosts[0].dir,
                                log_stream=hosts[0].stream, log_offset=0, started=now, master_port=port,
                                admitted={"cpus": per.cpus * count, "gpus": per.gpus * count})
        if not state.first_started:
            changes.update(state.changes(first_started=now))
        if doc.get("SecondaryStatus") in ("Pending", "Restarting"):
            prior = list(doc.get("SecondaryStatusTransitions") or [])
            _close(prior, now)
            changes.update(state.changes(prior_transitions=prior))
        self.save(r, changes)

    def _sandbox(self, doc: dict, per):
        """What the job's program may see and use: its folder at /opt/ml, the home hidden (the environments
        shown read-only), no network under EnableNetworkIsolation, its instance type's memory and CPU share,
        VolumeSizeInGB watched. The executor applies it to the program (it downloads and uploads outside)."""
        rc = doc.get("ResourceConfig") or {}
        return self.sandbox(per, network=not doc.get("EnableNetworkIsolation"),
                            volume_gb=int(rc.get("VolumeSizeInGB") or 0), instance_type=rc.get("InstanceType") or "")

    def _finish_unstarted(self, r) -> None:
        now = time.time()
        transitions = list(r.doc.get("SecondaryStatusTransitions") or [])
        _close(transitions, now)
        transitions.append({"Status": "Stopped", "StartTime": now, "EndTime": now,
                            "StatusMessage": MESSAGES["Stopped"]})
        self.services.runner.release_group(_group_name(r))
        self.save(r, {"SecondaryStatus": "Stopped", "SecondaryStatusTransitions": transitions,
                      "TrainingEndTime": now, **TrainingState().changes(done=True)}, status="Stopped")

    def _progress(self, r, status: dict, doc: dict | None = None) -> dict:
        """algo-1's status.json -> SecondaryStatus and transitions (after those of earlier attempts)."""
        doc = doc if doc is not None else r.doc
        changes: dict = {}
        transitions = status.get("transitions")
        if transitions:
            transitions = list(TrainingState.from_doc(doc).prior_transitions or []) + transitions
            if transitions != doc.get("SecondaryStatusTransitions"):
                changes["SecondaryStatusTransitions"] = transitions
        secondary = status.get("secondary")
        if r.status == "Stopping":
            secondary = "Stopping"
        if secondary and secondary != doc.get("SecondaryStatus"):
            changes["SecondaryStatus"] = secondary
        if status.get("training_start") and not doc.get("TrainingStartTime"):
            changes["TrainingStartTime"] = status["training_start"]
        return changes

    def _tail(self, r, host: Host, final: bool, metrics: bool) -> tuple[int, dict]:
        """New complete log lines of one host -> log events in its stream (and, for algo-1, metric points);
        returns (new offset, document changes)."""
        path = Path(host.dir) / LOG_FILE
        offset = host.offset
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read() if final else f.read(MAX_LOG_READ)
        except OSError:
            return offset, {}
        if not data:
            return offset, {}
        end = data.rfind(b"\n") + 1
        if end == 0 and not final and len(data) < MAX_LOG_READ:
            return offset, {}  # a partial line: wait for the rest
        if final or end == 0:
            end = len(data)
        chunk = data[:end]
        now = time.time()
        raws = [raw.rstrip("\r") for raw in chunk.decode("utf-8", "replace").split("\n")]
        raws = [raw for raw in raws if raw.strip()]
        events = [LogEvent(timestamp=now, message=cap_event(raw.replace("\t", "#011"))) for raw in raws]
        defs = (TrainingState.from_doc(r.doc).metric_definitions or []) if metrics else []
        points, changes = self._match_metrics(r, defs, raws, now, events) if defs and raws else ([], {})
        if events:
            self.services.meta.append_logs(LOG_GROUP, host.stream or f"{r.name}/algo-1-0", events)
        if points:
            self.services.meta.append_metrics(r.name, points)
        return offset + end, changes

    def _match_metrics(self, r, defs: list[dict], raws: list[str], now: float, events: list
                       ) -> tuple[list, dict]:
        """Metric points of these log lines and the document changes (FinalMetricDataList, steps, disabled
        patterns). The regexes run in the matcher's worker process under a time budget: a pattern that
        overruns it is disabled for this job, with a warning line appended to ``events``."""
        doc = r.doc
        state = TrainingState.from_doc(doc)
        disabled = list(state.metric_disabled or [])
        try:
            result = self._matcher.match(defs, raws, disabled=disabled)
        except Exception:  # noqa: BLE001 - no metrics this time rather than a stuck job (never match in-process)
            log.exception("matching metrics of training job %s failed", r.name)
            return [], {}
        changes: dict = {}
        for rx in result.disabled:
            names = [d.get("Name") for d in defs if d.get("Regex") == rx]
            log.warning("training job %s: metric regex of %s overran %.3g s; disabled", r.name, names,
                        self.metric_budget)
            events.append(LogEvent(timestamp=now, message=warning_line(", ".join(map(str, names)), rx,
                                                                       self.metric_budget)))
            disabled.append(rx)
        if result.disabled:
            changes.update(state.changes(metric_disabled=disabled))
        latest = {m["MetricName"]: m for m in doc.get("FinalMetricDataList") or []}
        steps = dict(state.metric_steps or {})
        points = []
        for _, k, value in result.hits:
            name = defs[k]["Name"]
            step = steps.get(name, 0)
            steps[name] = step + 1
            points.append((name, value, now, step))
            latest[name] = {"MetricName": name, "Value": value, "Timestamp": now}
        if points:
            order = [d["Name"] for d in defs]
            changes["FinalMetricDataList"] = sorted(
                latest.values(), key=lambda m: order.index(m["MetricName"]) if m["MetricName"] in order else 99)
            changes.update(state.changes(metric_steps=steps))
        return points, changes

    # --- finishing ---
    def _finalize(self, r, status: dict | None, changes: dict | None = None, rc: int | None = None,
                  lost: str | None = None, reason: str | None = None, failure: Failure | None = None,
                  statuses: list[dict] | None = None) -> None:
        changes = dict(changes or {})
        status = status or {}
        now = time.time()
        outcome = status.get("outcome")
        state = TrainingState.from_doc(r.doc)
        prior = list(state.prior_transitions or [])
        transitions = (prior + list(status["transitions"]) if status.get("transitions")
                       else list(r.doc.get("SecondaryStatusTransitions") or []))
        stop_reason = state.stop_reason
        stopped = (state.stop_sent or r.status == "Stopping") and lost is None
        if stopped and (outcome is None or (failure and not stop_reason and r.status == "Stopping")):
            outcome, secondary = "Stopped", stop_reason or "Stopped"
            if status.get("secondary") not in ("Stopped", "MaxRuntimeExceeded"):
                _close(transitions, now)
                transitions.append({"Status": secondary, "StartTime": now, "EndTime": now,
                                    "StatusMessage": MESSAGES.get(secondary, "")})
        elif failure or outcome is None or (statuses and any(st.get("outcome") != "Completed" for st in statuses)
                                            and outcome == "Completed"):
            if failure:
                changes["FailureReason"] = failure.reason
            elif outcome == "Failed":
                changes["FailureReason"] = status.get("failure_reason") or "AlgorithmError: the job failed."
            else:
                how = lost or (f"(killed by signal {-rc})" if rc is not None and rc < 0 else f"(exit code {rc})")
                changes["FailureReason"] = reason or LOST_REASON.format(how=how)
            outcome, secondary = "Failed", "Failed"
            if status.get("secondary") != "Failed":
                _close(transitions, now)
                transitions.append({"Status": "Failed", "StartTime": now, "EndTime": now,
                                    "StatusMessage": MESSAGES["Failed"]})
        else:
            secondary = status.get("secondary") or outcome
            if outcome == "Failed":
                changes["FailureReason"] = status.get("failure_reason") or "AlgorithmError: the job failed."
        end = status.get("updated") or now
        changes.update(SecondaryStatus=secondary, SecondaryStatusTransitions=transitions, TrainingEndTime=end,
                       **state.changes(done=True))
        if status.get("model_artifacts"):
            changes["ModelArtifacts"] = {"S3ModelArtifacts": status["model_artifacts"]}
        if status.get("training_start"):
            changes["TrainingStartTime"] = status["training_start"]
            seconds = max(1, int(math.ceil((status.get("training_end") or end) - status["training_start"])))
            changes["TrainingTimeInSeconds"] = seconds
            count = max(1, len(statuses or [status]))
            changes["BillableTimeInSeconds"] = seconds * count
        self.save(r, changes, status=outcome)
        self.services.runner.release_group(_group_name(r))
        if r.parent:  # a tuning job's child: its tuning job reacts now, not at its next tick
            self.services.wake("hyper-parameter-tuning-job")
        self.forget(state.current_hosts(r.name))
        self.services.wake(KIND)  # resources were freed: a Pending job may start now
        log.info("training job %s: %s (%s)", r.name, outcome, secondary)

    def on_conflict(self, current, changes: dict, status: str | None) -> None:
        """The API stopped the job meanwhile: a progress save keeps SecondaryStatus Stopping."""
        if current.status == "Stopping" and status is None and "SecondaryStatus" in changes:
            changes["SecondaryStatus"] = "Stopping"

def _group_name(r) -> str:
    """The runner reservation of the job's current attempt (a retry reserves anew)."""
    return f"{KIND}/{r.name}/{TrainingState.from_doc(r.doc).attempt_number}"


def _started(r) -> bool:
    """Whether the job's current attempt has been started (it has a runner handle)."""
    return bool(TrainingState.from_doc(r.doc).handle)


def _free_port(span: int = 16) -> int:
    """A port for MASTER_ADDR:MASTER_PORT with the ``span`` ports above it free too (TensorFlow's workers and
    parameter servers take MASTER_PORT+1... on the local runner, where the hosts share one address). Chosen
    below Linux's ephemeral range (32768-60999), where the OS does not hand ports to outgoing connections: a
    port taken from that range can be gone by the time a job binds it on a busy machine (seen with TF's gRPC
    server). On a cluster a port free here is free on algo-1's node too in practice."""
    import random
    import socket

    def free(port: int) -> bool:
        with socket.socket() as s:
            try:
                s.bind(("", port))
            except OSError:
                return False
        return True

    for _ in range(50):  # bounded: falls back to an ephemeral port
        base = random.randrange(20000, 32000 - span)
        if all(free(p) for p in range(base, base + span + 1)):
            return base
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def _aws_env(settings, key: job_keys.JobKey) -> dict[str, str]:
    """What a training program's boto3 needs to reach this server, as an instance role would provide on AWS:
    the job's own key, scoped to the job (never the server's). The executor opens the job's object store with
    it too (the server's S3 API), so job.json carries no store URL and no credential of the server's."""
    return job_keys.aws_env(settings.endpoint_url, settings.region, key)


def _close(transitions: list[dict], now: float) -> None:
    if transitions and "EndTime" not in transitions[-1]:
        transitions[-1]["EndTime"] = now
