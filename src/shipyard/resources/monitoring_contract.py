"""The Model Monitor container contract: the processing job SageMaker's scheduler starts for one execution.

This is the interface between the scheduler (the monitoring controller) and whatever runs on the monitoring
image (Shipyard's analyzer, :mod:`shipyard.monitor.analyzer`, or a user's own container): AWS's documented
contract ("Container Contract Inputs" of the Model Monitor guide, and what its scheduler is seen to send), so a
bring-your-own monitoring container written for AWS runs here unchanged.

- the captured data of the window, one input per (variant, hour) folder that holds data:
  ``endpoint_input_<n>``, ``S3Prefix`` ``<capture destination>/<endpoint>/<variant>/yyyy/mm/dd/hh`` mounted at
  ``<EndpointInput.LocalPath>/<endpoint>/<variant>/yyyy/mm/dd/hh``; ``dataset_source`` is
  ``EndpointInput.LocalPath`` (``/opt/ml/processing/input/endpoint`` from the SDK);
- or, for a batch transform (``BatchTransformInput``), the input manifests its jobs' data capture wrote in the
  window's hours (:mod:`shipyard.transform.capture`): ``batch_transform_input_<n>``, ``ManifestFile``
  ``<DataCapturedDestinationS3Uri>/input/yyyy/mm/dd/hh/<manifest>.json`` staged at
  ``<BatchTransformInput.LocalPath>/input/yyyy/mm/dd/hh/<manifest name>`` (the very files the jobs transformed);
  ``dataset_format`` is the input's ``DatasetFormat`` in the analyzer's words (``{"csv": {"header": false}}``)
  and there is no ``sagemaker_endpoint_name``; the result goes to ``<S3Uri>/<schedule>/yyyy/mm/dd/hh``;
- the baseline: input ``baseline`` (statistics) at ``/opt/ml/processing/baseline/stats`` and ``constraints`` at
  ``/opt/ml/processing/baseline/constraints``; ``baseline_statistics`` / ``baseline_constraints`` name the files;
- model quality: the ground truth of the window's hours, ``groundtruth_input_<n>`` from ``<GroundTruthS3Input>/
  yyyy/mm/dd/hh`` at ``/opt/ml/processing/groundtruth/yyyy/mm/dd/hh`` (``ground_truth_source``), and
  ``analysis_type`` ``MODEL_QUALITY``, ``problem_type``, ``inference_attribute``, ``probability_attribute``,
  ``probability_threshold_attribute``. (AWS runs a separate merge job first; Shipyard's analyzer merges by
  ``eventId``/``inferenceId`` in the same job, so ``dataset_format`` stays ``sagemakerCaptureJson``.)
- scripts: ``pre_processor_script`` at ``/opt/ml/processing/code/preprocessing`` and ``post_processor_script``
  at ``/opt/ml/processing/code/postprocessing`` (``record_preprocessor_script`` /
  ``post_analytics_processor_script`` name the files);
- the output ``result``: the definition's ``MonitoringOutput`` LocalPath (``output_path``), uploaded to
  ``<S3Uri>/<endpoint>/<schedule>/yyyy/mm/dd/hh`` of the scheduled time;
- ``start_time``/``end_time`` (ISO, ``Z``), ``metric_time``, ``sagemaker_endpoint_name``,
  ``sagemaker_monitoring_schedule_name``, ``publish_cloudwatch_metrics`` (``Enabled`` unless the definition's
  Environment says otherwise), then the definition's own Environment on top.

The processing job is named ``model-monitoring-<yyyymmddHHMM>-<24 hex>`` (``model-quality-monitoring-...`` for
model quality) as AWS names them; the hex is a hash of the schedule and the scheduled time, so re-creating the
job after a crash finds the first one instead of starting a second.
"""

from __future__ import annotations

import hashlib
import json
import math
import posixpath
from dataclasses import dataclass
from typing import Any

from ..context import Services
from ..errors import ShipyardError
from ..monitor.schedule_expression import hour_path, hours_between, iso, stamp
from ..objectstore.base import parse_s3_uri
from .monitoring_job_definition import MODEL_QUALITY, MonitoringJob

# --- environment variable names (the container reads these) ---
DATASET_FORMAT = "dataset_format"
DATASET_SOURCE = "dataset_source"
OUTPUT_PATH = "output_path"
PUBLISH_CLOUDWATCH_METRICS = "publish_cloudwatch_metrics"
BASELINE_CONSTRAINTS = "baseline_constraints"
BASELINE_STATISTICS = "baseline_statistics"
START_TIME = "start_time"
END_TIME = "end_time"
METRIC_TIME = "metric_time"
ENDPOINT_NAME = "sagemaker_endpoint_name"
SCHEDULE_NAME = "sagemaker_monitoring_schedule_name"
RECORD_PREPROCESSOR_SCRIPT = "record_preprocessor_script"
POST_ANALYTICS_PROCESSOR_SCRIPT = "post_analytics_processor_script"
ANALYSIS_TYPE = "analysis_type"
PROBLEM_TYPE = "problem_type"
INFERENCE_ATTRIBUTE = "inference_attribute"
PROBABILITY_ATTRIBUTE = "probability_attribute"
PROBABILITY_THRESHOLD_ATTRIBUTE = "probability_threshold_attribute"
GROUND_TRUTH_SOURCE = "ground_truth_source"

# --- values and container paths ---
CAPTURE_FORMAT = {"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput", "endpointOutput"]}}
MODEL_QUALITY_ANALYSIS = "MODEL_QUALITY"
BASELINE_STATS_DIR = "/opt/ml/processing/baseline/stats"
BASELINE_CONSTRAINTS_DIR = "/opt/ml/processing/baseline/constraints"
GROUND_TRUTH_DIR = "/opt/ml/processing/groundtruth"
PREPROCESSING_DIR = "/opt/ml/processing/code/preprocessing"
POSTPROCESSING_DIR = "/opt/ml/processing/code/postprocessing"

# --- input and output names ---
ENDPOINT_INPUT = "endpoint_input_{n}"
BATCH_INPUT = "batch_transform_input_{n}"
GROUND_TRUTH_INPUT = "groundtruth_input_{n}"
STATISTICS_INPUT = "baseline"
CONSTRAINTS_INPUT = "constraints"
PREPROCESSOR_INPUT = "pre_processor_script"
POSTPROCESSOR_INPUT = "post_processor_script"
RESULT_OUTPUT = "result"

# an execution whose processing job Completed with an ExitMessage starting so is CompletedWithViolations
VIOLATIONS_EXIT_PREFIX = "CompletedWithViolations"


@dataclass(frozen=True)
class Window:
    """One execution's data: the scheduled time and the analysed span ``[start, end)`` (seconds, UTC)."""

    scheduled: float
    start: float
    end: float


def processing_job_name(job: MonitoringJob, schedule_arn: str, schedule_created: float, scheduled: float) -> str:
    prefix = "model-quality-monitoring" if job.monitoring_type == MODEL_QUALITY else "model-monitoring"
    digest = hashlib.sha256(f"{schedule_arn}|{schedule_created!r}|{scheduled!r}".encode()).hexdigest()[:24]
    return f"{prefix}-{stamp(scheduled)}-{digest}"


def _s3_input(name: str, uri: str, local: str, mode: str = "File", distribution: str = "FullyReplicated",
              data_type: str = "S3Prefix") -> dict:
    return {"InputName": name, "AppManaged": False,
            "S3Input": {"S3Uri": uri, "LocalPath": local, "S3DataType": data_type, "S3InputMode": mode,
                        "S3DataDistributionType": distribution, "S3CompressionType": "None"}}


def _file_name(uri: str) -> str:
    return posixpath.basename(uri.rstrip("/"))


def analyzer_format(dataset_format: dict[str, Any]) -> dict[str, Any]:
    """A ``MonitoringDatasetFormat`` (``{"Csv": {"Header": true}}``) as the analyzer's ``dataset_format``."""
    if dataset_format.get("Csv") is not None:
        return {"csv": {"header": bool((dataset_format["Csv"] or {}).get("Header", False))}}
    if dataset_format.get("Json") is not None:
        return {"json": {"lines": bool((dataset_format["Json"] or {}).get("Line", False))}}
    return {"parquet": {}}


def batch_capture_folders(services: Services, job: MonitoringJob, start: float, end: float
                          ) -> list[tuple[str, str]]:
    """``(s3 uri of an input manifest, input/yyyy/mm/dd/hh/<manifest name>)`` of each input manifest batch
    transform jobs captured in the window's hours under the BatchTransformInput's DataCapturedDestinationS3Uri
    (the ``capture_folders`` of :func:`processing_request` for a batch transform)."""
    bucket, prefix = parse_s3_uri(str((job.batch_input or {}).get("DataCapturedDestinationS3Uri") or ""))
    prefix = prefix.strip("/")
    found: list[tuple[str, str]] = []
    for hour in hours_between(start, end):
        sub = f"input/{hour_path(hour)}"
        folder = f"{prefix}/{sub}/" if prefix else f"{sub}/"
        try:
            keys = sorted(info.key for info in services.objects.iter_keys(bucket, folder)
                          if info.key.endswith(".json"))
        except ShipyardError:  # a bucket that has gone: no data
            keys = []
        for key in keys:
            name = posixpath.basename(key)[:-len(".json")]
            found.append((f"s3://{bucket}/{key}", f"{sub}/{name}"))
    return found


def processing_request(job: MonitoringJob, schedule_name: str, window: Window, capture_folders: list[tuple[str, str]],
                       truth_folders: list[str], job_name: str) -> dict[str, Any]:
    """The CreateProcessingJob request of one execution. ``capture_folders`` are ``(s3 uri, sub path)`` of
    each (variant, hour) capture folder that holds data (sub path ``<endpoint>/<variant>/yyyy/mm/dd/hh``);
    ``truth_folders`` are the ground-truth hour URIs that hold data (``.../yyyy/mm/dd/hh``)."""
    ep = job.batch_input or job.endpoint_input
    source = ep["LocalPath"]
    mode, distribution = ep.get("S3InputMode", "File"), ep.get("S3DataDistributionType", "FullyReplicated")
    if job.batch_input:  # batch transform: ManifestFile inputs naming the files the jobs transformed
        inputs = [_s3_input(BATCH_INPUT.format(n=n), uri, posixpath.join(source, sub), mode, distribution,
                            data_type="ManifestFile") for n, (uri, sub) in enumerate(capture_folders, start=1)]
        dataset_format = analyzer_format(job.batch_input.get("DatasetFormat") or {})
    else:
        inputs = [_s3_input(ENDPOINT_INPUT.format(n=n), uri, posixpath.join(source, sub), mode, distribution)
                  for n, (uri, sub) in enumerate(capture_folders, start=1)]
        dataset_format = CAPTURE_FORMAT
    out = job.outputs[0]["S3Output"]
    env: dict[str, str] = {
        DATASET_FORMAT: json.dumps(dataset_format, separators=(",", ":")),
        DATASET_SOURCE: source,
        OUTPUT_PATH: out["LocalPath"],
        PUBLISH_CLOUDWATCH_METRICS: "Enabled",
        SCHEDULE_NAME: schedule_name,
        START_TIME: iso(window.start),
        # whole seconds in the environment: the end rounds up, so a record of the window's last second counts
        # (a NOW schedule's window ends at its creation, often in the same second as the traffic it analyses)
        END_TIME: iso(math.ceil(window.end)),
        METRIC_TIME: iso(window.start),
    }
    if job.endpoint_name:
        env[ENDPOINT_NAME] = job.endpoint_name
    if job.statistics_uri:
        inputs.append(_s3_input(STATISTICS_INPUT, job.statistics_uri, BASELINE_STATS_DIR))
        env[BASELINE_STATISTICS] = posixpath.join(BASELINE_STATS_DIR, _file_name(job.statistics_uri))
    if job.constraints_uri:
        inputs.append(_s3_input(CONSTRAINTS_INPUT, job.constraints_uri, BASELINE_CONSTRAINTS_DIR))
        env[BASELINE_CONSTRAINTS] = posixpath.join(BASELINE_CONSTRAINTS_DIR, _file_name(job.constraints_uri))
    if job.record_preprocessor:
        inputs.append(_s3_input(PREPROCESSOR_INPUT, job.record_preprocessor, PREPROCESSING_DIR))
        env[RECORD_PREPROCESSOR_SCRIPT] = posixpath.join(PREPROCESSING_DIR, _file_name(job.record_preprocessor))
    if job.post_analytics_processor:
        inputs.append(_s3_input(POSTPROCESSOR_INPUT, job.post_analytics_processor, POSTPROCESSING_DIR))
        env[POST_ANALYTICS_PROCESSOR_SCRIPT] = posixpath.join(POSTPROCESSING_DIR,
                                                              _file_name(job.post_analytics_processor))
    if job.monitoring_type == MODEL_QUALITY:
        env[ANALYSIS_TYPE] = MODEL_QUALITY_ANALYSIS
        env[GROUND_TRUTH_SOURCE] = GROUND_TRUTH_DIR
        if job.problem_type:
            env[PROBLEM_TYPE] = job.problem_type
        for key, name in (("InferenceAttribute", INFERENCE_ATTRIBUTE), ("ProbabilityAttribute", PROBABILITY_ATTRIBUTE),
                          ("ProbabilityThresholdAttribute", PROBABILITY_THRESHOLD_ATTRIBUTE)):
            if ep.get(key) is not None:
                env[name] = str(ep[key])
        for n, uri in enumerate(truth_folders, start=1):
            sub = "/".join(uri.rstrip("/").split("/")[-4:])
            inputs.append(_s3_input(GROUND_TRUTH_INPUT.format(n=n), uri, posixpath.join(GROUND_TRUTH_DIR, sub)))
    env.update(job.environment)
    owner = [job.endpoint_name] if job.endpoint_name else []
    result_uri = "/".join((out["S3Uri"].rstrip("/"), *owner, schedule_name, hour_path(window.scheduled)))
    output_config: dict[str, Any] = {"Outputs": [{
        "OutputName": RESULT_OUTPUT, "AppManaged": False,
        "S3Output": {"S3Uri": result_uri, "LocalPath": out["LocalPath"],
                     "S3UploadMode": out.get("S3UploadMode", "Continuous")}}]}
    if job.output_kms_key:
        output_config["KmsKeyId"] = job.output_kms_key
    app: dict[str, Any] = {"ImageUri": job.image}
    if job.entrypoint:
        app["ContainerEntrypoint"] = list(job.entrypoint)
    if job.arguments:
        app["ContainerArguments"] = list(job.arguments)
    request: dict[str, Any] = {
        "ProcessingJobName": job_name,
        "ProcessingInputs": inputs,
        "ProcessingOutputConfig": output_config,
        "ProcessingResources": {"ClusterConfig": dict(job.cluster)},
        "StoppingCondition": dict(job.stopping),
        "AppSpecification": app,
        "Environment": env,
        "RoleArn": job.role,
    }
    if job.network:
        request["NetworkConfig"] = dict(job.network)
    return request
