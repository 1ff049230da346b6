"""The processing container contract across hosts and input kinds: ``ShardedByS3Key`` gives each of
``InstanceCount`` hosts its share (``FullyReplicated`` all), a ``ManifestFile`` input, gzip objects in Pipe mode
(staged as files), and a ``Continuous`` output that appears in S3 while the job still runs."""

from __future__ import annotations

import gzip
import json
import time

import pytest
from processing_helpers import ensure_bucket, log_messages, read_output, script_request, unique, wait_status

pytestmark = [pytest.mark.integration]

BUCKET = "processing-inputs"

LIST_INPUTS = """
    import json, os
    host = json.load(open("/opt/ml/config/resourceconfig.json"))["current_host"]
    def files(folder):
        return sorted(os.path.relpath(os.path.join(r, n), folder) for r, _, ns in os.walk(folder) for n in ns)
    seen = {name: files(f"/opt/ml/processing/input/{name}") for name in ("shards", "everything")}
    with open(f"/opt/ml/processing/output/seen/{host}.json", "w") as f:
        json.dump(seen, f)
    open("/opt/ml/output/message", "w").write(f"{host} saw {len(seen['shards'])} shard(s)")
"""


@pytest.fixture(scope="module")
def clients(proc_server):
    s3 = proc_server.client("s3")
    ensure_bucket(s3, BUCKET)
    return proc_server.client("sagemaker"), s3, proc_server.client("logs")


def test_sharded_by_s3_key_gives_each_host_its_share(clients):
    sm, s3, logs = clients
    name = unique("shards")
    for i in range(5):
        s3.put_object(Bucket=BUCKET, Key=f"{name}/shards/part-{i}.csv", Body=f"{i}\n".encode())
    s3.put_object(Bucket=BUCKET, Key=f"{name}/all/a.txt", Body=b"a")
    s3.put_object(Bucket=BUCKET, Key=f"{name}/all/sub/b.txt", Body=b"b")
    request = script_request(s3, BUCKET, name, LIST_INPUTS, count=3, outputs={"seen": {}}, inputs={
        "shards": {"S3Uri": f"s3://{BUCKET}/{name}/shards", "S3DataDistributionType": "ShardedByS3Key"},
        "everything": {"S3Uri": f"s3://{BUCKET}/{name}/all/", "S3DataDistributionType": "FullyReplicated"}})
    sm.create_processing_job(**request)
    desc = wait_status(sm, name)
    assert desc["ProcessingJobStatus"] == "Completed", desc.get("FailureReason")
    seen = {k: json.loads(v) for k, v in read_output(s3, BUCKET, f"{name}/output/seen/").items()}
    assert set(seen) == {"algo-1.json", "algo-2.json", "algo-3.json"}
    shards = [seen[f"algo-{i}.json"]["shards"] for i in (1, 2, 3)]
    assert sorted(sum(shards, [])) == [f"part-{i}.csv" for i in range(5)]  # each object on exactly one host
    assert [len(s) for s in shards] == [2, 2, 1]
    assert all(seen[h]["everything"] == ["a.txt", "sub/b.txt"] for h in seen)
    assert desc["ExitMessage"].splitlines() == ["algo-1: algo-1 saw 2 shard(s)", "algo-2: algo-2 saw 2 shard(s)",
                                                "algo-3: algo-3 saw 1 shard(s)"]
    streams = log_messages(logs, name)
    assert sorted(s.split("/")[1].rsplit("-", 1)[0] for s in streams) == ["algo-1", "algo-2", "algo-3"]


def test_one_failing_host_fails_the_job_naming_it(clients):
    sm, s3, _ = clients
    name = unique("hostfail")
    script = """
        import json, sys, time
        host = json.load(open("/opt/ml/config/resourceconfig.json"))["current_host"]
        if host == "algo-2":
            sys.exit("algo-2 cannot go on")
        time.sleep(60)
    """
    sm.create_processing_job(**script_request(s3, BUCKET, name, script, count=2))
    desc = wait_status(sm, name, timeout=40)
    assert desc["ProcessingJobStatus"] == "Failed"
    assert "host algo-2 failed" in desc["FailureReason"] and "algo-2 cannot go on" in desc["FailureReason"]


def test_manifest_file_and_gzip_in_pipe_mode(clients):
    sm, s3, logs = clients
    name = unique("manifest")
    s3.put_object(Bucket=BUCKET, Key=f"{name}/pool/x.csv", Body=b"x")
    s3.put_object(Bucket=BUCKET, Key=f"{name}/pool/y.csv", Body=b"y")
    s3.put_object(Bucket=BUCKET, Key=f"{name}/pool/z.csv", Body=b"not listed")
    manifest = [{"prefix": f"s3://{BUCKET}/{name}/pool/"}, "x.csv", "y.csv"]
    s3.put_object(Bucket=BUCKET, Key=f"{name}/manifest.json", Body=json.dumps(manifest).encode())
    s3.put_object(Bucket=BUCKET, Key=f"{name}/packed/rows.csv.gz", Body=gzip.compress(b"1,2\n3,4\n"))
    script = """
        import os
        listed = sorted(os.listdir("/opt/ml/processing/input/listed"))
        rows = open("/opt/ml/processing/input/packed/rows.csv").read()
        open("/opt/ml/output/message", "w").write(f"{listed} {rows!r}")
    """
    request = script_request(s3, BUCKET, name, script, inputs={
        "listed": {"S3Uri": f"s3://{BUCKET}/{name}/manifest.json", "S3DataType": "ManifestFile"},
        "packed": {"S3Uri": f"s3://{BUCKET}/{name}/packed", "S3InputMode": "Pipe", "S3CompressionType": "Gzip"}})
    sm.create_processing_job(**request)
    desc = wait_status(sm, name)
    assert desc["ProcessingJobStatus"] == "Completed", desc.get("FailureReason")
    assert desc["ExitMessage"] == "['x.csv', 'y.csv'] '1,2\\n3,4\\n'"
    messages = sum(log_messages(logs, name).values(), [])
    assert any("Pipe mode" in m and "File mode" in m for m in messages)


def test_continuous_output_appears_while_the_job_runs(clients):
    sm, s3, _ = clients
    name = unique("continuous")
    script = """
        import time
        open("/opt/ml/processing/output/live/progress.txt", "w").write("half way")
        time.sleep(60)
    """
    request = script_request(s3, BUCKET, name, script, max_runtime=4,
                             outputs={"live": {"S3UploadMode": "Continuous"}, "final": {}})
    sm.create_processing_job(**request)
    key = f"{name}/output/live/progress.txt"
    deadline = time.monotonic() + 30
    body = None
    while body is None and time.monotonic() < deadline:
        try:
            body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            time.sleep(0.1)
    assert body == b"half way"
    assert sm.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"] == "InProgress"
    assert wait_status(sm, name, timeout=30)["ProcessingJobStatus"] == "Stopped"  # MaxRuntime ended it
