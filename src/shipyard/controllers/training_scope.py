"""A training job's execution role: what its own key may touch (and nothing else).

Kept apart from the controller because it is pure over the job's document: the controller issues the key with
it, and tests check it through the server's authorizer without running a job.
"""

from __future__ import annotations

from ..domain import job_keys

KIND = "training-job"
LOG_GROUP = "/aws/sagemaker/TrainingJobs"


def _folder(uri: str) -> str:
    prefix = job_keys.s3_prefix(uri)
    return prefix.rstrip("/") + "/" if prefix else ""


def job_scope(name: str, doc: dict, manifest_reads: list[str] | None = None) -> job_keys.JobScope:
    """A training job's execution role: read its channels (an S3Prefix, a manifest object, and what
    ``manifest_reads`` says its entries live under: see :meth:`TrainingController._manifest_reads`) and code
    (``sagemaker_submit_directory`` or ``SAGEMAKER_SUBMIT_DIRECTORY``), read/write its checkpoints, write its
    output (``<S3OutputPath>/<job>/``) and debugger/TensorBoard outputs, its log streams, its metrics, and
    DescribeTrainingJob on itself. The executor stages and uploads with this key too, so this is all of what
    the job touches in the object store."""
    read: list[str] = []
    write: list[str] = []
    for channel in doc.get("InputDataConfig") or []:
        src = ((channel.get("DataSource") or {}).get("S3DataSource") or {})
        prefix = job_keys.s3_prefix(src.get("S3Uri") or "")
        if prefix:
            read.append(prefix)
    read.extend(p for p in manifest_reads or [] if p and p not in read)
    for submit in ((doc.get("HyperParameters") or {}).get("sagemaker_submit_directory"),
                   (doc.get("Environment") or {}).get("SAGEMAKER_SUBMIT_DIRECTORY")):
        prefix = job_keys.s3_prefix(str(submit or "").strip('"'))
        if prefix and prefix not in read:
            read.append(prefix)
    checkpoint = _folder((doc.get("CheckpointConfig") or {}).get("S3Uri") or "")
    if checkpoint:
        write.append(checkpoint)
    output = job_keys.s3_prefix((doc.get("OutputDataConfig") or {}).get("S3OutputPath") or "")
    if output:
        write.append(f"{output.rstrip('/')}/{name}/")
    for key in ("TensorBoardOutputConfig", "DebugHookConfig", "ProfilerConfig"):
        extra = _folder((doc.get(key) or {}).get("S3OutputPath") or "")
        if extra:
            write.append(extra)
    return job_keys.JobScope(kind=KIND, name=name, read=read, write=write, log_group=LOG_GROUP,
                             log_stream_prefix=f"{name}/", role_arn=str(doc.get("RoleArn") or ""),
                             own=[["sagemaker", "DescribeTrainingJob", "TrainingJobName"]],
                             experiment=job_keys.experiment_names(doc.get("ExperimentConfig")))
