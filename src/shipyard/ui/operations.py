"""How the console acts: through the API's own operations, as the signed-in key.

Every page and action calls the registered handler of a SageMaker / CloudWatch Logs operation (the function
``POST /`` with ``X-Amz-Target`` would run), after the same input validation (botocore's model) and the same
authorization a signed request gets (a job's scoped key may do only what its scope allows). There is no
console-only path to the store for anything the API guards: the console is one more API client.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool

from ..api import registry
from ..domain import job_keys
from ..errors import OperationNotImplemented, ValidationError
from ..server.auth import authorize_call, authorize_s3
from ..wire.models import operation_model
from ..wire.validate import validate_input


@dataclass(frozen=True)
class Identity:
    """Who is signed in: the access key id and, for a job's key, its scope (None: the server's key)."""

    access_key_id: str
    job: job_keys.JobScope | None = None


class Operations:
    """The console's one way to read and change resources (see the module docstring)."""

    def __init__(self, services: Any):
        self.services = services
        settings = services.settings
        self.key_id = settings.access_key_id
        self.secret = settings.secret_access_key
        self.job_keys = job_keys.for_home(settings.home)

    def resolve(self, access_key_id: str) -> Identity | None:
        """The identity a session's key stands for now (None once a job's key is gone)."""
        if access_key_id == self.key_id:
            return Identity(access_key_id)
        key = self.job_keys.lookup(access_key_id)
        return Identity(key.access_key_id, key.scope) if key is not None else None

    def sign_in(self, access_key_id: str, secret_access_key: str) -> Identity | None:
        """The identity for a key pair the API accepts, or None (unknown key or wrong secret)."""
        access_key_id = access_key_id.strip()
        if access_key_id == self.key_id:
            expected = self.secret
            identity = Identity(access_key_id)
        else:
            key = self.job_keys.lookup(access_key_id) if access_key_id else None
            if key is None:
                hmac.compare_digest(secret_access_key, self.secret)  # same work as a known key
                return None
            expected = key.secret_access_key
            identity = Identity(key.access_key_id, key.scope)
        return identity if hmac.compare_digest(secret_access_key.encode(), expected.encode()) else None

    def call_sync(self, identity: Identity, service: str, operation: str, params: dict) -> dict:
        handler = registry.lookup(service, operation)
        model = operation_model(service, operation)
        if handler is None or model is None:
            raise OperationNotImplemented(f"Operation {operation} of {service} is not supported by Shipyard.")
        params = validate_input(model.input_shape, params)
        if identity.job is not None:
            authorize_call(identity.job, service, operation, params)
        return handler(self.services, params)

    async def call(self, identity: Identity, operation: str, params: dict | None = None,
                   service: str = "sagemaker") -> dict:
        """Run ``service:operation`` as ``identity`` (in a worker thread: handlers block on the store)."""
        return await run_in_threadpool(self.call_sync, identity, service, operation, dict(params or {}))

    def authorize_read(self, identity: Identity, bucket: str, key: str) -> None:
        """S3 GetObject as the identity (a download link): the API's S3 rule for a job's key."""
        if identity.job is not None:
            authorize_s3(identity.job, method="GET", path=f"/{bucket}/{key}", query={}, headers={})
        if not bucket or not key:
            raise ValidationError("Name an object to download: s3://bucket/key.")
