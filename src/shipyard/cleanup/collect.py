"""Read a clean-up :class:`~.plan.Snapshot` through boto3 clients: the public APIs, nothing internal.

Idle endpoints are judged by CloudWatch's ``AWS/SageMaker`` ``Invocations`` (Sum over the window, per
variant, shadow variants included). S3 references come from every live resource's Describe answer: every
``s3://`` string anywhere in it (hyperparameters, environment variables, a pipeline's definition) counts, so a
prefix a live job, model, pipeline or monitoring schedule could read is never a candidate. If one of those
listings fails (an API the server does not offer), S3 is left out of the plan altogether with a warning: a
prefix is deleted only when everything that might use it was seen.
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterable

from .plan import (EndpointConfig, Endpoint, LogStream, Model, Notebook, S3Object, Snapshot, TransformJob)

_S3_URI = re.compile(r"s3://[^\s\"'\\,;)\]}]+")
MAX_ITEMS = 100_000  # per listing: a bound, far above a real account


def _ts(value: Any) -> float:
    return value.timestamp() if hasattr(value, "timestamp") else float(value or 0.0)


def _paginate(client: Any, op: str, key: str, **kwargs: Any) -> list[dict]:
    out: list[dict] = []
    for page in client.get_paginator(op).paginate(**kwargs):
        out.extend(page.get(key, []))
        if len(out) >= MAX_ITEMS:
            break
    return out


def default_bucket_pattern(account: str) -> re.Pattern:
    """The buckets jobs write to unless told otherwise: the SageMaker SDK's ``sagemaker-<region>-<account>``,
    ``sagemaker-shipyard`` (the SDK config ``shipyard env`` writes names it: cli_lifecycle.DEFAULT_SDK_BUCKET)
    and Shipyard's own SDK's ``shipyard-default-<account>``."""
    return re.compile(rf"^((sagemaker-[a-z]{{2}}(-[a-z]+)+-\d+|shipyard-default)-{re.escape(account)}"
                      r"|sagemaker-shipyard)$")


def s3_uris(value: Any) -> set[str]:
    """Every ``s3://`` URI inside a Describe answer (nested dicts, lists, JSON text in strings)."""
    found: set[str] = set()
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, (list, tuple)):
            stack.extend(v)
        elif isinstance(v, str) and "s3://" in v:
            found.update(u.rstrip(".") for u in _S3_URI.findall(v))
    return found


def job_scoped(desc: dict) -> dict:
    """A training or tuning job's description with the output paths SageMaker writes *below* (the job's own
    ``<path>/<job>/`` folder) narrowed to that folder: the SDK's default ``OutputDataConfig.S3OutputPath`` and
    ``ProfilerConfig.S3OutputPath`` are the bucket's root, which would otherwise protect the whole bucket.
    A tuning job's trials are training jobs of their own (listed, so their prefixes are protected by name)."""
    out = dict(desc)
    job = desc.get("TrainingJobName")
    for key in ("OutputDataConfig", "ProfilerConfig"):
        cfg = desc.get(key)
        if isinstance(cfg, dict) and cfg.get("S3OutputPath"):
            out[key] = {**cfg, "S3OutputPath": f"{cfg['S3OutputPath'].rstrip('/')}/{job}/" if job else ""}
    definitions = [d for d in [desc.get("TrainingJobDefinition"), *(desc.get("TrainingJobDefinitions") or [])]
                   if isinstance(d, dict)]
    if definitions:
        out["TrainingJobDefinition"] = None
        out["TrainingJobDefinitions"] = [{k: v for k, v in d.items() if k != "OutputDataConfig"}
                                         for d in definitions]
    return out


class Collector:
    """Gathers a snapshot; ``warnings`` says what could not be read (and what the plan leaves out for it)."""

    def __init__(self, sagemaker: Any, cloudwatch: Any, s3: Any, logs: Any, account: str, now: float,
                 buckets: Iterable[str] = ()):
        self.sm, self.cw, self.s3, self.logs = sagemaker, cloudwatch, s3, logs
        self.account = account
        self.buckets = set(buckets)  # scanned besides the default buckets (--bucket)
        self.now = now
        self.warnings: list[str] = []
        self._started: float | None = None  # the Shipyard server's start (read once, on the first endpoint)
        self._started_read = False

    # -- SageMaker --------------------------------------------------------------------------------------------
    def _server_started(self) -> float | None:
        """When the Shipyard server behind the clients started (its unsigned ``/shipyard/health`` says), or None
        (AWS, or no answer). Shipyard keeps endpoint metrics in memory: invocations before a restart are gone."""
        import json
        import urllib.request

        url = str(getattr(self.cw.meta, "endpoint_url", "") or "").rstrip("/") + "/shipyard/health"
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - the clients' own endpoint
                started = json.loads(answer.read()).get("started")
        except Exception:  # noqa: BLE001 - not a Shipyard server (or none that says): CloudWatch is trusted
            return None
        return float(started) if isinstance(started, (int, float)) else None

    def _invocations(self, endpoint: str, variants: Iterable[str], window: float) -> int | None:
        if not self._started_read:
            self._started, self._started_read = self._server_started(), True
            if self._started is not None and self._started > self.now - window:
                self.warnings.append(f"the server started {int(self.now - self._started)} s ago, inside the "
                                     "--idle window, and does not keep endpoint invocations across restarts: "
                                     "no endpoint is judged idle (use a shorter --idle)")
        if self._started is not None and self._started > self.now - window:
            return None
        period = max(60, int(math.ceil(window / 60.0)) * 60)
        total = 0.0
        try:
            for variant in variants:
                points = self.cw.get_metric_statistics(
                    Namespace="AWS/SageMaker", MetricName="Invocations", StartTime=self.now - window,
                    EndTime=self.now, Period=period, Statistics=["Sum"],
                    Dimensions=[{"Name": "EndpointName", "Value": endpoint},
                                {"Name": "VariantName", "Value": variant}])["Datapoints"]
                total += sum(p.get("Sum", 0.0) for p in points)
        except Exception as exc:  # noqa: BLE001 - unknown is not idle: the endpoint is kept
            self.warnings.append(f"could not read Invocations of endpoint {endpoint}: {exc}")
            return None
        return int(total)

    def endpoints(self, window: float, configs: dict[str, dict]) -> list[Endpoint]:
        out = []
        for summary in _paginate(self.sm, "list_endpoints", "Endpoints"):
            d = self.sm.describe_endpoint(EndpointName=summary["EndpointName"])
            names = [d.get("EndpointConfigName", "")]
            pending = (d.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
            if pending:
                names.append(pending)
            live = {v["VariantName"]: v for v in (d.get("ProductionVariants") or [])
                    + (d.get("ShadowProductionVariants") or [])}
            spec = configs.get(names[0]) or {}
            instances = []
            for v in (spec.get("ProductionVariants") or []) + (spec.get("ShadowProductionVariants") or []):
                if v.get("InstanceType"):
                    count = (live.get(v["VariantName"]) or {}).get("CurrentInstanceCount")
                    instances.append((v["InstanceType"], int(count if count is not None
                                                             else v.get("InitialInstanceCount") or 1)))
            status = d.get("EndpointStatus", "")
            calls = None
            if spec.get("AsyncInferenceConfig"):  # its requests are not counted in Invocations here: keep it
                self.warnings.append(f"endpoint {d['EndpointName']} is asynchronous: its requests are not "
                                     "counted as Invocations, so it is never judged idle")
            elif status == "InService":
                calls = self._invocations(d["EndpointName"], sorted(live), window)
            out.append(Endpoint(d["EndpointName"], status, tuple(n for n in names if n), _ts(d.get("CreationTime")),
                                _ts(d.get("LastModifiedTime")), calls, tuple(instances)))
        return out

    def endpoint_configs(self) -> dict[str, dict]:
        return {c["EndpointConfigName"]: self.sm.describe_endpoint_config(EndpointConfigName=c["EndpointConfigName"])
                for c in _paginate(self.sm, "list_endpoint_configs", "EndpointConfigs")}

    def snapshot(self, window: float) -> Snapshot:
        configs = self.endpoint_configs()
        snap = Snapshot(now=self.now)
        snap.endpoints = self.endpoints(window, configs)
        snap.endpoint_configs = [
            EndpointConfig(name, _ts(c.get("CreationTime")), tuple(
                v["ModelName"] for v in (c.get("ProductionVariants") or []) + (c.get("ShadowProductionVariants") or [])
                if v.get("ModelName")))
            for name, c in configs.items()]
        models = _paginate(self.sm, "list_models", "Models")
        snap.models = [Model(m["ModelName"], _ts(m.get("CreationTime"))) for m in models]
        transforms = _paginate(self.sm, "list_transform_jobs", "TransformJobSummaries")
        snap.transform_jobs = [TransformJob(t["TransformJobName"], t.get("TransformJobStatus", ""),
                                            self.sm.describe_transform_job(
                                                TransformJobName=t["TransformJobName"]).get("ModelName", ""))
                               for t in transforms if t.get("TransformJobStatus") in ("InProgress", "Stopping")]
        snap.notebooks = [Notebook(n["NotebookInstanceName"], n.get("NotebookInstanceStatus", ""),
                                   n.get("InstanceType", ""), _ts(n.get("LastModifiedTime")))
                          for n in self._optional("list_notebook_instances", "NotebookInstances")]
        self._s3(snap, configs, models)
        self._logs(snap)
        return snap

    def _optional(self, op: str, key: str) -> list[dict]:
        try:
            return _paginate(self.sm, op, key)
        except Exception as exc:  # noqa: BLE001 - a kind the server does not offer
            self.warnings.append(f"{op} failed ({exc}); those are left out")
            return []

    # -- S3 ---------------------------------------------------------------------------------------------------
    # (list operation, list key, name field, describe operation or None): everything that may name a prefix
    OWNERS: list[tuple[str, str, str, str | None, str]] = [
        ("list_training_jobs", "TrainingJobSummaries", "TrainingJobName", "describe_training_job", "TrainingJobName"),
        ("list_processing_jobs", "ProcessingJobSummaries", "ProcessingJobName", "describe_processing_job",
         "ProcessingJobName"),
        ("list_transform_jobs", "TransformJobSummaries", "TransformJobName", "describe_transform_job",
         "TransformJobName"),
        ("list_hyper_parameter_tuning_jobs", "HyperParameterTuningJobSummaries", "HyperParameterTuningJobName",
         "describe_hyper_parameter_tuning_job", "HyperParameterTuningJobName"),
        ("list_compilation_jobs", "CompilationJobSummaries", "CompilationJobName", "describe_compilation_job",
         "CompilationJobName"),
        ("list_pipelines", "PipelineSummaries", "PipelineName", "describe_pipeline", "PipelineName"),
        ("list_monitoring_schedules", "MonitoringScheduleSummaries", "MonitoringScheduleName",
         "describe_monitoring_schedule", "MonitoringScheduleName"),
        ("list_model_packages", "ModelPackageSummaryList", "ModelPackageArn", "describe_model_package",
         "ModelPackageName"),
        ("list_notebook_instances", "NotebookInstances", "NotebookInstanceName", None, ""),
    ]

    def _s3(self, snap: Snapshot, configs: dict[str, dict], models: list[dict]) -> None:
        names = {e.name for e in snap.endpoints} | set(configs) | {m["ModelName"] for m in models}
        uris: set[str] = set(s3_uris(list(configs.values())))
        for m in models:
            uris |= s3_uris(self.sm.describe_model(ModelName=m["ModelName"]))
        complete = True
        for op, key, field, describe, arg in self.OWNERS:
            try:
                items = _paginate(self.sm, op, key)
                for item in items:
                    names.add(str(item[field]).rsplit("/", 1)[-1])
                    if describe:
                        uris |= s3_uris(job_scoped(getattr(self.sm, describe)(**{arg: item[field]})))
            except Exception as exc:  # noqa: BLE001 - unseen users: S3 is left out of the plan
                complete = False
                self.warnings.append(f"{op} failed ({exc}); S3 prefixes are left out of the plan")
        snap.owner_names, snap.referenced_uris, snap.s3_complete = frozenset(names), frozenset(uris), complete
        if not complete:
            return
        pattern = default_bucket_pattern(self.account)
        for b in self.s3.list_buckets().get("Buckets", []):
            if not pattern.match(b["Name"]) and b["Name"] not in self.buckets:
                continue
            snap.default_buckets |= {b["Name"]}
            for o in _paginate(self.s3, "list_objects_v2", "Contents", Bucket=b["Name"]):
                snap.objects.append(S3Object(b["Name"], o["Key"], int(o.get("Size", 0)), _ts(o.get("LastModified"))))

    # -- CloudWatch Logs ---------------------------------------------------------------------------------------------
    def _logs(self, snap: Snapshot) -> None:
        try:
            groups = _paginate(self.logs, "describe_log_groups", "logGroups")
        except Exception as exc:  # noqa: BLE001
            self.warnings.append(f"describe_log_groups failed ({exc}); logs are left out")
            return
        for g in groups:
            name = g["logGroupName"]
            snap.log_retention[name] = g.get("retentionInDays")
            for s in _paginate(self.logs, "describe_log_streams", "logStreams", logGroupName=name):
                last = s.get("lastEventTimestamp") or s.get("creationTime") or 0
                snap.log_streams.append(LogStream(name, s["logStreamName"], last / 1000.0,
                                                  int(s.get("storedBytes") or 0)))


def collect(sagemaker: Any, cloudwatch: Any, s3: Any, logs: Any, account: str, now: float,
            window: float, buckets: Iterable[str] = ()) -> tuple[Snapshot, list[str]]:
    """(snapshot, warnings) for the account's resources as the given clients see them; ``buckets`` are
    scanned for orphaned job prefixes besides the default ones."""
    c = Collector(sagemaker, cloudwatch, s3, logs, account, now, buckets)
    snap = c.snapshot(window)
    return snap, c.warnings
