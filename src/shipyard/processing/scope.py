"""A processing job's execution role: what its own key may touch (and nothing else).

Pure over the job's document, so the controller issues the key with it and tests can check it without a job.
"""

from __future__ import annotations

from ..domain import job_keys

KIND = "processing-job"
LOG_GROUP = "/aws/sagemaker/ProcessingJobs"


def job_scope(name: str, doc: dict, manifest_reads: list[str] | None = None) -> job_keys.JobScope:
    """Read each input (an S3Prefix, a manifest object and the ``prefix`` its entries live under), write each
    output's URI (as a folder: ``<S3Uri>/``, and the URI itself for a single object), its log streams
    (``<job>/...`` in /aws/sagemaker/ProcessingJobs), its metrics, and DescribeProcessingJob on itself."""
    read: list[str] = []
    write: list[str] = []
    for item in doc.get("ProcessingInputs") or []:
        prefix = job_keys.s3_prefix((item.get("S3Input") or {}).get("S3Uri") or "")
        if prefix and prefix not in read:
            read.append(prefix)
    read.extend(p for p in manifest_reads or [] if p and p not in read)
    # a Debugger rule job reads its training job's tensors / system metrics as they grow (not a staged input)
    read.extend(p for p in doc.get("_rule_reads") or [] if p and p not in read)
    for item in (doc.get("ProcessingOutputConfig") or {}).get("Outputs") or []:
        prefix = job_keys.s3_prefix((item.get("S3Output") or {}).get("S3Uri") or "")
        if prefix:
            folder = prefix.rstrip("/") + "/"
            write.extend(p for p in (folder,) if p not in write)
    return job_keys.JobScope(kind=KIND, name=name, read=read, write=write, log_group=LOG_GROUP,
                             log_stream_prefix=f"{name}/", role_arn=str(doc.get("RoleArn") or ""),
                             own=[["sagemaker", "DescribeProcessingJob", "ProcessingJobName"]])
