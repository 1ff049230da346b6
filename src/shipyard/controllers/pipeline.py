"""PipelineController: runs pipeline executions, step by step, from what the store says.

Each tick, for every Executing/Stopping execution: watch the steps that run (their child jobs' statuses),
start the steps that are ready (:func:`shipyard.pipelines.dag.ready`) up to MaxParallelExecutionSteps, and
end the execution when nothing runs and nothing more can start. Job steps create their child through the same
resource functions as the user's Create* calls (:mod:`shipyard.resources.training_job` & co.), so a step's
job is validated and run exactly like a user's. The child job kinds, their naming, failure types and the
expressions' resolver are in :mod:`.pipeline_steps`.

Restart safety: a job step's record (with the child's name, fixed in advance) is written *before* the child is
created, and marked created after; a restart finds a ``Starting`` record and creates the child only if it does
not exist yet. Every write is a compare-and-set on the execution's version, so a Stop or a callback answer that
lands mid-tick is never overwritten: the tick's remaining work is dropped and redone on the next tick.

Caching: a job step with CacheConfig looks for the newest Succeeded record of the same step name with the same
cache key (:func:`shipyard.pipelines.caching.cache_key` over the resolved arguments) in the pipeline's
executions, within ExpireAfter; a hit succeeds at once with that record's properties and metadata.

Retries: a child that fails with an internal or capacity error, or a create call refused for a resource limit
or throttling, is retried after :func:`shipyard.pipelines.retry.retry_delay` when one of the step's
RetryPolicies matches; a user's script error (AlgorithmError, ClientError) is not, as on AWS. As AWS documents
("Pipelines retries on this type of error automatically"), ``Step.SERVICE_FAULT`` and ``Step.THROTTLING`` are
retried even without a policy (:data:`DEFAULT_RETRY`); a policy that names them overrides that default.

QualityCheck steps run processing jobs on the model-monitor analyzer: the check against the previous baseline
(when there is one and SkipCheck is false), whose violations fail the step, then the baselining job; their
properties are the S3 URIs of the baselines (:mod:`shipyard.pipelines.quality_check` has AWS's rules).

Experiments: a definition's ``PipelineExperimentConfig`` (the SDK emits ``{ExperimentName: Execution.PipelineName,
TrialName: Execution.PipelineExecutionId}`` unless given ``pipeline_experiment_config=None``) makes the execution
create that experiment and trial before its first step (a name that exists is kept), and every training,
processing and transform step's job gets that ``ExperimentConfig``, so its trial component joins the trial.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

from ..context import Services
from ..domain.acting import acting_as, user_of
from ..domain.pipeline_state import ExecutionState, StepRecord
from ..errors import (ConflictError, ResourceInUse, ShipyardError,
                      ValidationError)
from ..metastore.base import ListQuery, Resource
from ..pipelines import dag
from ..pipelines import quality_check
from ..pipelines.caching import cache_key
from ..pipelines.definition import Definition, Step, parse
from ..pipelines.expressions import condition_holds, evaluate
from ..pipelines.retry import retry_delay
from ..experiments import tracking
from ..resources import model_package, model_package_group
from ..resources.pipeline import EXEC_KIND, selected_steps
from .base import Controller
from .pipeline_quality_check import QualityCheckSteps
from .pipeline_steps import (DEFAULT_RETRY, EXECUTION_TAG, EXPERIMENT_STEPS, JOB_STEPS, JOB_TERMINAL, MODEL_STEP,
                             QUALITY_CHECK, ExecutionResolver, JobKind, check_output_uri, create_error_type,
                             drift_check_request, error_message, failure_type, model_name,
                             previous_baseline, random_suffix)

log = logging.getLogger("shipyard.controllers.pipeline")


# ------------------------------------------------------------------ the controller
class _Restart(Exception):
    """Someone else wrote the execution mid-tick: drop the rest of this tick."""


class PipelineController(Controller):
    kind = EXEC_KIND
    tick = 0.5
    busy_tick = 0.1  # while executions run: a child job that ends is noticed this fast

    def __init__(self, services: Services):
        super().__init__(services)
        self._definitions: dict[str, Definition] = {}

    def reconcile_all(self) -> None:
        active = self.services.meta.list_in_status(EXEC_KIND, ("Executing", "Stopping"))
        self.tick = self.busy_tick if active else type(self).tick
        for res in active:
            try:
                self.reconcile(res)
            except (_Restart, ConflictError):
                pass
            except Exception:
                log.exception("pipeline execution %s: reconcile failed", res.name)
        live = {r.name for r in active}
        for name in [n for n in self._definitions if n not in live]:
            self._definitions.pop(name, None)

    def _definition(self, res: Resource, state: ExecutionState) -> Definition:
        defn = self._definitions.get(res.name)
        if defn is None:
            defn = self._definitions[res.name] = parse(state.definition or "{}")
        return defn

    # -------------------------------------------------------------- one execution
    def reconcile(self, res: Resource) -> None:
        state = ExecutionState.from_doc(res.doc)
        try:
            defn = self._definition(res, state)
        except ValidationError as e:  # a stored definition this server no longer accepts: end it, saying why
            self.services.meta.update(EXEC_KIND, res.name, {
                "PipelineExecutionStatus": "Failed", "LastModifiedTime": time.time(),
                "FailureReason": f"The execution's definition cannot run: {e.message}"},
                status="Failed", expect_version=res.version)
            return
        tick = _Tick(self.services, res, state, defn)
        stopping = res.status == "Stopping"
        if not stopping and not state.step_map:
            tick.open_experiment()
        for rec in list(state.step_map.values()):
            if rec.active:
                tick.watch(rec, stopping)
        if not stopping and not tick.any_failed():
            tick.start_ready(selected_steps(res.doc))
        tick.finish(stopping)


class _Tick(QualityCheckSteps):
    """One reconcile of one execution: the state read at its start, written back with compare-and-set."""

    def __init__(self, services: Services, res: Resource, state: ExecutionState, defn: Definition):
        self.services = services
        self.res = res
        self.state = state
        self.defn = defn
        self.steps = state.step_map
        self.dirty = False
        self.resolver = ExecutionResolver(services, res, state)
        self.doc_changes: dict[str, Any] = {}  # execution fields written with the next save

    # -------------------------------------------------------------- writes
    def save(self, status: str | None = None, extra: dict | None = None) -> None:
        changes = {**self.state.to_changes("steps"), "LastModifiedTime": time.time(), **self.doc_changes,
                   **(extra or {})}
        if status:
            changes["PipelineExecutionStatus"] = status
        try:
            self.res = self.services.meta.update(EXEC_KIND, self.res.name, changes, status=status,
                                                 expect_version=self.res.version)
        except ConflictError:
            raise _Restart() from None
        self.resolver.res = self.res
        self.dirty = False
        self.doc_changes = {}

    # -------------------------------------------------------------- experiments
    def experiment_config(self) -> dict[str, str] | None:
        """The definition's PipelineExperimentConfig, resolved (None: absent, null, or naming nothing)."""
        raw = self.state.definition or "{}"
        try:
            loaded = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            return None
        config = loaded.get("PipelineExperimentConfig") if isinstance(loaded, dict) else None
        if not isinstance(config, dict):
            return None
        resolved = evaluate(config, self.defn, self.resolver)
        exp, trial = resolved.get("ExperimentName"), resolved.get("TrialName")
        if not exp or not trial:
            return None
        return {"ExperimentName": str(exp), "TrialName": str(trial)}

    def open_experiment(self) -> None:
        """Before the first step: create the execution's experiment and trial, and record them on the execution
        (DescribePipelineExecution's PipelineExperimentConfig). Repeated after a restart, harmlessly."""
        try:
            config = self.experiment_config()
            if config is not None:
                tracking.ensure_trial(self.services, config["ExperimentName"], config["TrialName"])
        except ShipyardError as e:
            log.warning("pipeline %s: no experiment for this execution: %s", self.res.name, e.message or e.code)
            config = None
        self.doc_changes["PipelineExperimentConfig"] = config or {}
        self.dirty = True

    def child_request(self, step: Step, args: dict) -> dict:
        """A job step's Create request as AWS completes it: tagged ``sagemaker:pipeline-execution-arn`` (how the
        SDK's lineage classes find a job's pipeline execution) and, for training, processing and transform
        steps, with the execution's ExperimentConfig (its TrialComponentDisplayName kept); the experiment and
        trial are made sure of first (cheap, and right after a restart or a selective run)."""
        tags = [t for t in args.get("Tags") or [] if t.get("Key") != EXECUTION_TAG]
        out = {**args, "Tags": [*tags, {"Key": EXECUTION_TAG, "Value": self.res.arn}]}
        config = self.experiment_config() if step.type in EXPERIMENT_STEPS else None
        if config is not None:
            tracking.ensure_trial(self.services, config["ExperimentName"], config["TrialName"])
            out["ExperimentConfig"] = {**(args.get("ExperimentConfig") or {}), **config}
        return out

    def any_failed(self) -> bool:
        return any(r.status in ("Failed", "Stopped") for r in self.steps.values())

    # -------------------------------------------------------------- running steps
    def watch(self, rec: StepRecord, stopping: bool) -> None:
        now = time.time()
        if rec.type == "Callback":
            if stopping:
                rec.status, rec.end = "Stopped", now
                self.dirty = True
            return
        job_kind = JOB_STEPS.get(rec.type)
        if job_kind is None:
            return
        if rec.retry_at is not None:  # waiting to relaunch
            if stopping:
                rec.status, rec.end, rec.retry_at = "Stopped", now, None
                self.dirty = True
            elif now >= rec.retry_at:
                rec.retry_at = None
                rec.attempt += 1
                self.launch(rec, self.defn.steps[rec.name], job_kind)
            return
        if rec.job is None:
            return
        child = self.services.meta.find(job_kind.kind, rec.job)
        if not rec.created:
            if child is None:  # the record was written, the create call never ran (or failed): do it now
                if stopping:
                    rec.status, rec.end = "Stopped", now
                    self.dirty = True
                    return
                self.launch(rec, self.defn.steps[rec.name], job_kind, name=rec.job)
                return
            rec.created, rec.status = True, "Executing"  # created just before a crash: watch it
            rec.metadata = job_kind.metadata(rec.metadata, child.arn)
            self.dirty = True
        if child is None:
            rec.status, rec.end, rec.failure = "Failed", now, f"The {job_kind.kind} {rec.job} disappeared."
            self.dirty = True
            return
        if child.status in JOB_TERMINAL:
            self.job_ended(rec, job_kind, child, stopping)
            return
        if stopping and not rec.stop_sent:
            try:
                job_kind.stop(self.services, rec.job)
            except ShipyardError as e:
                log.info("pipeline %s step %s: stopping %s: %s", self.res.name, rec.name, rec.job, e)
            rec.stop_sent, rec.status = True, "Stopping"
            self.dirty = True

    def job_ended(self, rec: StepRecord, job_kind: JobKind, child: Resource, stopping: bool) -> None:
        now = time.time()
        rec.end = now
        self.dirty = True
        if child.status == "Completed" and rec.type == "QualityCheck":
            self.quality_check_ended(rec, self.defn.steps[rec.name], child)
            return
        if child.status == "Completed":
            rec.status = "Succeeded"
            rec.properties = job_kind.properties(self.services, child)
            return
        if child.status == "Stopped":
            rec.status = "Stopped"
            return
        reason = str(child.doc.get("FailureReason") or f"The {job_kind.kind} failed.")
        exc = failure_type(reason)
        if exc and not stopping and self.retry(rec, exc, now):
            return
        rec.status, rec.failure = "Failed", reason

    def retry(self, rec: StepRecord, exception_type: str, now: float) -> bool:
        """Schedule the next attempt if a RetryPolicy matches; the step stays Executing meanwhile."""
        step = self.defn.steps[rec.name]
        policies = step.retry_policies
        if exception_type in DEFAULT_RETRY.exception_types and not any(
                exception_type in p.exception_types for p in policies):
            policies = (*policies, DEFAULT_RETRY)
        delay = retry_delay(policies, exception_type, rec.attempt, rec.first_started or now, now)
        if delay is None:
            return False
        log.info("pipeline %s step %s: attempt %d failed with %s; retrying in %.1fs", self.res.name, rec.name,
                 rec.attempt, exception_type, delay)
        rec.status, rec.retry_at, rec.end = "Executing", now + delay, None
        rec.job, rec.created, rec.stop_sent = None, False, False
        self.dirty = True
        return True

    # -------------------------------------------------------------- starting steps
    def start_ready(self, selected: set[str] | None) -> None:
        limit = int((self.res.doc.get("ParallelismConfiguration") or {}).get("MaxParallelExecutionSteps") or 0)
        for _ in range(len(self.defn.steps) + 1):  # steps that end at once (Condition) may free others
            running = sum(1 for r in self.steps.values() if r.active)
            statuses = {n: r.status for n, r in self.steps.items()}
            ready = [n for n in dag.ready(self.defn, statuses, self.outcomes(), selected) if n not in self.steps]
            if not ready:
                return
            progressed = False
            for name in ready:
                if limit and running >= limit:
                    return
                rec = self.start(self.defn.steps[name])
                progressed = True
                if rec.active:
                    running += 1
                if rec.status == "Failed":
                    return
            if not progressed:
                return

    def outcomes(self) -> dict[str, bool]:
        return {n: bool(r.outcome) for n, r in self.steps.items() if r.outcome is not None}

    def start(self, step: Step) -> StepRecord:
        now = time.time()
        rec = StepRecord(name=step.name, type=step.type, status="Starting", start=now, first_started=now)
        self.steps[step.name] = rec
        self.dirty = True
        try:
            if step.type == "Condition":
                holds = condition_holds(step, self.defn, self.resolver)
                outcome = "True" if holds else "False"
                rec.status, rec.end, rec.outcome = "Succeeded", now, holds
                rec.metadata = {"Condition": {"Outcome": outcome}}
                rec.properties = {"Outcome": outcome}
            elif step.type == "Fail":
                msg = evaluate((step.arguments or {}).get("ErrorMessage", ""), self.defn, self.resolver)
                rec.status, rec.end, rec.failure = "Failed", now, str(msg)
                rec.metadata = {"Fail": {"ErrorMessage": str(msg)}}
            elif step.type == "Callback":
                self.callback(rec, step)
            elif step.type in ("Model", "CreateModel"):
                args = evaluate(step.arguments or {}, self.defn, self.resolver)
                # a name fixed by (execution, step): a tick that dies after the create finds its model next time
                name = model_name(self.res.name, step.name)
                found = self.services.meta.find("model", name)
                arn = found.arn if found is not None else MODEL_STEP.create(self.services, name, args)
                rec.status, rec.end, rec.job, rec.job_kind = "Succeeded", time.time(), name, "model"
                rec.metadata = {"Model": {"Arn": arn}}
                from ..resources import model

                rec.properties = model.public(self.services.meta.get(model.KIND, name).doc)  # DescribeModel's view
            elif step.type == "RegisterModel":
                self.register(rec, step)
            elif step.type == "QualityCheck":
                self.start_quality_check(rec, step)
            elif step.type in JOB_STEPS:
                self.start_job(rec, step, JOB_STEPS[step.type])
            else:
                raise ValidationError(f"step type {step.type} cannot run on Shipyard.")
        except _Restart:
            raise
        except Exception as e:  # noqa: BLE001 - a step that cannot start fails, with the reason
            if not isinstance(e, ShipyardError):
                log.exception("pipeline %s step %s failed to start", self.res.name, step.name)
            rec.status, rec.end = "Failed", time.time()
            rec.failure = f"Step '{step.name}': {error_message(e)}"
        return rec

    def register(self, rec: StepRecord, step: Step) -> None:
        """A RegisterModel step: CreateModelPackage (its group created first if missing, as AWS does).

        The package names the execution that made it in ``MetadataProperties.GeneratedBy`` (as a package
        registered by a pipeline does on AWS). That is the step's idempotency marker: if the server dies between
        CreateModelPackage and the tick's write, the step runs again after the restart, finds the package it made
        (same execution, same request) and records that one instead of registering a second version."""
        args = evaluate(step.arguments or {}, self.defn, self.resolver)
        if not isinstance(args, dict):
            raise ValidationError("Arguments must be a JSON object (the CreateModelPackage request).")
        request = dict(args)
        metadata = dict(request.get("MetadataProperties") or {})
        metadata.setdefault("GeneratedBy", self.res.arn)
        request["MetadataProperties"] = metadata
        group = request.get("ModelPackageGroupName")
        if group and self.services.meta.find(model_package_group.KIND, group) is None:
            try:
                model_package_group.create(self.services, {"ModelPackageGroupName": group})
            except ResourceInUse:
                pass  # created meanwhile
        found = self.registered_before(request)
        arn = found.arn if found is not None else model_package.create(self.services, request)["ModelPackageArn"]
        rec.status, rec.end = "Succeeded", time.time()
        rec.metadata = {"RegisterModel": {"Arn": arn}}
        rec.properties = model_package.describe(model_package.get(self.services, arn))

    def registered_before(self, request: dict) -> Resource | None:
        """The package this execution already registered from this very request (see :meth:`register`)."""
        if request["MetadataProperties"].get("GeneratedBy") != self.res.arn:
            return None  # the user named another source: no marker of ours to find
        same = ("ModelPackageDescription", "InferenceSpecification", "ModelMetrics", "CustomerMetadataProperties")

        def ours(r: Resource) -> bool:
            return (r.doc.get("MetadataProperties") == request["MetadataProperties"]
                    and all(r.doc.get(k) == request.get(k) for k in same))

        if request.get("ModelPackageName"):
            found = self.services.meta.find(model_package.KIND, str(request["ModelPackageName"]))
            return found if found is not None and ours(found) else None
        group = self.services.meta.find(model_package_group.KIND, str(request.get("ModelPackageGroupName") or ""))
        if group is None:
            return None
        token = None
        for _ in range(10_000):
            page = self.services.meta.list(model_package.KIND, ListQuery(
                parent=group.name.lower(), max_results=100, next_token=token, sort_by="created", descending=True))
            for r in page.items:
                if r.created < self.res.created:
                    return None  # older than this execution: it cannot have made it
                if ours(r):
                    return r
            token = page.next_token
            if not token:
                return None
        return None

    def callback(self, rec: StepRecord, step: Step) -> None:
        args = evaluate(step.arguments or {}, self.defn, self.resolver)
        token = random_suffix(10)  # botocore: CallbackToken is at most 10 characters
        rec.status, rec.callback_token = "Executing", token
        raw = step.raw if isinstance(step.raw, dict) else {}
        queue = str(raw.get("SqsQueueUrl") or "")  # beside Arguments, as the SDK emits it; Arguments are the inputs
        inputs = dict(args) if isinstance(args, dict) else {}
        rec.message = {"token": token, "pipelineExecutionArn": self.res.arn, "arguments": inputs,
                       "status": "Executing"}
        rec.metadata = {"Callback": {"CallbackToken": token, "SqsQueueUrl": queue}}
        log.info("pipeline %s callback step %s waits; queue message (not sent: no SQS here): %s",
                 self.res.name, step.name, json.dumps(rec.message, default=str))

    def step_request(self, rec: StepRecord, step: Step, job_name: str, args: Any = None) -> Any:
        """The Create request of a job step's child (also again, after a restart or for a retry): a
        QualityCheck step's check job when the record is checking (see :meth:`start_quality_check`)."""
        if args is None:
            args = self.job_arguments(step, job_name)
        meta = rec.metadata.get(QUALITY_CHECK.meta_key) or {}
        if step.type != "QualityCheck" or not isinstance(args, dict) or not quality_check.checking(meta):
            return args
        previous = previous_baseline(self.services, self.check_settings(step))
        return drift_check_request(args, previous, check_output_uri(args))

    def job_arguments(self, step: Step, job_name: str) -> Any:
        """The step's resolved Arguments, with TrainingJobName / ProcessingJobName naming its job."""
        self.resolver.current_job = (step.type, job_name)
        try:
            return evaluate(step.arguments or {}, self.defn, self.resolver)
        finally:
            self.resolver.current_job = None

    def start_job(self, rec: StepRecord, step: Step, job_kind: JobKind) -> None:
        name = job_kind.job_name(self.res.name, step.name)
        args = self.job_arguments(step, name)
        if not isinstance(args, dict):
            raise ValidationError("Arguments must be a JSON object (the Create request).")
        if step.cache_enabled:
            rec.cache_key = cache_key(step, self.keyed_arguments(step, args))
            if self.cache_hit(rec, step):
                return
        self.launch(rec, step, job_kind, name=name, args=args)

    def keyed_arguments(self, step: Step, args: dict) -> dict:
        """What a step's cache key is computed from: its resolved arguments, except that a Transform step's
        ModelName stands for the model's definition. A Model step makes a model with a new name in every
        execution, so keying on the name would never hit (the trap of sagemaker-python-sdk#3392); the same
        containers are the same model."""
        if step.type != "Transform" or not isinstance(args.get("ModelName"), str):
            return args
        found = self.services.meta.find("model", args["ModelName"])
        if found is None:
            return args  # the create call will say the model is missing
        model = {k: v for k, v in found.doc.items()
                 if k in ("PrimaryContainer", "Containers", "InferenceExecutionConfig", "EnableNetworkIsolation")}
        return {**args, "ModelName": {"ModelDefinition": model}}

    def launch(self, rec: StepRecord, step: Step, job_kind: JobKind, name: str | None = None,
               args: dict | None = None) -> None:
        """Create the step's child: record its name first (restart safety), then create it."""
        now = time.time()
        rec.job = name or job_kind.job_name(self.res.name, step.name)
        if args is None:
            args = self.step_request(rec, step, rec.job)
        rec.job_kind, rec.created, rec.status = job_kind.kind, False, "Starting"
        self.save()
        try:
            with acting_as(user_of(self.res.doc)):  # whoever started the execution created its jobs
                arn = job_kind.create(self.services, rec.job, self.child_request(step, dict(args or {})))
        except Exception as e:  # noqa: BLE001 - the create call's refusal is the step's failure (or a retry)
            exc = create_error_type(e)
            if exc and self.retry(rec, exc, time.time()):
                rec.failure = error_message(e)
                return
            if not isinstance(e, ShipyardError) and exc is not None:
                log.exception("pipeline %s step %s: create failed", self.res.name, step.name)
            rec.status, rec.end, rec.failure = "Failed", time.time(), f"Step '{step.name}': {error_message(e)}"
            rec.job = None
            self.dirty = True
            return
        rec.created, rec.status = True, "Executing"
        rec.metadata = job_kind.metadata(rec.metadata, arn)
        rec.failure = None
        if rec.start is None:
            rec.start = now
        self.dirty = True

    def cache_hit(self, rec: StepRecord, step: Step) -> bool:
        now = time.time()
        for ex in _executions_of(self.services, self.res.parent):
            if ex.name == self.res.name:
                continue
            other = ExecutionState.from_doc(ex.doc).step_map.get(step.name)
            if other is None or other.status != "Succeeded" or other.cache_key != rec.cache_key:
                continue
            if step.cache_expire_after is not None and (other.end or 0) + step.cache_expire_after < now:
                continue
            rec.status, rec.end = "Succeeded", now
            rec.properties, rec.metadata = other.properties, dict(other.metadata)
            rec.cache_source = other.cache_source or ex.arn
            rec.job, rec.job_kind, rec.created = other.job, other.job_kind, True
            return True
        return False

    # -------------------------------------------------------------- ending
    def finish(self, stopping: bool) -> None:
        active = [r for r in self.steps.values() if r.active]
        if active:
            if self.dirty:
                self.save()
            return
        if stopping:
            self.save("Stopped")
            return
        failed = [r for r in self.steps.values() if r.status in ("Failed", "Stopped")]
        if failed:
            first = min(failed, key=lambda r: r.end or 0)
            self.save("Failed", {"FailureReason": first.failure or f"Step '{first.name}' {first.status}."})
            return
        statuses = {n: r.status for n, r in self.steps.items()}
        if not [n for n in dag.ready(self.defn, statuses, self.outcomes(), selected_steps(self.res.doc))
                if n not in self.steps]:
            self.save("Succeeded")
        elif self.dirty:
            self.save()


def _executions_of(services: Services, pipeline_arn: str, page_size: int = 100) -> Iterator[Resource]:
    """Every execution of a pipeline, newest first (paged through the store)."""
    token = None
    for _ in range(10_000):
        page = services.meta.list(EXEC_KIND, ListQuery(parent=pipeline_arn, max_results=page_size,
                                                        next_token=token))
        yield from page.items
        token = page.next_token
        if not token:
            return
