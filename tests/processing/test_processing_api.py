"""Processing jobs through boto3 against a real server: the API (create, describe, list with filters and
pages, stop, tags, the AWS error codes) and the processing container contract (inputs at their LocalPath, the
config files, outputs uploaded, ExitMessage, FailureReason, logs in /aws/sagemaker/ProcessingJobs)."""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError
from processing_helpers import LOG_GROUP, ensure_bucket, log_messages, read_output, script_request, unique, wait_status

pytestmark = [pytest.mark.integration]

BUCKET = "processing-api"

CONTRACT = """
    import json, os, sys
    base = "/opt/ml/processing"
    rows = open(f"{base}/input/data/part-0.csv").read().splitlines()
    config = json.load(open("/opt/ml/config/processingjobconfig.json"))
    resources = json.load(open("/opt/ml/config/resourceconfig.json"))
    assert os.path.isdir(f"{base}/output/result"), "output folders are pre-created"
    with open(f"{base}/output/result/summary.json", "w") as f:
        json.dump({"rows": len(rows), "job": config["ProcessingJobName"], "host": resources["current_host"],
                   "hosts": resources["hosts"], "args": sys.argv[1:], "env": os.environ.get("GREETING"),
                   "outputs": [o["OutputName"] for o in config["ProcessingOutputConfig"]["Outputs"]]}, f)
    os.makedirs(f"{base}/output/result/nested", exist_ok=True)
    open(f"{base}/output/result/nested/note.txt", "w").write("deep")
    open("/opt/ml/output/message", "w").write("processed %d rows" % len(rows))
    print("processing done", flush=True)
"""


def _data(s3, name: str) -> str:
    s3.put_object(Bucket=BUCKET, Key=f"{name}/data/part-0.csv", Body=b"1,2\n3,4\n5,6\n")
    return f"s3://{BUCKET}/{name}/data"


@pytest.fixture(scope="module")
def clients(proc_server):
    s3 = proc_server.client("s3")
    ensure_bucket(s3, BUCKET)
    return proc_server.client("sagemaker"), s3, proc_server.client("logs")


@pytest.fixture(scope="module")
def finished(clients):
    """One job that ran the contract script to completion (shared by the tests that read it)."""
    sm, s3, _ = clients
    name = unique("contract")
    request = script_request(s3, BUCKET, name, CONTRACT, inputs={"data": {"S3Uri": _data(s3, name)}},
                             outputs={"result": {}}, args=["--alpha", "1"], environment={"GREETING": "hi"})
    request["Tags"] = [{"Key": "team", "Value": "data"}]
    arn = sm.create_processing_job(**request)["ProcessingJobArn"]
    return name, arn, wait_status(sm, name)


def test_a_script_reads_inputs_and_config_by_literal_path_and_its_outputs_are_uploaded(clients, finished):
    sm, s3, _ = clients
    name, arn, desc = finished
    assert desc["ProcessingJobStatus"] == "Completed", desc.get("FailureReason")
    assert desc["ProcessingJobArn"] == arn and arn.endswith(f":processing-job/{name}")
    assert desc["ExitMessage"] == "processed 3 rows"
    assert desc["ProcessingStartTime"] <= desc["ProcessingEndTime"]
    files = read_output(s3, BUCKET, f"{name}/output/result/")
    assert files["nested/note.txt"] == b"deep"
    summary = json.loads(files["summary.json"])
    assert summary == {"rows": 3, "job": name, "host": "algo-1", "hosts": ["algo-1"], "args": ["--alpha", "1"],
                       "env": "hi", "outputs": ["result"]}
    # AWS's defaults are shown in Describe
    s3_input = [i for i in desc["ProcessingInputs"] if i["InputName"] == "data"][0]["S3Input"]
    assert s3_input["S3DataDistributionType"] == "FullyReplicated" and s3_input["S3CompressionType"] == "None"


def test_logs_go_to_the_processing_log_group_per_host(clients, finished):
    _, _, logs = clients
    name, _, _ = finished
    streams = log_messages(logs, name)
    assert len(streams) == 1
    stream, messages = next(iter(streams.items()))
    assert stream.startswith(f"{name}/algo-1-")
    assert "processing done" in messages
    groups = [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix=LOG_GROUP)["logGroups"]]
    assert LOG_GROUP in groups


def test_tags_through_the_generic_tag_operations(clients, finished):
    sm, _, _ = clients
    _, arn, _ = finished
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "data"}]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "stage", "Value": "prep"}])
    assert {t["Key"] for t in sm.list_tags(ResourceArn=arn)["Tags"]} == {"team", "stage"}


def test_a_failing_script_gives_its_exit_message_and_failure_reason(clients):
    sm, s3, _ = clients
    name = unique("fails")
    script = """
        import sys
        open("/opt/ml/output/message", "w").write("bad input: column 'age' is missing")
        print("about to fail", file=sys.stderr)
        sys.exit(3)
    """
    sm.create_processing_job(**script_request(s3, BUCKET, name, script))
    desc = wait_status(sm, name)
    assert desc["ProcessingJobStatus"] == "Failed"
    assert desc["ExitMessage"] == "bad input: column 'age' is missing"
    assert desc["FailureReason"].startswith("AlgorithmError: bad input: column 'age' is missing")
    assert "exit code 3" in desc["FailureReason"]
    summary = [s for s in sm.list_processing_jobs(NameContains=name)["ProcessingJobSummaries"]][0]
    assert summary["ProcessingJobStatus"] == "Failed" and summary["ExitMessage"] == desc["ExitMessage"]


def test_without_a_message_the_failure_reason_shows_stderr(clients):
    sm, s3, _ = clients
    name = unique("crash")
    sm.create_processing_job(**script_request(s3, BUCKET, name, "raise RuntimeError('no such column: age')\n"))
    desc = wait_status(sm, name)
    assert desc["ProcessingJobStatus"] == "Failed" and "ExitMessage" not in desc
    assert "RuntimeError: no such column: age" in desc["FailureReason"]


def test_stop_moves_a_running_job_to_stopped(clients):
    sm, s3, _ = clients
    name = unique("stop")
    script = """
        import os, time
        os.makedirs("/opt/ml/processing/output/result", exist_ok=True)
        print("started", flush=True)
        time.sleep(60)
    """
    sm.create_processing_job(**script_request(s3, BUCKET, name, script))
    _wait_log(clients[2], name, "started")  # the program runs: the stop reaches it (SIGTERM, then SIGKILL)
    sm.stop_processing_job(ProcessingJobName=name)
    assert sm.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"] in ("Stopping", "Stopped")
    desc = wait_status(sm, name, timeout=30)
    assert desc["ProcessingJobStatus"] == "Stopped", desc.get("FailureReason")
    with pytest.raises(ClientError) as err:
        sm.stop_processing_job(ProcessingJobName=name)
    assert err.value.response["Error"]["Code"] == "ValidationException"


def _wait_log(logs, name: str, line: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not any(line in m for ms in log_messages(logs, name).values() for m in ms):
        assert time.monotonic() < deadline, f"{name} never logged {line!r}"
        time.sleep(0.1)


def test_max_runtime_stops_the_job(clients):
    sm, s3, _ = clients
    name = unique("overrun")
    sm.create_processing_job(**script_request(s3, BUCKET, name, "import time\ntime.sleep(60)\n", max_runtime=2))
    desc = wait_status(sm, name, timeout=30)
    assert desc["ProcessingJobStatus"] == "Stopped"
    assert desc["FailureReason"].startswith("MaxRuntimeExceeded")


def test_list_filters_sort_and_pages(clients):
    sm, s3, _ = clients
    tag = unique("listing")
    names = [f"{tag}-{i}" for i in range(3)]
    for n in names:
        sm.create_processing_job(**script_request(s3, BUCKET, n, "print('ok')\n"))
    for n in names:
        wait_status(sm, n)
    listed = sm.list_processing_jobs(NameContains=tag, SortBy="Name", SortOrder="Ascending")
    assert [s["ProcessingJobName"] for s in listed["ProcessingJobSummaries"]] == names
    first = sm.list_processing_jobs(NameContains=tag, MaxResults=2, SortBy="CreationTime", SortOrder="Descending")
    assert len(first["ProcessingJobSummaries"]) == 2 and first["NextToken"]
    rest = sm.list_processing_jobs(NameContains=tag, MaxResults=2, SortBy="CreationTime", SortOrder="Descending",
                                   NextToken=first["NextToken"])
    paged = [s["ProcessingJobName"] for s in first["ProcessingJobSummaries"] + rest["ProcessingJobSummaries"]]
    assert sorted(paged) == names and "NextToken" not in rest
    completed = sm.list_processing_jobs(NameContains=tag, StatusEquals="Completed")["ProcessingJobSummaries"]
    assert len(completed) == 3 and all("ProcessingEndTime" in s for s in completed)
    assert sm.list_processing_jobs(NameContains=tag, StatusEquals="Failed")["ProcessingJobSummaries"] == []
    created = [sm.describe_processing_job(ProcessingJobName=n)["CreationTime"] for n in names]
    between = created[1] + (created[2] - created[1]) / 2  # the jobs were created one after another
    after = sm.list_processing_jobs(NameContains=tag, CreationTimeAfter=between, SortOrder="Ascending")
    assert [s["ProcessingJobName"] for s in after["ProcessingJobSummaries"]] == names[2:]
    before = sm.list_processing_jobs(NameContains=tag, CreationTimeBefore=between, SortOrder="Ascending")
    assert [s["ProcessingJobName"] for s in before["ProcessingJobSummaries"]] == names[:2]


def _code(err) -> str:
    return err.value.response["Error"]["Code"]


def test_errors_carry_their_aws_codes(clients):
    sm, s3, _ = clients
    name = unique("errors")
    request = script_request(s3, BUCKET, name, "print('ok')\n")
    sm.create_processing_job(**request)
    with pytest.raises(ClientError) as err:
        sm.create_processing_job(**request)
    assert _code(err) == "ResourceInUse"
    with pytest.raises(ClientError) as err:
        sm.describe_processing_job(ProcessingJobName=unique("missing"))
    assert _code(err) == "ResourceNotFound"
    with pytest.raises(ClientError) as err:
        sm.stop_processing_job(ProcessingJobName=unique("missing"))
    assert _code(err) == "ResourceNotFound"

    def refused(change) -> str:
        bad = script_request(s3, BUCKET, unique("bad"), "print('ok')\n", outputs={"out": {}})
        change(bad)
        with pytest.raises(ClientError) as err:
            sm.create_processing_job(**bad)
        assert _code(err) == "ValidationException"
        return err.value.response["Error"]["Message"]

    message = refused(lambda r: r["ProcessingInputs"][0]["S3Input"].update(LocalPath="/tmp/code"))
    assert "/opt/ml/processing/" in message
    message = refused(lambda r: r["ProcessingOutputConfig"]["Outputs"][0]["S3Output"].update(
        LocalPath="/opt/ml/processing/../model"))
    assert "/opt/ml/processing/" in message
    message = refused(lambda r: r["ProcessingInputs"].append(dict(r["ProcessingInputs"][0])))
    assert "'code' appears more than once" in message
    message = refused(lambda r: r["ProcessingOutputConfig"]["Outputs"].append(
        r["ProcessingOutputConfig"]["Outputs"][0]))
    assert "'out' appears more than once" in message
    message = refused(lambda r: r["ProcessingInputs"][0]["S3Input"].update(S3Uri=f"s3://{BUCKET}/nothing/here"))
    assert "no S3 objects" in message
    message = refused(lambda r: r["ProcessingOutputConfig"]["Outputs"][0]["S3Output"].update(
        S3Uri="s3://no-such-bucket-here/out"))
    assert "'no-such-bucket-here' does not exist" in message
    message = refused(lambda r: r["ProcessingInputs"][0]["S3Input"].update(S3CompressionType="Gzip"))
    assert "Pipe" in message
    message = refused(lambda r: r["AppSpecification"].update(ImageUri="no-such-image-anywhere:1"))
    assert "ImageUri" in message
    message = refused(lambda r: r["AppSpecification"].pop("ContainerEntrypoint"))
    assert "ContainerEntrypoint" in message
