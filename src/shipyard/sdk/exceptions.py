"""Errors the SDK raises itself (AWS-side errors reach the caller as botocore ``ClientError``)."""

from __future__ import annotations

from ..errors import ShipyardError


class UnexpectedStatusError(ShipyardError):
    """A job or endpoint ended in a status other than the one waited for; ``reason`` is the server's
    FailureReason, ``status`` the status it reached."""

    code = "UnexpectedStatus"

    def __init__(self, message: str, status: str = "", reason: str = ""):
        super().__init__(message)
        self.status = status
        self.reason = reason


class WaitTimeout(ShipyardError):
    """Waiting for a job or endpoint took longer than allowed."""

    code = "WaitTimeout"
