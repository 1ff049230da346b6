"""The Ray runner's gangs: one placement-group bundle per instance, spread over nodes, all or nothing."""

from __future__ import annotations

import sys
import time

from shipyard.runners.base import JobSpec


def _wait(handle, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rc = handle.poll()
        if rc is not None:
            return rc
        time.sleep(0.1)
    raise AssertionError("work did not finish in time")


def test_group_spreads_bundles_over_nodes_and_waits_when_full(ray_cluster, tmp_path):
    from shipyard.runners.ray import RayRunner

    runner = RayRunner(str(tmp_path / "state"), address=ray_cluster.loopback_address)
    res = runner.resources()
    assert res["total"]["CPU"] == 4 and res["largest_host"]["CPU"] == 2
    addresses = runner.reserve_group("g/spread", [{"CPU": 1}, {"CPU": 1}])
    deadline = time.monotonic() + 30
    while addresses is None and time.monotonic() < deadline:
        time.sleep(0.1)
        addresses = runner.reserve_group("g/spread", [{"CPU": 1}, {"CPU": 1}])
    assert addresses == ["127.0.0.1", "127.0.0.1"]
    # a gang that cannot be placed now (2 x 2 CPUs while 2 are reserved) waits, reserving nothing
    assert runner.reserve_group("g/big", [{"CPU": 2}, {"CPU": 2}]) is None
    handles = []
    for i in range(2):
        spec = JobSpec(name=f"g/spread/{i}", command=[sys.executable, "-c", f"print('host {i}')"], env={},
                       workdir=str(tmp_path / f"w{i}"), log_path=str(tmp_path / f"w{i}" / "log.txt"), cpus=1,
                       files={"x": ""}, group=("g/spread", i))
        handles.append(runner.start(spec))
    nodes = {h.where()[0] for h in handles}
    assert len(nodes) == 2, "SPREAD places the two bundles on different nodes"
    assert [_wait(h) for h in handles] == [0, 0]
    assert "host 1" in (tmp_path / "w1" / "log.txt").read_text()
    runner.release_group("g/spread")
    deadline = time.monotonic() + 30
    big = None
    while big is None and time.monotonic() < deadline:
        time.sleep(0.1)
        big = runner.reserve_group("g/big", [{"CPU": 2}, {"CPU": 2}])
    assert big is not None, "the queued gang is placed once the first one is released"
    runner.release_group("g/big")
    runner.release_group("g/never-existed")  # harmless
