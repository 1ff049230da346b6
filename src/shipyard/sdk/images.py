"""Short algorithm names (``"xgboost"``, ``"kmeans"``) -> the ECR image URIs SageMaker uses for them.

Shipyard accepts short names directly, but sending the real URI keeps a job definition valid on AWS too.
Only the common regions are listed; elsewhere the short name is sent as it is.
"""

from __future__ import annotations

# SageMaker's registries (from the SageMaker Python SDK's image_uri_config, training scope).
_XGBOOST_ACCOUNTS = {"us-east-1": "683313688378", "us-east-2": "257758044811", "us-west-2": "246618743249",
                     "eu-west-1": "141502667606", "eu-central-1": "492215442770"}
_FIRST_PARTY_ACCOUNTS = {"us-east-1": "382416733822", "us-east-2": "404615174143",
                         "us-west-2": "174872318107", "eu-west-1": "438346466558",
                         "eu-central-1": "664544806723"}
_FIRST_PARTY = {"linear-learner", "kmeans", "pca", "factorization-machines", "knn", "randomcutforest",
                "ipinsights", "lda", "ntm", "object2vec", "blazingtext", "seq2seq", "forecasting-deepar"}
XGBOOST_DEFAULT_VERSION = "1.7-1"


def image_uri(name_or_uri: str, region: str) -> str:
    """The image URI for an algorithm short name (``xgboost`` or ``xgboost:1.5-1``); other strings unchanged."""
    name, _, version = name_or_uri.partition(":")
    if "/" in name_or_uri or "." in name:
        return name_or_uri
    name = name.lower()
    if name in ("xgboost", "sagemaker-xgboost") and region in _XGBOOST_ACCOUNTS:
        tag = version or XGBOOST_DEFAULT_VERSION
        return f"{_XGBOOST_ACCOUNTS[region]}.dkr.ecr.{region}.amazonaws.com/sagemaker-xgboost:{tag}"
    if name in _FIRST_PARTY and region in _FIRST_PARTY_ACCOUNTS:
        return f"{_FIRST_PARTY_ACCOUNTS[region]}.dkr.ecr.{region}.amazonaws.com/{name}:{version or '1'}"
    return name_or_uri


def base_job_name(image: str) -> str:
    """A readable job-name prefix from an image: ``.../sagemaker-xgboost:1.7-1`` -> ``sagemaker-xgboost``."""
    repo = image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]
    cleaned = "".join(c if c.isalnum() else "-" for c in repo).strip("-")
    return (cleaned or "shipyard")[:40]
