"""Train a model with a built-in algorithm or your own script, then deploy it: the SageMaker ``Estimator``
workflow in a few hundred lines over boto3.

Following scikit-learn's contract, the constructor only stores arguments; :meth:`Estimator.fit` does the work
and returns ``self``.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from pathlib import Path
from typing import Any

from .images import base_job_name, image_uri
from .inputs import channels
from .predictor import Predictor
from .serializers import CSVDeserializer, CSVSerializer, JSONDeserializer, JSONSerializer
from .session import Session, split_s3_uri
from .waiting import wait_for_endpoint, wait_for_training_job


def unique_name(base: str) -> str:
    """``base-YYYY-MM-DD-HH-MM-SS-mmm`` (63 characters at most), as the SageMaker SDK names jobs."""
    now = time.time()
    stamp = time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime(now)) + f"-{int(now * 1000) % 1000:03d}"
    return f"{base[:63 - len(stamp) - 1].rstrip('-')}-{stamp}"


def pack_source(entry_point: str, source_dir: str | None) -> bytes:
    """``sourcedir.tar.gz``: the whole ``source_dir`` (or just the entry point file), paths relative to it."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        if source_dir:
            root = Path(source_dir)
            if not (root / entry_point).is_file():
                raise FileNotFoundError(f"entry point {entry_point!r} not found in {root}")
            for path in sorted(root.rglob("*")):
                rel = path.relative_to(root)
                if path.is_file() and "__pycache__" not in rel.parts and not rel.name.endswith(".pyc"):
                    tar.add(str(path), arcname=rel.as_posix())
        else:
            path = Path(entry_point)
            if not path.is_file():
                raise FileNotFoundError(f"entry point {entry_point!r} not found")
            tar.add(str(path), arcname=path.name)
    return buf.getvalue()


class Estimator:
    """One training configuration. ``fit`` launches a training job; ``deploy`` hosts the resulting model."""

    def __init__(self, image_uri: str, role: str | None = None, instance_count: int = 1,
                 instance_type: str = "ml.m5.large", hyperparameters: dict[str, Any] | None = None,
                 output_path: str | None = None, metric_definitions: list[dict[str, str]] | None = None,
                 max_run: int = 86400, environment: dict[str, str] | None = None,
                 entry_point: str | None = None, source_dir: str | None = None,
                 session: Session | None = None, base_job_name: str | None = None,
                 volume_size: int = 30, input_mode: str = "File", tags: list[dict[str, str]] | None = None):
        self.image_uri = image_uri
        self.role = role
        self.instance_count = instance_count
        self.instance_type = instance_type
        self.hyperparameters = dict(hyperparameters or {})
        self.output_path = output_path
        self.metric_definitions = metric_definitions
        self.max_run = max_run
        self.environment = dict(environment or {})
        self.entry_point = entry_point
        self.source_dir = source_dir
        self.session = session or Session()
        self.base_job_name = base_job_name
        self.volume_size = volume_size
        self.input_mode = input_mode
        self.tags = tags
        self.latest_training_job: str | None = None
        self._submit_dir: str | None = None
        self._description: dict | None = None

    # -- request building --------------------------------------------------------------------------------
    @property
    def training_image(self) -> str:
        return image_uri(self.image_uri, self.session.region)

    def _output_path(self) -> str:
        return self.output_path or f"s3://{self.session.default_bucket()}/"

    def _hyperparameters(self, job_name: str) -> dict[str, str]:
        """Built-ins take plain strings; script mode JSON-encodes every value and adds the ``sagemaker_*``
        keys, exactly like the SageMaker SDK's framework estimators, so training toolkits read them alike."""
        if not self.entry_point:
            return {str(k): str(v) for k, v in self.hyperparameters.items()}
        hps = {str(k): json.dumps(v) for k, v in self.hyperparameters.items()}
        hps.update({
            "sagemaker_program": json.dumps(Path(self.entry_point).name if not self.source_dir
                                            else self.entry_point),
            "sagemaker_submit_directory": json.dumps(self._submit_dir),
            "sagemaker_container_log_level": "20",
            "sagemaker_job_name": json.dumps(job_name),
            "sagemaker_region": json.dumps(self.session.region),
        })
        return hps

    def _upload_source(self, job_name: str) -> None:
        bucket, prefix = split_s3_uri(self._output_path())
        key = "/".join(p for p in (prefix.strip("/"), job_name, "source", "sourcedir.tar.gz") if p)
        self.session.ensure_bucket(bucket)
        self._submit_dir = self.session.upload_bytes(pack_source(self.entry_point, self.source_dir), bucket, key)

    def training_request(self, inputs: Any, job_name: str) -> dict[str, Any]:
        algo: dict[str, Any] = {"TrainingImage": self.training_image, "TrainingInputMode": self.input_mode}
        if self.metric_definitions:
            algo["MetricDefinitions"] = self.metric_definitions
        req: dict[str, Any] = {
            "TrainingJobName": job_name,
            "AlgorithmSpecification": algo,
            "RoleArn": self.role or self.session.default_role(),
            "OutputDataConfig": {"S3OutputPath": self._output_path()},
            "ResourceConfig": {"InstanceType": self.instance_type, "InstanceCount": self.instance_count,
                               "VolumeSizeInGB": self.volume_size},
            "StoppingCondition": {"MaxRuntimeInSeconds": self.max_run},
            "HyperParameters": self._hyperparameters(job_name),
        }
        chans = channels(inputs)
        if chans:
            req["InputDataConfig"] = chans
        if self.environment:
            req["Environment"] = self.environment
        if self.tags:
            req["Tags"] = self.tags
        return req

    # -- training ---------------------------------------------------------------------------------------
    def fit(self, inputs: Any = None, wait: bool = True, logs: bool = True, job_name: str | None = None
            ) -> "Estimator":
        """Start a training job on ``inputs`` (an S3 URI, a TrainingInput, or ``{channel: either}``).

        With ``wait`` (default), block until it completes, printing status changes and (``logs``) its log
        lines; a failed job raises :class:`~shipyard.sdk.UnexpectedStatusError` carrying its FailureReason.
        """
        job_name = job_name or unique_name(self.base_job_name or base_job_name(self.training_image))
        if self.entry_point:
            self._upload_source(job_name)
        self.session.sagemaker_client.create_training_job(**self.training_request(inputs, job_name))
        self.latest_training_job = job_name
        self._description = None
        if wait:
            self.wait(logs=logs)
        return self

    def wait(self, logs: bool = True, timeout: float | None = None) -> dict:
        if not self.latest_training_job:
            raise ValueError("no training job yet: call fit() first")
        self._description = wait_for_training_job(
            self.session, self.latest_training_job, logs=logs,
            timeout=timeout if timeout is not None else self.max_run + 3600)
        return self._description

    def describe(self) -> dict:
        if not self.latest_training_job:
            raise ValueError("no training job yet: call fit() first")
        desc = self.session.sagemaker_client.describe_training_job(TrainingJobName=self.latest_training_job)
        if desc.get("TrainingJobStatus") in ("Completed", "Failed", "Stopped"):
            self._description = desc
        return desc

    @property
    def model_data(self) -> str:
        """S3 URI of the trained ``model.tar.gz``."""
        desc = self._description or self.describe()
        return desc["ModelArtifacts"]["S3ModelArtifacts"]

    @property
    def final_metrics(self) -> dict[str, float]:
        """``{metric name: last value}`` from the job's FinalMetricDataList."""
        desc = self._description or self.describe()
        return {m["MetricName"]: m["Value"] for m in desc.get("FinalMetricDataList", [])}

    # -- hosting ----------------------------------------------------------------------------------------
    def _model_environment(self) -> dict[str, str]:
        env = dict(self.environment)
        if self.entry_point:
            env.update({
                "SAGEMAKER_PROGRAM": Path(self.entry_point).name if not self.source_dir else self.entry_point,
                "SAGEMAKER_SUBMIT_DIRECTORY": self._submit_dir or "",
                "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
                "SAGEMAKER_REGION": self.session.region,
            })
        return env

    def deploy(self, initial_instance_count: int = 1, instance_type: str = "ml.m5.large",
               endpoint_name: str | None = None, serializer: Any = None, deserializer: Any = None,
               wait: bool = True, model_name: str | None = None) -> Predictor:
        """Create a model from the last training job, an endpoint config and an endpoint; return its Predictor.

        Default (de)serializers: CSV for built-in algorithms, JSON for script mode.
        """
        name = endpoint_name or unique_name(self.base_job_name or base_job_name(self.training_image))
        model_name = model_name or name
        sm = self.session.sagemaker_client
        container: dict[str, Any] = {"Image": self.training_image, "ModelDataUrl": self.model_data}
        env = self._model_environment()
        if env:
            container["Environment"] = env
        sm.create_model(ModelName=model_name, PrimaryContainer=container,
                        ExecutionRoleArn=self.role or self.session.default_role())
        sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": model_name, "InitialInstanceCount": initial_instance_count,
            "InstanceType": instance_type, "InitialVariantWeight": 1.0}])
        sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
        if wait:
            wait_for_endpoint(self.session, name)
        if serializer is None:
            serializer = JSONSerializer() if self.entry_point else CSVSerializer()
        if deserializer is None:
            deserializer = JSONDeserializer() if self.entry_point else CSVDeserializer()
        return Predictor(name, self.session, serializer=serializer, deserializer=deserializer)

