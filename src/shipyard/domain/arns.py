"""SageMaker ARNs: ``arn:aws:sagemaker:<region>:<account>:<kind>/<lower-cased name>``."""

from __future__ import annotations

import re

# Resource kind (the store's key) -> the ARN's resource type and the noun used in messages.
KINDS: dict[str, tuple[str, str]] = {
    "training-job": ("training-job", "training job"),
    "model": ("model", "model"),
    "endpoint-config": ("endpoint-config", "endpoint configuration"),
    "endpoint": ("endpoint", "endpoint"),
    "transform-job": ("transform-job", "transform job"),
    "hyper-parameter-tuning-job": ("hyper-parameter-tuning-job", "hyper-parameter tuning job"),
    "processing-job": ("processing-job", "processing job"),
    "pipeline": ("pipeline", "pipeline"),
    # arn:aws:sagemaker:...:pipeline/<pipeline>/execution/<id>: resources/pipeline.py builds it (name is the id)
    "pipeline-execution": ("pipeline-execution", "pipeline execution"),
    # arn:...:model-package/<group>/<version> for a versioned package: resources/model_package.py builds it
    "model-package": ("model-package", "model package"),
    "model-package-group": ("model-package-group", "model package group"),
    "experiment": ("experiment", "experiment"),
    "experiment-trial": ("experiment-trial", "trial"),
    "experiment-trial-component": ("experiment-trial-component", "trial component"),
    "artifact": ("artifact", "artifact"),
    "action": ("action", "action"),
    "context": ("context", "context"),
    "notebook-instance": ("notebook-instance", "notebook instance"),
    "notebook-instance-lifecycle-config": ("notebook-instance-lifecycle-config",
                                           "notebook instance lifecycle configuration"),
    "monitoring-schedule": ("monitoring-schedule", "monitoring schedule"),
    "compilation-job": ("compilation-job", "compilation job"),
    "data-quality-job-definition": ("data-quality-job-definition", "data quality job definition"),
    "model-quality-job-definition": ("model-quality-job-definition", "model quality job definition"),
    "ecr-repository": ("repository", "ECR repository"),  # arn:aws:ecr:...:repository/<name> (api/ecr.py)
}

_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:[^:]*:[^:]*:([a-z-]+)/(.+)$")


def make_arn(kind: str, name: str, region: str, account: str) -> str:
    resource = KINDS.get(kind, (kind, kind))[0]
    return f"arn:aws:sagemaker:{region}:{account}:{resource}/{name.lower()}"


def name_from(name_or_arn: str) -> str:
    """Accept a name or an ARN where SageMaker accepts either; return the name part."""
    m = _ARN.match(name_or_arn)
    return m.group(2) if m else name_or_arn


def noun(kind: str) -> str:
    return KINDS.get(kind, (kind, kind))[1]
