"""A multi-model server's key and archive caps, as the controller side hands them over (no server needed).

The end-to-end checks (the key works, is read-only on the model prefix, dies with the endpoint; the caps
hold against the model's Environment) are in tests/security/test_job_secrets.py.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from shipyard.config import Settings
from shipyard.domain import job_keys
from shipyard.serving.multimodel import (CONFIG_FILE, KEY_KIND, model_key_env, model_key_name, prepare_multimodel,
                                         revoke_model_keys)

SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


@pytest.fixture
def services(tmp_path):
    settings = Settings(home=tmp_path / "home", port=18080, object_store_url="s3://?access_key=SERVER&secret_key=S",
                        max_extract_bytes=12345, max_extract_members=67)
    settings.home.mkdir()
    return SimpleNamespace(settings=settings, objects=None)


def _prepare(services, endpoint: str, variant: str, gen: int, url: str = "s3://models/team/mme") -> dict:
    container = {"Image": SKLEARN_IMAGE, "Mode": "MultiModel", "ModelDataUrl": url,
                 "Environment": {"SAGEMAKER_PROGRAM": "inference.py"}}
    return prepare_multimodel(services, container, services.settings.home / "runs" / "endpoints" / endpoint / variant,
                              gen)


def test_prepared_server_names_no_store_and_gets_the_caps_in_a_file(services):
    prepared = _prepare(services, "ep", "main", 2)
    assert not any("SERVER" in v or v.startswith("s3://?") for v in prepared["env"].values())
    assert "SHIPYARD_MME_OBJECT_STORE_URL" not in prepared["env"]
    assert not any(k.startswith("SHIPYARD_MAX_EXTRACT") for k in prepared["env"])
    config = json.loads((services.settings.home / "runs/endpoints/ep/main/models-2" / CONFIG_FILE).read_text())
    assert config == {"archive_caps": {"max_bytes": 12345, "max_members": 67}}
    assert prepared["model_key"] == {"name": "ep/main/2", "read": "models/team/mme/"}  # a folder: no sibling prefix


def test_instances_of_a_variant_share_one_read_only_key_reaching_the_servers_s3_api(services):
    prepared = _prepare(services, "ep", "main", 0)
    first, second = model_key_env(services, prepared), model_key_env(services, prepared)
    assert first == second and first["AWS_ENDPOINT_URL"] == "http://127.0.0.1:18080"
    key = job_keys.for_home(services.settings.home).lookup(first["AWS_ACCESS_KEY_ID"])
    assert key is not None and key.secret_access_key == first["AWS_SECRET_ACCESS_KEY"]
    assert (key.scope.kind, key.scope.read, key.scope.write, key.scope.own, key.scope.metrics, key.scope.log_group) \
        == (KEY_KIND, ["models/team/mme/"], [], [], False, "")
    assert model_key_env(services, {"model_dir": "/x", "args": [], "env": {}}) == {}  # not a multi-model server


def test_keys_are_revoked_by_endpoint_variant_and_generation(services):
    keys = job_keys.for_home(services.settings.home)
    prepared = [_prepare(services, "ep", "main", 0), _prepare(services, "ep", "main", 1),
                _prepare(services, "ep", "shadow", 1), _prepare(services, "ep2", "main", 0)]
    for p in prepared:
        model_key_env(services, p)

    def live() -> set[str]:
        return {n for n in (model_key_name(p) for p in prepared)
                if keys.for_job(KEY_KIND, n) is not None}

    assert revoke_model_keys(services, "ep", keep={"ep/main/1", "ep/shadow/1"}) == 1  # a deployment replaced
    assert live() == {"ep/main/1", "ep/shadow/1", "ep2/main/0"}
    assert revoke_model_keys(services, "ep", variants={"shadow"}) == 1  # a variant scaled to zero
    assert live() == {"ep/main/1", "ep2/main/0"}
    assert revoke_model_keys(services, "ep") == 1  # the endpoint deleted
    assert live() == {"ep2/main/0"}
