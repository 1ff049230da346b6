"""STS GetCallerIdentity: who the server's key pair is (the SageMaker SDK asks this to build role ARNs)."""

from __future__ import annotations

from .registry import operation


@operation("sts", "GetCallerIdentity")
def get_caller_identity(services, params: dict) -> dict:
    settings = services.settings
    return {
        "UserId": settings.access_key_id,
        "Account": settings.account,
        "Arn": f"arn:aws:iam::{settings.account}:user/shipyard",
    }
