"""Work on a Ray node gets everything through its spec and leaves nothing behind on the node.

On the session's two-node cluster: ``inputs`` (a folder and a file of the server's) and ``files`` arrive in a
node-local folder that is not the server's ``workdir``; that folder is gone once the work has ended (run to
completion, or a service stopped) and the server has its output; two pieces of work with one ``spread`` key (a
variant's instances) run on different nodes.
"""

from __future__ import annotations

import json
import os
import sys
import time
from types import SimpleNamespace

from shipyard.runners.base import JobSpec
from shipyard.testing.runner import wait_exit, wait_for_text

READER = """
import json, os, stat, sys
wd = sys.argv[1]
token = os.path.join(wd, '.token')
print('cwd-is-workdir', os.getcwd() == wd)
print('model', open(os.path.join(wd, 'model', 'weights.txt')).read())
print('nested', open(os.path.join(wd, 'model', 'code', 'inference.py')).read())
print('config', open(os.path.join(wd, 'conf', 'settings.json')).read())
print('token', open(token).read(), oct(stat.S_IMODE(os.stat(token).st_mode)))
json.dump({'outcome': 'Completed'}, open(os.path.join(wd, 'status.json'), 'w'))
"""


def _runner(ray_cluster, tmp_path):
    from shipyard.runners.ray import RayRunner

    return RayRunner(str(tmp_path / "state"), address=ray_cluster.loopback_address)


def _gone(path: str, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while os.path.exists(path):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_inputs_and_files_arrive_in_a_node_folder_that_is_removed(ray_cluster, tmp_path):
    model = tmp_path / "server" / "variant" / "model"
    (model / "code").mkdir(parents=True)
    (model / "weights.txt").write_text("w=42")
    (model / "code" / "inference.py").write_text("def model_fn(d): pass")
    settings = tmp_path / "server" / "settings.json"
    settings.write_text('{"k": 1}')
    work = tmp_path / "server" / "job"
    spec = JobSpec(name="nodelocal/reader", command=[sys.executable, "-c", READER, "{workdir}"], env={},
                   workdir=str(work), log_path=str(work / "out.log"), cpus=0.5,
                   files={".token": "s3cret"}, inputs={"model": str(model), "conf/settings.json": str(settings)},
                   sync_back=["status.json"])
    handle = _runner(ray_cluster, tmp_path).start(spec)
    assert wait_exit(handle, timeout=60) == 0, (work / "out.log").read_text()
    log = (work / "out.log").read_text()
    assert "cwd-is-workdir True" in log
    assert "model w=42" in log and "nested def model_fn(d): pass" in log and 'config {"k": 1}' in log
    assert "token s3cret 0o600" in log
    assert (work / "status.json").read_text() == '{"outcome": "Completed"}', "sync_back pulled before the end"
    assert handle.node_folder and handle.node_folder != str(work), "the work ran in a folder of the node's own"
    assert _gone(handle.node_folder), f"{handle.node_folder} was left behind on the node"
    assert model.is_dir() and settings.is_file(), "delivering inputs never moves the server's copy"


def test_a_stopped_service_leaves_no_folder(ray_cluster, tmp_path):
    work = tmp_path / "svc"
    code = "import time\nprint('serving', flush=True)\ntime.sleep(120)"
    spec = JobSpec(name="nodelocal/service", command=[sys.executable, "-c", code], env={}, workdir=str(work),
                   log_path=str(work / "out.log"), cpus=0.5, service=True, files={"marker": "x"})
    handle = _runner(ray_cluster, tmp_path).start(spec)
    wait_for_text(work / "out.log", "serving", timeout=60)
    folder = handle.node_folder
    assert folder and os.path.isfile(os.path.join(folder, "marker"))
    handle.stop(grace=1.0)
    assert wait_exit(handle, timeout=30) != 0
    assert _gone(folder), f"{folder} was left behind after the service stopped"


def test_instances_with_one_spread_key_land_on_different_nodes(ray_cluster, tmp_path):
    runner = _runner(ray_cluster, tmp_path)
    code = "import time\nprint('up', flush=True)\ntime.sleep(120)"
    handles = []
    try:
        for i in range(2):
            work = tmp_path / f"inst{i}"
            spec = JobSpec(name=f"endpoint/spread-ep/AllTraffic/i{i}", command=[sys.executable, "-c", code], env={},
                           workdir=str(work), log_path=str(work / "out.log"), cpus=0.5, service=True,
                           spread="endpoint/spread-ep/AllTraffic")
            handles.append(runner.start(spec))
            wait_for_text(work / "out.log", "up", timeout=60)
        nodes = [h.where()[0] for h in handles]
        assert len(set(nodes)) == 2, f"both instances of the variant run on node {nodes[0]}"
    finally:
        for h in handles:
            h.stop(grace=0.5)
        for h in handles:
            wait_exit(h, timeout=30)


class _Recorder:
    """A runner that only records the spec it was given (what a node would receive)."""

    name = "recorder"

    def __init__(self):
        self.specs: list[JobSpec] = []

    def start(self, spec):
        self.specs.append(spec)
        return SimpleNamespace(id="rec:1", address=lambda: "127.0.0.1")


def test_a_model_servers_spec_names_no_path_of_the_servers(tmp_path):
    """What deploy hands a runner: the model and pipeline folders as inputs, ``{workdir}`` paths everywhere
    else (a pipeline's spec file rewritten and sent as a file), the token as a file, a spread key."""
    from shipyard.serving.deploy import start_instance

    vdir = tmp_path / "home" / "runs" / "endpoints" / "ep" / "AllTraffic"
    stage = vdir / "pipeline-1" / "c0"
    stage.mkdir(parents=True)
    spec_file = vdir / "pipeline-1" / "pipeline.json"
    spec_file.write_text(json.dumps({"mode": "Serial", "stages": [{"model_dir": str(stage), "args": []}]}))
    prepared = {"model_dir": str(vdir / "pipeline-1"), "args": ["--pipeline", str(spec_file)],
                "env": {"EXTRA": str(vdir / "pipeline-1" / "c0"), "PLAIN": "x"}}
    runner = _Recorder()
    _, inst = start_instance(runner, "ep", "AllTraffic", prepared, vdir)
    spec = runner.specs[0]
    words = [*spec.command, *spec.env.values(), *spec.files.values()]
    assert not [w for w in words if str(tmp_path) in w], words
    assert spec.inputs == {"pipeline-1": str(vdir / "pipeline-1")}
    assert spec.env["SM_MODEL_DIR"] == "{workdir}/pipeline-1" and spec.env["EXTRA"] == "{workdir}/pipeline-1/c0"
    assert spec.command[spec.command.index("--pipeline") + 1] == "{workdir}/pipeline-1/pipeline.json"
    assert spec.command[spec.command.index("--host") + 1] == "{host}"
    shipped = json.loads(spec.files["pipeline-1/pipeline.json"])
    assert shipped["stages"][0]["model_dir"] == "{workdir}/pipeline-1/c0"
    token_file = spec.command[spec.command.index("--token-file") + 1]
    assert spec.files[token_file.removeprefix("{workdir}/")] == inst["token"]
    assert spec.spread == "endpoint/ep/AllTraffic" and spec.workdir == str(vdir)
