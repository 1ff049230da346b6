"""The hyperparameter tuning-job resource: validate, create, describe, list, stop and delete a tuning job,
and list its training jobs.

Create validates everything that can be known before a job starts (ranges, strategy rules, that the
objective metric is emitted by the algorithm or the job's MetricDefinitions, warm-start parents) and
stores the job as ``InProgress``; :class:`shipyard.controllers.tuning.TuningController` does the rest, with
the helpers here (:func:`definitions_of`, :func:`objective_of`, :func:`trial_summary`). Private state lives
in ``_`` keys of the document, typed in :class:`shipyard.domain.tuning_state.TuningState`: one strategy
state per training-job definition, and a record of every trial.

Callers: :mod:`shipyard.api.tuning` (the wire adapters) and the tuning controller.
"""

from __future__ import annotations

import base64
import re
import time
from typing import Any

from ..context import Services
from ..domain.acting import stamp
from ..domain.arns import name_from
from ..domain.tuning_state import Trial, TuningState
from ..errors import MissingResource, ResourceInUse, ValidationError
from ..metastore.base import ListQuery, Resource
from ..tuning.completion import CompletionCriteria
from ..tuning.hyperband import RESOURCE_NAMES
from ..tuning.pareto import TAG_KEY, parse_tag
from ..tuning.space import SearchSpace
from ..tuning.strategy import make_strategy
from ..usage.budgets import check_budget

KIND = "hyper-parameter-tuning-job"
NOUN = "hyper-parameter tuning job"
_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}$")
DEFAULT_MAX_JOBS = 500


def public(doc: dict) -> dict:
    """A stored document without its private (``_``-prefixed) top-level keys: what Describe returns."""
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def definitions_of(req: dict) -> list[dict]:
    """The training-job definitions of a request (or stored document), each with its DefinitionName."""
    single = [req["TrainingJobDefinition"]] if req.get("TrainingJobDefinition") else []
    defs = req.get("TrainingJobDefinitions") or single
    return [dict(d, DefinitionName=d.get("DefinitionName") or f"definition-{i + 1}") for i, d in enumerate(defs)]


def objective_of(config: dict, definition: dict) -> dict:
    """The objective of one definition: its own TuningObjective, else the job's."""
    obj = definition.get("TuningObjective") or config.get("HyperParameterTuningJobObjective")
    if not obj or not obj.get("MetricName") or obj.get("Type") not in ("Maximize", "Minimize"):
        raise ValidationError(
            "HyperParameterTuningJobObjective (or the definition's TuningObjective) needs a Type "
            "(Maximize|Minimize) and a MetricName.")
    return obj


def builtin_of(definition: dict):
    """The built-in algorithm a definition runs, or None for script mode / your own container."""
    from ..algorithms.registry import resolve

    spec = definition.get("AlgorithmSpecification") or {}
    image = spec.get("TrainingImage") or spec.get("AlgorithmName") or ""
    kind, algo = resolve(image, definition.get("StaticHyperParameters") or {}, definition.get("Environment") or {})
    return algo if kind == "builtin" else None


def emitted_metrics(definition: dict) -> set[str]:
    """Metric names the training job will report: its MetricDefinitions, plus the built-in algorithm's."""
    spec = definition.get("AlgorithmSpecification") or {}
    names = {m.get("Name") for m in spec.get("MetricDefinitions") or []}
    algo = builtin_of(definition)
    if algo is not None:
        names |= set(algo.metrics)
    return {n for n in names if n}


def check_builtin_ranges(definition: dict, space: SearchSpace) -> None:
    """Every value a range can take must be valid for the built-in algorithm, as SageMaker checks up front:
    the static hyperparameters with each tuned one at its extremes (categoricals: every value)."""
    algo = builtin_of(definition)
    if algo is None:
        return
    algo.check_installed()
    static = dict(definition.get("StaticHyperParameters") or {})
    low = {r.name: r.format(r.low) for r in space.numeric}
    low.update({c.name: c.values[0] for c in space.categorical})
    algo.validate({**static, **low})
    for r in space.numeric:
        algo.validate({**static, **low, r.name: r.format(r.high)})
    for c in space.categorical:
        for v in c.values[1:]:
            algo.validate({**static, **low, c.name: v})


def ranges_of(config: dict, definition: dict) -> dict:
    return definition.get("HyperParameterRanges") or config.get("ParameterRanges") or {}


ENGINE_TAG = "shipyard:bayesian-engine"  # "gp" (default) or "tpe": a Shipyard extension, carried as a tag


def strategy_options(config: dict, definition: dict, secondary: list[tuple[str, str]],
                     tags: dict[str, str] | None = None) -> dict[str, Any]:
    strategy = config.get("Strategy") or "Bayesian"
    opts: dict[str, Any] = {}
    engine = (tags or {}).get(ENGINE_TAG)
    if strategy == "Bayesian" and engine is not None:
        if engine not in ("gp", "tpe"):
            raise ValidationError(f"Tag {ENGINE_TAG} must be 'gp' or 'tpe'; got '{engine}'.")
        opts["engine"] = engine
    if strategy == "Hyperband":
        hb = (config.get("StrategyConfig") or {}).get("HyperbandStrategyConfig") or {}
        static = definition.get("StaticHyperParameters") or {}
        resource = next((n for n in RESOURCE_NAMES if n in static), None)
        max_r = hb.get("MaxResource")
        if max_r is None and resource is not None:
            try:
                max_r = int(float(str(static[resource]).strip('"')))
            except ValueError:
                max_r = None
        if max_r is None:
            raise ValidationError(
                "The Hyperband strategy needs HyperbandStrategyConfig.MaxResource, or a static hyperparameter "
                f"naming the resource ({', '.join(RESOURCE_NAMES)}) to infer it from.")
        opts.update(resource_name=resource or "epochs", min_resource=int(hb.get("MinResource") or 1),
                    max_resource=int(max_r))
    if secondary:
        obj = config.get("HyperParameterTuningJobObjective") or definition.get("TuningObjective") or {}
        opts["directions"] = [obj.get("Type", "Minimize")] + [d for d, _ in secondary]
    return opts


def validate_request(services: Services, req: dict) -> TuningState:
    """Check the whole request; return the private state to store with it (a fresh strategy per definition)."""
    name = req.get("HyperParameterTuningJobName") or ""
    if not _NAME.match(name):
        raise ValidationError(
            f"HyperParameterTuningJobName '{name}' must be 1-32 characters: letters, digits and hyphens, "
            "starting and ending with a letter or digit.")
    if req.get("TrainingJobDefinition") and req.get("TrainingJobDefinitions"):
        raise ValidationError("Specify either TrainingJobDefinition or TrainingJobDefinitions, not both.")
    defs = definitions_of(req)
    if not defs:
        raise ValidationError("A tuning job needs a TrainingJobDefinition or TrainingJobDefinitions.")
    config = req.get("HyperParameterTuningJobConfig") or {}
    strategy = config.get("Strategy") or "Bayesian"
    limits = config.get("ResourceLimits") or {}
    if int(limits.get("MaxParallelTrainingJobs") or 0) < 1:
        raise ValidationError("ResourceLimits.MaxParallelTrainingJobs must be at least 1.")
    if strategy == "Hyperband" and config.get("TrainingJobEarlyStoppingType", "Off") != "Off":
        raise ValidationError("TrainingJobEarlyStoppingType must be Off with the Hyperband strategy, "
                              "which stops poor configurations itself.")
    if len({d["DefinitionName"] for d in defs}) != len(defs):
        raise ValidationError("DefinitionName must be unique across TrainingJobDefinitions.")
    tags = {t.get("Key"): t.get("Value", "") for t in req.get("Tags") or []}
    secondary = parse_tag(tags[TAG_KEY]) if TAG_KEY in tags else []
    states: dict[str, Any] = {}
    objective: dict = {}
    for d in defs:
        obj = objective_of(config, d)
        objective = objective or obj
        static = d.get("StaticHyperParameters") or {}
        space = SearchSpace.from_aws(ranges_of(config, d), static=static, strategy=strategy)
        if not (d.get("AlgorithmSpecification") or {}).get("TrainingImage") and not (
                d.get("AlgorithmSpecification") or {}).get("AlgorithmName"):
            raise ValidationError(f"Training job definition '{d['DefinitionName']}' needs a TrainingImage.")
        check_builtin_ranges(d, space)
        emitted = emitted_metrics(d)
        for metric in [obj["MetricName"]] + [m for _, m in secondary]:
            if metric not in emitted:
                known = ", ".join(sorted(emitted)) or "none"
                raise ValidationError(
                    f"The objective metric '{metric}' is not emitted by training job definition "
                    f"'{d['DefinitionName']}': add it to AlgorithmSpecification.MetricDefinitions "
                    f"(metrics it emits: {known}).")
        seed = int(config.get("RandomSeed") or 0) + len(states)
        s = make_strategy(strategy, ranges_of(config, d), maximize=obj["Type"] == "Maximize", seed=seed,
                          **strategy_options(config, d, secondary, tags))
        states[d["DefinitionName"]] = s.state()
    CompletionCriteria.from_aws(config.get("TuningJobCompletionCriteria"), objective["Type"] == "Maximize")
    max_rt = limits.get("MaxRuntimeInSeconds")
    if max_rt is not None and not 120 <= int(max_rt) <= 15768000:
        raise ValidationError("ResourceLimits.MaxRuntimeInSeconds must be between 120 and 15768000.")
    warm = req.get("WarmStartConfig")
    if warm:
        parents = warm.get("ParentHyperParameterTuningJobs") or []
        if not 1 <= len(parents) <= 5:
            raise ValidationError("WarmStartConfig needs between 1 and 5 ParentHyperParameterTuningJobs.")
        if warm.get("WarmStartType") not in ("IdenticalDataAndAlgorithm", "TransferLearning"):
            raise ValidationError("WarmStartType must be IdenticalDataAndAlgorithm or TransferLearning.")
        for p in parents:
            parent = services.meta.find(KIND, p.get("HyperParameterTuningJobName", ""))
            if parent is None:
                raise MissingResource(NOUN, p.get("HyperParameterTuningJobName", ""))
            if parent.status not in ("Completed", "Stopped", "Failed"):
                raise ValidationError(
                    f"Warm start parent '{parent.name}' is {parent.status}; a parent must have finished.")
            if warm["WarmStartType"] == "IdenticalDataAndAlgorithm":
                pobj = (parent.doc.get("HyperParameterTuningJobConfig") or {}).get("HyperParameterTuningJobObjective")
                if pobj and pobj != config.get("HyperParameterTuningJobObjective", pobj):
                    raise ValidationError(
                        f"IdenticalDataAndAlgorithm needs the same objective as parent '{parent.name}'.")
    return TuningState(strategies=states, trials=[], secondary=secondary)


def create(services: Services, req: dict) -> dict:
    """Validate and store a CreateHyperParameterTuningJob request; the tuning controller runs it."""
    state = validate_request(services, req)
    name = req["HyperParameterTuningJobName"]
    arn = services.arn(KIND, name)
    config = dict(req["HyperParameterTuningJobConfig"])
    config.setdefault("Strategy", "Bayesian")
    config.setdefault("TrainingJobEarlyStoppingType", "Off")
    now = time.time()
    doc = {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobArn": arn,
        "HyperParameterTuningJobConfig": config,
        "HyperParameterTuningJobStatus": "InProgress",
        "CreationTime": now,
        "LastModifiedTime": now,
        "TrainingJobStatusCounters": {"Completed": 0, "InProgress": 0, "RetryableError": 0,
                                      "NonRetryableError": 0, "Stopped": 0},
        "ObjectiveStatusCounters": {"Succeeded": 0, "Pending": 0, "Failed": 0},
        "ConsumedResources": {"RuntimeInSeconds": 0},
    }
    for key in ("TrainingJobDefinition", "TrainingJobDefinitions", "WarmStartConfig", "Autotune"):
        if req.get(key):
            doc[key] = req[key]
    if req.get("Tags"):
        state.tags = req["Tags"]
    doc.update(state.to_doc())
    existing = services.meta.find(KIND, name)
    if existing is not None:
        raise ResourceInUse(f"Hyperparameter tuning job names must be unique within an AWS account and region, "
                            f"and a hyperparameter tuning job with this name already exists ({existing.arn}).")
    check_budget(services, req.get("Tags"))  # a spent budget for these tags refuses new work (shipyard.usage)
    services.meta.create(KIND, name, arn, "InProgress", stamp(doc))
    services.wake(KIND)
    return {"HyperParameterTuningJobArn": arn}


def get(services: Services, name: str) -> Resource:
    """The stored tuning job ``name`` (or ARN); a missing one is a ResourceNotFound."""
    res = services.meta.find(KIND, name_from(name or ""))
    if res is None:
        raise MissingResource(NOUN, name)
    return res


def describe(resource: Resource) -> dict:
    """The DescribeHyperParameterTuningJob view of a stored job (before the SDK defaults the wire adapter
    adds)."""
    doc = public(resource.doc)
    doc["HyperParameterTuningJobStatus"] = resource.status
    pareto = TuningState.from_doc(resource.doc).pareto
    if pareto:
        doc["ShipyardParetoFront"] = pareto  # extension; botocore ignores unknown keys
    return doc


def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"tuning/{offset}".encode()).decode()


def _page_offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode().split("/", 1)[1])
    except (ValueError, IndexError):
        raise ValidationError("The NextToken is not valid.") from None


_SORT = {"Name": "name", "Status": "status", "CreationTime": "created"}


def list_jobs(services: Services, req: dict) -> dict:
    """A ListHyperParameterTuningJobs page."""
    q = ListQuery(name_contains=req.get("NameContains"), status_equals=req.get("StatusEquals"),
                  created_after=req.get("CreationTimeAfter"), created_before=req.get("CreationTimeBefore"),
                  modified_after=req.get("LastModifiedTimeAfter"), modified_before=req.get("LastModifiedTimeBefore"),
                  sort_by=_SORT.get(req.get("SortBy") or "CreationTime", "created"),
                  descending=(req.get("SortOrder") or "Descending") == "Descending",
                  max_results=int(req.get("MaxResults") or 100), next_token=req.get("NextToken"))
    page = services.meta.list(KIND, q)
    out = []
    for r in page.items:
        d = r.doc
        out.append({k: v for k, v in {
            "HyperParameterTuningJobName": r.name, "HyperParameterTuningJobArn": r.arn,
            "HyperParameterTuningJobStatus": r.status,
            "Strategy": (d.get("HyperParameterTuningJobConfig") or {}).get("Strategy", "Bayesian"),
            "CreationTime": d.get("CreationTime", r.created),
            "HyperParameterTuningEndTime": d.get("HyperParameterTuningEndTime"),
            "LastModifiedTime": d.get("LastModifiedTime", r.modified),
            "TrainingJobStatusCounters": d.get("TrainingJobStatusCounters"),
            "ObjectiveStatusCounters": d.get("ObjectiveStatusCounters"),
            "ResourceLimits": (d.get("HyperParameterTuningJobConfig") or {}).get("ResourceLimits"),
        }.items() if v is not None})
    resp: dict[str, Any] = {"HyperParameterTuningJobSummaries": out}
    if page.next_token:
        resp["NextToken"] = page.next_token
    return resp


def stop(services: Services, name: str) -> None:
    """StopHyperParameterTuningJob: an InProgress job becomes Stopping (the controller stops its trials)."""
    res = get(services, name)
    if res.status != "InProgress":
        raise ValidationError(
            f"The hyperparameter tuning job '{res.name}' is {res.status}; only an InProgress job can be stopped.")
    services.meta.update(KIND, res.name, {"HyperParameterTuningJobStatus": "Stopping",
                                          "LastModifiedTime": time.time()},
                         status="Stopping", expect_status={"InProgress"})
    services.wake(KIND)


def delete(services: Services, name: str) -> None:
    """DeleteHyperParameterTuningJob: only a finished job (its training jobs stay)."""
    res = get(services, name)
    if res.status not in ("Completed", "Failed", "Stopped"):
        raise ValidationError(
            f"The hyperparameter tuning job '{res.name}' is {res.status}; stop it and wait until it has "
            "stopped before deleting it.")
    services.meta.delete(KIND, res.name)


def trial_summary(services: Services, res: Resource, trial: Trial) -> dict:
    """A HyperParameterTrainingJobSummary from our trial record and the child's current document."""
    child = services.meta.find("training-job", trial.name)
    cdoc = child.doc if child is not None else {}
    config = res.doc.get("HyperParameterTuningJobConfig") or {}
    obj = trial.objective or config.get("HyperParameterTuningJobObjective") or {}
    status = child.status if child is not None else (trial.status or "Failed")
    out: dict[str, Any] = {
        "TrainingJobName": trial.name,
        "TrainingJobArn": cdoc.get("TrainingJobArn") or services.arn("training-job", trial.name),
        "TuningJobName": res.name,
        "CreationTime": cdoc.get("CreationTime", trial.created),
        "TrainingJobStatus": status,
        "TunedHyperParameters": trial.params,
        "ObjectiveStatus": "Succeeded" if trial.value is not None else (
            "Pending" if status in ("InProgress", "Stopping") else "Failed"),
    }
    if len(definitions_of(res.doc)) > 1 or res.doc.get("TrainingJobDefinitions"):
        out["TrainingJobDefinitionName"] = trial.definition
    for key in ("TrainingStartTime", "TrainingEndTime"):
        if cdoc.get(key) is not None:
            out[key] = cdoc[key]
    reason = cdoc.get("FailureReason") or trial.reason
    if reason and status == "Failed":
        out["FailureReason"] = reason
    if trial.value is not None:
        out["FinalHyperParameterTuningJobObjectiveMetric"] = {
            "Type": obj.get("Type"), "MetricName": obj.get("MetricName"), "Value": trial.value}
    return out


def list_trials(services: Services, req: dict) -> dict:
    """A ListTrainingJobsForHyperParameterTuningJob page: the trials launched so far."""
    res = get(services, req.get("HyperParameterTuningJobName", ""))
    trials = TuningState.from_doc(res.doc).trials or []
    rows = [trial_summary(services, res, t) for t in trials if t.was_launched]
    if req.get("StatusEquals"):
        rows = [r for r in rows if r["TrainingJobStatus"] == req["StatusEquals"]]
    sort_by = req.get("SortBy") or "CreationTime"
    descending = (req.get("SortOrder") or "Descending") == "Descending"
    if sort_by == "FinalObjectiveMetricValue":
        # jobs without an objective go last whatever the order, as SageMaker lists them
        with_value = [r for r in rows if "FinalHyperParameterTuningJobObjectiveMetric" in r]
        without = [r for r in rows if "FinalHyperParameterTuningJobObjectiveMetric" not in r]
        with_value.sort(key=lambda r: r["FinalHyperParameterTuningJobObjectiveMetric"]["Value"], reverse=descending)
        rows = with_value + without
    else:
        key = {"Name": lambda r: r["TrainingJobName"], "Status": lambda r: r["TrainingJobStatus"],
               "CreationTime": lambda r: r.get("CreationTime") or 0}[sort_by]
        rows.sort(key=key, reverse=descending)
    start = _page_offset(req.get("NextToken"))
    size = int(req.get("MaxResults") or 100)
    resp: dict[str, Any] = {"TrainingJobSummaries": rows[start:start + size]}
    if start + size < len(rows):
        resp["NextToken"] = _page_token(start + size)
    return resp
