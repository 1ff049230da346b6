"""Members SageMaker fills in on Describe* responses when the request left them out.

The SageMaker Python SDK indexes some of these without ``.get`` (``Estimator.attach`` reads
``OutputDataConfig["KmsKeyId"]``; ``TrainingJobAnalytics`` reads ``AlgorithmSpecification["MetricDefinitions"]``),
so an answer that omits them breaks unmodified SDK code. The values are what SageMaker itself returns
for an unset member. The stored document is left as the request gave it; defaults are added on the way out,
so documents written by older servers get them too.
"""

from __future__ import annotations

import copy

from ..domain.training_state import TrainingState

CHANNEL_DEFAULTS = {"CompressionType": "None", "RecordWrapperType": "None"}


def training_job(out: dict, doc: dict) -> dict:
    """DescribeTrainingJob: ``out`` is the public document (modified in place and returned)."""
    spec = out.get("AlgorithmSpecification")
    if isinstance(spec, dict):
        spec = out["AlgorithmSpecification"] = dict(spec)
        spec.setdefault("TrainingInputMode", "File")
        state = TrainingState.from_doc(doc)
        if (state.program or {}).get("kind") == "builtin" and "MetricDefinitions" not in spec:
            # a built-in algorithm's own metric definitions, as SageMaker shows them
            spec["MetricDefinitions"] = list(state.metric_definitions or [])
        # none given to a script-mode job: an empty list, so TrainingJobAnalytics yields an empty frame
        # rather than a KeyError
        spec.setdefault("MetricDefinitions", [])
        spec.setdefault("EnableSageMakerMetricsTimeSeries", False)
    output = out.get("OutputDataConfig")
    if isinstance(output, dict):
        out["OutputDataConfig"] = {"KmsKeyId": "", **output}
    channels = out.get("InputDataConfig")
    if isinstance(channels, list):
        out["InputDataConfig"] = [_channel(ch) for ch in channels]
    return out


def _channel(ch: dict) -> dict:
    ch = {**CHANNEL_DEFAULTS, **copy.deepcopy(ch)}
    s3 = (ch.get("DataSource") or {}).get("S3DataSource")
    if isinstance(s3, dict):
        s3.setdefault("S3DataDistributionType", "FullyReplicated")
    return ch


def tuning_job(out: dict) -> dict:
    """DescribeHyperParameterTuningJob: the SDK's ``HyperparameterTuner.attach`` rebuilds the estimator from
    each training-job definition and deletes ``StaticHyperParameters["_tuning_objective_metric"]``, which
    SageMaker adds to every definition; it also reads ``TrainingJobEarlyStoppingType`` unguarded."""
    config = out.get("HyperParameterTuningJobConfig")
    objective = None
    if isinstance(config, dict):
        config = out["HyperParameterTuningJobConfig"] = dict(config)
        config.setdefault("TrainingJobEarlyStoppingType", "Off")
        ranges = config["ParameterRanges"] = dict(config.get("ParameterRanges") or {})
        for kind in ("IntegerParameterRanges", "ContinuousParameterRanges", "CategoricalParameterRanges"):
            ranges.setdefault(kind, [])
        objective = (config.get("HyperParameterTuningJobObjective") or {}).get("MetricName")
    if isinstance(out.get("TrainingJobDefinition"), dict):
        out["TrainingJobDefinition"] = _definition(out["TrainingJobDefinition"], objective)
    if isinstance(out.get("TrainingJobDefinitions"), list):
        out["TrainingJobDefinitions"] = [_definition(d, objective) for d in out["TrainingJobDefinitions"]]
    return out


def _definition(d: dict, objective: str | None) -> dict:
    d = dict(d)
    metric = (d.get("TuningObjective") or {}).get("MetricName") or objective
    static = dict(d.get("StaticHyperParameters") or {})
    if metric:
        static.setdefault("_tuning_objective_metric", metric)
    d["StaticHyperParameters"] = static
    hpo = d.get("HyperParameterTuningResourceConfig")
    if "ResourceConfig" not in d and isinstance(hpo, dict) and hpo.get("InstanceType"):
        # the SDK sends HyperParameterTuningResourceConfig, but attach() reads ResourceConfig
        d["ResourceConfig"] = {"VolumeSizeInGB": 30, **{k: hpo[k] for k in (
            "InstanceType", "InstanceCount", "VolumeSizeInGB", "VolumeKmsKeyId") if k in hpo}}
    if isinstance(d.get("AlgorithmSpecification"), dict):
        spec = d["AlgorithmSpecification"] = {"TrainingInputMode": "File", **d["AlgorithmSpecification"]}
        if "MetricDefinitions" not in spec:  # read unguarded by HyperparameterTuner.attach
            spec["MetricDefinitions"] = builtin_metric_definitions(spec, static, d.get("Environment") or {})
    if isinstance(d.get("OutputDataConfig"), dict):
        d["OutputDataConfig"] = {"KmsKeyId": "", **d["OutputDataConfig"]}
    if isinstance(d.get("InputDataConfig"), list):
        d["InputDataConfig"] = [_channel(ch) for ch in d["InputDataConfig"]]
    return d


def builtin_metric_definitions(spec: dict, hyperparameters: dict, environment: dict) -> list[dict]:
    """A built-in algorithm's own metric definitions (what SageMaker shows for it); [] for anything else."""
    from ..algorithms.registry import resolve

    image = spec.get("TrainingImage") or spec.get("AlgorithmName") or ""
    try:
        kind, algo = resolve(image, {k: str(v) for k, v in hyperparameters.items()}, environment)
    except Exception:  # noqa: BLE001 - validated at create time; a Describe must not fail on it
        return []
    if kind != "builtin" or algo is None:
        return []
    return [{"Name": n, "Regex": rx} for n, (rx, _) in algo.metrics.items()]
