"""Search on the wire: filter, sort and page SageMaker resources by any property of their Describe record.

The request is parsed and checked by :mod:`shipyard.search`; the store answers from its search index
(:meth:`MetaStore.search`), so a query costs index scans, not a read of every document. Each hit is the
resource's Describe view wrapped in its record key (``{"TrainingJob": {...}}``), as botocore's SearchRecord.

A trial component's ``Parents`` are computed (its trials, and their experiments), not stored; filters on
``Parents.TrialName`` / ``Parents.ExperimentName`` are answered from the component's indexed trial names.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from ..context import Services
from ..errors import ValidationError
from ..metastore.base import Resource
from ..metastore.search_query import NestedFilter, SearchExpr, SearchFilter
from ..resources import (experiment, model_package, model_package_group, pipeline, training_job, trial,
                         trial_component, tuning_job)
from ..search import parse_search
from .registry import operation

_TRIALS_PATH = "_trials"  # the component's lower-cased trial names, indexed (metastore.search_query)
_PARENT_OPERATORS = ("Equals", "In", "Exists", "NotExists")


def _public(resource: Resource) -> dict:
    out = {k: v for k, v in resource.doc.items() if not k.startswith("_")}
    out.setdefault("CreationTime", resource.created)
    out["LastModifiedTime"] = resource.modified
    return out


def _component(services: Services, resource: Resource) -> dict:
    out = trial_component.describe(services, resource)
    out["Parents"] = trial_component.parents(services, resource)
    for key in ("Parameters", "InputArtifacts", "OutputArtifacts"):  # AWS always has them; the SDK's
        out.setdefault(key, {})                                      # ExperimentAnalytics relies on it
    out.setdefault("Metrics", [])
    return out


def _pipeline(services: Services, resource: Resource) -> dict:
    return pipeline.describe(services, {"PipelineName": resource.name})


def _execution(services: Services, resource: Resource) -> dict:
    return pipeline.describe_execution(services, resource.arn)


def _plain(describe: Callable[[Resource], dict]) -> Callable[[Services, Resource], dict]:
    return lambda _services, resource: describe(resource)


_RECORDS: dict[str, Callable[[Services, Resource], dict]] = {
    "training-job": _plain(training_job.describe),
    "experiment": _plain(experiment.describe),
    "experiment-trial": _plain(trial.describe),
    "experiment-trial-component": _component,
    "model-package": _plain(model_package.describe),
    "model-package-group": _plain(model_package_group.describe),
    "pipeline": _pipeline,
    "pipeline-execution": _execution,
    "hyper-parameter-tuning-job": _plain(tuning_job.describe),
}


def _record(services: Services, kind: str, resource: Resource) -> dict:
    out = _RECORDS.get(kind, _plain(_public))(services, resource)
    tags = resource.doc.get("_tags")
    if tags is not None:
        out["Tags"] = tags
    return {k: v for k, v in out.items() if v is not None}


# --- trial component parents ---

def _trials_of_experiments(services: Services, names: list[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        exp = services.meta.find(experiment.KIND, name)
        if exp is not None:
            out += [t.name.lower() for t in experiment.all_of(services, trial.KIND, parent=exp.name.lower())]
    return out


def _parent_filter(services: Services, f: SearchFilter) -> SearchFilter:
    field = f.path.split(".", 1)[1] if "." in f.path else ""
    if f.operator not in _PARENT_OPERATORS or field not in ("TrialName", "ExperimentName"):
        if f.path == "Parents" and f.operator in ("Exists", "NotExists"):
            return SearchFilter(_TRIALS_PATH, f.operator)
        raise ValidationError(f"A filter on {f.path} supports the operators {', '.join(_PARENT_OPERATORS)} on "
                              "Parents.TrialName and Parents.ExperimentName.")
    if f.operator in ("Exists", "NotExists"):
        return SearchFilter(_TRIALS_PATH, f.operator)
    values = [v.strip() for v in (f.value or "").split(",")] if f.operator == "In" else [f.value or ""]
    trials = [v.lower() for v in values if v] if field == "TrialName" else _trials_of_experiments(services, values)
    if not trials:
        trials = ["no_such_trial_"]  # "_" is not allowed in a trial name: matches nothing
    return SearchFilter(_TRIALS_PATH, "In", ",".join(trials))


def _rewrite_parents(services: Services, expr: SearchExpr) -> SearchExpr:
    def fix(f: SearchFilter) -> SearchFilter:
        return _parent_filter(services, f) if f.path == "Parents" or f.path.startswith("Parents.") else f

    nested: list[NestedFilter] = []
    extra: list[SearchFilter] = []
    for n in expr.nested:
        if n.property == "Parents":  # each filter on the same trial: approximated by all of them holding
            extra += [fix(f) for f in n.filters]
        else:
            nested.append(n)
    return dataclasses.replace(
        expr, filters=tuple(fix(f) for f in expr.filters) + tuple(extra), nested=tuple(nested),
        subexpressions=tuple(_rewrite_parents(services, e) for e in expr.subexpressions))


@operation("sagemaker", "Search")
def search(services: Services, params: dict) -> dict:
    search_type, query = parse_search(params)
    if search_type.kind == trial_component.KIND and query.expression is not None:
        if query.sort_by is not None and query.sort_by.startswith("Parents"):
            raise ValidationError("SortBy: trial components cannot be sorted by Parents; sort by a name, a time, "
                                  "a parameter or a metric.")
        query.expression = _rewrite_parents(services, query.expression)
    page = services.meta.search(search_type.kind, query)
    out: dict[str, Any] = {"Results": [{search_type.record_key: _record(services, search_type.kind, r)}
                                       for r in page.items]}
    if page.next_token:
        out["NextToken"] = page.next_token
    return out
