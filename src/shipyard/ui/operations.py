"""How the console acts: through the API's own operations, as the signed-in key.

Every page and action calls the registered handler of a SageMaker / CloudWatch Logs operation (the function
``POST /`` with ``X-Amz-Target`` would run), after the same input validation (botocore's model) and the same
authorization a signed request gets (a job's scoped key may do only what its scope allows, a viewer user's key
only reads). There is no
console-only path to the store for anything the API guards: the console is one more API client.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool

from ..api import registry
from ..domain import job_keys, users
from ..domain.acting import acting_as
from ..errors import OperationNotImplemented, ValidationError
from ..server.acting import acting_name
from ..server.auth import authorize_call, authorize_s3, authorize_user, authorize_user_s3
from ..wire.models import operation_model
from ..wire.validate import validate_input


@dataclass(frozen=True)
class Identity:
    """Who is signed in: the access key id and, for a job's key, its scope, for a user's key, the user (both
    None: the server's key)."""

    access_key_id: str
    job: job_keys.JobScope | None = None
    user: users.User | None = None

    @property
    def user_name(self) -> str:
        return self.user.name if self.user is not None else ""

    @property
    def role(self) -> str:
        """``admin`` or ``viewer`` for a user; "" for the server's key or a job's."""
        return self.user.role if self.user is not None else ""

    @property
    def is_server_key(self) -> bool:
        """Signed in with the server's own key (not a job's, not a user's): what only the operator may see, such
        as the home's local JupyterLab and its token, asks for this."""
        return self.job is None and self.user is None


def authorize_s3_request(identity: Identity, method: str, bucket: str, key: str = "",
                         query: dict[str, str] | None = None) -> None:
    """The API's S3 rules for one request as ``identity``: a job's key only under its scope, a viewer's only GET
    and HEAD (raises ``AccessDenied``); the server's key and an admin user's may do anything."""
    path = f"/{bucket}/{key}" if bucket else "/"
    if identity.job is not None:
        authorize_s3(identity.job, method=method, path=path, query=query or {}, headers={})
    if identity.user is not None:
        authorize_user_s3(identity.user, method=method, path=path)


class Operations:
    """The console's one way to read and change resources (see the module docstring)."""

    def __init__(self, services: Any):
        self.services = services
        settings = services.settings
        self.key_id = settings.access_key_id
        self.secret = settings.secret_access_key
        self.job_keys = job_keys.for_home(settings.home)
        self.users = users.for_home(settings.home)
        self.account = settings.account

    def resolve(self, access_key_id: str) -> Identity | None:
        """The identity a session's key stands for now (None once a job's key is gone or a user removed)."""
        found = self._lookup(access_key_id)
        return found[0] if found is not None else None

    def _lookup(self, access_key_id: str) -> tuple[Identity, str] | None:
        """The identity and secret of a key: the server's key, a job's, then a user's, in the API's order."""
        if not access_key_id:
            return None
        if access_key_id == self.key_id:
            return Identity(access_key_id), self.secret
        key = self.job_keys.lookup(access_key_id)
        if key is not None:
            return Identity(key.access_key_id, key.scope), key.secret_access_key
        user = self.users.lookup(access_key_id)
        return (Identity(user.access_key_id, user=user), user.secret_access_key) if user is not None else None

    def sign_in(self, access_key_id: str, secret_access_key: str) -> Identity | None:
        """The identity for a key pair the API accepts, or None (unknown key or wrong secret)."""
        found = self._lookup(access_key_id.strip())
        if found is None:
            hmac.compare_digest(secret_access_key.encode(), self.secret.encode())  # same work as a known key
            return None
        identity, expected = found
        return identity if hmac.compare_digest(secret_access_key.encode(), expected.encode()) else None

    def call_sync(self, identity: Identity, service: str, operation: str, params: dict) -> dict:
        handler = registry.lookup(service, operation)
        model = operation_model(service, operation)
        if handler is None or model is None:
            raise OperationNotImplemented(f"Operation {operation} of {service} is not supported by Shipyard.")
        params = validate_input(model.input_shape, params)
        if identity.job is not None:
            authorize_call(identity.job, service, operation, params)
        if identity.user is not None:
            authorize_user(identity.user, service, operation, self.account)
        with acting_as(acting_name(self.services.meta, identity.job, identity.user)):
            return handler(self.services, params)

    async def call(self, identity: Identity, operation: str, params: dict | None = None,
                   service: str = "sagemaker") -> dict:
        """Run ``service:operation`` as ``identity`` (in a worker thread: handlers block on the store)."""
        return await run_in_threadpool(self.call_sync, identity, service, operation, dict(params or {}))

    def authorize_read(self, identity: Identity, bucket: str, key: str) -> None:
        """S3 GetObject as the identity (a download link): the API's S3 rules for a job's key and a user's."""
        authorize_s3_request(identity, "GET", bucket, key)
        if not bucket or not key:
            raise ValidationError("Name an object to download: s3://bucket/key.")
