"""Serverless scale-to-zero and scale-from-zero through the hosting controller's public interface.

The server's services are built in this process (real store, object store, local runner, controllers), so the
test can hold ``services.hosting`` (the :class:`~shipyard.serving.serverless.EndpointHost` the serverless
manager is given) and ``services.router`` (the one router, built in ``build_services``) directly. The model
servers are real subprocesses.
"""

from __future__ import annotations

import asyncio

import pytest
from hosting_helpers import XGB_IMAGE, model_server_pids, model_tarball, wait_until

from shipyard.api import endpoints, models
from shipyard.config import load_settings
from shipyard.context import build_services
from shipyard.domain.endpoint_state import EndpointState
from shipyard.errors import ValidationError

pytestmark = pytest.mark.integration  # model-server subprocesses

ROW = b"0.3,0.1,0.7,0.2"


@pytest.fixture
def services(tmp_path, monkeypatch):
    monkeypatch.setenv("SHIPYARD_SERVERLESS_IDLE_SECONDS", "3600")  # the test scales down, not the idle clock
    svc = build_services(load_settings(home=tmp_path / "home"))
    try:
        yield svc
    finally:
        svc.controllers.stop()
        svc.meta.close()


def _state(services, name: str) -> EndpointState:
    return EndpointState.from_doc(services.meta.get("endpoint", name).doc)


def _invoke(services, name: str) -> tuple[int, bytes]:
    async def call():
        try:
            status, body, _ctype, _extra = await services.router.invoke(name, ROW, "text/csv", "", {})
            return status, body
        finally:
            await services.router.aclose()

    return asyncio.run(call())


def test_scale_down_then_a_request_scales_up_through_the_hosting_interface(services):
    assert services.extras["router"] is services.router  # one router, shared by every reader
    host = services.hosting
    assert host is not None and services.extras["serverless"].host is host
    services.objects.create_bucket("serverless-host")
    services.objects.put_object("serverless-host", "m/model.tar.gz", model_tarball()[0])
    models.create_model(services, {"ModelName": "sl", "PrimaryContainer": {
        "Image": XGB_IMAGE, "ModelDataUrl": "s3://serverless-host/m/model.tar.gz"}})
    endpoints.create_endpoint_config(services, {"EndpointConfigName": "sl", "ProductionVariants": [
        {"VariantName": "v", "ModelName": "sl", "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5}}]})
    endpoints.create_endpoint(services, {"EndpointName": "sl", "EndpointConfigName": "sl"})
    wait_until(lambda: services.meta.get("endpoint", "sl").status == "InService", 90, 0.2, "endpoint InService")
    home = services.settings.home
    (pid,) = model_server_pids(home, "sl")

    assert host.scale_up("sl", ["v"], 1) == []  # already has one: nothing started
    with pytest.raises(ValidationError, match="no variant nope"):
        host.scale_up("sl", ["nope"])

    assert host.scale_down("sl", ["v"], drain=15.0) is True
    assert _state(services, "sl").instances == {"v": []}
    assert [len(v.instances) for v in services.router.routes["sl"].variants] == [0]
    wait_until(lambda: not model_server_pids(home, "sl"), 20, 0.1, "the model server to stop")
    d = endpoints.describe_endpoint(services, {"EndpointName": "sl"})
    assert d["EndpointStatus"] == "InService" and d["ProductionVariants"][0]["CurrentInstanceCount"] == 0

    status, body = _invoke(services, "sl")  # no instance: the router's wake hook -> manager -> hosting.scale_up
    assert status == 200 and 0.0 < float(body) < 2.0
    assert len(services.extras["serverless"].cold_starts) == 1
    (inst,) = _state(services, "sl").instances["v"]
    assert inst.token and model_server_pids(home, "sl") not in ([], [pid])
    assert services.router.routes["sl"].variants[0].instances == [(inst.host, inst.port, inst.token)]
    doc = services.meta.get("endpoint", "sl").doc  # what the server itself wrote reads back unchanged
    assert {**doc, **EndpointState.from_doc(doc).to_changes(["spec", "gen", "instances", "prepared"])} == doc

    endpoints.delete_endpoint(services, {"EndpointName": "sl"})
    wait_until(lambda: services.meta.find("endpoint", "sl") is None, 60, 0.2, "the endpoint to be deleted")
    wait_until(lambda: not model_server_pids(home, "sl"), 20, 0.1, "its model server to stop")
