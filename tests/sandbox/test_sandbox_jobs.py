"""Training jobs in their sandbox through the real server and boto3 (issue 14): a script that uses the literal
``/opt/ml`` paths works, two at once do not collide and the host's ``/opt/ml`` and ``/tmp`` stay untouched; the
job cannot see the server's home, credentials or another job's folder; ``EnableNetworkIsolation`` cuts it off
from the server's port; a memory hog on a small instance type fails with a FailureReason that says so; and
where no namespace is available the job still runs, its log saying so."""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

import pytest

from shipyard.runners import sandbox

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
from training_helpers import log_messages, script_job, unique, untar, wait_status  # noqa: E402

BUCKET = "sandbox-tests"
needs_namespaces = pytest.mark.skipif(not sandbox.available(), reason="no mount namespace on this host")

LITERAL_PATHS = """
import json, os, sys, time
tag = sys.argv[sys.argv.index('--tag') + 1]
data = open('/opt/ml/input/data/train/data.csv').read()
os.makedirs('/opt/ml/model', exist_ok=True)
open('/opt/ml/model/x', 'w').write(tag + ':' + data)
probe = '/tmp/' + sys.argv[sys.argv.index('--probe') + 1]
seen_other = os.path.exists(probe)
open(probe, 'w').write(tag)
time.sleep(1.5)  # both jobs run now: neither may see the other's files
home = sys.argv[sys.argv.index('--home') + 1]
report = {
    "mine": open('/opt/ml/model/x').read(), "tmp_seen_other": seen_other, "tmp_mine": open(probe).read(),
    "home": sorted(os.listdir(home)) if os.path.isdir(home) else None,
    "credentials": os.path.exists(os.path.join(home, 'credentials.json')),
    "jobs": sorted(os.listdir(os.path.join(home, 'runs', 'training'))),
}
open('/opt/ml/model/report.json', 'w').write(json.dumps(report))
print('report', json.dumps(report))
"""


def _model_files(s3, name: str) -> dict[str, bytes]:
    return untar(s3.get_object(Bucket=BUCKET, Key=f"output/{name}/output/model.tar.gz")["Body"].read())


@needs_namespaces
def test_literal_opt_ml_paths_two_jobs_at_once(server):
    sm, s3 = server.client("sagemaker"), server.client("s3")
    probe = f"shipyard-sandbox-probe-{uuid.uuid4().hex}"
    host_opt_ml = sorted(os.listdir("/opt/ml")) if os.path.isdir("/opt/ml") else None
    names = [unique("sandboxed"), unique("sandboxed")]
    for i, name in enumerate(names):
        params = script_job(s3, BUCKET, name, LITERAL_PATHS, channels={"train": f"rows of job {i}\n".encode()},
                            hps={"tag": f"job-{i}", "probe": probe, "home": str(server.home)})
        sm.create_training_job(**params)
    for i, name in enumerate(names):
        desc = wait_status(sm, name, timeout=120)
        assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
        files = _model_files(s3, name)
        assert files["x"].decode() == f"job-{i}:rows of job {i}\n"
        report = json.loads(files["report.json"])
        assert report["mine"] == f"job-{i}:rows of job {i}\n"       # /opt/ml/model is its own
        assert report["tmp_seen_other"] is False and report["tmp_mine"] == f"job-{i}"  # /tmp is its own
        # the home is hidden: only the path down to the job's folder, and the framework environments (shown
        # read-only once a job on this shared server has built one) are there
        assert report["credentials"] is False and report["home"] in (["runs"], ["environments", "runs"])
        assert report["jobs"] == [name]                                   # no other job's folder
    assert not os.path.exists(f"/tmp/{probe}")
    assert (sorted(os.listdir("/opt/ml")) if os.path.isdir("/opt/ml") else None) == host_opt_ml


NETWORK_PROBE = """
import os, socket, urllib.parse
url = urllib.parse.urlparse(os.environ['AWS_ENDPOINT_URL'])
try:
    socket.create_connection((url.hostname, url.port), timeout=3).close()
    outcome = 'connected'
except OSError as e:
    outcome = 'refused ' + type(e).__name__
os.makedirs('/opt/ml/model', exist_ok=True)
open('/opt/ml/model/net.txt', 'w').write(outcome)
"""


@needs_namespaces
@pytest.mark.parametrize("isolated", [True, False])
def test_network_isolation_cuts_the_job_off_from_the_server(server, isolated):
    sm, s3 = server.client("sagemaker"), server.client("s3")
    name = unique("netiso")
    params = script_job(s3, BUCKET, name, NETWORK_PROBE)
    params["EnableNetworkIsolation"] = isolated
    sm.create_training_job(**params)
    desc = wait_status(sm, name, timeout=120)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    outcome = _model_files(s3, name)["net.txt"].decode()
    assert outcome.startswith("refused") if isolated else outcome == "connected", outcome


MEMORY_HOG = """
chunks = []
for _ in range(64):
    chunks.append(bytearray(32 * 1024 * 1024))
print('survived')
"""


@pytest.mark.skipif(not sandbox.limits_available(), reason="cgroups are not writable here: memory is not limited")
def test_memory_hog_on_a_small_instance_type_fails_out_of_memory(server_factory, tmp_path):
    types = tmp_path / "types.json"
    types.write_text(json.dumps({"ml.t3.medium": {"cpus": 1, "memory_gib": 0.125}}))
    srv = server_factory(env={"SHIPYARD_INSTANCE_TYPES": str(types)})
    sm, s3 = srv.client("sagemaker"), srv.client("s3")
    name = unique("hog")
    params = script_job(s3, BUCKET, name, MEMORY_HOG)
    params["ResourceConfig"]["InstanceType"] = "ml.t3.medium"
    sm.create_training_job(**params)
    desc = wait_status(sm, name, timeout=120)
    assert desc["TrainingJobStatus"] == "Failed"
    reason = desc["FailureReason"]
    assert reason.startswith("OutOfMemoryError") and "ml.t3.medium" in reason and "128 MiB" in reason, reason


def test_without_namespaces_the_job_still_runs_and_its_log_says_so(server_factory):
    """``SHIPYARD_SANDBOX_NAMESPACES=off`` makes the host behave as one without namespaces: the job runs as before
    (its folder through the SM_* variables), and its log says it ran without a sandbox."""
    srv = server_factory(env={"SHIPYARD_SANDBOX_NAMESPACES": "off"})
    sm, s3, logs = srv.client("sagemaker"), srv.client("s3"), srv.client("logs")
    name = unique("fallback")
    script = "import os; open(os.path.join(os.environ['SM_MODEL_DIR'], 'x'), 'w').write('ran')"
    sm.create_training_job(**script_job(s3, BUCKET, name, script))
    desc = wait_status(sm, name, timeout=120)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    assert _model_files(s3, name)["x"] == b"ran"
    assert any("without a sandbox" in m for m in log_messages(logs, name))


VOLUME_FILLER = """
import os, time
with open(os.path.join(os.environ['SM_MODEL_DIR'], 'big.bin'), 'wb') as f:
    block = b'\\1' * (8 * 1024 * 1024)
    for _ in range(144):  # 1.125 GiB: past a VolumeSizeInGB of 1
        f.write(block)
    f.flush()
    os.fsync(f.fileno())
time.sleep(60)  # the executor stops it well before this ends
"""


def test_volume_size_is_a_watched_limit(server):
    sm, s3 = server.client("sagemaker"), server.client("s3")
    name = unique("volume")
    params = script_job(s3, BUCKET, name, VOLUME_FILLER, max_runtime=90)
    params["ResourceConfig"]["VolumeSizeInGB"] = 1
    sm.create_training_job(**params)
    desc = wait_status(sm, name, timeout=60)
    assert desc["TrainingJobStatus"] == "Failed"
    assert desc["FailureReason"].startswith("ClientError") and "VolumeSizeInGB of 1 GB" in desc["FailureReason"]
