"""Where the SDK talks to: an endpoint URL, a key pair and a region, turned into boto3 clients.

Settings come from explicit arguments, else from the standard AWS variables that ``eval "$(shipyard env)"``
exports (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ...). Because everything goes through boto3, the same
code runs against AWS when no endpoint URL is set.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

DEFAULT_REGION = "us-east-1"
FALLBACK_ACCOUNT = "123456789012"


class Session:
    """boto3 clients for sagemaker, sagemaker-runtime, s3 and logs, plus the default bucket and uploads.

    The constructor only stores settings; clients are created on first use.
    """

    def __init__(self, endpoint_url: str | None = None, access_key_id: str | None = None,
                 secret_access_key: str | None = None, region: str | None = None,
                 boto_session: Any = None, default_bucket: str | None = None):
        self.endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        self._region = region
        self._boto_session = boto_session
        self._default_bucket = default_bucket
        self._bucket_checked = False
        self._clients: dict[str, Any] = {}
        self._account: str | None = None

    # -- boto3 plumbing -------------------------------------------------------------------------------
    @property
    def boto_session(self) -> Any:
        if self._boto_session is None:
            import boto3

            self._boto_session = boto3.Session(
                aws_access_key_id=self._access_key_id, aws_secret_access_key=self._secret_access_key,
                region_name=self._region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
                or DEFAULT_REGION)
        return self._boto_session

    @property
    def region(self) -> str:
        return self._region or self.boto_session.region_name or DEFAULT_REGION

    def client(self, service: str) -> Any:
        """A (cached) boto3 client for ``service`` aimed at this session's endpoint."""
        if service not in self._clients:
            from botocore.config import Config

            kwargs: dict[str, Any] = {"region_name": self.region,
                                      "config": Config(retries={"max_attempts": 3, "mode": "standard"})}
            if self.endpoint_url:
                kwargs["endpoint_url"] = self.endpoint_url
            self._clients[service] = self.boto_session.client(service, **kwargs)
        return self._clients[service]

    @property
    def sagemaker_client(self) -> Any:
        return self.client("sagemaker")

    @property
    def runtime_client(self) -> Any:
        return self.client("sagemaker-runtime")

    @property
    def s3_client(self) -> Any:
        return self.client("s3")

    @property
    def logs_client(self) -> Any:
        return self.client("logs")

    # -- account, role, bucket ---------------------------------------------------------------------------
    def account_id(self) -> str:
        """The caller's account (STS), or Shipyard's default account where STS is not answered."""
        if self._account is None:
            try:
                self._account = self.client("sts").get_caller_identity()["Account"]
            except Exception:  # noqa: BLE001 - any failure means "no STS here"; the default is documented
                self._account = os.environ.get("SHIPYARD_ACCOUNT", FALLBACK_ACCOUNT)
        return self._account

    def default_role(self) -> str:
        return f"arn:aws:iam::{self.account_id()}:role/shipyard"

    def default_bucket(self) -> str:
        """``shipyard-default-<account>`` (or the bucket given to the constructor), created if absent."""
        bucket = self._default_bucket or f"shipyard-default-{self.account_id()}"
        if not self._bucket_checked:
            self.ensure_bucket(bucket)
            self._bucket_checked = True
        self._default_bucket = bucket
        return bucket

    def ensure_bucket(self, bucket: str) -> None:
        from botocore.exceptions import ClientError

        s3 = self.s3_client
        try:
            s3.head_bucket(Bucket=bucket)
            return
        except ClientError as e:
            code = str(e.response.get("Error", {}).get("Code", ""))
            if code not in ("404", "NoSuchBucket", "NotFound"):
                raise
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            s3.create_bucket(**kwargs)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou", "OperationAborted"):
                raise

    # -- data ---------------------------------------------------------------------------------------
    def upload_data(self, path: str | os.PathLike, bucket: str | None = None, key_prefix: str = "data") -> str:
        """Upload a file or a folder (recursively); return its S3 URI as the SageMaker SDK does:
        ``s3://bucket/prefix/file`` for a file, ``s3://bucket/prefix`` for a folder."""
        bucket = bucket or self.default_bucket()
        key_prefix = key_prefix.strip("/")
        src = Path(path)
        if src.is_file():
            key = f"{key_prefix}/{src.name}" if key_prefix else src.name
            self.s3_client.upload_file(str(src), bucket, key)
            return f"s3://{bucket}/{key}"
        if not src.is_dir():
            raise FileNotFoundError(f"no such file or folder: {src}")
        for file in sorted(p for p in src.rglob("*") if p.is_file()):
            rel = file.relative_to(src).as_posix()
            self.s3_client.upload_file(str(file), bucket, f"{key_prefix}/{rel}" if key_prefix else rel)
        return f"s3://{bucket}/{key_prefix}" if key_prefix else f"s3://{bucket}"

    def upload_bytes(self, data: bytes, bucket: str, key: str) -> str:
        self.s3_client.put_object(Bucket=bucket, Key=key, Body=data)
        return f"s3://{bucket}/{key}"

    def read_s3(self, uri: str) -> bytes:
        bucket, key = split_s3_uri(uri)
        return self.s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"not an S3 URI: {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key
