"""The Debugger rule controller: each rule of a training job runs as a processing job beside it.

For every training job with ``DebugRuleConfigurations`` or ``ProfilerRuleConfigurations`` it

- starts one processing job per rule (named ``<job>-<rule>-<hash>`` as AWS names them; AWS's rule image, which
  :mod:`shipyard.processing.program` maps to :mod:`shipyard.debugger.rule_job`), allowed to read the job's
  ``debug-output/`` or ``profiler-output/`` as it grows and writing to the rule's ``rule-output/<rule>/``;
- follows them into ``DebugRuleEvaluationStatuses`` / ``ProfilerRuleEvaluationStatuses``: InProgress, then
  IssuesFound (the rule job's ExitMessage says ``RuleEvaluationConditionMet``, which becomes StatusDetails),
  NoIssuesFound, Error (the job failed: its FailureReason) or Stopped;
- applies a rule's ``StopTraining`` action (``action_json``): IssuesFound stops the training job;
- stops a rule still waiting ``RULE_GRACE`` seconds after its training job ended (a job that ended before it
  could mark its tensors complete).

Everything is in the training job's document (``_rule_jobs``) and the processing jobs, so a restarted server
resumes; at start-up one scan finds the finished jobs whose rules were still open.
"""

from __future__ import annotations

import logging
import time

from ..domain import job_keys
from ..domain.acting import user_of
from ..domain.status import TRAINING_ACTIVE
from ..errors import ConflictError, MissingResource, ShipyardError
from ..resources import debug_rules as dr
from .base import Controller

log = logging.getLogger("shipyard.controllers.debug_rules")

TRAINING = "training-job"
PROCESSING = "processing-job"
RULE_GRACE = 60.0
RULE_OUTPUT_PATH = "/opt/ml/processing/output/rule"
DEFAULT_RULE_INSTANCE = "ml.t3.medium"
_FAMILIES = (("DebugRuleConfigurations", dr.DEBUG_STATUSES, "debug"),
             ("ProfilerRuleConfigurations", dr.PROFILER_STATUSES, "profiler"))


def _has_rules(doc: dict) -> bool:
    return bool(doc.get("DebugRuleConfigurations") or doc.get("ProfilerRuleConfigurations"))


def _open(doc: dict) -> bool:
    return any(s.get("RuleEvaluationStatus") == "InProgress"
               for key in (dr.DEBUG_STATUSES, dr.PROFILER_STATUSES) for s in doc.get(key) or [])


class DebugRuleController(Controller):
    kind = "debug-rules"
    tick = 1.0

    def __init__(self, services):
        super().__init__(services)
        self._watch: set[str] | None = None  # finished training jobs whose rules are still open

    def reconcile_all(self) -> None:
        meta = self.services.meta
        if self._watch is None:  # start-up: finished jobs whose rules had not reported yet
            self._watch = {r.name for r in meta.list_in_status(TRAINING, {"Completed", "Failed", "Stopped"})
                           if _has_rules(r.doc) and _open(r.doc)}
        names = {r.name for r in meta.list_in_status(TRAINING, TRAINING_ACTIVE) if _has_rules(r.doc)}
        for name in sorted(names | self._watch):
            try:
                r = meta.get(TRAINING, name)
                if self.reconcile(r):
                    self._watch.add(name)
                else:
                    self._watch.discard(name)
            except MissingResource:
                self._watch.discard(name)
            except Exception:  # noqa: BLE001 - one job's trouble must not stop the others
                log.exception("reconciling the rules of training job %s failed; retrying next tick", name)

    def reconcile(self, r) -> bool:
        """Start, follow and act on the rules of one training job; whether any rule is still open."""
        doc = r.doc
        jobs = dict(doc.get(dr.RULE_JOBS) or {})
        changes: dict = {}
        stop_training = ""
        now = time.time()
        for member, status_key, family in _FAMILIES:
            configs = doc.get(member) or []
            if not configs:
                continue
            statuses = [dict(s) for s in doc.get(status_key) or []]
            by_name = {s["RuleConfigurationName"]: s for s in statuses}
            for config in configs:
                rule = config["RuleConfigurationName"]
                entry = by_name.setdefault(rule, {"RuleConfigurationName": rule, "RuleEvaluationStatus": "InProgress"})
                if entry["RuleEvaluationStatus"] != "InProgress":
                    continue
                key = f"{family}:{rule}"
                if key not in jobs:
                    try:
                        arn, job_name = self._launch(r, config, family)
                    except ShipyardError as e:
                        self._set(entry, "Error", f"The rule's processing job could not be started: {e}", now)
                        continue
                    jobs[key] = job_name
                    entry["RuleEvaluationJobArn"] = arn
                    entry["LastModifiedTime"] = now
                    continue
                outcome, details = self._follow(r, jobs[key])
                if outcome != "InProgress":
                    self._set(entry, outcome, details, now)
                    if outcome == "IssuesFound" and dr.stops_training(config):
                        stop_training = f"{rule}: {details}"
            new = [by_name[s["RuleConfigurationName"]] for s in statuses] + \
                  [by_name[c["RuleConfigurationName"]] for c in configs
                   if c["RuleConfigurationName"] not in {s["RuleConfigurationName"] for s in statuses}]
            if new != (doc.get(status_key) or []):
                changes[status_key] = new
        if jobs != (doc.get(dr.RULE_JOBS) or {}):
            changes[dr.RULE_JOBS] = jobs
        if changes:
            self._save(r, changes)
        if stop_training and r.status == "InProgress":
            from ..resources import training_job

            log.info("training job %s: stopping it (StopTraining action of rule %s)", r.name, stop_training)
            try:
                training_job.stop(self.services, r.name)
            except ShipyardError as e:  # it finished meanwhile
                log.info("training job %s: not stopped (%s)", r.name, e)
        merged = dict(doc, **changes)
        still_open = _open(merged)
        if still_open and r.status not in TRAINING_ACTIVE:
            self._stop_late_rules(r, merged, jobs)
        return still_open

    def _set(self, entry: dict, status: str, details: str, now: float) -> None:
        entry["RuleEvaluationStatus"] = status
        if details:
            entry["StatusDetails"] = details[:1024]
        entry["LastModifiedTime"] = now

    def _save(self, r, changes: dict) -> None:
        meta = self.services.meta
        current = r
        for _ in range(5):
            try:
                meta.update(TRAINING, r.name, changes, expect_version=current.version)
                return
            except ConflictError:
                current = meta.get(TRAINING, r.name)
        meta.update(TRAINING, r.name, changes)

    def _follow(self, r, job_name: str) -> tuple[str, str]:
        """(rule status, details) from the rule's processing job."""
        p = self.services.meta.find(PROCESSING, job_name)
        if p is None:
            return "Error", f"The rule's processing job {job_name} no longer exists."
        if p.status in ("InProgress", "Stopping"):
            return "InProgress", ""
        if p.status == "Completed":
            message = str(p.doc.get("ExitMessage") or "")
            if message.startswith("RuleEvaluationConditionMet"):
                return "IssuesFound", message
            return "NoIssuesFound", ""
        if p.status == "Stopped":
            return "Stopped", "The rule's processing job was stopped."
        return "Error", str(p.doc.get("FailureReason") or "The rule's processing job failed.")

    def _launch(self, r, config: dict, family: str) -> tuple[str, str]:
        """Create the rule's processing job; (its ARN, its name). An existing one (a restart between create and
        save) is adopted."""
        from ..debugger.job_side import profiler_uri, tensors_uri
        from ..resources import processing_job

        doc = r.doc
        rule = config["RuleConfigurationName"]
        name = dr.rule_job_name(r.name, rule)
        existing = self.services.meta.find(PROCESSING, name)
        if existing is not None:
            return existing.arn, name
        request = {**doc, "TrainingJobName": r.name}
        params = {k: str(v) for k, v in (config.get("RuleParameters") or {}).items()}
        invoke = params.pop("rule_to_invoke")
        args = ["--rule", invoke]
        if family == "debug":
            source = tensors_uri(request)
            args += ["--tensors", source]
            base = config.get("S3OutputPath") or doc["DebugHookConfig"]["S3OutputPath"]
        else:
            source = profiler_uri(request)
            args += ["--profiler", source]
            base = config.get("S3OutputPath") or doc["ProfilerConfig"]["S3OutputPath"]
        for k, v in sorted(params.items()):
            if k != "action_json":
                args += ["--param", f"{k}={v}"]
        output = f"{base.rstrip('/')}/{r.name}/rule-output/{rule}" if not config.get("S3OutputPath") else base
        max_runtime = int((doc.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds") or 86400)
        request_params = {
            "ProcessingJobName": name,
            "ProcessingResources": {"ClusterConfig": {
                "InstanceCount": 1, "InstanceType": config.get("InstanceType") or DEFAULT_RULE_INSTANCE,
                "VolumeSizeInGB": int(config.get("VolumeSizeInGB") or 30)}},
            "AppSpecification": {"ImageUri": config["RuleEvaluatorImage"], "ContainerArguments": args},
            "ProcessingOutputConfig": {"Outputs": [{"OutputName": "rule-output", "S3Output": {
                "S3Uri": output, "LocalPath": config.get("LocalPath") or RULE_OUTPUT_PATH,
                "S3UploadMode": "EndOfJob"}}]},
            "StoppingCondition": {"MaxRuntimeInSeconds": min(max_runtime + 3600, 432000)},
            "RoleArn": doc.get("RoleArn") or "",
        }
        prefix = job_keys.s3_prefix(source).rstrip("/") + "/"
        result = processing_job.create(self.services, request_params,
                                       extra={"_rule_reads": [prefix], "_user": user_of(doc)})
        log.info("training job %s: rule %s runs as processing job %s", r.name, rule, name)
        return result["ProcessingJobArn"], name

    def _stop_late_rules(self, r, doc: dict, jobs: dict) -> None:
        """Rules still waiting RULE_GRACE seconds after their training job ended are stopped."""
        ended = float(doc.get("TrainingEndTime") or r.modified or 0)
        if time.time() < ended + RULE_GRACE:
            return
        from ..resources import processing_job

        for job_name in jobs.values():
            p = self.services.meta.find(PROCESSING, job_name)
            if p is not None and p.status == "InProgress":
                log.info("training job %s ended %.0f s ago; stopping its rule job %s", r.name, RULE_GRACE, job_name)
                try:
                    processing_job.stop(self.services, job_name)
                except ShipyardError:
                    pass
