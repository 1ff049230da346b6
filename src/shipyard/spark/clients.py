"""boto3 clients on the driver and in the executors, from one picklable description.

Spark runs ``transform`` and the training-data writer in executor processes, which do not share the driver's
boto3 objects. :class:`ClientSpec` captures what a client needs (endpoint URL, region, frozen credentials) from
the driver's SageMaker client, so an executor builds the same clients without depending on the environment
it was started in; clients are cached per executor process.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

_CACHE: dict[tuple, Any] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class ClientSpec:
    """Where and as whom to call AWS (or Shipyard); picklable, so it travels to the executors."""

    region: str | None = None
    endpoint_url: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    token: str | None = None

    @classmethod
    def of(cls, client: Any) -> ClientSpec:
        """The spec of an existing boto3 client (its endpoint, region and credentials)."""
        creds = getattr(getattr(client, "_request_signer", None), "_credentials", None)
        frozen = creds.get_frozen_credentials() if creds is not None else None
        return cls(region=client.meta.region_name, endpoint_url=client.meta.endpoint_url,
                   access_key=getattr(frozen, "access_key", None), secret_key=getattr(frozen, "secret_key", None),
                   token=getattr(frozen, "token", None))

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` (one per process and spec; boto3 clients are thread-safe)."""
        key = (self, service)
        with _LOCK:
            if key not in _CACHE:
                import boto3
                from botocore.config import Config

                # Only SageMaker's own endpoint is known; S3 and the runtime are served beside it (Shipyard)
                # or found by boto3 from the region (AWS).
                url = self.endpoint_url if self.endpoint_url and "amazonaws.com" not in self.endpoint_url else None
                config = Config(retries={"max_attempts": 3, "mode": "standard"}, s3={"addressing_style": "path"},
                                read_timeout=120, max_pool_connections=16)
                session = boto3.session.Session(aws_access_key_id=self.access_key,
                                                aws_secret_access_key=self.secret_key,
                                                aws_session_token=self.token, region_name=self.region)
                _CACHE[key] = session.client(service, endpoint_url=url, config=config)
            return _CACHE[key]
