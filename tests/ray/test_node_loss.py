"""Losing a Ray worker node mid-job, on a real local cluster: the node is removed (its raylet and every process
on it are killed) while a training job or an endpoint instance runs there.

- a 2-instance training job fails with a reason that names the lost host, or, under ``RetryStrategy``, restarts
  (the Restarting transition names the host) and completes on the nodes that are left plus a new one;
- an endpoint whose only instance was on the node is healed: a new instance starts on another node, the
  endpoint stays ``InService`` the whole time and answers again.

To know which node runs what, the test first fills the cluster's standing nodes with blocker actors, so the
work can only land on the extra node it then removes; ``where()`` on the work's actor checks it did.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hosting"))
from hosting_helpers import XGB_IMAGE, model_tarball, upload  # noqa: E402
from training_helpers import ensure_bucket, script_job, unique, untar, wait_status  # noqa: E402


ray = pytest.importorskip("ray")

BUCKET = "ray-loss"
ROLE = "arn:aws:iam::123456789012:role/Shipyard"
TYPES = {"ml.m5.large": {"cpus": 1, "memory_gib": 0.25}}
NODE = {"num_cpus": 2, "object_store_memory": 80 * 1024 * 1024, "node_ip_address": "127.0.0.1"}
SLOW = """
    import os, time
    for i in range(int(os.environ.get("STEPS", "10"))):
        print("step", i, flush=True)
        time.sleep(0.5)
    open(os.path.join(os.environ["SM_MODEL_DIR"], os.environ["SM_CURRENT_HOST"] + ".txt"), "w").write("done")
"""


@ray.remote(num_cpus=0)
class _Blocker:
    """Holds CPUs of one node (through the node's custom resource) so that work cannot be placed there."""

    def node(self) -> str:
        return ray.get_runtime_context().get_node_id()


@pytest.fixture(scope="module")
def loss_server(ray_cluster, tmp_path_factory, shipyard_on_ray):
    with shipyard_on_ray(ray_cluster, tmp_path_factory.mktemp("ray-loss-home"), TYPES) as proc:
        yield proc


class Nodes:
    """Extra nodes and blockers for one test; everything it added is removed afterwards, so the session's
    cluster is back to its head and worker for the tests that follow."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.added: list = []
        self.blockers: list = []

    def add(self, tag: str, cpus: int = 2):
        node = self.cluster.add_node(**dict(NODE, num_cpus=cpus), resources={tag: 1})
        self.added.append(node)
        self.cluster.wait_for_nodes()
        return node

    def remove(self, node) -> None:
        self.cluster.remove_node(node, allow_graceful=False)
        self.added.remove(node)

    def block(self, resource: str, cpus: float) -> None:
        blocker = _Blocker.options(num_cpus=cpus, resources={resource: 0.01}).remote()
        ray.get(blocker.node.remote(), timeout=30)
        self.blockers.append(blocker)

    def close(self) -> None:
        for b in self.blockers:
            ray.kill(b)
        for node in list(self.added):
            self.remove(node)
        self.cluster.wait_for_nodes()


@pytest.fixture
def nodes(ray_cluster):
    n = Nodes(ray_cluster)
    try:
        yield n
    finally:
        n.close()


def actor_nodes(fragment: str) -> dict[str, str]:
    """Ray node id of every live Shipyard work actor whose name contains ``fragment``."""
    found = {}
    for entry in ray.util.list_named_actors(all_namespaces=True):
        name = entry["name"] if isinstance(entry, dict) else entry
        namespace = entry.get("namespace", "shipyard") if isinstance(entry, dict) else "shipyard"
        if fragment not in name:
            continue
        try:
            found[name] = ray.get(ray.get_actor(name, namespace=namespace).where.remote(), timeout=10)[0]
        except Exception:  # noqa: BLE001 - an actor that just ended or died has no node to report
            continue
    return found


def wait_for(fn, timeout: float, what: str, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


def start_two_host_job(server, nodes, retries: int):
    """A 2-instance job with one host on the head node and one on an extra node that is then removed.
    Returns (job name, the host that ran on the removed node)."""
    sm, s3 = server.client("sagemaker"), server.client("s3")
    victim = nodes.add("victim", cpus=1)
    nodes.block("head", 1)     # head: 1 CPU left, worker: none, victim: 1 -> one host on each
    nodes.block("worker", 2)
    name = unique("lost")
    params = script_job(s3, BUCKET, name, SLOW, max_runtime=120)
    params["ResourceConfig"] = {"InstanceType": "ml.m5.large", "InstanceCount": 2, "VolumeSizeInGB": 1}
    params["Environment"] = {"STEPS": "12"}
    if retries:
        params["RetryStrategy"] = {"MaximumRetryAttempts": retries}
    sm.create_training_job(**params)
    wait_status(sm, name, statuses={"InProgress"}, secondary="Training", timeout=60)
    placed = wait_for(lambda: (lambda a: a if len(a) == 2 else None)(actor_nodes(name)), 30, "both hosts")
    on_victim = [n for n, node in placed.items() if node == victim.node_id]
    assert len(on_victim) == 1, (placed, victim.node_id)
    host = on_victim[0].rsplit("/", 1)[-1]
    assert re.fullmatch(r"algo-[12]", host), on_victim
    nodes.remove(victim)
    return name, host


def test_losing_a_node_fails_the_job_naming_the_host(loss_server, nodes):
    ensure_bucket(loss_server.client("s3"), BUCKET)
    name, host = start_two_host_job(loss_server, nodes, retries=0)
    desc = wait_status(loss_server.client("sagemaker"), name, timeout=90)
    assert desc["TrainingJobStatus"] == "Failed"
    assert f"host {host} was lost" in desc["FailureReason"], desc["FailureReason"]
    assert "node was lost" in desc["FailureReason"], desc["FailureReason"]


def test_losing_a_node_retries_under_retry_strategy(loss_server, nodes):
    sm = loss_server.client("sagemaker")
    ensure_bucket(loss_server.client("s3"), BUCKET)
    name, host = start_two_host_job(loss_server, nodes, retries=1)
    nodes.add("replacement")  # the retry needs the capacity back (as a cluster autoscaler would give it)
    desc = wait_status(sm, name, timeout=120)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    restarts = [t for t in desc["SecondaryStatusTransitions"] if t["Status"] == "Restarting"]
    assert len(restarts) == 1 and f"host {host} was lost" in restarts[0]["StatusMessage"], restarts
    files = untar(loss_server.client("s3").get_object(
        Bucket=BUCKET, Key=f"output/{name}/output/model.tar.gz")["Body"].read())
    assert {"algo-1.txt", "algo-2.txt"} <= {Path(f).name for f in files}, files


def test_endpoint_instance_on_a_lost_node_is_replaced_and_stays_in_service(loss_server, nodes):
    sm, s3, rt = (loss_server.client(c) for c in ("sagemaker", "s3", "sagemaker-runtime"))
    data, booster = model_tarball()
    url = upload(s3, BUCKET, "loss-model/model.tar.gz", data)
    row = "0.9,0,0,0"
    expected = float(booster.inplace_predict(np.array([[0.9, 0, 0, 0]]))[0])
    victim = nodes.add("victim")
    nodes.block("head", 2)
    nodes.block("worker", 2)
    ep = unique("lost-ep")
    sm.create_model(ModelName=ep, ExecutionRoleArn=ROLE,
                    PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": url})
    sm.create_endpoint_config(EndpointConfigName=ep, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": ep, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName=ep, EndpointConfigName=ep)
    status = wait_for(lambda: (lambda s: s if s in ("InService", "Failed") else None)(
        sm.describe_endpoint(EndpointName=ep)["EndpointStatus"]), 120, "the endpoint", every=0.5)
    assert status == "InService"
    before = actor_nodes(f"endpoint/{ep}/")
    assert list(before.values()) == [victim.node_id], before
    answer = rt.invoke_endpoint(EndpointName=ep, ContentType="text/csv", Body=row)["Body"].read()
    assert float(answer) == pytest.approx(expected, rel=1e-5)

    nodes.remove(victim)
    replacement = nodes.add("replacement")
    seen = set()

    def healed():
        seen.add(sm.describe_endpoint(EndpointName=ep)["EndpointStatus"])
        now = actor_nodes(f"endpoint/{ep}/")
        return now if now and set(now) != set(before) else None

    after = wait_for(healed, 90, "a replacement instance", every=0.5)
    assert list(after.values()) == [replacement.node_id], after
    out = wait_for(lambda: _try_invoke(rt, ep, row), 30, "an answer from the new instance")
    assert float(out) == pytest.approx(expected, rel=1e-5)
    seen.add(sm.describe_endpoint(EndpointName=ep)["EndpointStatus"])
    assert seen == {"InService"}, seen
    sm.delete_endpoint(EndpointName=ep)
    wait_for(lambda: ep not in [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]], 60, "deletion")


def _try_invoke(rt, ep, row):
    from botocore.exceptions import ClientError

    try:
        return rt.invoke_endpoint(EndpointName=ep, ContentType="text/csv", Body=row)["Body"].read() or None
    except ClientError:
        return None
