"""Fixtures for the container tests: a Docker engine (installed and started here if need be) and the base image.

- ``docker_engine`` (session): an engine that answers. On a fresh Debian machine, as root, it installs
  ``docker.io`` and starts ``dockerd``, and stops the daemon it started at the end of the session (one that
  was already running is left alone). It skips, saying why, only where no daemon can be had.
- ``base_image`` (session): ``shipyard/test-base:1`` (Debian minbase + python3 + numpy), built once and
  cached (``~/.cache/shipyard/``; ``scripts/container_setup.py`` builds it in CI before the tests).
- ``registry_program`` (session): the distribution server's path, installing ``docker-registry`` if missing.

Tests that use these start processes and are marked ``integration`` in their files.
"""

from __future__ import annotations

import os

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
