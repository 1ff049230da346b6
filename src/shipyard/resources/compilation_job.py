"""The compilation-job resource (SageMaker Neo): validate, create, describe, list, stop and delete.

Neo compiles a trained model for a target; Shipyard's compiler (:mod:`shipyard.compile.job`, run by the
controller) turns it into ONNX, checks the compiled model against the original, and the model server serves the
``model.onnx`` on onnxruntime with the original container's contract (:mod:`shipyard.serving.frameworks.onnx`).

Checked *before* anything runs, as AWS does: the input artifact exists (a ``model.tar.gz``), the framework is
one Shipyard can compile, ``DataInputConfig`` is JSON shapes (not needed for XGBoost and scikit-learn, as on
AWS), exactly one of ``TargetDevice``/``TargetPlatform``, ``CompilerOptions`` JSON, the output bucket exists.
Statuses are AWS's for this kind (``STARTING`` -> ``INPROGRESS`` -> ``COMPLETED``/``FAILED``, ``STOPPING`` ->
``STOPPED``). The stored document is the DescribeCompilationJob response plus the private keys of
:class:`CompilationState` (the runner's handle and the job's folder), so a restarted server resumes.
"""

from __future__ import annotations

import json
import posixpath
import time
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..context import Services
from ..domain.acting import stamp
from ..domain.arns import name_from
from ..errors import ConflictError, MissingResource, ResourceNotFound, ValidationError
from ..metastore.base import Resource
from . import job_events
from .job_listing import list_jobs_page
from .training_job import check_s3_uri, public

KIND = "compilation-job"
ACTIVE = ("STARTING", "INPROGRESS", "STOPPING")
FINAL = ("COMPLETED", "FAILED", "STOPPED")
DEFAULT_MAX_RUNTIME = 900  # the SDK's compile_max_run default

# frameworks whose inputs have a fixed layout: no DataInputConfig needed (AWS's rule)
NO_SHAPES = {"XGBOOST", "SKLEARN", "ONNX"}
GPU_TARGETS = {"ml_p2", "ml_p3", "ml_g4dn"}

# The images the SDK deploys a compiled model with (DescribeCompilationJob's InferenceImage): AWS's Neo
# repositories; the model server serves a model.onnx behind any of them (algorithms.registry.NEO_REPOS).
NEO_ACCOUNT = "301217895009"
INFERENCE_REPOS = {"XGBOOST": "xgboost-neo", "PYTORCH": "sagemaker-inference-pytorch",
                   "TENSORFLOW": "sagemaker-inference-tensorflow", "KERAS": "sagemaker-inference-tensorflow",
                   "SKLEARN": "sagemaker-neo-sklearn", "ONNX": "sagemaker-neo-onnx",
                   # MXNet: the compiler takes only the built-in algorithms' models (image classification)
                   "MXNET": "image-classification-neo"}


@dataclass(frozen=True)
class CompilationState:
    """What the server keeps beside the public document (``_compilation`` key): where the job runs."""

    handle: str = ""         # the runner's handle id of the compiler process
    dir: str = ""            # the job's folder on the server
    stop_sent: float = 0.0
    started: float = 0.0

    @classmethod
    def from_doc(cls, doc: dict) -> "CompilationState":
        data = doc.get("_compilation") or {}
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

    def changes(self, **kw: Any) -> dict:
        return {"_compilation": {**asdict(self), **kw}}


def get(services: Services, name: str) -> Resource:
    """The stored compilation job ``name`` (or ARN); a missing one is ResourceNotFound (botocore's model)."""
    try:
        return services.meta.get(KIND, name_from(name))
    except MissingResource:
        raise ResourceNotFound(f"Compilation job {name_from(name)!r} does not exist: check the name "
                               "(ListCompilationJobs shows the jobs there are).") from None


def check_data_input_config(text: str | None, framework: str) -> str | None:
    """The DataInputConfig (the model's input names and shapes, as the compiler reads them: see
    :func:`shipyard.compile.spec.parse_data_input_config`) normalised as compact JSON, or None when absent."""
    from ..compile.spec import parse_data_input_config

    specs = parse_data_input_config(text)
    if not specs:
        if framework in NO_SHAPES:
            return None
        raise ValidationError(f"InputConfig.DataInputConfig is required for Framework {framework}: give the "
                              'model\'s input names and shapes as JSON, for example {"input0": [1, 3, 224, 224]}.')
    return json.dumps({s.name: s.shape if s.dtype == "float32" else {"shape": s.shape, "dtype": s.dtype}
                       for s in specs}, separators=(",", ":"))


def _check_input(services: Services, config: dict | None, package_arn: str | None) -> dict:
    if package_arn:
        raise ValidationError("ModelPackageVersionArn is not supported by Shipyard's compilation jobs yet: give "
                              "InputConfig with the model package's ModelDataUrl as S3Uri.")
    if not config:
        raise ValidationError("InputConfig is required: give the model artifact's S3Uri and its Framework.")
    from ..compile.targets import check_framework

    framework = check_framework(config["Framework"])
    uri = config["S3Uri"]
    check_s3_uri(services, uri, "InputConfig.S3Uri")
    from ..objectstore.base import parse_s3_uri

    bucket, key = parse_s3_uri(uri)
    if not key.endswith((".tar.gz", ".tgz")):
        raise ValidationError(f"InputConfig.S3Uri {uri!r} must name the model artifact, a .tar.gz file "
                              "(for example s3://bucket/model/model.tar.gz).")
    try:
        services.objects.head_object(bucket, key)
    except Exception:  # noqa: BLE001 - any miss (no such key) is the user's to fix
        raise ValidationError(f"InputConfig.S3Uri {uri!r}: no such object; upload the model artifact first "
                              "(or fix the URI).") from None
    out = dict(config)
    shapes = check_data_input_config(config.get("DataInputConfig"), framework)
    if shapes is not None:
        out["DataInputConfig"] = config["DataInputConfig"]
    return out


def target_arg(output: dict) -> str:
    """The compiler's ``--target``: the device name, or the TargetPlatform as JSON."""
    if output.get("TargetDevice"):
        return str(output["TargetDevice"])
    return json.dumps(output.get("TargetPlatform") or {})


def target_name(output: dict) -> str:
    """The target's part of the compiled artifact's name: the device (``ml_c5``) or ``OS_ARCH[_ACCEL]``."""
    if output.get("TargetDevice"):
        return str(output["TargetDevice"])
    p = output.get("TargetPlatform") or {}
    return "_".join(str(p[k]) for k in ("Os", "Arch", "Accelerator") if p.get(k))


def _check_output(services: Services, config: dict) -> dict:
    device, platform = config.get("TargetDevice"), config.get("TargetPlatform")
    if bool(device) == bool(platform):
        raise ValidationError("OutputConfig must have exactly one of TargetDevice (for example ml_c5) and "
                              "TargetPlatform (Os, Arch, Accelerator).")
    from ..compile.targets import resolve_target

    resolve_target(target_arg(config))  # refuses what onnxruntime cannot serve here, saying why
    check_s3_uri(services, config["S3OutputLocation"], "OutputConfig.S3OutputLocation")
    if config.get("CompilerOptions"):
        try:
            opts = json.loads(config["CompilerOptions"])
        except ValueError:
            opts = None
        if not isinstance(opts, dict):
            raise ValidationError("OutputConfig.CompilerOptions must be a JSON object, for example "
                                  '{"dtype": "float32"}.')
    return dict(config)


def inference_image(services: Services, framework: str, version: str | None, target: str) -> str:
    """The image the SDK deploys the compiled model with (DescribeCompilationJob's InferenceImage)."""
    repo = INFERENCE_REPOS.get(framework, "sagemaker-neo-onnx")
    region = getattr(services.settings, "region", "") or "us-east-1"
    if framework in ("XGBOOST", "MXNET"):
        tag = "latest"
    else:
        tag = f"{version or '1.0'}-{'gpu' if target in GPU_TARGETS else 'cpu'}-py3"
    return f"{NEO_ACCOUNT}.dkr.ecr.{region}.amazonaws.com/{repo}:{tag}"


def artifact_uri(doc: dict) -> str:
    """``<S3OutputLocation>/<input artifact's name>-<target>.tar.gz``, as AWS names the compiled artifact."""
    stem = posixpath.basename(doc["InputConfig"]["S3Uri"].rstrip("/"))
    for ext in (".tar.gz", ".tgz"):
        stem = stem.removesuffix(ext)
    return f"{doc['OutputConfig']['S3OutputLocation'].rstrip('/')}/{stem}-{target_name(doc['OutputConfig'])}.tar.gz"


def create(services: Services, params: dict) -> dict:
    """Validate and store a compilation job (a CreateCompilationJob request); the controller runs it."""
    name = params["CompilationJobName"]
    inputs = _check_input(services, params.get("InputConfig"), params.get("ModelPackageVersionArn"))
    output = _check_output(services, params["OutputConfig"])
    stopping = dict(params.get("StoppingCondition") or {})
    stopping.setdefault("MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME)
    arn = services.arn(KIND, name)
    doc: dict[str, Any] = {
        "CompilationJobName": name, "CompilationJobArn": arn, "RoleArn": params["RoleArn"],
        "InputConfig": inputs, "OutputConfig": output, "StoppingCondition": stopping,
        "InferenceImage": inference_image(services, inputs["Framework"], inputs.get("FrameworkVersion"),
                                          target_name(output)),
    }
    shapes = check_data_input_config(inputs.get("DataInputConfig"), inputs["Framework"])
    if shapes:
        doc["DerivedInformation"] = {"DerivedDataInputConfig": shapes}
    if params.get("VpcConfig"):
        doc["VpcConfig"] = params["VpcConfig"]
    if params.get("Tags"):
        doc["_tags"] = list(params["Tags"])
    doc.update(CompilationState().changes())
    job_events.job_created(services, KIND, services.meta.create(KIND, name, arn, "STARTING", stamp(doc)))
    services.wake(KIND)
    return {"CompilationJobArn": arn}


def describe(resource: Resource) -> dict:
    """The DescribeCompilationJob view of a stored job."""
    out = public(resource.doc)
    out["CompilationJobStatus"] = resource.status
    out["CreationTime"] = resource.created
    out["LastModifiedTime"] = resource.modified
    out.setdefault("FailureReason", "")
    out.setdefault("ModelArtifacts", {"S3ModelArtifacts": ""})
    return out


def summary(r: Resource) -> dict:
    """One ListCompilationJobs entry."""
    item = {"CompilationJobName": r.name, "CompilationJobArn": r.arn, "CreationTime": r.created,
            "LastModifiedTime": r.modified, "CompilationJobStatus": r.status}
    for key in ("CompilationStartTime", "CompilationEndTime"):
        if r.doc.get(key):
            item[key] = r.doc[key]
    out = r.doc.get("OutputConfig") or {}
    if out.get("TargetDevice"):
        item["CompilationTargetDevice"] = out["TargetDevice"]
    for key in ("Os", "Arch", "Accelerator"):
        if (out.get("TargetPlatform") or {}).get(key):
            item[f"CompilationTargetPlatform{key}"] = out["TargetPlatform"][key]
    return item


def list_jobs(services: Services, params: dict) -> dict:
    """A ListCompilationJobs page (filters, sort, pagination as every List*Jobs: :mod:`.job_listing`)."""
    return list_jobs_page(services, KIND, params, "CompilationJobSummaries", summary)


def stop(services: Services, name: str) -> None:
    """StopCompilationJob: a running job becomes STOPPING (the controller stops the compiler, then records
    STOPPED); stopping one that is already stopping or has ended is a no-op, as on AWS."""
    r = get(services, name)
    if r.status not in ("STARTING", "INPROGRESS"):
        return
    try:
        services.meta.update(KIND, r.name, {}, status="STOPPING", expect_status={"STARTING", "INPROGRESS"})
    except ConflictError:
        return  # it ended (or was stopped) meanwhile
    services.wake(KIND)


def delete(services: Services, name: str) -> None:
    """DeleteCompilationJob: only a job that has ended can be deleted (its compiled artifact stays in S3)."""
    r = get(services, name)
    if r.status not in FINAL:
        raise ValidationError(f"Compilation job {r.name} is {r.status}: only a COMPLETED, FAILED or STOPPED job "
                              "can be deleted; stop it first (StopCompilationJob).")
    services.meta.delete(KIND, r.name)


def finish(services: Services, r: Resource, status: str, changes: dict) -> Resource:
    """Record a final status (the controller's last word on a job) and tell the job's recorders."""
    changes = {**changes, "CompilationEndTime": changes.get("CompilationEndTime") or time.time()}
    saved = services.meta.update(KIND, r.name, changes, status=status)
    job_events.job_finished(services, KIND, saved)
    return saved
