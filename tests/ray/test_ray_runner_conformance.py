"""The shared runner conformance suite, run against the Ray runner on a real two-node cluster."""

from __future__ import annotations

import pytest

from shipyard.testing.runner import RunnerConformance, wait_exit


class TestRayRunner(RunnerConformance):
    @pytest.fixture
    def make_runner(self, ray_cluster, tmp_path):
        from shipyard.runners.ray import RayRunner

        made = []

        def make():
            runner = RayRunner(str(tmp_path / "state"), address=ray_cluster.loopback_address)
            runner._handles.clear()  # a new runner instance over the same state, like a restarted server
            made.append(runner)
            return runner

        yield make
        for runner in made:
            for handle in list(runner._handles.values()):
                if handle.poll() is None:
                    handle.stop(grace=0.2)
                    wait_exit(handle, timeout=20)
