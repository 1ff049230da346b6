"""ServerlessManager decides *when* a serverless variant scales (cold start, idle); it asks the owner of the
endpoint's instances (an :class:`~shipyard.serving.serverless.EndpointHost`, passed in) to do it. These tests
drive it against a recording host, a real SQLite metadata store and a real router's counters."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from shipyard.errors import ServiceUnavailable
from shipyard.metastore import open_metastore
from shipyard.serving.router import Router
from shipyard.serving.serverless import ServerlessManager


class RecordingHost:
    """Records each call; ``scale_up`` takes ``delay`` seconds, as starting a model server does."""

    def __init__(self, delay: float = 0.0, fail: Exception | None = None, busy: bool = False):
        self.ups: list[tuple[str, list[str], int]] = []
        self.downs: list[tuple[str, list[str]]] = []
        self.delay, self.fail, self.busy = delay, fail, busy
        self.down_called = threading.Event()

    def scale_up(self, endpoint, variants, count=1, wait=120.0):
        self.ups.append((endpoint, list(variants), count))
        time.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        return list(variants)

    def scale_down(self, endpoint, variants, wait=0.0, drain=15.0):
        self.downs.append((endpoint, list(variants)))
        self.down_called.set()
        return not self.busy


def _variant(name: str, serverless: bool) -> dict:
    return {"name": name, "weight": 1.0, "count": 1, "model": "m", "containers": [{"Image": "i"}],
            "serverless": {"MemorySizeInMB": 1024, "MaxConcurrency": 1} if serverless else None}


@pytest.fixture
def meta(tmp_path):
    store = open_metastore(f"sqlite:///{tmp_path / 'meta.db'}")
    doc = {"EndpointName": "Ep", "_spec": {"config": "c", "variants": [_variant("warm", False),
                                                                     _variant("cold", True)]},
           "_instances": {"warm": [{"id": "h", "host": "127.0.0.1", "port": 1}], "cold": []}}
    store.create("endpoint", "Ep", "arn:ep", "InService", doc)
    store.create("endpoint", "Plain", "arn:plain", "InService",
                 {"_spec": {"config": "c", "variants": [_variant("only", False)]}})
    yield store
    store.close()


def test_concurrent_cold_requests_share_one_scale_up_of_the_serverless_variants(meta):
    host = RecordingHost(delay=0.3)
    manager = ServerlessManager(meta, Router("1"), host, idle=60.0)
    assert manager.refresh() and manager.endpoints == {"ep": "Ep"}  # only endpoints with a serverless variant

    async def three_requests():
        return await asyncio.gather(*(manager.wake("ep") for _ in range(3)))

    assert asyncio.run(three_requests()) == [True, True, True]
    assert host.ups == [("Ep", ["cold"], 1)]  # the serverless variant only, and once
    assert len(manager.cold_starts) == 1 and manager.cold_starts[0] >= 0.3


def test_wake_answers_false_for_an_endpoint_that_is_not_serverless(meta):
    host = RecordingHost()
    manager = ServerlessManager(meta, Router("1"), host, idle=60.0)
    manager.refresh()
    assert asyncio.run(manager.wake("Plain")) is False
    assert host.ups == []


def test_a_failed_start_is_a_503_that_says_why(meta):
    manager = ServerlessManager(meta, Router("1"), RecordingHost(fail=RuntimeError("model would not load")), 60.0)
    manager.refresh()
    with pytest.raises(ServiceUnavailable, match="could not start an instance: model would not load"):
        asyncio.run(manager.wake("Ep"))
    assert manager.cold_starts == []


def test_an_idle_serverless_variant_is_handed_to_the_host_to_scale_down(meta):
    doc = meta.get("endpoint", "Ep").doc
    meta.update("endpoint", "Ep", {"_instances": {**doc["_instances"],
                                                  "cold": [{"id": "c1", "host": "127.0.0.1", "port": 2}]}})
    host = RecordingHost()
    manager = ServerlessManager(meta, Router("1"), host, idle=0.2)
    manager.scale_idle_down()  # first look: starts the idle clock
    assert host.downs == []
    deadline = time.monotonic() + 10
    while not host.down_called.is_set() and time.monotonic() < deadline:
        manager.scale_idle_down()
        host.down_called.wait(0.05)
    assert host.downs[0] == ("Ep", ["cold"])  # never the instance-based variant
