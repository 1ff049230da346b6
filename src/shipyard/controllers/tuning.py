"""TuningController: runs hyperparameter tuning jobs by launching, watching and judging training jobs.

Each tick, for every InProgress/Stopping tuning job: look at its running children, feed finished ones to
the strategy (``observe``), apply early stopping, check limits and completion criteria, launch new children
up to MaxParallelTrainingJobs (``suggest``), and store the strategy state, trial records and counters in the
tuning job's document (typed: :class:`~shipyard.domain.tuning_state.TuningState`). Children are created and
stopped through :mod:`shipyard.resources.training_job`, the functions behind CreateTrainingJob and
StopTrainingJob, so a child is validated and run exactly like a user's training job.

Restart safety: a trial is written to the document (``launched: False``) *before* its child is created with
a name fixed in that record, and marked launched after; a restart finds such a record and creates the child
only if it does not exist yet. Strategy state is stored after every observation, so nothing is lost.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from ..context import Services
from ..domain.acting import acting_as, user_of
from ..domain.tuning_state import Trial, TuningState
from ..errors import ConflictError, ShipyardError
from ..metastore.base import Resource
from ..resources import training_job
from ..resources.tuning_job import KIND, definitions_of, objective_of, public, trial_summary
from ..tuning.completion import CompletionCriteria
from ..tuning.early_stopping import should_stop
from ..tuning.pareto import pareto_front
from ..tuning.strategy import Strategy, strategy_from_state
from .base import Controller

log = logging.getLogger("shipyard.controllers.tuning")

TERMINAL = ("Completed", "Failed", "Stopped")
TRAINING_FIELDS = ("RoleArn", "InputDataConfig", "VpcConfig", "OutputDataConfig", "ResourceConfig",
                   "StoppingCondition", "EnableNetworkIsolation", "EnableInterContainerTrafficEncryption",
                   "EnableManagedSpotTraining", "CheckpointConfig", "RetryStrategy", "Environment")


def child_request(tuning_name: str, child: str, definition: dict, params: dict[str, str], metric: str) -> dict:
    """The CreateTrainingJob request of one child: the definition's fields, static ∪ tuned hyperparameters."""
    spec = {k: v for k, v in (definition.get("AlgorithmSpecification") or {}).items()}
    req: dict[str, Any] = {"TrainingJobName": child, "AlgorithmSpecification": spec}
    for key in TRAINING_FIELDS:
        if definition.get(key) is not None:
            req[key] = definition[key]
    if "ResourceConfig" not in req and definition.get("HyperParameterTuningResourceConfig"):
        rc = definition["HyperParameterTuningResourceConfig"]
        req["ResourceConfig"] = {k: rc[k] for k in ("InstanceType", "InstanceCount", "VolumeSizeInGB") if k in rc}
    req.setdefault("StoppingCondition", {"MaxRuntimeInSeconds": 86400})
    req["HyperParameters"] = {**(definition.get("StaticHyperParameters") or {}), **params,
                              "_tuning_objective_metric": metric}
    return req


class TuningController(Controller):
    kind = KIND
    tick = 0.5
    busy_tick = 0.25  # while tuning jobs run: early stopping and limits are checked this often (a child that
    # ends wakes this controller at once: the training controller calls services.wake on it)

    def __init__(self, services: Services):
        super().__init__(services)
        self._strategies: dict[tuple[str, str], tuple[int, Strategy]] = {}  # (job, definition) -> (rev, obj)
        self._finished_series: dict[tuple[str, str], list] = {}  # (child, metric) -> its metric series

    # ------------------------------------------------------------------ the loop
    def reconcile_all(self) -> None:
        active = self.services.meta.list_in_status(KIND, ("InProgress", "Stopping"))
        self.tick = self.busy_tick if active else type(self).tick
        for res in active:
            try:
                self.reconcile(res.name)
            except ConflictError:
                # someone (Stop) changed it meanwhile: forget what this tick observed; the next tick
                # rebuilds the strategies from the stored state and sees the new status
                for key in [k for k in self._strategies if k[0] == res.name]:
                    self._strategies.pop(key, None)
            except Exception:
                log.exception("tuning job %s: reconcile failed", res.name)

    def reconcile(self, name: str) -> None:
        meta = self.services.meta
        res = meta.get(KIND, name)
        doc = res.doc
        state = TuningState.from_doc(doc)
        trials = state.trial_list
        rev = state.revision
        strategies = {d: self._strategy(name, d, st, rev) for d, st in (state.strategies or {}).items()}
        config = doc.get("HyperParameterTuningJobConfig") or {}
        limits = config.get("ResourceLimits") or {}
        defs = {d["DefinitionName"]: d for d in definitions_of(doc)}
        changed = False

        if not state.warm_started and doc.get("WarmStartConfig"):
            self._warm_start(doc, state, strategies)
            state.warm_started = True
            changed = True

        # 1. relaunch trials recorded but not created (crash between the two writes)
        for t in trials:
            if not t.launched:
                self._create_child(res, t, defs[t.definition])
                changed = True

        # 2. watch running children
        running = [t for t in trials if t.active]
        for t in running:
            child = meta.find("training-job", t.name)
            if child is None:
                t.status, t.reason = "Failed", "The training job disappeared."
            elif child.status in TERMINAL:
                self._finish(t, child, strategies[t.definition], state)
            else:
                if child.status != t.status:
                    t.status = child.status
                if res.status == "Stopping" or (config.get("TrainingJobEarlyStoppingType") == "Auto"
                                                and self._early_stop(t, trials, child, config)):
                    self._stop_child(t)
                continue
            changed = True

        # 3. decide: stop, finish, or launch more
        status = res.status
        now = time.time()
        active = [t for t in trials if t.active]
        finished_losses = self._losses(trials, strategies)
        max_jobs = int(limits.get("MaxNumberOfTrainingJobs") or 0) or None
        max_rt = limits.get("MaxRuntimeInSeconds")
        reason = None
        if status == "InProgress":
            if max_rt and now - doc["CreationTime"] >= float(max_rt):
                reason = "MaxRuntimeInSeconds reached"
                for t in active:
                    self._stop_child(t)
            else:
                reason = self._completion(config, finished_losses)
            grid_done = all(s.exhausted for s in strategies.values())
            if reason is None and not grid_done:
                launched = len(trials)
                budget = (max_jobs or (10**9 if config.get("Strategy") == "Grid" else 500)) - launched
                free = min(int(limits.get("MaxParallelTrainingJobs") or 1) - len(active), budget)
                if free > 0:
                    self._launch(res, doc, state, strategies, defs, free)
                    changed = True
            active = [t for t in trials if t.active]
            parallel = int(limits.get("MaxParallelTrainingJobs") or 1)
            if trials and all(t.launch_failed for t in trials) and len(trials) >= min(
                    parallel, max_jobs or parallel):
                # every child was refused at creation: the definition itself is wrong, stop now (fail fast)
                reason = "launch failed"
            if not active and (reason or grid_done or (max_jobs and len(trials) >= max_jobs)):
                status = "Failed" if trials and all(t.status == "Failed" for t in trials) else "Completed"
                if status == "Failed":
                    doc["FailureReason"] = "All training jobs failed. " + (
                        next((t.reason for t in trials if t.reason), "") or "")
                doc["HyperParameterTuningEndTime"] = now
                changed = True
        elif status == "Stopping":
            for t in active:
                self._stop_child(t)
            if not active:
                status = "Stopped"
                doc["HyperParameterTuningEndTime"] = now
                changed = True

        if changed or status != res.status or (state.rt_tick or 0) + 5 < now:
            self._save(res, doc, state, strategies, status, config, finished_losses)

    # ------------------------------------------------------------------ pieces
    def _strategy(self, job: str, definition: str, state: dict, rev: int) -> Strategy:
        cached = self._strategies.get((job, definition))
        if cached is not None and cached[0] == rev:
            return cached[1]
        s = strategy_from_state(state)
        self._strategies[(job, definition)] = (rev, s)
        return s

    @staticmethod
    def _minimise(config: dict) -> bool:
        obj = config.get("HyperParameterTuningJobObjective") or {}
        return obj.get("Type", "Minimize") == "Minimize"

    def _losses(self, trials: list[Trial], strategies: dict[str, Strategy]) -> list[float]:
        out = []
        for t in sorted((t for t in trials if t.value is not None), key=lambda t: t.ended or 0):
            s = strategies[t.definition]
            value = float(t.value or 0.0)
            out.append(-value if s.maximize else value)
        return out

    def _completion(self, config: dict, losses: list[float]) -> str | None:
        maximize = not self._minimise(config)
        return CompletionCriteria.from_aws(config.get("TuningJobCompletionCriteria"), maximize).check(losses)

    def _launch(self, res: Resource, doc: dict, state: TuningState, strategies: dict[str, Strategy],
                defs: dict[str, dict], free: int) -> None:
        trials = state.trial_list
        names = list(defs)
        for _ in range(free):
            d = names[len(trials) % len(names)]  # several definitions take turns
            batch = strategies[d].suggest(1)
            if not batch:
                d = next((n for n in names if not strategies[n].exhausted), None)
                batch = strategies[d].suggest(1) if d else []
                if not batch:
                    return
            params = batch[0]
            child = f"{res.name}-{len(trials) + 1:03d}-{uuid.uuid4().hex[:8]}"
            obj = objective_of(doc.get("HyperParameterTuningJobConfig") or {}, defs[d])
            trial = Trial(name=child, definition=d, params=params, status="InProgress", value=None,
                          created=time.time(), launched=False, objective=obj)
            trials.append(trial)
            strategies[d].observe(child, params, None, "InProgress")
            # write the intent first: a crash now leaves a record that step 1 completes after restart
            self._save(res, doc, state, strategies, res.status, doc.get("HyperParameterTuningJobConfig") or {},
                       None)
            self._create_child(res, trial, defs[d])

    def _create_child(self, res: Resource, trial: Trial, definition: dict) -> None:
        """Create the trial's training job, exactly as CreateTrainingJob would (a refusal fails the trial)."""
        if self.services.meta.find(training_job.KIND, trial.name) is None:
            metric = (trial.objective or {})["MetricName"]
            req = child_request(res.name, trial.name, definition, trial.params, metric)
            try:
                with acting_as(user_of(res.doc)):  # the tuning job's creator created its training jobs
                    training_job.create(self.services, req, parent=res.arn)
            except (ShipyardError, KeyError) as e:
                message = getattr(e, "message", "") or f"missing field {e}"
                trial.status, trial.reason, trial.ended = "Failed", message, time.time()
                trial.launched = trial.launch_failed = True
                self._strategies_of(res.name, trial.definition).observe(trial.name, trial.params, None, "Failed")
                return
        trial.launched = True

    def _strategies_of(self, job: str, definition: str) -> Strategy:
        return self._strategies[(job, definition)][1]

    def _finish(self, t: Trial, child: Resource, strategy: Strategy, state: TuningState) -> None:
        metric = (t.objective or {})["MetricName"]
        finals = {m.get("MetricName"): m.get("Value") for m in child.doc.get("FinalMetricDataList") or []}
        value = finals.get(metric)
        secondary = state.secondary or []
        values = [value] + [finals.get(m) for _, m in secondary] if secondary else None
        t.status, t.value, t.ended = child.status, None if value is None else float(value), time.time()
        if values is not None:
            t.values = values
        if child.status == "Failed":
            t.reason = child.doc.get("FailureReason", "")
        strategy.observe(t.name, t.params, t.value, child.status, values=values)

    def _early_stop(self, t: Trial, trials: list[Trial], child: Resource, config: dict) -> bool:
        if t.early_stopped:
            return False
        metric = (t.objective or {})["MetricName"]
        meta = self.services.meta

        def series(job: str) -> list[tuple[int, float]]:
            return [(step, value) for _, value, _, step in meta.get_metrics(job, metric)]

        peers = []
        for p in trials:
            if p is not t and p.status in ("Completed", "Stopped") and p.value is not None:
                if (p.name, metric) not in self._finished_series:  # a finished job's series is final
                    self._finished_series[(p.name, metric)] = series(p.name)
                peers.append(self._finished_series[(p.name, metric)])
        if should_stop(series(t.name), peers, maximize=not self._minimise(config)):
            t.early_stopped = True
            return True
        return False

    def _stop_child(self, t: Trial) -> None:
        """Stop the trial's training job, exactly as StopTrainingJob would (once)."""
        if t.stop_sent:
            return
        try:
            training_job.stop(self.services, t.name)
        except ShipyardError:
            pass  # it finished meanwhile
        t.stop_sent = True

    def _warm_start(self, doc: dict, state: TuningState, strategies: dict[str, Strategy]) -> None:
        """Seed every strategy with the parents' finished jobs that fit its space; find the overall best."""
        meta = self.services.meta
        best = None
        for s in strategies.values():  # TransferLearning: the GP treats the parents' jobs as a prior task
            s.options["warm_start_type"] = doc["WarmStartConfig"].get("WarmStartType")
        for p in (doc["WarmStartConfig"].get("ParentHyperParameterTuningJobs") or []):
            parent = meta.find(KIND, p.get("HyperParameterTuningJobName", ""))
            if parent is None:
                continue
            candidates = [parent.doc.get("OverallBestTrainingJob"), parent.doc.get("BestTrainingJob")]
            for t in TuningState.from_doc(parent.doc).trials or []:
                if t.value is None:
                    continue
                for s in strategies.values():
                    full = {**t.params}
                    if s.space.contains(full):
                        s.observe(f"parent:{t.name}", s.space.canonical(full), t.value, "Completed")
            for c in candidates:
                if c and c.get("FinalHyperParameterTuningJobObjectiveMetric"):
                    if best is None or self._better(c, best, doc):
                        best = c
        if best is not None:
            state.parent_best = best

    def _better(self, a: dict, b: dict, doc: dict) -> bool:
        va = a["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
        vb = b["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
        return va < vb if self._minimise(doc.get("HyperParameterTuningJobConfig") or {}) else va > vb

    def _save(self, res: Resource, doc: dict, state: TuningState, strategies: dict[str, Strategy], status: str,
              config: dict, losses: list[float] | None) -> None:
        meta = self.services.meta
        trials = state.trial_list
        now = time.time()
        counters = {"Completed": 0, "InProgress": 0, "RetryableError": 0, "NonRetryableError": 0, "Stopped": 0}
        objective = {"Succeeded": 0, "Pending": 0, "Failed": 0}
        for t in trials:
            st = t.status
            counters[{"Failed": "NonRetryableError", "Stopping": "InProgress"}.get(st, st)] += 1
            if t.value is not None:
                objective["Succeeded"] += 1
            elif st in ("InProgress", "Stopping"):
                objective["Pending"] += 1
            else:
                objective["Failed"] += 1
        rev = state.revision + 1
        changes: dict[str, Any] = {
            **state.changes(trials=trials, strategies={d: s.state() for d, s in strategies.items()}, rev=rev,
                            warm_started=state.warm_started, parent_best=state.parent_best, rt_tick=now),
            "TrainingJobStatusCounters": counters, "ObjectiveStatusCounters": objective,
            "HyperParameterTuningJobStatus": status, "LastModifiedTime": now,
            "ConsumedResources": {"RuntimeInSeconds": int((doc.get("HyperParameterTuningEndTime") or now)
                                                          - doc["CreationTime"])},
        }
        for key in ("HyperParameterTuningEndTime", "FailureReason"):
            if doc.get(key) is not None:
                changes[key] = doc[key]
        scored = [t for t in trials if t.value is not None]
        if scored:
            minimise = self._minimise(config)
            best = (min if minimise else max)(scored, key=lambda t: float(t.value or 0.0))
            changes["BestTrainingJob"] = trial_summary(self.services, res, best)
            overall = changes["BestTrainingJob"]
            if state.parent_best and self._better(state.parent_best, overall, doc):
                overall = state.parent_best
            if doc.get("WarmStartConfig"):
                changes["OverallBestTrainingJob"] = overall
            if losses is not None:
                crit = CompletionCriteria.from_aws(config.get("TuningJobCompletionCriteria"), not minimise)
                details = {"NumberOfTrainingJobsObjectiveNotImproving": crit.jobs_not_improving(losses)}
                if crit.convergence and crit.converged(losses):
                    details["ConvergenceDetectedTime"] = state.converged_at or now
                    changes.update(state.changes(converged_at=details["ConvergenceDetectedTime"]))
                changes["TuningJobCompletionDetails"] = details
        if state.secondary:
            vec = [t for t in trials if t.values and None not in t.values]
            dirs = [(config.get("HyperParameterTuningJobObjective") or {}).get("Type", "Minimize")] + [
                d for d, _ in state.secondary]
            front = pareto_front([t.values for t in vec], dirs)
            metrics = [(config.get("HyperParameterTuningJobObjective") or {}).get("MetricName")] + [
                m for _, m in state.secondary]
            changes.update(state.changes(pareto=[
                {"TrainingJobName": vec[i].name, "TunedHyperParameters": vec[i].params,
                 "Values": dict(zip(metrics, vec[i].values or []))} for i in front]))
        updated = meta.update(KIND, res.name, changes, status=status, expect_status={res.status},
                              expect_version=res.version)
        doc.update({k: v for k, v in changes.items() if v is not None})
        state.rev, state.rt_tick = rev, now
        if "_converged_at" in changes:
            state.converged_at = changes["_converged_at"]
        for d, s in strategies.items():
            self._strategies[(res.name, d)] = (rev, s)
        res.version = updated.version
        res.status = updated.status
        if status in TERMINAL:
            for d in strategies:
                self._strategies.pop((res.name, d), None)
            for key in [k for k in self._finished_series if k[0].startswith(res.name + "-")]:
                self._finished_series.pop(key, None)


__all__ = ["TuningController", "child_request", "public"]
