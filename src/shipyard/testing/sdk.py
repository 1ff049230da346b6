"""The SageMaker Python SDK pointed at a Shipyard server, unmodified: for tests, benchmarks and the examples.

Only configuration changes: the standard AWS variables point boto3 at the server (``ShipyardProcess.env()``),
and the SDK's own config file (``SAGEMAKER_USER_CONFIG_OVERRIDE`` / ``SAGEMAKER_ADMIN_CONFIG_OVERRIDE``) turns
telemetry off and, where one is named, sets the default bucket. Without a default bucket the SDK asks STS for
the account at the hard-coded ``https://sts.<region>.amazonaws.com``, which ignores ``AWS_ENDPOINT_URL``: a
session that uploads must name its bucket here or in :func:`sdk_session`.

- :func:`sdk_config` is the config file's text and :func:`sdk_variables` the variables that select it (the
  examples' runner hands both to subprocesses);
- :func:`sdk_environment` sets them in this process for the length of a ``with`` block and restores what was
  there before (a module-scoped test fixture wraps it);
- :func:`sdk_session` is a ``sagemaker.Session`` over clients that read keys and endpoint from that environment.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

REGION = "us-east-1"
# Cleared for the block: with a profile named boto3 skips the AWS_* keys, and a session token would travel with
# the server's key, which it does not belong to.
_CLEARED = ("AWS_PROFILE", "AWS_SESSION_TOKEN")


class _HasEnv(Protocol):
    def env(self) -> dict[str, str]: ...


def sdk_config(bucket: str | None = None) -> str:
    """The SDK's config file: telemetry off (no calls out), and ``bucket`` as the default S3 bucket if given."""
    text = ("SchemaVersion: '1.0'\n"
            "SageMaker:\n"
            "  PythonSDK:\n"
            "    Modules:\n"
            "      TelemetryOptOut: true\n")
    if bucket:
        text += ("      Session:\n"
                 f"        DefaultS3Bucket: {bucket}\n")
    return text


def sdk_variables(config: Path) -> dict[str, str]:
    """The variables that make the SDK read ``config`` (as both user and admin config) and keep it quiet about
    its v3 migration (its own switch for that notice)."""
    return {"SAGEMAKER_USER_CONFIG_OVERRIDE": str(config), "SAGEMAKER_ADMIN_CONFIG_OVERRIDE": str(config),
            "SAGEMAKER_SUPPRESS_V2_WARNING": "1"}


@contextmanager
def sdk_environment(server: _HasEnv | None, config_dir: Path, bucket: str | None = None,
                    region: str = REGION) -> Iterator[Path]:
    """Within the block, the SDK in this process talks to ``server``: its AWS_* variables (none when
    ``server`` is None, for a session that never calls out), ``region``, and a config file written to
    ``<config_dir>/config.yaml`` (yielded). Every variable it sets or clears is put back afterwards.

    boto3's default session is dropped on the way in and out: it caches the keys it first resolved, so a
    ``boto3.client("logs")`` inside the block would otherwise sign with the keys of whichever server an
    earlier test in this process resolved them for (UnrecognizedClientException)."""
    config = Path(config_dir) / "config.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(sdk_config(bucket))
    changes: dict[str, str | None] = dict(server.env() if server is not None else {})
    changes["AWS_DEFAULT_REGION"] = region
    changes.update(sdk_variables(config))
    changes.update(dict.fromkeys(_CLEARED))
    saved = {key: os.environ.get(key) for key in changes}
    import boto3

    try:
        _apply(changes)
        boto3.DEFAULT_SESSION = None
        yield config
    finally:
        _apply(saved)
        boto3.DEFAULT_SESSION = None


def _apply(values: Mapping[str, str | None]) -> None:
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def sdk_session(region: str = REGION, bucket: str | None = None, **boto_kwargs: Any):
    """A ``sagemaker.Session`` whose SageMaker and runtime clients come from one ``boto3.Session(region)``:
    keys and endpoint from the environment (:func:`sdk_environment`) unless ``boto_kwargs`` name keys.
    ``bucket`` overrides the config file's default bucket."""
    import boto3
    import sagemaker

    boto_session = boto3.Session(region_name=region, **boto_kwargs)
    return sagemaker.Session(boto_session=boto_session, sagemaker_client=boto_session.client("sagemaker"),
                             sagemaker_runtime_client=boto_session.client("sagemaker-runtime"),
                             default_bucket=bucket)


def endpoint_gone(server: Any, name: str, timeout: float = 30.0) -> bool:
    """True once DescribeEndpoint of ``name`` answers ValidationException (the endpoint was deleted), polling
    every 0.25 s for at most ``timeout`` seconds; False if it is still there then. Another error code raises."""
    import time

    from botocore.exceptions import ClientError

    sm = server.client("sagemaker")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            sm.describe_endpoint(EndpointName=name)
        except ClientError as e:
            if e.response["Error"]["Code"] != "ValidationException":
                raise
            return True
        time.sleep(0.25)
    return False
