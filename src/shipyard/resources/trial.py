"""The trial resource: one group of trial components inside one experiment (the SDK's "run group").

A trial's experiment is its store ``parent`` (lower-cased name), so an experiment's trials are one indexed
query. Its trial components are many-to-many: :mod:`shipyard.resources.trial_component` keeps both sides of an
association (the trial's ``_components`` and the component's ``_trials``) with compare-and-set writes.
"""

from __future__ import annotations

from typing import Any

from ..context import Services
from ..domain.arns import name_from
from ..domain.experiment_state import TrialState
from ..errors import ConflictError, MissingResource, ResourceInUse, ResourceNotFound, ValidationError
from ..metastore.base import Resource
from . import experiment

KIND = "experiment-trial"
COMPONENT_KIND = "experiment-trial-component"
_CAS_TRIES = 200


def get(services: Services, name_or_arn: str) -> Resource:
    name = name_from(name_or_arn)
    try:
        return services.meta.get(KIND, name)
    except MissingResource:
        raise ResourceNotFound(f"Trial {name!r} does not exist: create it with CreateTrial first.") from None


def create(services: Services, params: dict, source: dict | None = None) -> dict:
    """``source`` (``{SourceArn, SourceType}``): set only by the server, for a trial a job made."""
    name = params["TrialName"]
    exp = experiment.get(services, params["ExperimentName"])
    arn = services.arn(KIND, name)
    doc: dict[str, Any] = {"TrialName": name, "TrialArn": arn, "DisplayName": params.get("DisplayName") or name,
                           "ExperimentName": exp.name, "CreatedBy": {}, "LastModifiedBy": {}}
    if source:
        doc["Source"] = dict(source)
    if params.get("MetadataProperties"):
        doc["MetadataProperties"] = params["MetadataProperties"]
    doc.update(TrialState(tags=list(params["Tags"]) if params.get("Tags") else None).to_doc())
    try:
        services.meta.create(KIND, name, arn, "Active", doc, parent=exp.name.lower())
    except ResourceInUse:
        raise ValidationError(f"Trial {name!r} already exists ({arn}): pick another name or use "
                              "DescribeTrial.") from None
    return {"TrialArn": arn}


def describe(resource: Resource) -> dict:
    out = experiment.public(resource.doc)
    out["CreationTime"] = resource.created
    out["LastModifiedTime"] = resource.modified
    return out


def summary(resource: Resource) -> dict:
    d = describe(resource)
    out = {k: d[k] for k in ("TrialArn", "TrialName", "DisplayName", "CreationTime", "LastModifiedTime") if k in d}
    if "Source" in d:
        out["TrialSource"] = d["Source"]
    return out


def list_trials(services: Services, params: dict) -> dict:
    exp_name = params.get("ExperimentName")
    exp = experiment.get(services, exp_name) if exp_name else None
    if params.get("TrialComponentName"):
        from . import trial_component  # here: trial_component imports this module

        component = trial_component.get(services, params["TrialComponentName"])
        trials = [t for t in (services.meta.find(KIND, n) for n in trial_component.trials_of(component)) if t]
        if exp is not None:
            trials = [t for t in trials if t.parent == exp.name.lower()]
        return experiment.page_of(trials, params, "TrialSummaries", summary)
    q = experiment.list_query(params, parent=exp.name.lower() if exp else None)
    page = services.meta.list(KIND, q)
    out: dict[str, Any] = {"TrialSummaries": [summary(r) for r in page.items]}
    if page.next_token:
        out["NextToken"] = page.next_token
    return out


def update(services: Services, params: dict) -> dict:
    r = get(services, params["TrialName"])
    if "DisplayName" in params:
        services.meta.update(KIND, r.name, {"DisplayName": params["DisplayName"]})
    return {"TrialArn": r.arn}


def delete(services: Services, name: str) -> dict:
    """Delete a trial; as on AWS, its trial components must be disassociated first."""
    r = get(services, name)
    held = TrialState.of(r.doc).components
    if held:
        raise ValidationError(f"Trial {r.name!r} still has trial component {held[0]!r}: disassociate its trial "
                              "components (DisassociateTrialComponent) before deleting the trial.")
    services.meta.delete_associations_of(r.arn)  # its lineage edges go with it
    try:
        services.meta.delete(KIND, r.name)
    except MissingResource:
        pass
    return {"TrialArn": r.arn}


def components_of(resource: Resource) -> list[str]:
    return TrialState.of(resource.doc).components


def set_component(services: Services, trial_name: str, component: str, present: bool) -> Resource:
    """Add or remove a component name on the trial (compare-and-set, retried under concurrent writers)."""
    key = component.lower()
    for _ in range(_CAS_TRIES):
        r = get(services, trial_name)
        state = TrialState.of(r.doc)
        if (key in state.components) == present:
            return r
        members = state.components + [key] if present else [c for c in state.components if c != key]
        try:
            return services.meta.update(KIND, r.name, state.changes(components=members), expect_version=r.version)
        except ConflictError:
            continue
        except MissingResource:
            break
    get(services, trial_name)
    raise ConflictError(f"Trial {trial_name!r} is being changed by many callers at once; retry.")
