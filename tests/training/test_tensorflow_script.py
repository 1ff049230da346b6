"""TensorFlow script mode as SageMaker's TensorFlow training container runs it: ``--model_dir`` made a local
folder, TF_CONFIG for MultiWorkerMirroredStrategy and parameter servers (the container's cluster layout:
every host a worker, or master + workers + a ps task per host), a parameter server started beside the entry
point, and a 2-instance MultiWorkerMirroredStrategy job through CreateTrainingJob."""

from __future__ import annotations

import inspect
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from shipyard.runners import contract
from shipyard.training import script

from training_helpers import script_job, unique, untar, wait_status

TF_IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-training:2.13-cpu-py310"
ADDR = {"algo-1": "10.0.0.1", "algo-2": "10.0.0.2", "algo-3": "10.0.0.3"}
HOSTS = ["algo-1", "algo-2", "algo-3"]


def test_tf_config_multi_worker_mirrored():
    fw = {"sagemaker_multi_worker_mirrored_strategy_enabled": True}
    env = contract.tensorflow_environment(fw, HOSTS[:2], "algo-2", ADDR, 5000)
    assert json.loads(env["TF_CONFIG"]) == {
        "cluster": {"worker": ["10.0.0.1:5001", "10.0.0.2:5002"]}, "environment": "cloud",
        "task": {"index": 1, "type": "worker"}}
    one = json.loads(contract.tensorflow_environment(fw, ["algo-1"], "algo-1", {}, 7000)["TF_CONFIG"])
    assert one["cluster"] == {"worker": ["127.0.0.1:7001"]}  # as the container: TF_CONFIG even on one host
    assert contract.tensorflow_environment({}, HOSTS, "algo-1", ADDR, 5000) == {}
    # the SDK sends hyperparameter values JSON-encoded: "true" decodes to True, "false" to False
    assert contract.tensorflow_environment({"sagemaker_multi_worker_mirrored_strategy_enabled": False},
                                           HOSTS, "algo-1", ADDR, 5000) == {}


def test_tf_config_parameter_server():
    fw = {"sagemaker_parameter_server_enabled": True}
    cluster = {"master": ["10.0.0.1:5001"], "worker": ["10.0.0.2:5002", "10.0.0.3:5003"],
               "ps": ["10.0.0.1:5004", "10.0.0.2:5005", "10.0.0.3:5006"]}
    tasks = {h: json.loads(contract.tensorflow_environment(fw, HOSTS, h, ADDR, 5000)["TF_CONFIG"]) for h in HOSTS}
    assert all(t["cluster"] == cluster and t["environment"] == "cloud" for t in tasks.values())
    assert [tasks[h]["task"] for h in HOSTS] == [{"index": 0, "type": "master"}, {"index": 0, "type": "worker"},
                                                 {"index": 1, "type": "worker"}]
    ps = contract.tensorflow_tf_config("parameter_server", HOSTS, "algo-3", ADDR, 5000, ps_task=True)
    assert ps["task"] == {"index": 2, "type": "ps"}
    # one host: the container runs no parameter server (and sets no TF_CONFIG)
    assert contract.tensorflow_environment(fw, ["algo-1"], "algo-1", {}, 5000) == {}


def test_model_dir_becomes_a_local_folder(tmp_path):
    layout = contract.Layout(tmp_path)
    cmd = ["python", "train.py", "--epochs", "1", "--model_dir", "s3://bucket/out/job/model"]
    assert script.tensorflow_model_dir(cmd, layout.model, layout.base)[-1] == str(layout.model)
    cmd = ["python", "train.py", "--model_dir", "/opt/ml/model/ckpt"]
    assert script.tensorflow_model_dir(cmd, layout.model, layout.base)[-1] == str(tmp_path / "model" / "ckpt")
    cmd = ["python", "train.py", "--model_dir", "/tmp/mine"]
    assert script.tensorflow_model_dir(cmd, layout.model, layout.base) == cmd
    launched, env = script.tensorflow_launch(["python", "t.py", "--model_dir", "s3://b/k"], {}, layout,
                                             ["algo-1"], "algo-1", {}, 5000)
    assert launched == ["python", "t.py", "--model_dir", str(layout.model)] and env == {}


def _free_base(n: int) -> int:
    """A base port whose next ``n`` ports are free now."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + n < 65000 and all(_free(base + i) for i in range(1, n + 1)):
            return base
    raise RuntimeError("no free port range")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


@pytest.mark.slow  # two TensorFlow parameter servers start (tens of seconds on a busy machine)
def test_parameter_server_launcher_starts_a_ps_task_per_host(tmp_path):
    """Two hosts' launchers: each starts its ps task (a tf.distribute.Server) and runs the entry point as
    master or worker with the container's TF_CONFIG; the entry point reaches its host's parameter server."""
    pytest.importorskip("tensorflow", reason="TensorFlow is not installed (pip install 'shipyard[tensorflow]')")
    entry = tmp_path / "train.py"
    entry.write_text(textwrap.dedent("""
        import json, os, socket, sys, time
        cfg = json.loads(os.environ["TF_CONFIG"])
        me = sys.argv[sys.argv.index("--host") + 1]
        ps = cfg["cluster"]["ps"][["algo-1", "algo-2"].index(me)]
        host, port = ps.rsplit(":", 1)
        deadline = time.monotonic() + 90
        while True:  # the parameter server starts beside us (importing TensorFlow takes seconds)
            try:
                socket.create_connection((host, int(port)), timeout=2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the parameter server never listened"
                time.sleep(0.2)
        print("TASK", json.dumps(cfg["task"]), flush=True)
    """))
    base = _free_base(4)
    fw = {"sagemaker_parameter_server_enabled": "true"}
    hosts, addresses = ["algo-1", "algo-2"], {"algo-1": "127.0.0.1", "algo-2": "127.0.0.1"}
    procs = []
    for host in hosts:
        layout = contract.Layout(tmp_path / host)
        cmd, env = script.tensorflow_launch([sys.executable, str(entry), "--host", host], fw, layout, hosts, host,
                                            addresses, base)
        procs.append(subprocess.Popen(cmd, env={**os.environ, **env}, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
    outs = []
    for p in procs:
        try:
            out, _ = p.communicate(timeout=150)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
        outs.append(out)
        assert p.returncode == 0, out[-2000:]
    assert 'TASK {"index": 0, "type": "master"}' in outs[0]
    assert 'TASK {"index": 0, "type": "worker"}' in outs[1]
    assert "parameter server 1 serving" in outs[1] and "master 127.0.0.1" in outs[1]


MWMS = """
    import json, os
    import numpy as np
    import tensorflow as tf
    import argparse
    p = argparse.ArgumentParser()
    p.add_argument("--model_dir")
    p.add_argument("--steps", type=int)
    args = p.parse_args()
    strategy = tf.distribute.MultiWorkerMirroredStrategy()  # reads TF_CONFIG
    rank = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    with strategy.scope():
        w = tf.Variable(tf.zeros([4, 1]))
    rng = np.random.default_rng(100 + rank)  # each worker its own data
    X = tf.constant(rng.normal(size=(64, 4)).astype("float32"))
    y = X @ tf.constant([[1.0], [-2.0], [0.5], [3.0]])

    @tf.function
    def train_step():
        def step_fn():
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(tf.matmul(X, w) - y))
            local = tape.gradient(loss, w)
            return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.MEAN, local), local, loss
        g, local, loss = strategy.run(step_fn)
        w.assign_sub(0.1 * g)
        return local, loss
    for _ in range(args.steps):
        local, loss = train_step()
    print("rank", rank, "loss", float(loss), flush=True)
    out = {"rank": rank, "replicas": strategy.num_replicas_in_sync, "model_dir": args.model_dir,
           "w": w.numpy().flatten().tolist(), "local": local.numpy().flatten().tolist()}
    json.dump(out, open(os.path.join(os.environ["SM_MODEL_DIR"], f"rank-{rank}.json"), "w"))
"""


def _executor_launches_tensorflow() -> bool:
    from shipyard.training import executor

    return "tensorflow_launch" in inspect.getsource(executor)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_multi_worker_mirrored_on_two_instances(server):
    pytest.importorskip("tensorflow", reason="TensorFlow is not installed (pip install 'shipyard[tensorflow]')")
    if not _executor_launches_tensorflow():
        pytest.skip("the training executor does not call script.tensorflow_launch yet (see docs/neural/tensorflow.md)")
    sm, s3 = server.client("sagemaker"), server.client("s3")
    name = unique("tf-mwms")
    params = script_job(s3, "tf-tests", name, MWMS, max_runtime=240, hps={
        "sagemaker_multi_worker_mirrored_strategy_enabled": "true", "steps": "5",
        "model_dir": f'"s3://tf-tests/output/{name}/model"'})
    params["AlgorithmSpecification"]["TrainingImage"] = TF_IMAGE
    params["ResourceConfig"] = {"InstanceType": "ml.m5.large", "InstanceCount": 2, "VolumeSizeInGB": 5}
    sm.create_training_job(**params)
    desc = wait_status(sm, name, timeout=240)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    files = untar(s3.get_object(Bucket="tf-tests", Key=f"output/{name}/output/model.tar.gz")["Body"].read())
    r0, r1 = json.loads(files["rank-0.json"]), json.loads(files["rank-1.json"])
    assert (r0["replicas"], r1["replicas"]) == (2, 2)
    assert r0["w"] == pytest.approx(r1["w"], abs=1e-6)  # the all-reduced gradient: the same weights ...
    assert r0["local"] != pytest.approx(r1["local"], abs=1e-4)  # ... from different data
    assert not r0["model_dir"].startswith("s3://") and Path(r0["model_dir"]).name == "model"
