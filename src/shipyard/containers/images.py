"""Making a bring-your-own image runnable: which engine runs it, what the engine calls it, and pulling it.

A job names its image the AWS way (``<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>``) or as an image of
the local engine (``shipyard-test/byo:1``). The engine needs the local registry's form of an ECR URI, and the
registry's port is only known when the job runs (a restarted registry gets a new one), so the mapping is made
then, by :func:`engine_reference`, from the home's ``registry/registry.json``.

:func:`ensure_image` pulls an image the engine does not have yet, logged in to the home's registry with a
Docker client configuration of its own (``<home>/registry/docker-client``, 0700): the registry's password stays
in the home and never enters a job's folder, and the operator's own ``~/.docker`` is left alone.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from . import uris
from .engine import Engine, EngineError, find_engine

INSTALL_HINT = ("install Docker Engine (apt-get install -y docker.io) and start it (dockerd), or Podman, or "
                "name the client with SHIPYARD_CONTAINER_ENGINE")


class ImageUnavailable(ValueError):
    """The job's image cannot be run: no engine, or an image the engine has not and cannot pull. A ValueError
    so that the executors report it as the job's ClientError, as SageMaker does for an image it cannot pull."""


def engine_for_jobs(preferred: str = "") -> Engine:
    """The engine that runs container jobs (``preferred``: the ``SHIPYARD_CONTAINER_ENGINE`` setting), when its
    daemon answers; otherwise ImageUnavailable saying what to install or start."""
    engine = find_engine(preferred or os.environ.get("SHIPYARD_CONTAINER_ENGINE", ""))
    if engine is None:
        raise ImageUnavailable(f"Bring-your-own images run on a container engine and none is installed: "
                               f"{INSTALL_HINT}.")
    if not engine.answers():
        raise ImageUnavailable(f"Bring-your-own images run on a container engine and {engine.cli} gets no answer "
                               f"from its daemon: {INSTALL_HINT}.")
    return engine


def account_and_region(arn: str) -> tuple[str, str]:
    """(account, region) of an ARN (``arn:aws:sagemaker:<region>:<account>:...``)."""
    parts = arn.split(":")
    if len(parts) < 6:
        raise ValueError(f"{arn!r} is not an ARN")
    return parts[4], parts[3]


def engine_reference(image: str, home: Path | None, account: str, region: str,
                     registry_binary: str = "docker-registry"):
    """(reference for the engine, the home's RegistryInfo or None): an ECR URI is mapped to the local registry
    (started if need be); any other reference is the engine's as it is."""
    try:
        ecr = uris.is_ecr(image)
    except uris.ImageUriError as e:
        raise ImageUnavailable(str(e)) from None
    if not ecr:
        return image, None
    if home is None:
        raise ImageUnavailable(f"Image {image!r} is an ECR URI, but this job runs outside a Shipyard home (e.g. in "
                               "a Ray node's own folder), so there is no registry to map it to: on such a node, "
                               "load the image into the node's engine and name it by its local name.")
    from .registry import RegistryUnavailable, ensure_registry

    try:
        registry = ensure_registry(home, registry_binary)
        return uris.to_local(image, registry.host, account, region), registry
    except (RegistryUnavailable, uris.ImageUriError) as e:
        raise ImageUnavailable(str(e)) from None


def ensure_image(engine: Engine, reference: str, registry=None, timeout: float = 900.0, log=print) -> None:
    """Pull ``reference`` unless the engine has it; from the home's registry, log in first (see module doc)."""
    if engine.has_image(reference):
        return
    env = None
    if registry is not None and reference.startswith(registry.host + "/"):
        config = Path(registry.root) / "docker-client"
        config.mkdir(mode=0o700, exist_ok=True)
        env = {**os.environ, "DOCKER_CONFIG": str(config)}
        _engine(engine, ["login", "--username", registry.user, "--password-stdin", registry.url], env,
                registry.password.encode(), 60, reference)
    log(f"pulling {reference}")
    _engine(engine, ["pull", "-q", reference], env, None, timeout, reference)


def _engine(engine: Engine, args: list[str], env, stdin: bytes | None, timeout: float, reference: str) -> None:
    try:
        done = subprocess.run(engine.command(*args), env=env, input=stdin, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ImageUnavailable(f"{engine.name} {args[0]} {reference} did not finish within {timeout:.0f} s.") \
            from None
    except OSError as e:
        raise EngineError(f"cannot run {engine.cli}: {e}") from None
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).decode(errors="replace").strip()[-800:]
        raise ImageUnavailable(f"Cannot pull the image {reference!r} ({engine.name} {args[0]} failed): {detail}")
