"""Automatic model tuning: run many training jobs of one :class:`~shipyard.sdk.Estimator` over hyperparameter
ranges and keep the best, as SageMaker's ``HyperparameterTuner`` does, over boto3 only.

    tuner = HyperparameterTuner(est, "validation:auc", {"eta": ContinuousParameter(0.01, 0.5),
                                                        "max_depth": IntegerParameter(2, 10)},
                                max_jobs=20, max_parallel_jobs=2)
    tuner.fit({"train": train_uri, "validation": validation_uri})
    tuner.analytics().dataframe()            # every job, its hyperparameters and objective
    predictor = tuner.deploy()               # the best job's model behind an endpoint

The tuning job is built from the estimator's own training request, so every estimator setting (image,
instance, inputs, metric definitions, script-mode source) carries over. As SageMaker's SDK does, script
mode's static hyperparameters and categorical values are JSON-encoded, numeric tuned values are not.
"""

from __future__ import annotations

import copy
import json
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, TextIO

from .analytics import HyperparameterTuningJobAnalytics
from .exceptions import UnexpectedStatusError, WaitTimeout
from .images import base_job_name
from .predictor import Predictor

TUNING_DONE = ("Completed", "Failed", "Stopped")
SCALING_TYPES = ("Auto", "Linear", "Logarithmic", "ReverseLogarithmic")
STRATEGIES = ("Bayesian", "Random", "Hyperband", "Grid")


# -- ranges --------------------------------------------------------------------------------------------------
class _NumericParameter:
    kind = ""

    def __init__(self, min_value: float, max_value: float, scaling_type: str = "Auto"):
        if scaling_type not in SCALING_TYPES:
            raise ValueError(f"scaling_type must be one of {', '.join(SCALING_TYPES)}; got {scaling_type!r}")
        if float(min_value) > float(max_value):
            raise ValueError(f"min_value {min_value} is greater than max_value {max_value}")
        self.min_value = min_value
        self.max_value = max_value
        self.scaling_type = scaling_type

    def as_range(self, name: str, json_encode: bool = False) -> dict[str, str]:
        return {"Name": name, "MinValue": str(self.min_value), "MaxValue": str(self.max_value),
                "ScalingType": self.scaling_type}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.min_value!r}, {self.max_value!r}, {self.scaling_type!r})"


class ContinuousParameter(_NumericParameter):
    """A real-valued range ``[min_value, max_value]``; ``scaling_type`` Logarithmic for rates and penalties."""

    kind = "ContinuousParameterRanges"


class IntegerParameter(_NumericParameter):
    """An integer range ``[min_value, max_value]``, both ends included."""

    kind = "IntegerParameterRanges"

    def __init__(self, min_value: int, max_value: int, scaling_type: str = "Auto"):
        super().__init__(int(min_value), int(max_value), scaling_type)


class CategoricalParameter:
    """A choice among ``values`` (strings, numbers or booleans; sent as strings)."""

    kind = "CategoricalParameterRanges"

    def __init__(self, values: list[Any] | tuple[Any, ...] | Any):
        self.values = list(values) if isinstance(values, (list, tuple)) else [values]
        if not self.values:
            raise ValueError("CategoricalParameter needs at least one value")

    def as_range(self, name: str, json_encode: bool = False) -> dict[str, Any]:
        values = [json.dumps(v) if json_encode else str(v) for v in self.values]
        return {"Name": name, "Values": values}

    def __repr__(self) -> str:
        return f"CategoricalParameter({self.values!r})"


def parameter_ranges(ranges: dict[str, Any], json_encode: bool = False) -> dict[str, list[dict]]:
    """``{name: parameter}`` -> the API's ParameterRanges (all three kinds always present, as SageMaker's SDK
    sends them)."""
    out: dict[str, list[dict]] = {k.kind: [] for k in (ContinuousParameter, IntegerParameter,
                                                       CategoricalParameter)}
    for name, param in ranges.items():
        if not isinstance(param, (_NumericParameter, CategoricalParameter)):
            raise TypeError(f"hyperparameter range {name!r} must be a ContinuousParameter, IntegerParameter or "
                            f"CategoricalParameter; got {type(param).__name__}")
        out[param.kind].append(param.as_range(name, json_encode))
    return out


@dataclass
class WarmStartConfig:
    """Start from what earlier tuning jobs learned: ``warm_start_type`` is ``IdenticalDataAndAlgorithm`` or
    ``TransferLearning``; ``parents`` names 1 to 5 finished tuning jobs."""

    warm_start_type: str = "IdenticalDataAndAlgorithm"
    parents: list[str] = field(default_factory=list)

    def to_request(self) -> dict[str, Any]:
        return {"WarmStartType": self.warm_start_type,
                "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": p} for p in self.parents]}


def unique_tuning_name(base: str) -> str:
    """``base-YYMMDD-HHMMSS-xxxx``: at most 32 characters, the limit for tuning job names."""
    stamp = time.strftime("%y%m%d-%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:4]
    head = "".join(c if c.isalnum() else "-" for c in base)[:32 - len(stamp) - 1].strip("-") or "tuning"
    return f"{head}-{stamp}"


# -- the tuner ------------------------------------------------------------------------------------------------
class HyperparameterTuner:
    """A tuning job over ``estimator``. The constructor checks and stores arguments; :meth:`fit` starts it."""

    def __init__(self, estimator: Any, objective_metric_name: str, hyperparameter_ranges: dict[str, Any],
                 metric_definitions: list[dict[str, str]] | None = None, strategy: str = "Bayesian",
                 objective_type: str = "Maximize", max_jobs: int = 10, max_parallel_jobs: int = 1,
                 early_stopping_type: str = "Off", random_seed: int | None = None,
                 warm_start_config: WarmStartConfig | dict | None = None, base_tuning_job_name: str | None = None,
                 strategy_config: dict[str, Any] | None = None,
                 completion_criteria_config: dict[str, Any] | None = None,
                 max_runtime_in_seconds: int | None = None, tags: list[dict[str, str]] | None = None):
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}; got {strategy!r}")
        if objective_type not in ("Maximize", "Minimize"):
            raise ValueError(f"objective_type must be Maximize or Minimize; got {objective_type!r}")
        if early_stopping_type not in ("Off", "Auto"):
            raise ValueError(f"early_stopping_type must be Off or Auto; got {early_stopping_type!r}")
        if not hyperparameter_ranges:
            raise ValueError("hyperparameter_ranges must name at least one hyperparameter to tune")
        if int(max_parallel_jobs) < 1 or int(max_jobs) < 1:
            raise ValueError("max_jobs and max_parallel_jobs must be at least 1")
        parameter_ranges(hyperparameter_ranges)  # type check now, not at fit()
        self.estimator = estimator
        self.objective_metric_name = objective_metric_name
        self.hyperparameter_ranges = dict(hyperparameter_ranges)
        self.metric_definitions = metric_definitions
        self.strategy = strategy
        self.objective_type = objective_type
        self.max_jobs = int(max_jobs)
        self.max_parallel_jobs = int(max_parallel_jobs)
        self.early_stopping_type = early_stopping_type
        self.random_seed = random_seed
        self.warm_start_config = warm_start_config
        self.base_tuning_job_name = base_tuning_job_name
        self.strategy_config = strategy_config
        self.completion_criteria_config = completion_criteria_config
        self.max_runtime_in_seconds = max_runtime_in_seconds
        self.tags = tags
        self.latest_tuning_job: str | None = None
        self._description: dict | None = None

    @property
    def session(self) -> Any:
        return self.estimator.session

    @property
    def _script_mode(self) -> bool:
        return bool(getattr(self.estimator, "entry_point", None))

    # -- request building --------------------------------------------------------------------------------
    def _metric_definitions(self) -> list[dict[str, str]]:
        merged: dict[str, dict[str, str]] = {}
        for m in list(self.estimator.metric_definitions or []) + list(self.metric_definitions or []):
            merged[m["Name"]] = m
        return list(merged.values())

    def training_job_definition(self, inputs: Any, tuning_job_name: str) -> dict[str, Any]:
        """The estimator's CreateTrainingJob request reshaped as a TrainingJobDefinition: tuned names
        leave StaticHyperParameters, the tuner's metric definitions join the estimator's."""
        req = self.estimator.training_request(inputs, tuning_job_name)
        algo = dict(req["AlgorithmSpecification"])
        metrics = self._metric_definitions()
        if metrics:
            algo["MetricDefinitions"] = metrics
        static = {k: v for k, v in (req.get("HyperParameters") or {}).items()
                  if k not in self.hyperparameter_ranges}
        definition: dict[str, Any] = {"AlgorithmSpecification": algo, "StaticHyperParameters": static}
        for key in ("RoleArn", "InputDataConfig", "OutputDataConfig", "ResourceConfig", "StoppingCondition",
                    "Environment", "VpcConfig", "CheckpointConfig"):
            if req.get(key) is not None:
                definition[key] = req[key]
        return definition

    def tuning_job_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "Strategy": self.strategy,
            "HyperParameterTuningJobObjective": {"Type": self.objective_type,
                                                 "MetricName": self.objective_metric_name},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": self.max_jobs,
                               "MaxParallelTrainingJobs": self.max_parallel_jobs},
            "ParameterRanges": parameter_ranges(self.hyperparameter_ranges, json_encode=self._script_mode),
            "TrainingJobEarlyStoppingType": self.early_stopping_type,
        }
        if self.max_runtime_in_seconds is not None:
            config["ResourceLimits"]["MaxRuntimeInSeconds"] = int(self.max_runtime_in_seconds)
        if self.random_seed is not None:
            config["RandomSeed"] = int(self.random_seed)
        if self.strategy_config:
            config["StrategyConfig"] = self.strategy_config
        if self.completion_criteria_config:
            config["TuningJobCompletionCriteria"] = self.completion_criteria_config
        return config

    def tuning_request(self, inputs: Any, tuning_job_name: str) -> dict[str, Any]:
        """The whole CreateHyperParameterTuningJob request (uploads nothing)."""
        req: dict[str, Any] = {"HyperParameterTuningJobName": tuning_job_name,
                               "HyperParameterTuningJobConfig": self.tuning_job_config(),
                               "TrainingJobDefinition": self.training_job_definition(inputs, tuning_job_name)}
        warm = self.warm_start_config
        if warm is not None:
            req["WarmStartConfig"] = warm.to_request() if isinstance(warm, WarmStartConfig) else dict(warm)
        if self.tags:
            req["Tags"] = self.tags
        return req

    # -- running -----------------------------------------------------------------------------------------
    def fit(self, inputs: Any = None, wait: bool = True, logs: bool = True, job_name: str | None = None
            ) -> "HyperparameterTuner":
        """Start the tuning job on ``inputs`` (as :meth:`Estimator.fit` takes them).

        With ``wait`` (default) block until it ends, printing (``logs``) a progress line whenever it changes:
        jobs completed / in progress / failed and the best objective so far. A Failed tuning job raises
        :class:`~shipyard.sdk.UnexpectedStatusError`; a stopped one returns normally.
        """
        base = self.base_tuning_job_name or self.estimator.base_job_name or base_job_name(
            self.estimator.training_image)
        name = job_name or unique_tuning_name(base)
        if self._script_mode:
            self.estimator._upload_source(name)
        self.session.sagemaker_client.create_hyper_parameter_tuning_job(**self.tuning_request(inputs, name))
        self.latest_tuning_job = name
        self._description = None
        if wait:
            self.wait(logs=logs)
        return self

    def _require_job(self) -> str:
        if not self.latest_tuning_job:
            raise ValueError("no tuning job yet: call fit() first")
        return self.latest_tuning_job

    def describe(self) -> dict:
        """The DescribeHyperParameterTuningJob answer for the latest tuning job."""
        desc = self.session.sagemaker_client.describe_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=self._require_job())
        if desc.get("HyperParameterTuningJobStatus") in TUNING_DONE:
            self._description = desc
        return desc

    def wait(self, logs: bool = True, timeout: float | None = None, max_poll: float = 2.0,
             out: TextIO | None = None) -> dict:
        """Block until the tuning job ends; return its final description."""
        name = self._require_job()
        out = out or sys.stdout
        limit = timeout if timeout is not None else float(
            self.max_runtime_in_seconds or 0) or 30 * 86400
        deadline = time.monotonic() + limit
        delay, last, desc = 0.5, None, {}
        while True:
            desc = self.describe()
            line = progress_line(desc)
            if logs and line != last:
                out.write(f"{time.strftime('%H:%M:%S')} {name}: {line}\n")
                out.flush()
                last = line
            if desc.get("HyperParameterTuningJobStatus") in TUNING_DONE:
                break
            if time.monotonic() >= deadline:
                raise WaitTimeout(f"tuning job {name} did not finish within {limit:.0f} s "
                                  f"(last status {desc.get('HyperParameterTuningJobStatus')})")
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(max_poll, delay * 1.5)
        if desc["HyperParameterTuningJobStatus"] == "Failed":
            reason = desc.get("FailureReason", "")
            raise UnexpectedStatusError(f"tuning job {name} ended Failed" + (f": {reason}" if reason else ""),
                                        "Failed", reason)
        return desc

    def stop(self) -> None:
        """Ask the server to stop the tuning job (its running training jobs are stopped too)."""
        self.session.sagemaker_client.stop_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=self._require_job())

    # -- results -----------------------------------------------------------------------------------------
    def best_training_job(self) -> str:
        """The name of the training job with the best objective value so far."""
        desc = self._description or self.describe()
        best = desc.get("BestTrainingJob")
        if not best:
            raise ValueError(f"tuning job {self.latest_tuning_job} has no training job with an objective value "
                             f"yet (status {desc.get('HyperParameterTuningJobStatus')})")
        return best["TrainingJobName"]

    def analytics(self) -> HyperparameterTuningJobAnalytics:
        return HyperparameterTuningJobAnalytics(self._require_job(), self.session)

    def best_estimator(self) -> Any:
        """A copy of the estimator attached to the best training job (its model_data, final_metrics, deploy)."""
        best = self.best_training_job()
        desc = self.session.sagemaker_client.describe_training_job(TrainingJobName=best)
        est = copy.copy(self.estimator)
        est.hyperparameters = dict(self.estimator.hyperparameters)
        est.latest_training_job = best
        est._description = desc
        if self._script_mode and not getattr(est, "_submit_dir", None):
            # attached after a restart of this process: the job itself says where its source is
            raw = (desc.get("HyperParameters") or {}).get("sagemaker_submit_directory", "")
            est._submit_dir = json.loads(raw) if raw.startswith('"') else raw
        return est

    def deploy(self, initial_instance_count: int = 1, instance_type: str = "ml.m5.large",
               endpoint_name: str | None = None, serializer: Any = None, deserializer: Any = None,
               wait: bool = True, model_name: str | None = None) -> Predictor:
        """Host the best training job's model (the estimator's image and environment, the best job's
        artifacts) behind a new endpoint; return its :class:`~shipyard.sdk.Predictor`."""
        return self.best_estimator().deploy(
            initial_instance_count=initial_instance_count, instance_type=instance_type,
            endpoint_name=endpoint_name, serializer=serializer, deserializer=deserializer, wait=wait,
            model_name=model_name)


def progress_line(desc: dict) -> str:
    """``InProgress: 3 completed, 2 in progress, 0 failed, 0 stopped; best 0.91 (job-003)``."""
    c = desc.get("TrainingJobStatusCounters") or {}
    failed = int(c.get("NonRetryableError", 0)) + int(c.get("RetryableError", 0))
    text = (f"{desc.get('HyperParameterTuningJobStatus', '?')}: {c.get('Completed', 0)} completed, "
            f"{c.get('InProgress', 0)} in progress, {failed} failed, {c.get('Stopped', 0)} stopped")
    best = desc.get("BestTrainingJob") or {}
    metric = best.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
    if metric.get("Value") is not None:
        text += f"; best {metric.get('MetricName', 'objective')} {metric['Value']:.6g} ({best['TrainingJobName']})"
    return text
