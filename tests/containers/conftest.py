"""Fixtures for the container tests: a Docker engine (installed and started here if need be) and the base image.

- ``docker_engine`` (session): an engine that answers. On a fresh Debian machine, as root, it installs
  ``docker.io`` and starts ``dockerd``, and stops the daemon it started at the end of the session (one that
  was already running is left alone). It skips, saying why, only where no daemon can be had.
- ``base_image`` (session): ``shipyard/test-base:1`` (Debian minbase + python3 + numpy), built once and
  cached (``~/.cache/shipyard/``; ``scripts/container_setup.py`` builds it in CI before the tests).
- ``registry_program`` (session): the distribution server's path, installing ``docker-registry`` if missing.
- ``byo_sklearn_image`` (session): the ``scikit_bring_your_own``-style image of ``tests/containers/byo/`` built
  over the base image, tagged by a hash of its files (built once, then found in the engine's cache).
- ``pushed_byo_image`` (session): that image pushed through the ECR API (CreateRepository,
  GetAuthorizationToken, ``docker login`` + ``push``) to the ``server`` fixture's registry; its ECR URI.

Tests that use these start processes and are marked ``integration`` in their files.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from shipyard.containers.base_image import BASE_IMAGE, ensure_base_image
from shipyard.containers.daemon import EngineUnavailable, ensure_installed, provide_engine


@pytest.fixture(scope="session")
def docker_engine():
    try:
        provided = provide_engine(os.environ.get("SHIPYARD_CONTAINER_ENGINE", ""))
    except EngineUnavailable as e:
        pytest.skip(f"no container engine can be started here: {e}")
    try:
        yield provided.engine
    finally:
        provided.stop()


@pytest.fixture(scope="session")
def base_image(docker_engine) -> str:
    ensure_installed("debootstrap", "debootstrap")
    return ensure_base_image(docker_engine, BASE_IMAGE).ref


@pytest.fixture(scope="session")
def registry_program() -> str:
    try:
        return ensure_installed("docker-registry", "docker-registry")
    except EngineUnavailable as e:
        pytest.skip(f"the distribution server (docker-registry) is not available: {e}")


BYO_CONTEXT = Path(__file__).parent / "byo"


def run_engine(engine, *args: str, env: dict[str, str] | None = None, input: bytes | None = None,
               check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    """The engine's client with ``args``; an AssertionError carrying its stderr when it fails."""
    done = subprocess.run(engine.command(*args), env=env, input=input, capture_output=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(args[:3])} failed: {done.stderr.decode(errors='replace')[-2000:]}")
    return done


@pytest.fixture(scope="session")
def byo_sklearn_image(docker_engine, base_image) -> str:
    digest = hashlib.sha256()
    for path in sorted(BYO_CONTEXT.iterdir()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    ref = f"shipyard-test/byo-sklearn:{digest.hexdigest()[:12]}"
    if not docker_engine.has_image(ref):
        run_engine(docker_engine, "build", "-q", "-t", ref, str(BYO_CONTEXT),
                   env={**os.environ, "DOCKER_BUILDKIT": "0"})
    return ref


@pytest.fixture(scope="session")
def pushed_byo_image(server, docker_engine, byo_sklearn_image, registry_program, tmp_path_factory) -> str:
    """The ECR URI of the BYO image in the server's registry (pushed with a login of this session's own)."""
    ecr = server.client("ecr")
    repo = f"shipyard-byo/decision-trees-{uuid.uuid4().hex[:6]}"
    uri = ecr.create_repository(repositoryName=repo)["repository"]["repositoryUri"]
    auth = ecr.get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(auth["authorizationToken"]).decode().partition(":")
    registry = auth["proxyEndpoint"].removeprefix("http://")
    env = {**os.environ, "DOCKER_CONFIG": str(tmp_path_factory.mktemp("docker-config"))}
    run_engine(docker_engine, "login", "--username", user, "--password-stdin", auth["proxyEndpoint"], env=env,
               input=password.encode())
    local = f"{registry}/{repo}:v1"
    run_engine(docker_engine, "tag", byo_sklearn_image, local, env=env)
    run_engine(docker_engine, "push", local, env=env)
    # As after a push from another machine: the engine has the image only under its build tag, so the first
    # job pulls it from the registry (with the server's own login).
    run_engine(docker_engine, "image", "rm", local, env=env)
    return f"{uri}:v1"
