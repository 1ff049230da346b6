"""A pipeline execution's QualityCheck steps: the part of a reconcile (:class:`.pipeline._Tick`) that runs them.

A QualityCheck step runs processing jobs on the model-monitor analyzer: the check against the previous baseline
(when there is one and SkipCheck is false), whose violations fail the step, then the baselining job; its
properties are the S3 URIs of the baselines. AWS's rules are pure, in :mod:`shipyard.pipelines.quality_check`;
this mixin holds what needs the execution (its resolver, its jobs, the store).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..context import Services
from ..domain.pipeline_state import StepRecord
from ..errors import ValidationError
from ..metastore.base import Resource
from ..pipelines import quality_check
from ..pipelines.caching import cache_key
from ..pipelines.definition import Definition, Step
from ..pipelines.expressions import evaluate
from .pipeline_steps import (QUALITY_CHECK, ExecutionResolver, JobKind, check_output_uri, missing_objects,
                             previous_baseline)


class QualityCheckSteps:
    """Mixed into the execution's reconcile, which provides the attributes and job methods declared here."""

    services: Services
    res: Resource
    defn: Definition
    resolver: ExecutionResolver

    if TYPE_CHECKING:
        def launch(self, rec: StepRecord, step: Step, job_kind: JobKind, name: str | None = None,
                   args: dict | None = None) -> None: ...

        def cache_hit(self, rec: StepRecord, step: Step) -> bool: ...

        def job_arguments(self, step: Step, job_name: str) -> Any: ...

        def step_request(self, rec: StepRecord, step: Step, job_name: str, args: Any = None) -> Any: ...

    def check_settings(self, step: Step) -> quality_check.CheckSettings:
        raw = step.raw if isinstance(step.raw, dict) else {}
        resolved = evaluate(quality_check.setting_fields(raw), self.defn, self.resolver)
        return quality_check.settings(step.name, resolved if isinstance(resolved, dict) else {})

    def start_quality_check(self, rec: StepRecord, step: Step) -> None:
        """A QualityCheck step runs up to two processing jobs on the analyzer image, one after the other: where a
        previous baseline exists and SkipCheck is false, the check job first (:func:`drift_check_request`), whose
        violations decide the step; then the baselining job (the step's Arguments as the SDK built them), which
        calculates the new baseline. The check comes first because the new baseline may be written where the
        previous one lies (the SDK's default output location is fixed when the pipeline is defined), as AWS's
        single job reads the previous baseline before it writes the new one.

        Which of the two a record's job is follows from its metadata: ``BaselineUsedForDriftCheck*`` are written
        once the check has passed (at once when there is no check), so a record without them is checking."""
        settings = self.check_settings(step)
        name = QUALITY_CHECK.job_name(self.res.name, step.name)
        args = self.job_arguments(step, name)
        if not isinstance(args, dict):
            raise ValidationError("Arguments must be a JSON object (the CreateProcessingJob request).")
        output = check_output_uri(args)
        meta = settings.metadata()
        previous = previous_baseline(self.services, settings)
        if not quality_check.runs_check(settings, previous):
            meta.update(quality_check.used_metadata(settings, previous, quality_check.calculated(output)))
        rec.metadata = {QUALITY_CHECK.meta_key: meta}
        if step.cache_enabled:
            rec.cache_key = cache_key(step, self.check_cache_fields(args, settings))
            if self.cache_hit(rec, step):
                return
        self.launch(rec, step, QUALITY_CHECK, name=name, args=self.step_request(rec, step, name, args))

    @staticmethod
    def check_cache_fields(args: dict, settings: quality_check.CheckSettings) -> dict:
        """What a QualityCheck step's cache key is computed from, under the names of AWS's key attributes
        (:data:`shipyard.pipelines.caching.CACHE_KEY_FIELDS`): what the job reads (image, environment,
        inputs) and the check settings; not where it writes or on what instances."""
        return {
            "QualityCheckConfig": {k: args.get(k) for k in ("AppSpecification", "Environment", "ProcessingInputs")},
            "CheckJobConfig": {"CheckType": settings.check_type, "FailOnViolation": settings.fail_on_violation},
            "SkipCheck": settings.skip_check, "RegisterNewBaseline": settings.register_new_baseline,
            "ModelPackageGroupName": settings.model_package_group,
            "SuppliedBaselineStatistics": settings.supplied_statistics,
            "SuppliedBaselineConstraints": settings.supplied_constraints,
        }

    def quality_check_ended(self, rec: StepRecord, step: Step, child: Resource) -> None:
        """One of a QualityCheck step's jobs Completed: decide the check and start the baselining job, or
        record the calculated baseline and succeed."""
        settings = self.check_settings(step)
        meta = dict(rec.metadata.get(QUALITY_CHECK.meta_key) or {})
        if quality_check.checking(meta):
            self.drift_checked(rec, step, settings, meta, child)
            return
        new = quality_check.calculated(check_output_uri(child.doc))
        missing = missing_objects(self.services, [new.statistics or "", new.constraints or ""])
        if missing:
            rec.status, rec.failure = "Failed", (
                f"Step '{step.name}': the baselining job {child.name} completed without writing "
                f"{' and '.join(missing)}; a QualityCheck step's job must run the model-monitor analyzer image.")
            return
        meta.update(CalculatedBaselineStatistics=new.statistics, CalculatedBaselineConstraints=new.constraints)
        rec.metadata = {QUALITY_CHECK.meta_key: meta}
        rec.status = "Succeeded"
        rec.properties = quality_check.properties(meta)

    def drift_checked(self, rec: StepRecord, step: Step, settings: quality_check.CheckSettings, meta: dict,
                      child: Resource) -> None:
        """The check job ended: fail the step on violations (FailOnViolation), else go on to the baseline."""
        from ..resources.monitoring_contract import VIOLATIONS_EXIT_PREFIX

        previous = previous_baseline(self.services, settings)
        output = check_output_uri(self.job_arguments(step, child.name))
        meta.update(quality_check.used_metadata(settings, previous, quality_check.calculated(output)))
        violated = str(child.doc.get("ExitMessage") or "").startswith(VIOLATIONS_EXIT_PREFIX)
        if violated:
            meta["ViolationReport"] = f"{check_output_uri(child.doc).rstrip('/')}/{quality_check.VIOLATIONS_FILE}"
        rec.metadata = {QUALITY_CHECK.meta_key: meta}
        if not violated or not settings.fail_on_violation:
            rec.job, rec.end, rec.created = None, None, False
            self.launch(rec, step, QUALITY_CHECK)
            return
        report = meta["ViolationReport"]
        try:
            summary = quality_check.violations_summary(self.resolver.read_json(report))
        except ValidationError:
            summary = str(child.doc.get("ExitMessage"))
        rec.status, rec.failure = "Failed", (
            f"Step '{step.name}': the {settings.check_type} check found violations of "
            f"{previous.constraints or previous.statistics}: {summary}. The violation report is {report}.")
