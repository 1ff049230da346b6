"""The QualityCheck step: what its definition may say, and the rules AWS documents for its outcome.

The SDK's ``QualityCheckStep`` emits a step whose ``Arguments`` are a CreateProcessingJob request for the
model-monitor analyzer (the baselining job of ``DefaultModelMonitor`` / ``ModelQualityMonitor``) and whose
check settings sit *beside* Arguments: ``CheckType``, ``SkipCheck``, ``FailOnViolation``,
``RegisterNewBaseline``, ``SuppliedBaselineStatistics``, ``SuppliedBaselineConstraints``,
``ModelPackageGroupName``. Each setting may be a pipeline expression (a parameter), so :func:`check_step` only
checks their shape when the pipeline is created and :func:`settings` reads the resolved values when it runs.

The lifecycle ("Baseline calculation, drift detection and lifecycle with ClarifyCheck and QualityCheck steps"
in AWS's Pipelines guide), which :func:`used_for_drift_check` and :func:`runs_check` encode:

- the step always calculates a new baseline (``CalculatedBaselineStatistics``/``...Constraints``);
- the *previous* baseline is the supplied one, else the ``DriftCheckBaselines`` of the latest Approved package
  of ``ModelPackageGroupName``; with ``SkipCheck`` false the data is checked against it and violations fail
  the step (unless ``FailOnViolation`` is false). With no previous baseline at all (a first run) there is
  nothing to check against, so the step only calculates;
- ``BaselineUsedForDriftCheck*`` are the calculated baseline when ``RegisterNewBaseline`` is true, else the
  previous one (the calculated one where there is none: it is then the only baseline there is).

Pure: no I/O; the engine (:mod:`shipyard.controllers.pipeline`) runs the jobs and reads S3.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shipyard.errors import ValidationError

DATA_QUALITY = "DATA_QUALITY"
MODEL_QUALITY = "MODEL_QUALITY"
CHECK_TYPES = (DATA_QUALITY, MODEL_QUALITY)
# The DriftCheckBaselines member of a model package that holds each check type's baseline (CreateModelPackage)
DRIFT_CHECK_MEMBER = {DATA_QUALITY: "ModelDataQuality", MODEL_QUALITY: "ModelQuality"}
# What ``Get Steps.<check>.<property>`` may read: S3 URIs of the baseline documents
PROPERTIES = ("CalculatedBaselineStatistics", "CalculatedBaselineConstraints",
              "BaselineUsedForDriftCheckStatistics", "BaselineUsedForDriftCheckConstraints")
STATISTICS_FILE = "statistics.json"
CONSTRAINTS_FILE = "constraints.json"
VIOLATIONS_FILE = "constraint_violations.json"
# where the drift check's own results go, under the step's output location (beside the calculated baseline)
DRIFT_CHECK_FOLDER = "drift-check"

_FLAGS = {"SkipCheck": False, "FailOnViolation": True, "RegisterNewBaseline": False}
_URIS = ("SuppliedBaselineStatistics", "SuppliedBaselineConstraints", "ModelPackageGroupName")


def _is_expression(value: Any) -> bool:
    return isinstance(value, dict) and any(k == "Get" or k.startswith("Std:") for k in value)


def check_step(name: str, raw: dict, arguments: Any) -> None:
    """CreatePipeline's checks of a QualityCheck step (``raw``: the step JSON), each error naming the field."""
    where = f"Step '{name}' (QualityCheck)"
    if raw.get("CheckType") not in CHECK_TYPES:
        raise ValidationError(f"{where}: CheckType must be DATA_QUALITY or MODEL_QUALITY, not "
                              f"{raw.get('CheckType')!r}.")
    for flag in _FLAGS:
        value = raw.get(flag)
        if value is not None and not isinstance(value, bool) and not _is_expression(value):
            raise ValidationError(f"{where}: {flag} must be true, false or a Boolean parameter, not {value!r}.")
    for field in _URIS:
        value = raw.get(field)
        if value is not None and not isinstance(value, str) and not _is_expression(value):
            raise ValidationError(f"{where}: {field} must be a string or a pipeline expression, not {value!r}.")
    for field in ("SuppliedBaselineStatistics", "SuppliedBaselineConstraints"):
        value = raw.get(field)
        if isinstance(value, str) and value and not value.startswith("s3://"):
            raise ValidationError(f"{where}: {field} {value!r} must be the s3:// URI of the baseline document.")
    if not isinstance(arguments, dict):
        raise ValidationError(f"{where}: Arguments must be the CreateProcessingJob request of the check's job.")
    app = arguments.get("AppSpecification")
    if not isinstance(app, dict) or not app.get("ImageUri"):
        raise ValidationError(f"{where}: Arguments.AppSpecification.ImageUri (the model-monitor analyzer image) is "
                              "missing.")
    outputs = (arguments.get("ProcessingOutputConfig") or {}).get("Outputs")
    if isinstance(outputs, list) and (len(outputs) != 1 or not isinstance(outputs[0], dict)
                                      or not isinstance(outputs[0].get("S3Output"), dict)):
        raise ValidationError(f"{where}: Arguments.ProcessingOutputConfig.Outputs must hold exactly one S3 output "
                              "(where the calculated statistics.json and constraints.json are written).")
    if not isinstance(outputs, list):
        raise ValidationError(f"{where}: Arguments.ProcessingOutputConfig.Outputs (the check's S3 output) is "
                              "missing.")


@dataclass(frozen=True)
class CheckSettings:
    """A QualityCheck step's settings as resolved for one execution."""

    check_type: str
    skip_check: bool
    fail_on_violation: bool
    register_new_baseline: bool
    supplied_statistics: str | None
    supplied_constraints: str | None
    model_package_group: str | None

    def metadata(self) -> dict[str, Any]:
        """The part of ListPipelineExecutionSteps' ``Metadata.QualityCheck`` known before the job runs."""
        out: dict[str, Any] = {"CheckType": self.check_type, "SkipCheck": self.skip_check,
                               "RegisterNewBaseline": self.register_new_baseline}
        if self.model_package_group:
            out["ModelPackageGroupName"] = self.model_package_group
        return out


def _flag(name: str, field: str, value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValidationError(f"Step '{name}': {field} resolved to {value!r}; it must be true or false.")


def _text(name: str, field: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValidationError(f"Step '{name}': {field} resolved to {value!r}; it must be a string.")
    if field.startswith("Supplied") and not value.startswith("s3://"):
        raise ValidationError(f"Step '{name}': {field} {value!r} must be the s3:// URI of the baseline document.")
    return value


def settings(name: str, resolved: dict) -> CheckSettings:
    """The settings from the step's resolved JSON (its expressions evaluated)."""
    return CheckSettings(
        check_type=str(resolved.get("CheckType")),
        skip_check=_flag(name, "SkipCheck", resolved.get("SkipCheck"), _FLAGS["SkipCheck"]),
        fail_on_violation=_flag(name, "FailOnViolation", resolved.get("FailOnViolation"), _FLAGS["FailOnViolation"]),
        register_new_baseline=_flag(name, "RegisterNewBaseline", resolved.get("RegisterNewBaseline"),
                                    _FLAGS["RegisterNewBaseline"]),
        supplied_statistics=_text(name, "SuppliedBaselineStatistics", resolved.get("SuppliedBaselineStatistics")),
        supplied_constraints=_text(name, "SuppliedBaselineConstraints", resolved.get("SuppliedBaselineConstraints")),
        model_package_group=_text(name, "ModelPackageGroupName", resolved.get("ModelPackageGroupName")),
    )


def setting_fields(raw: dict) -> dict:
    """The check settings of a step's JSON, to be resolved (everything of :class:`CheckSettings`)."""
    return {k: raw.get(k) for k in ("CheckType", *_FLAGS, *_URIS) if raw.get(k) is not None}


@dataclass(frozen=True)
class Baseline:
    """A pair of baseline documents (S3 URIs); either may be missing when only one was supplied."""

    statistics: str | None
    constraints: str | None

    def __bool__(self) -> bool:
        return bool(self.statistics or self.constraints)


def supplied_baseline(s: CheckSettings) -> Baseline:
    return Baseline(s.supplied_statistics, s.supplied_constraints)


def package_baseline(check_type: str, drift_check_baselines: Any) -> Baseline:
    """The baseline of ``check_type`` in a model package's DriftCheckBaselines (empty when it has none)."""
    member = (drift_check_baselines or {}).get(DRIFT_CHECK_MEMBER[check_type]) if isinstance(
        drift_check_baselines, dict) else None
    if not isinstance(member, dict):
        return Baseline(None, None)
    return Baseline((member.get("Statistics") or {}).get("S3Uri"), (member.get("Constraints") or {}).get("S3Uri"))


def runs_check(s: CheckSettings, previous: Baseline) -> bool:
    """Whether the data is checked against the previous baseline (see the module docstring)."""
    return not s.skip_check and bool(previous)


def calculated(output_uri: str) -> Baseline:
    """Where the baseline job writes the calculated documents: its one output's S3 location."""
    base = output_uri.rstrip("/")
    return Baseline(f"{base}/{STATISTICS_FILE}", f"{base}/{CONSTRAINTS_FILE}")


def drift_check_output(output_uri: str) -> str:
    return f"{output_uri.rstrip('/')}/{DRIFT_CHECK_FOLDER}"


def used_for_drift_check(s: CheckSettings, previous: Baseline, new: Baseline) -> Baseline:
    if s.register_new_baseline or not previous:
        return new
    return Baseline(previous.statistics or new.statistics, previous.constraints or new.constraints)


def used_metadata(s: CheckSettings, previous: Baseline, new: Baseline) -> dict[str, str]:
    """``BaselineUsedForDriftCheck*`` as Metadata.QualityCheck holds them."""
    used = used_for_drift_check(s, previous, new)
    values = {"BaselineUsedForDriftCheckStatistics": used.statistics,
              "BaselineUsedForDriftCheckConstraints": used.constraints}
    return {k: v for k, v in values.items() if v}


def checking(metadata: dict) -> bool:
    """Whether a QualityCheck step whose Metadata.QualityCheck is ``metadata`` is still checking against the
    previous baseline: the engine writes ``BaselineUsedForDriftCheck*`` once the check is over (or, where no
    check runs, before the first job)."""
    return not any(k in metadata for k in ("BaselineUsedForDriftCheckStatistics",
                                           "BaselineUsedForDriftCheckConstraints"))


def properties(metadata: dict) -> dict[str, str]:
    """The step's properties (what later steps read with ``Get Steps.<check>.<property>``): the four S3 URIs of
    its Metadata.QualityCheck."""
    return {k: metadata[k] for k in PROPERTIES if metadata.get(k)}


def violations_summary(document: Any, limit: int = 10) -> str:
    """``feature 'x': baseline_drift_check (description); ...`` from a constraint_violations.json."""
    items = document.get("violations") if isinstance(document, dict) else None
    if not isinstance(items, list) or not items:
        return "no violations listed"
    parts = []
    for v in items[:limit]:
        if not isinstance(v, dict):
            continue
        text = f"feature '{v.get('feature_name', '?')}': {v.get('constraint_check_type', '?')}"
        if v.get("description"):
            text += f" ({str(v['description'])[:200]})"
        parts.append(text)
    more = f"; and {len(items) - limit} more" if len(items) > limit else ""
    return "; ".join(parts) + more
