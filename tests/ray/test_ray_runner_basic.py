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


def test_runs_on_cluster_and_pulls_logs_and_files(ray_cluster, tmp_path):
    from shipyard.runners.ray import RayRunner

    runner = RayRunner(str(tmp_path / "state"), address=ray_cluster.loopback_address)
    script = "import json;print('hello from ray');open('status.json','w').write(json.dumps({'ok':1}))"
    spec = JobSpec(name="t/one", command=[sys.executable, "-c", script], env={}, workdir=str(tmp_path / "w"),
                   log_path=str(tmp_path / "w" / "log.txt"), cpus=1,
                   files={"job.json": "{}"}, sync_back=["status.json"])
    handle = runner.start(spec)
    assert _wait(handle) == 0
    assert "hello from ray" in (tmp_path / "w" / "log.txt").read_text()
    assert (tmp_path / "w" / "status.json").read_text() == '{"ok": 1}'


def test_exit_code_stop_and_attach_from_new_runner(ray_cluster, tmp_path):
    from shipyard.runners.ray import RayRunner

    runner = RayRunner(str(tmp_path / "state"), address=ray_cluster.loopback_address)
    spec = JobSpec(name="t/sleep", command=[sys.executable, "-c", "import time;print('up',flush=True);time.sleep(60)"],
                   env={}, workdir=str(tmp_path / "w2"), log_path=str(tmp_path / "w2" / "log.txt"),
                   files={"x": ""})
    handle = runner.start(spec)
    again = RayRunner(str(tmp_path / "state"), address=ray_cluster.loopback_address)
    again._handles.clear()
    attached = again.attach(handle.id)
    assert attached is not None and attached.poll() is None
    attached.stop(grace=1.0)
    rc = _wait(attached, timeout=30)
    assert rc != 0
    fail = JobSpec(name="t/fail", command=[sys.executable, "-c", "raise SystemExit(3)"], env={},
                   workdir=str(tmp_path / "w3"), log_path=str(tmp_path / "w3" / "log.txt"), files={"x": ""})
    assert _wait(runner.start(fail)) == 3
    assert again.attach("ray:never/started") is None
