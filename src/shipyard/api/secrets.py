"""Secrets Manager (JSON 1.1, ``secretsmanager.*``): thin handlers over :mod:`shipyard.resources.secret`."""

from __future__ import annotations

from ..resources import secret
from .registry import operation


@operation("secretsmanager", "CreateSecret")
def create_secret(services, params: dict) -> dict:
    return secret.create(services, params)


@operation("secretsmanager", "DescribeSecret")
def describe_secret(services, params: dict) -> dict:
    return secret.describe(services, params["SecretId"])


@operation("secretsmanager", "GetSecretValue")
def get_secret_value(services, params: dict) -> dict:
    return secret.value(services, params["SecretId"])


@operation("secretsmanager", "PutSecretValue")
def put_secret_value(services, params: dict) -> dict:
    return secret.put_value(services, params)


@operation("secretsmanager", "DeleteSecret")
def delete_secret(services, params: dict) -> dict:
    return secret.delete(services, params["SecretId"])
