"""Debugger and profiler on a training job: the checks CreateTrainingJob makes, and the rule-evaluation state.

Checked before anything runs (each message names the field): ``DebugHookConfig`` (an S3 ``S3OutputPath``,
``LocalPath`` under ``/opt/ml``, unique collection names, numeric save parameters), ``DebugRuleConfigurations``
and ``ProfilerRuleConfigurations`` (at most 20 each, unique names, AWS's Debugger rule image, a built-in
``rule_to_invoke`` of the right family and its own parameters, a ``StopTraining`` action that parses),
``ProfilerConfig`` (an S3 path unless disabled; an interval AWS allows).

The state: the public ``DebugRuleEvaluationStatuses`` / ``ProfilerRuleEvaluationStatuses`` (what
DescribeTrainingJob shows, InProgress from the start, as on AWS) and the private ``_rule_jobs`` (rule ->
processing job) the rule controller (:mod:`shipyard.controllers.debug_rules`) keeps.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from ..debugger.images import is_rule_image
from ..errors import ValidationError

MAX_RULES = 20
DEBUG_STATUSES = "DebugRuleEvaluationStatuses"
PROFILER_STATUSES = "ProfilerRuleEvaluationStatuses"
RULE_JOBS = "_rule_jobs"
PROFILING_INTERVALS = (100, 200, 500, 1000, 5000, 60000)
TENSOR_RULES = ("LossNotDecreasing", "Overfit", "VanishingGradient", "ExplodingTensor", "ClassImbalance",
                "TreeDepth")
PROFILER_RULES = ("CPUBottleneck", "LowGPUUtilization", "ProfilerReport")
_NUMERIC_COLLECTION_PARAMS = ("save_interval", "start_step", "end_step", "train.save_interval",
                              "eval.save_interval", "predict.save_interval", "global.save_interval")


def parse_actions(raw: str) -> list[dict]:
    """The SDK's ``action_json`` rule parameter (a JSON list, its quotes sometimes escaped) as a list."""
    text = raw.replace('\\"', '"') if '\\"' in raw else raw
    value = json.loads(text)
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(a, dict) for a in value):
        raise ValueError("not a list of actions")
    return value


def stops_training(config: dict) -> bool:
    raw = (config.get("RuleParameters") or {}).get("action_json")
    if not raw:
        return False
    try:
        return any(str(a.get("name", "")).lower() == "stoptraining" for a in parse_actions(raw))
    except ValueError:
        return False


def _check_s3(services, uri: Any, field: str) -> None:
    from .training_job import check_s3_uri

    check_s3_uri(services, str(uri or ""), field, must_exist=False)


def _check_hook(services, hook: dict) -> None:
    _check_s3(services, hook.get("S3OutputPath"), "DebugHookConfig.S3OutputPath")
    if hook.get("LocalPath"):
        from ..domain.paths import under_opt_ml

        under_opt_ml(hook["LocalPath"], "DebugHookConfig.LocalPath")
    for key in ("save_interval",):
        value = (hook.get("HookParameters") or {}).get(key)
        if value is not None and not str(value).strip().isdigit():
            raise ValidationError(f"DebugHookConfig.HookParameters.{key} must be a whole number of steps, "
                                  f"not {value!r}.")
    seen: set[str] = set()
    for i, coll in enumerate(hook.get("CollectionConfigurations") or []):
        name = coll.get("CollectionName") or ""
        where = f"DebugHookConfig.CollectionConfigurations[{i}]"
        if not name:
            raise ValidationError(f"{where}.CollectionName is required (e.g. \"losses\").")
        if name in seen:
            raise ValidationError(f"{where}.CollectionName {name!r} appears more than once; collection names "
                                  "must be unique.")
        seen.add(name)
        for key, value in (coll.get("CollectionParameters") or {}).items():
            if key in _NUMERIC_COLLECTION_PARAMS and not str(value).strip().lstrip("-").isdigit():
                raise ValidationError(f"{where}.CollectionParameters.{key} of collection {name!r} must be a "
                                      f"whole number, not {value!r}.")
            if key == "save_interval" and int(value) < 1:
                raise ValidationError(f"{where}.CollectionParameters.save_interval of collection {name!r} "
                                      "must be at least 1.")


def _check_rules(services, configs: list[dict], field: str, family: tuple[str, ...], other: tuple[str, ...]
                 ) -> None:
    from ..debugger.rules import parameter_problem

    if len(configs) > MAX_RULES:
        raise ValidationError(f"{field} has {len(configs)} rules; a training job takes at most {MAX_RULES}.")
    seen: set[str] = set()
    for i, rule in enumerate(configs):
        where = f"{field}[{i}]"
        name = rule.get("RuleConfigurationName") or ""
        if not name:
            raise ValidationError(f"{where}.RuleConfigurationName is required.")
        if name in seen:
            raise ValidationError(f"{where}.RuleConfigurationName {name!r} appears more than once; rule "
                                  "configuration names must be unique.")
        seen.add(name)
        image = rule.get("RuleEvaluatorImage") or ""
        if not is_rule_image(image):
            raise ValidationError(
                f"{where}.RuleEvaluatorImage {image!r} is not the Debugger rule image: Shipyard runs AWS's built-in "
                "rules (sagemaker.debugger.get_rule_container_image_uri(region), repository "
                "sagemaker-debugger-rules); custom rule containers are not supported.")
        params = {k: str(v) for k, v in (rule.get("RuleParameters") or {}).items()}
        invoke = params.get("rule_to_invoke")
        if not invoke:
            raise ValidationError(f"{where}.RuleParameters.rule_to_invoke is required: the built-in rule to run "
                                  f"(one of {', '.join(family)}).")
        if invoke not in family:
            hint = (f"; {invoke} is a {'profiler' if family is TENSOR_RULES else 'Debugger'} rule, which belongs in "
                    f"{'ProfilerRuleConfigurations' if family is TENSOR_RULES else 'DebugRuleConfigurations'}"
                    if invoke in other else "")
            raise ValidationError(f"{where}.RuleParameters.rule_to_invoke {invoke!r} is not a built-in rule "
                                  f"here (one of {', '.join(family)}){hint}.")
        problem = parameter_problem(invoke, params)
        if problem:
            raise ValidationError(f"{where}.RuleParameters: {problem}.")
        if params.get("action_json"):
            try:
                parse_actions(params["action_json"])
            except ValueError:
                raise ValidationError(f"{where}.RuleParameters.action_json is not a JSON list of actions (e.g. "
                                      "rule_configs.ActionList(rule_configs.StopTraining())).") from None
        if rule.get("S3OutputPath"):
            _check_s3(services, rule["S3OutputPath"], f"{where}.S3OutputPath")


def validate(services, params: dict) -> None:
    """CreateTrainingJob's Debugger and profiler members (ValidationError naming the field)."""
    hook = params.get("DebugHookConfig")
    rules = list(params.get("DebugRuleConfigurations") or [])
    if hook:
        _check_hook(services, hook)
    if rules:
        if not hook:
            raise ValidationError("DebugRuleConfigurations need a DebugHookConfig: its S3OutputPath is where the "
                                  "job saves the tensors the rules read.")
        _check_rules(services, rules, "DebugRuleConfigurations", TENSOR_RULES, PROFILER_RULES)
    prof = params.get("ProfilerConfig")
    prules = list(params.get("ProfilerRuleConfigurations") or [])
    if prof and not prof.get("DisableProfiler"):
        if not prof.get("S3OutputPath"):
            raise ValidationError("ProfilerConfig.S3OutputPath is required unless ProfilerConfig.DisableProfiler "
                                  "is true.")
        _check_s3(services, prof["S3OutputPath"], "ProfilerConfig.S3OutputPath")
        interval = prof.get("ProfilingIntervalInMilliseconds")
        if interval is not None and int(interval) not in PROFILING_INTERVALS:
            raise ValidationError(f"ProfilerConfig.ProfilingIntervalInMilliseconds {interval} is not allowed; "
                                  f"use one of {', '.join(map(str, PROFILING_INTERVALS))}.")
    if prules:
        if not prof or prof.get("DisableProfiler"):
            raise ValidationError("ProfilerRuleConfigurations need an enabled ProfilerConfig with an S3OutputPath: "
                                  "the rules read the system metrics it collects.")
        _check_rules(services, prules, "ProfilerRuleConfigurations", PROFILER_RULES, TENSOR_RULES)


def initial_statuses(params: dict, now: float) -> dict:
    """The document members a new job starts with: every rule InProgress (AWS shows them so at once)."""
    out: dict[str, Any] = {}
    for member, key in (("DebugRuleConfigurations", DEBUG_STATUSES), ("ProfilerRuleConfigurations",
                                                                        PROFILER_STATUSES)):
        configs = params.get(member) or []
        if configs:
            out[key] = [{"RuleConfigurationName": c["RuleConfigurationName"], "RuleEvaluationStatus": "InProgress",
                         "LastModifiedTime": now} for c in configs]
    return out


def rule_job_name(job: str, rule: str) -> str:
    """``<job[:26]>-<rule[:26]>-<8 hex>``, as AWS names a rule's processing job (AWS's notebooks rebuild the name
    that way to find the rule's log stream in ``/aws/sagemaker/ProcessingJobs``)."""
    digest = hashlib.sha1(f"{job}/{rule}".encode()).hexdigest()[:8]
    clean = re.sub(r"[^A-Za-z0-9-]", "-", rule).strip("-") or "rule"
    head = re.sub(r"[^A-Za-z0-9-]", "-", job)[:26]
    return f"{head}-{clean[:26].strip('-')}-{digest}"
