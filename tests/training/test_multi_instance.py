"""Multi-instance training jobs on the local runner: hosts algo-1..N as separate executor processes.

What SageMaker gives a cluster job, checked through boto3 against a real server: resourceconfig.json and
SM_HOSTS/SM_CURRENT_HOST per host, ShardedByS3Key vs FullyReplicated channels, host addresses and
torch-style rank variables, one log stream per host, the model folders merged into one model.tar.gz (lowest
host wins a name clash), a lost host failing the job with its name, or restarting it under RetryStrategy.
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from training_helpers import ROLE, ensure_bucket, log_messages, script_job, unique, untar, wait_status

BUCKET = "multi-instance"

HOSTS_SCRIPT = """
    import json, os, time
    cfg = json.load(open(os.path.join(os.environ["SM_INPUT_CONFIG_DIR"], "resourceconfig.json")))
    me = os.environ["SM_CURRENT_HOST"]
    print("resourceconfig", json.dumps({"current_host": cfg["current_host"], "hosts": cfg["hosts"]}, sort_keys=True))
    print("env", me, os.environ["SM_HOSTS"], os.environ["RANK"], os.environ["WORLD_SIZE"], os.environ["LOCAL_RANK"],
          os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"], os.environ["SHIPYARD_HOST_ADDRESSES"])
    print("sharded", me, sorted(os.listdir(os.environ["SM_CHANNEL_SHARDED"])))
    print("replicated", me, sorted(os.listdir(os.environ["SM_CHANNEL_REPLICATED"])))
    model = os.environ["SM_MODEL_DIR"]
    open(os.path.join(model, f"part-{me}.txt"), "w").write(me)
    open(os.path.join(model, "common.txt"), "w").write(me)
"""


@pytest.fixture(scope="module")
def clients(server):
    return server.client("sagemaker"), server.client("s3"), server.client("logs")


def _two_hosts(params: dict, count: int = 2) -> dict:
    params["ResourceConfig"] = {"InstanceType": "ml.m5.large", "InstanceCount": count, "VolumeSizeInGB": 5}
    return params


def test_two_hosts_get_the_cluster_contract_and_one_merged_model(clients):
    sm, s3, logs = clients
    name = unique("hosts")
    ensure_bucket(s3, BUCKET)
    for i in range(4):
        s3.put_object(Bucket=BUCKET, Key=f"{name}/sharded/part-{i}.csv", Body=f"{i}\n".encode())
    s3.put_object(Bucket=BUCKET, Key=f"{name}/replicated/all.csv", Body=b"x\n")
    params = _two_hosts(script_job(s3, BUCKET, name, HOSTS_SCRIPT))
    params["InputDataConfig"] = [
        {"ChannelName": "sharded", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/{name}/sharded/",
            "S3DataDistributionType": "ShardedByS3Key"}}},
        {"ChannelName": "replicated", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/{name}/replicated/",
            "S3DataDistributionType": "FullyReplicated"}}}]
    sm.create_training_job(**params)
    desc = wait_status(sm, name, timeout=60)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    assert desc["ResourceConfig"]["InstanceCount"] == 2
    assert desc["BillableTimeInSeconds"] >= 2 * desc["TrainingTimeInSeconds"] - 1

    streams = sorted(s["logStreamName"] for s in logs.describe_log_streams(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=name + "/")["logStreams"])
    assert [s.rsplit("-", 1)[0] for s in streams] == [f"{name}/algo-1", f"{name}/algo-2"]
    messages = log_messages(logs, name)
    for me in ("algo-1", "algo-2"):
        assert f'resourceconfig {{"current_host": "{me}", "hosts": ["algo-1", "algo-2"]}}' in messages
    env_lines = sorted(m for m in messages if m.startswith("env "))
    assert len(env_lines) == 2
    port = env_lines[0].split()[7]
    assert int(port) > 0
    addresses = '{"algo-1":"127.0.0.1","algo-2":"127.0.0.1"}'
    assert env_lines[0] == f'env algo-1 ["algo-1","algo-2"] 0 2 0 127.0.0.1 {port} {addresses}'
    assert env_lines[1] == f'env algo-2 ["algo-1","algo-2"] 1 2 0 127.0.0.1 {port} {addresses}'
    # ShardedByS3Key: every 2nd object of the sorted keys per host; FullyReplicated: everything everywhere
    assert "sharded algo-1 ['part-0.csv', 'part-2.csv']" in messages
    assert "sharded algo-2 ['part-1.csv', 'part-3.csv']" in messages
    assert "replicated algo-1 ['all.csv']" in messages and "replicated algo-2 ['all.csv']" in messages

    model = untar(s3.get_object(Bucket=BUCKET, Key=f"output/{name}/output/model.tar.gz")["Body"].read())
    assert model == {"part-algo-1.txt": b"algo-1", "part-algo-2.txt": b"algo-2", "common.txt": b"algo-1"}
    assert any("common.txt from algo-2 clashes with algo-1's" in m for m in messages)
    leftovers = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"output/{name}/output/.shipyard-hosts/")
    assert leftovers.get("KeyCount", 0) == 0, "the per-host parts are removed after the merge"


SLEEPER = """
    import os, time
    print("host", os.environ["SM_CURRENT_HOST"], "up", flush=True)
    time.sleep(float(os.environ.get("NAP", "30")))
    open(os.path.join(os.environ["SM_MODEL_DIR"], "m-" + os.environ["SM_CURRENT_HOST"]), "w").write("ok")
"""


def _kill_host(home, name: str, host: str, attempt: int = 0, timeout: float = 30.0) -> None:
    """SIGKILL one host's executor (and with it its program): the host is lost."""
    folder = home / "runs" / "training" / name / f"attempt-{attempt}" / host
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = json.loads((folder / "status.json").read_text())
            handle = (folder / "handle").read_text().strip()
        except (OSError, ValueError):
            status, handle = {}, ""
        if status.get("secondary") == "Training" and handle.startswith("local:"):
            os.killpg(int(handle.split(":")[1]), signal.SIGKILL)
            return
        time.sleep(0.05)
    raise AssertionError(f"{name}/{host} did not reach Training")


def test_a_lost_host_fails_the_job_naming_it(server, clients):
    sm, s3, _ = clients
    name = unique("lost")
    params = _two_hosts(script_job(s3, BUCKET, name, SLEEPER, max_runtime=120))
    sm.create_training_job(**params)
    _kill_host(server.home, name, "algo-2")
    t0 = time.monotonic()
    desc = wait_status(sm, name, timeout=40)
    assert desc["TrainingJobStatus"] == "Failed"
    assert desc["FailureReason"].startswith("AlgorithmError: host algo-2 was lost: "), desc["FailureReason"]
    assert time.monotonic() - t0 < 30, "algo-1 is stopped at once, not left to sleep its 30 s"


def test_a_lost_host_restarts_the_whole_job_under_retry_strategy(server, clients):
    sm, s3, logs = clients
    name = unique("retry")
    params = _two_hosts(script_job(s3, BUCKET, name, SLEEPER, max_runtime=120))
    params["Environment"] = {"NAP": "4"}
    params["RetryStrategy"] = {"MaximumRetryAttempts": 1}
    sm.create_training_job(**params)
    _kill_host(server.home, name, "algo-2")
    desc = wait_status(sm, name, timeout=60)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    statuses = [t["Status"] for t in desc["SecondaryStatusTransitions"]]
    assert "Restarting" in statuses and statuses[-1] == "Completed", statuses
    restarting = next(t for t in desc["SecondaryStatusTransitions"] if t["Status"] == "Restarting")
    assert "host algo-2 was lost" in restarting["StatusMessage"]
    model = untar(s3.get_object(Bucket=BUCKET, Key=f"output/{name}/output/model.tar.gz")["Body"].read())
    assert model == {"m-algo-1": b"ok", "m-algo-2": b"ok"}
    streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs",
                                        logStreamNamePrefix=name + "/")["logStreams"]
    hosts = {s["logStreamName"].rsplit("-", 1)[0] for s in streams}
    assert hosts == {f"{name}/algo-1", f"{name}/algo-2"}, streams  # the second attempt logged on both hosts


def test_a_failing_host_fails_the_job_with_its_reason(clients):
    sm, s3, _ = clients
    name = unique("hostfail")
    script = """
        import os, sys, time
        if os.environ["SM_CURRENT_HOST"] == "algo-2":
            sys.exit("algo-2 cannot go on")
        time.sleep(30)
    """
    sm.create_training_job(**_two_hosts(script_job(s3, BUCKET, name, script)))
    desc = wait_status(sm, name, timeout=40)
    assert desc["TrainingJobStatus"] == "Failed"
    assert desc["FailureReason"].startswith("AlgorithmError: host algo-2 failed: ")
    assert "algo-2 cannot go on" in desc["FailureReason"]
