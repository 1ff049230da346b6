"""Finding the engine's client (no daemon is asked here)."""

from __future__ import annotations

import os

from shipyard.containers.engine import find_engine


def _fake(tmp_path, name: str):
    path = tmp_path / name
    path.write_text("#!/bin/sh\nexit 1\n")
    os.chmod(path, 0o755)
    return path


def test_a_named_path_is_used_and_podman_is_recognised(tmp_path):
    podman = _fake(tmp_path, "podman")
    engine = find_engine(str(podman))
    assert engine is not None and engine.name == "podman" and engine.cli == str(podman)
    assert engine.command("ps") == [str(podman), "ps"]


def test_docker_is_preferred_on_path_and_none_when_nothing_is_installed(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_engine() is None
    _fake(tmp_path, "podman")
    assert find_engine().name == "podman"
    docker = _fake(tmp_path, "docker")
    found = find_engine()
    assert found.name == "docker" and found.cli == str(docker)


def test_a_named_engine_that_is_missing_is_none(tmp_path):
    assert find_engine(str(tmp_path / "nope")) is None
