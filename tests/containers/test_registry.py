"""The local registry's life: started once per home, found again (also by a restarted server), replaced when it
is gone; a missing program is a clear 503, never a 500."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from shipyard.containers.registry import RegistryUnavailable, ensure_registry, stop_registry

pytestmark = pytest.mark.integration


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url + "/v2/", timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code


def test_one_registry_per_home_reused_then_replaced_when_gone(tmp_path, registry_program):
    home = tmp_path / "home"
    try:
        first = ensure_registry(home, registry_program)
        assert _status(first.url) == 401  # it asks for the login
        pid = json.loads((home / "registry" / "registry.json").read_text())["pid"]
        again = ensure_registry(home, registry_program)
        assert again.host == first.host and again.password == first.password
        assert json.loads((home / "registry" / "registry.json").read_text())["pid"] == pid
        assert (home / "registry" / "password").stat().st_mode & 0o077 == 0
        assert stop_registry(home)
        assert not stop_registry(home)
        replaced = ensure_registry(home, registry_program)
        assert replaced.password == first.password  # the same login: tokens handed out stay valid
        assert json.loads((home / "registry" / "registry.json").read_text())["pid"] != pid
        assert _status(replaced.url) == 401
    finally:
        stop_registry(home)


def test_a_missing_registry_program_says_what_to_install(tmp_path):
    with pytest.raises(RegistryUnavailable, match="apt-get install -y docker-registry"):
        ensure_registry(tmp_path, str(tmp_path / "no-such-registry"))


def test_a_restarted_server_finds_its_registry_and_a_missing_program_is_503(server_factory, tmp_path,
                                                                           registry_program):
    home = tmp_path / "home"
    server = server_factory(home=home)
    endpoint = server.client("ecr").get_authorization_token()["authorizationData"][0]["proxyEndpoint"]
    server.stop()
    server.start()
    assert server.client("ecr").get_authorization_token()["authorizationData"][0]["proxyEndpoint"] == endpoint
    server.stop(kill_children=True)
    broken = server_factory(home=tmp_path / "other", env={"SHIPYARD_REGISTRY_BINARY": "/nonexistent/registry"})
    ecr = broken.client("ecr", config=Config(retries={"max_attempts": 1}))
    with pytest.raises(ClientError) as e:
        ecr.get_authorization_token()
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert "docker-registry" in e.value.response["Error"]["Message"]
    ecr.create_repository(repositoryName="still-works")  # repositories need no registry
    assert ecr.list_images(repositoryName="still-works")["imageIds"] == []
