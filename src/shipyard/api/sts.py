"""STS GetCallerIdentity: who signed the request (the SageMaker SDK asks this to build role ARNs).

The server's own key is the account's ``shipyard`` user; a user's key (:mod:`shipyard.domain.users`) is that
IAM user (``arn:aws:iam::<account>:user/<name>``; a notebook instance's key has the path ``notebook-instance/``,
as an IAM user's ARN shows its path). A job's key (:mod:`shipyard.domain.job_keys`) is
reported as AWS reports an instance role's credentials: the job's execution role, assumed with the job's name
as the session (``arn:aws:sts::<account>:assumed-role/<role>/<job>``), never the server's key id.
"""

from __future__ import annotations

from ..domain.job_keys import Caller
from .registry import operation

DEFAULT_ROLE = "ShipyardJobRole"  # a job whose request named no role


@operation("sts", "GetCallerIdentity")
def get_caller_identity(services, params: dict, caller: Caller | None = None) -> dict:
    settings = services.settings
    if caller is not None and caller.user is not None:
        return {
            "UserId": caller.access_key_id,
            "Account": settings.account,
            "Arn": f"arn:aws:iam::{settings.account}:user/{caller.user.name}",
        }
    if caller is None or caller.job is None:
        return {
            "UserId": caller.access_key_id if caller is not None else settings.access_key_id,
            "Account": settings.account,
            "Arn": f"arn:aws:iam::{settings.account}:user/shipyard",
        }
    job = caller.job
    role = job.role_arn.rsplit("/", 1)[-1] if job.role_arn else DEFAULT_ROLE
    session = job.name[:64]  # AWS caps a role session name at 64 characters
    return {
        "UserId": f"{caller.access_key_id}:{session}",
        "Account": settings.account,
        "Arn": f"arn:aws:sts::{settings.account}:assumed-role/{role}/{session}",
    }
