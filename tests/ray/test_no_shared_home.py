"""No shared file system: a Ray cluster whose nodes cannot read the Shipyard server's home.

Both Ray nodes (head + worker) run inside a mount namespace of their own (``unshare --mount``) where the folder
holding the server's home is an empty tmpfs; the Shipyard server runs outside it and joins the cluster as a
driver, with an external S3 server (moto) as its object store, as docs/deploy.md describes. A training job, a
batch transform and a two-instance endpoint (deploy + invoke through the runtime API) must all succeed there:
everything a node runs gets its inputs through its spec and Ray's object store. The nodes' ``TMPDIR`` is a folder
of this test's, so the test also sees that no node-local work folder is left behind once the work has ended.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ROLE = "arn:aws:iam::123456789012:role/Shipyard"
TYPES = {"ml.m5.large": {"cpus": 1, "memory_gib": 0.25}}
WAIT = 180.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _unshare_refusal() -> str | None:
    if shutil.which("unshare") is None or shutil.which("nsenter") is None:
        return "util-linux's unshare/nsenter are not installed"
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                            "mount -t tmpfs none /mnt 2>&1 || mount -t tmpfs none /tmp 2>&1"],
                           capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        return f"unshare --mount with a tmpfs mount is not permitted here: {(probe.stderr or probe.stdout).strip()}"
    return None


def _wait(fn, done, timeout=WAIT, every=0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s; last value: {value}")
        time.sleep(every)


def _stop_group(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            if sig == signal.SIGTERM:  # what ray start --block left in its group goes too
                continue
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def hidden_home_cluster():
    """Two Ray nodes that see an empty tmpfs where the server's home lives (``hidden``)."""
    why = _unshare_refusal()
    if why:
        pytest.skip(why)
    hidden = Path(tempfile.mkdtemp(prefix="sy-hidden-"))
    node_tmp = Path(tempfile.mkdtemp(prefix="sy-nodes-"))  # short: Ray's socket paths live under it
    (hidden / "SENTINEL").write_text("the nodes must not see this")
    port = _free_port()
    ray_bin = str(Path(sys.executable).parent / "ray")
    # RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=1: `ray start` refuses a second node on 127.0.0.1 without it.
    env = dict(os.environ, TMPDIR=str(node_tmp), RAY_USAGE_STATS_ENABLED="0", RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="1")
    env.pop("RAY_ADDRESS", None)
    common = (f"--block --node-ip-address=127.0.0.1 --num-cpus=2 --object-store-memory={80 * 1024 * 1024} "
              "--disable-usage-stats")
    procs: list[subprocess.Popen] = []

    def node(args: str, name: str) -> subprocess.Popen:
        script = f"mount -t tmpfs none {shlex.quote(str(hidden))} && exec {shlex.quote(ray_bin)} start {args}"
        log = open(node_tmp / f"{name}.log", "wb")
        proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], env=env,
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        procs.append(proc)
        return proc

    try:
        head = node(f"--head --port={port} --include-dashboard=false {common}", "head")
        _wait(lambda: _connects(port) or head.poll(), bool, timeout=60, every=0.2)
        assert head.poll() is None, (node_tmp / "head.log").read_text()[-2000:]
        worker = node(f"--address=127.0.0.1:{port} {common}", "worker")
        probe = ("import sys, ray\nfrom shipyard.runners.ray import wait_for_cluster\n"
                 f"ray.init(address='127.0.0.1:{port}', log_to_driver=False)\nwait_for_cluster(2, timeout=60)")
        done = subprocess.run([sys.executable, "-c", probe], env={**env, "TMPDIR": tempfile.gettempdir()},
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and worker.poll() is None, \
            done.stderr[-2000:] + (node_tmp / "worker.log").read_text()[-2000:]
        # The proof the setup is what it claims: inside the nodes' namespace the home's folder is empty.
        seen = subprocess.run(["nsenter", "--mount", f"--target={head.pid}", "ls", "-A", str(hidden)],
                              capture_output=True, text=True, timeout=30)
        assert seen.returncode == 0 and seen.stdout.strip() == "", seen
        yield SimpleNamespace(loopback_address=f"127.0.0.1:{port}", hidden=hidden, node_tmp=node_tmp)
    finally:
        for proc in reversed(procs):
            _stop_group(proc)
        _kill_strays(str(node_tmp))
        shutil.rmtree(hidden, ignore_errors=True)
        shutil.rmtree(node_tmp, ignore_errors=True)


def _kill_strays(marker: str) -> None:
    """Work runs in sessions of its own (so a stop reaches its whole tree): a failed test may leave some behind
    when its nodes go. Every such process names this fixture's unique folder on its command line."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ValueError):
            continue


def _connects(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def _work_folders(node_tmp: Path) -> list[Path]:
    return sorted(p for p in node_tmp.glob("shipyard-*") if p.is_dir())


def test_train_transform_and_serve_without_the_servers_home(hidden_home_cluster, shipyard_on_ray, moto_s3):
    cluster = hidden_home_cluster
    home = cluster.hidden / "home"
    home.mkdir()
    store = f"s3://?endpoint_url={moto_s3}&region=us-east-1&access_key=test&secret_key=test"
    with shipyard_on_ray(cluster, home, TYPES, env={"SHIPYARD_OBJECT_STORE_URL": store}) as server:
        s3, sm, rt = server.client("s3"), server.client("sagemaker"), server.client("sagemaker-runtime")
        rng = np.random.default_rng(3)
        X = rng.normal(size=(400, 4))
        y = (X[:, 0] - X[:, 2] > 0).astype(int)
        rows = "\n".join(f"{label}," + ",".join(f"{v:.5f}" for v in x) for label, x in zip(y, X)) + "\n"
        s3.create_bucket(Bucket="nohome")
        s3.put_object(Bucket="nohome", Key="train/data.csv", Body=rows.encode())
        s3.put_object(Bucket="nohome", Key="batch/in.csv",
                      Body=("\n".join(",".join(f"{v:.5f}" for v in x) for x in X[:40]) + "\n").encode())

        sm.create_training_job(
            TrainingJobName="nohome-xgb", RoleArn=ROLE,
            AlgorithmSpecification={"TrainingImage": XGB_IMAGE, "TrainingInputMode": "File"},
            HyperParameters={"objective": "binary:logistic", "num_round": "10", "max_depth": "3"},
            InputDataConfig=[{"ChannelName": "train", "ContentType": "text/csv", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": "s3://nohome/train/"}}}],
            OutputDataConfig={"S3OutputPath": "s3://nohome/output"},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
            StoppingCondition={"MaxRuntimeInSeconds": 300})
        job = _wait(lambda: sm.describe_training_job(TrainingJobName="nohome-xgb"),
                    lambda d: d["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"))
        assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
        artifact = job["ModelArtifacts"]["S3ModelArtifacts"]

        sm.create_model(ModelName="nohome-model", ExecutionRoleArn=ROLE,
                        PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": artifact})
        sm.create_endpoint_config(EndpointConfigName="nohome-config", ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": "nohome-model", "InitialInstanceCount": 2,
            "InstanceType": "ml.m5.large"}])
        sm.create_endpoint(EndpointName="nohome-ep", EndpointConfigName="nohome-config")
        ep = _wait(lambda: sm.describe_endpoint(EndpointName="nohome-ep"),
                   lambda d: d["EndpointStatus"] in ("InService", "Failed"))
        assert ep["EndpointStatus"] == "InService", ep.get("FailureReason")
        serving = [p for p in _work_folders(cluster.node_tmp) if (p / "model").is_dir()]
        assert len(serving) == 2, f"each instance's model arrives in a node folder: {_work_folders(cluster.node_tmp)}"
        for _ in range(3):
            out = rt.invoke_endpoint(EndpointName="nohome-ep", ContentType="text/csv", Body="2.0,0.0,-2.0,0.0")
            assert float(out["Body"].read()) > 0.5

        sm.create_transform_job(
            TransformJobName="nohome-batch", ModelName="nohome-model", BatchStrategy="MultiRecord",
            TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                            "S3Uri": "s3://nohome/batch/"}},
                            "ContentType": "text/csv", "SplitType": "Line"},
            TransformOutput={"S3OutputPath": "s3://nohome/batch-out", "AssembleWith": "Line"},
            TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1})
        tj = _wait(lambda: sm.describe_transform_job(TransformJobName="nohome-batch"),
                   lambda d: d["TransformJobStatus"] in ("Completed", "Failed", "Stopped"))
        assert tj["TransformJobStatus"] == "Completed", tj.get("FailureReason")
        scores = s3.get_object(Bucket="nohome", Key="batch-out/in.csv.out")["Body"].read().split()
        assert len(scores) == 40

        sm.delete_endpoint(EndpointName="nohome-ep")
        _wait(lambda: [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]],
              lambda names: "nohome-ep" not in names, timeout=60)
        left = _wait(lambda: _work_folders(cluster.node_tmp), lambda found: not found, timeout=60)
        assert left == []
