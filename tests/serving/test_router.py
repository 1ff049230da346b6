"""The router against real model-server processes: weights, TargetVariant, round robin, errors, failover."""

from __future__ import annotations

import asyncio
import collections

import pytest

from shipyard.errors import ModelError, ServiceUnavailable, ValidationError
from shipyard.serving.router import Router

from serving_helpers import XGB_HANDLER, ModelServer, train_tiny_model


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("router") / "model"
    train_tiny_model(model_dir)
    started = [ModelServer(model_dir, "--handler", XGB_HANDLER) for _ in range(3)]
    yield started
    for s in started:
        s.stop()


def test_routing_weights_target_variant_and_errors(servers):
    a, b, c = servers
    router = Router("123456789012")
    router.set_route("Ep", [("A", 3.0, [("127.0.0.1", a.port), ("127.0.0.1", b.port)]),
                            ("B", 1.0, [("127.0.0.1", c.port)])])

    async def scenario():
        counts = collections.Counter()
        for _ in range(400):
            status, body, ctype, extra = await router.invoke("ep", b"1,2,3,4", "text/csv", "", {})
            assert status == 200 and ctype == "text/csv" and float(body) > -100
            counts[extra["x-Amzn-Invoked-Production-Variant"]] += 1
        assert 240 < counts["A"] < 360 and counts["A"] + counts["B"] == 400
        _, _, _, extra = await router.invoke("ep", b"1,2,3,4", "text/csv", "application/json", {
            "x-amzn-sagemaker-target-variant": "B", "x-amzn-sagemaker-custom-attributes": "c=1"})
        assert extra["x-Amzn-Invoked-Production-Variant"] == "B"
        assert extra["X-Amzn-SageMaker-Custom-Attributes"] == "c=1"
        with pytest.raises(ModelError) as err:
            await router.invoke("ep", b"1,2", "text/csv", "", {})
        assert err.value.original_status == 400 and "Feature size" in err.value.original_message
        with pytest.raises(ValidationError, match="Endpoint nope of account 123456789012 not found."):
            await router.invoke("nope", b"1", "text/csv", "", {})
        with pytest.raises(ValidationError, match="variant Z does not exist"):
            await router.invoke("ep", b"1", "text/csv", "", {"x-amzn-sagemaker-target-variant": "Z"})
        # an unreachable instance is skipped; when none answers the caller gets 503, not a hang
        router.set_route("ep", [("A", 1.0, [("127.0.0.1", 1), ("127.0.0.1", a.port)])])
        for _ in range(4):
            assert (await router.invoke("ep", b"1,2,3,4", "text/csv", "", {}))[0] == 200
        router.set_route("ep", [("A", 1.0, [("127.0.0.1", 1)])])
        with pytest.raises(ServiceUnavailable):
            await router.invoke("ep", b"1,2,3,4", "text/csv", "", {})
        router.remove("EP")
        with pytest.raises(ValidationError):
            await router.invoke("ep", b"1,2,3,4", "text/csv", "", {})
        await router.aclose()

    asyncio.run(scenario())


def test_pooled_connection_survives_server_restart(tmp_path):
    model_dir = tmp_path / "model"
    train_tiny_model(model_dir)
    first = ModelServer(model_dir, "--handler", XGB_HANDLER)
    router = Router("1")

    async def scenario():
        router.set_route("e", [("A", 1.0, [("127.0.0.1", first.port)])])
        assert (await router.invoke("e", b"1,2,3,4", "text/csv", "", {}))[0] == 200
        first.stop()  # the pooled idle connection is now dead
        second = ModelServer(model_dir, "--handler", XGB_HANDLER)
        try:
            router.set_route("e", [("A", 1.0, [("127.0.0.1", second.port)])])
            assert (await router.invoke("e", b"1,2,3,4", "text/csv", "", {}))[0] == 200
        finally:
            second.stop()
        await router.aclose()

    asyncio.run(scenario())
