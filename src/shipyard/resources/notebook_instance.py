"""Notebook instances and their lifecycle configurations: the SageMaker API's hosted JupyterLab.

A notebook instance is a JupyterLab process with its own persistent folder under the server's home
(``notebook-instances/<name>/SageMaker``, the folder AWS mounts at ``/home/ec2-user/SageMaker``). These
functions only validate requests and move the stored status; :mod:`shipyard.controllers.notebook` does the
work (runs the lifecycle scripts, starts and stops JupyterLab), so a server restart simply resumes.

Statuses follow AWS: Pending -> InService, Stopping -> Stopped, Failed, Deleting. As on AWS, an instance is
updated and deleted only when stopped (or failed), and a presigned URL is given only while it is in service.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from pathlib import Path
from typing import Any

from ..context import Services
from ..domain.acting import stamp
from ..domain.notebook_state import NotebookState
from ..errors import ResourceInUse, ValidationError
from ..metastore.base import Resource
from . import code_repository

KIND = "notebook-instance"
CONFIG_KIND = "notebook-instance-lifecycle-config"
LOG_GROUP = "/aws/sagemaker/NotebookInstances"
DEFAULT_VOLUME_GB = 5
STOPPED_LIKE = ("Stopped", "Failed")
PRESIGNED_URL_TTL_S = 300  # AWS's presigned notebook URL is valid for five minutes
DEFAULT_SESSION_S = 43200  # ... and the JupyterLab session it opens lasts SessionExpirationDurationInSeconds
UPDATABLE = ("InstanceType", "RoleArn", "VolumeSizeInGB", "AcceleratorTypes", "RootAccess",
             "DefaultCodeRepository", "AdditionalCodeRepositories", "InstanceMetadataServiceConfiguration")


def public(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def instance_folder(services: Services, name: str) -> Path:
    """The instance's persistent folder: what JupyterLab serves and the lifecycle scripts run in."""
    return Path(services.settings.home) / "notebook-instances" / name / "SageMaker"


# -- lifecycle configurations --------------------------------------------------------------------------------
def _check_scripts(params: dict) -> None:
    """Each script is base64 (as the API sends it) of at most 16384 characters, as AWS allows."""
    for hook in ("OnCreate", "OnStart"):
        for script in params.get(hook) or []:
            content = script.get("Content", "")
            try:
                base64.b64decode(content, validate=True)
            except (binascii.Error, ValueError):
                raise ValidationError(f"{hook} Content must be the script encoded in base64.") from None


def get_config(services: Services, name: str) -> Resource:
    found = services.meta.find(CONFIG_KIND, name)
    if found is None:
        raise ValidationError(f"Unable to describe Notebook Instance Lifecycle Config '{name}'. "
                              "(Reason: The lifecycle configuration does not exist.)")
    return found


def create_config(services: Services, params: dict) -> dict:
    name = params["NotebookInstanceLifecycleConfigName"]
    _check_scripts(params)
    arn = services.arn(CONFIG_KIND, name)
    now = time.time()
    doc: dict[str, Any] = {"NotebookInstanceLifecycleConfigArn": arn, "NotebookInstanceLifecycleConfigName": name,
                           "OnCreate": params.get("OnCreate") or [], "OnStart": params.get("OnStart") or [],
                           "CreationTime": now, "LastModifiedTime": now}
    try:
        services.meta.create(CONFIG_KIND, name, arn, "Created", doc)
    except ResourceInUse:
        raise ValidationError(f"Unable to create Notebook Instance Lifecycle Config '{arn}'. "
                              "(Reason: A lifecycle configuration with this name already exists.)") from None
    return {"NotebookInstanceLifecycleConfigArn": arn}


def update_config(services: Services, params: dict) -> None:
    name = params["NotebookInstanceLifecycleConfigName"]
    get_config(services, name)
    _check_scripts(params)
    changes: dict[str, Any] = {hook: params[hook] for hook in ("OnCreate", "OnStart") if hook in params}
    changes["LastModifiedTime"] = time.time()
    services.meta.update(CONFIG_KIND, name, changes)


def delete_config(services: Services, name: str) -> None:
    get_config(services, name)
    users = [r.name for r in services.meta.list_in_status(KIND, ("Pending", "InService", "Stopping", "Stopped",
                                                                 "Failed", "Updating"))
             if r.doc.get("NotebookInstanceLifecycleConfigName") == name]
    if users:
        raise ValidationError(f"Lifecycle configuration {name} is in use by notebook instance(s) "
                              f"{', '.join(users)}: disassociate it or delete them first.")
    services.meta.delete(CONFIG_KIND, name)


def scripts(services: Services, config_name: str | None, hook: str) -> list[str]:
    """The decoded scripts of one hook (OnCreate or OnStart) of a configuration; none if it is gone."""
    if not config_name:
        return []
    found = services.meta.find(CONFIG_KIND, config_name)
    if found is None:
        return []
    return [base64.b64decode(s.get("Content", "")).decode("utf-8", "replace") for s in found.doc.get(hook) or []]


# -- notebook instances ---------------------------------------------------------------------------------------
def get(services: Services, name: str) -> Resource:
    found = services.meta.find(KIND, name)
    if found is None:
        raise ValidationError(f"RecordNotFound: notebook instance {name} does not exist.")
    return found


def describe(services: Services, name: str) -> dict:
    r = get(services, name)
    doc = public(r.doc)
    doc["NotebookInstanceStatus"] = r.status
    doc["LastModifiedTime"] = r.modified
    return doc


def create(services: Services, params: dict) -> dict:
    name = params["NotebookInstanceName"]
    config = params.get("LifecycleConfigName")
    if config:
        get_config(services, config)
    code_repository.check_notebook_references(services, params)  # cloned at start by the controller
    arn = services.arn(KIND, name)
    now = time.time()
    doc: dict[str, Any] = {
        "NotebookInstanceArn": arn, "NotebookInstanceName": name, "InstanceType": params["InstanceType"],
        "RoleArn": params["RoleArn"], "CreationTime": now, "DirectInternetAccess":
            params.get("DirectInternetAccess", "Enabled"), "VolumeSizeInGB": params.get("VolumeSizeInGB",
                                                                                        DEFAULT_VOLUME_GB),
        "RootAccess": params.get("RootAccess", "Enabled"),
    }
    for key in ("SubnetId", "SecurityGroupIds", "KmsKeyId", "AcceleratorTypes", "DefaultCodeRepository",
                "AdditionalCodeRepositories", "PlatformIdentifier", "InstanceMetadataServiceConfiguration"):
        if key in params:
            doc[key] = params[key]
    if config:
        doc["NotebookInstanceLifecycleConfigName"] = config
    try:
        services.meta.create(KIND, name, arn, "Pending", stamp(doc))
    except ResourceInUse:
        raise ResourceInUse(f"Cannot create a duplicate Notebook Instance ({arn})") from None
    services.wake(KIND)
    return {"NotebookInstanceArn": arn}


def _move(services: Services, name: str, status: str, allowed: tuple[str, ...], action: str) -> None:
    r = get(services, name)
    if r.status not in allowed:
        raise ValidationError(f"Unable to {action} notebook instance {name}: it is {r.status}; "
                              f"it must be {' or '.join(allowed)}.")
    services.meta.update(KIND, name, status=status, expect_status=allowed)
    services.wake(KIND)


def start(services: Services, name: str) -> None:
    _move(services, name, "Pending", STOPPED_LIKE, "start")


def stop(services: Services, name: str) -> None:
    _move(services, name, "Stopping", ("Pending", "InService"), "stop")


def delete(services: Services, name: str) -> None:
    _move(services, name, "Deleting", STOPPED_LIKE, "delete")


def update(services: Services, params: dict) -> None:
    name = params["NotebookInstanceName"]
    r = get(services, name)
    if r.status not in STOPPED_LIKE:
        raise ValidationError(f"Unable to update notebook instance {name}: it is {r.status}; stop it first.")
    changes: dict[str, Any] = {k: params[k] for k in UPDATABLE if k in params}
    code_repository.check_notebook_references(services, params)
    if params.get("LifecycleConfigName"):
        get_config(services, params["LifecycleConfigName"])
        changes["NotebookInstanceLifecycleConfigName"] = params["LifecycleConfigName"]
    if params.get("DisassociateLifecycleConfig"):
        changes["NotebookInstanceLifecycleConfigName"] = None
    if params.get("DisassociateDefaultCodeRepository"):
        changes["DefaultCodeRepository"] = None
    if params.get("DisassociateAdditionalCodeRepositories"):
        changes["AdditionalCodeRepositories"] = None
    services.meta.update(KIND, name, changes, expect_status=STOPPED_LIKE)


def _sign(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def presigned_token(secret: str, now: float, ttl: float = PRESIGNED_URL_TTL_S,
                    session_s: int = DEFAULT_SESSION_S) -> str:
    """A login token that the instance's JupyterLab accepts until ``now + ttl``, keyed by the instance's own
    secret (which never leaves the server). Opening the URL within that time gives the browser JupyterLab's
    session cookie, which then lasts ``session_s`` seconds (SessionExpirationDurationInSeconds), as AWS's
    presigned URL does. ``<expiry>.<HMAC>`` for the default session (the form JupyterLabs started before
    sessions were configurable accept), ``<expiry>.<session_s>.<HMAC>`` otherwise."""
    expiry = str(int(now + ttl))
    signed = expiry if session_s == DEFAULT_SESSION_S else f"{expiry}.{int(session_s)}"
    return f"{signed}.{_sign(secret, signed)}"


def presigned_token_session(secret: str, token: str, now: float) -> int | None:
    """How long the session ``token`` opens lasts (seconds), if it came from :func:`presigned_token` with this
    secret and has not expired; None otherwise."""
    signed, _, signature = token.rpartition(".")
    expiry, _, session = signed.partition(".")
    if not expiry.isdigit() or not signature or (session and not session.isdigit()):
        return None
    if not hmac.compare_digest(signature, _sign(secret, signed)) or now >= int(expiry):
        return None
    return int(session) if session else DEFAULT_SESSION_S


def presigned_token_valid(secret: str, token: str, now: float) -> bool:
    """``token`` came from :func:`presigned_token` with this secret and has not expired."""
    return presigned_token_session(secret, token, now) is not None


def presigned_url(services: Services, name: str, session_s: int | None = None) -> str:
    """The running instance's JupyterLab URL with a login token valid for five minutes; the JupyterLab session
    it opens lasts ``session_s`` seconds (botocore's range, 1800 to 43200, is checked by the wire layer)."""
    r = get(services, name)
    state = NotebookState.from_doc(r.doc)
    if r.status != "InService" or not state.port or not state.token:
        raise ValidationError(f"Notebook instance {name} is {r.status}: start it and wait for InService "
                              "before asking for its URL.")
    host = services.settings.host
    host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    token = presigned_token(state.token, time.time(), session_s=session_s or DEFAULT_SESSION_S)
    return f"http://{host}:{state.port}/lab?token={token}"
