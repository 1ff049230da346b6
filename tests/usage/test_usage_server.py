"""Usage metering against a real server: a training job metered through a kill -9 and restart of the server,
an endpoint scaled 1 -> 3 -> 1 instances, the report (CLI, console, CloudWatch) and a budget refusing new work.

The intervals are read back from the server's own metadata store (the SQLite file in its home), as the
``shipyard usage`` CLI reads them."""

from __future__ import annotations

import csv
import io
import re
import sys
import time
from pathlib import Path

import httpx
import pytest
from botocore.exceptions import ClientError

from shipyard import cli
from shipyard.metastore import open_metastore
from shipyard.usage import store

sys.path.insert(0, str(Path(__file__).parent.parent / "training"))
sys.path.insert(0, str(Path(__file__).parent.parent / "hosting"))

from feature_helpers import deploy, make_model, variant  # noqa: E402
from hosting_helpers import wait_in_service, wait_until  # noqa: E402
from training_helpers import script_job, unique, wait_status  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

BUCKET = "usage-tests"
TAGS = [{"Key": "team", "Value": "vision"}]
NAPPING = """
    import os, time
    time.sleep(float(os.environ.get("NAP", "5")))
    open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write("done")
"""


def intervals_of(server, resource_name: str):
    meta = open_metastore(f"sqlite:///{server.home / 'shipyard.db'}")
    try:
        return sorted((iv for iv in store.intervals(meta) if iv.resource_name == resource_name),
                      key=lambda iv: iv.start)
    finally:
        meta.close()


def usage_csv(server, capsys, *args: str) -> dict[str, dict]:
    assert cli.main(["usage", "--home", str(server.home), "--csv", *args]) == 0
    return {r[next(iter(r))]: r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}


def test_training_job_metered_through_a_server_crash_then_a_budget_refuses_more(server_factory, capsys):
    server = server_factory()
    sm, s3 = server.client("sagemaker"), server.client("s3")
    name = unique("metered")
    params = script_job(s3, BUCKET, name, NAPPING)
    params.update(Environment={"NAP": "6"}, Tags=TAGS)
    params["ResourceConfig"]["InstanceCount"] = 1
    sm.create_training_job(**params)
    [opened] = wait_until(lambda: [iv for iv in intervals_of(server, name) if iv.is_open], 30, 0.2,
                          "the job's usage interval to open")
    server.kill9()  # mid-job: the job keeps running while no server watches
    killed_at = time.time()
    server.start()
    sm = server.client("sagemaker")
    desc = wait_status(sm, name, timeout=90)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    [closed] = wait_until(lambda: [iv for iv in intervals_of(server, name) if not iv.is_open] or None, 30, 0.2,
                          "the job's usage interval to close")
    assert len(intervals_of(server, name)) == 1  # one continuous interval, not one per server process
    assert closed.name == opened.name and closed.last_seen > killed_at
    start, end = desc["TrainingStartTime"].timestamp(), desc["TrainingEndTime"].timestamp()
    assert closed.start == pytest.approx(start, abs=0.01) and closed.end == pytest.approx(end, abs=0.01)
    assert closed.instance_seconds() == pytest.approx(end - start, abs=0.02) and end - start >= 5.5
    assert (closed.instance_type, closed.count, closed.tags) == ("ml.m5.large", 1, {"team": "vision"})

    rows = usage_csv(server, capsys, "--since", "1h", "--by", "job")
    row = rows[f"TrainingJob/{name}"]
    assert float(row["instance_seconds"]) == pytest.approx(end - start, abs=0.01)
    assert float(row["cost_usd"]) == pytest.approx(0.115 * (end - start) / 3600, rel=1e-3)

    cw = server.client("cloudwatch")
    dims = [{"Name": "Service", "Value": "SageMaker"}, {"Name": "Type", "Value": "Resource"},
            {"Name": "Resource", "Value": "TrainingJob"}, {"Name": "Class", "Value": "ml.m5.large"}]
    stats = cw.get_metric_statistics(Namespace="AWS/Usage", MetricName="InstanceSeconds", Dimensions=dims,
                                     StartTime=start - 120, EndTime=time.time() + 60, Period=60,
                                     Statistics=["Sum"])
    assert sum(p["Sum"] for p in stats["Datapoints"]) == pytest.approx(end - start, abs=0.02)
    listed = cw.list_metrics(Namespace="AWS/Usage")["Metrics"]
    assert {"Namespace": "AWS/Usage", "MetricName": "InstanceSeconds", "Dimensions": dims} in listed

    key, secret = server.keys()
    with httpx.Client(base_url=server.url, timeout=30, headers={"accept": "text/html"}) as web:
        assert web.post("/studio/signin", data={"access_key_id": key, "secret_access_key": secret}).status_code == 303
        page = web.get("/studio/usage", params={"since": "1h", "by": "tag:team"})
        assert page.status_code == 200
        row_html = re.search(r'<tr data-key="team=vision">(.*?)</tr>', page.text, re.S)
        assert row_html and f"{0.115 * (end - start) / 3600:.4f}" in row_html.group(1)
        assert 'href="/studio/usage" class="here"' in page.text

    # a budget for the tag, already spent: the next job with that tag is refused, others are not
    assert cli.main(["usage", "budget", "set", "--home", str(server.home), "--tag", "team=vision",
                     "--limit-usd", "0.0001"]) == 0
    again = script_job(s3, BUCKET, unique("refused"), NAPPING)
    again["Tags"] = TAGS
    with pytest.raises(ClientError) as e:
        sm.create_training_job(**again)
    err = e.value.response["Error"]
    assert err["Code"] == "ResourceLimitExceeded"
    assert re.search(r"'team=vision' .*\$0\.\d{4} spent this month \(UTC\) of a \$0\.0001 limit", err["Message"])
    other = script_job(s3, BUCKET, unique("allowed"), NAPPING)
    other.update(Environment={"NAP": "0"}, Tags=[{"Key": "team", "Value": "nlp"}])
    sm.create_training_job(**other)  # another team's work goes ahead
    with httpx.Client(base_url=server.url, timeout=30, headers={"accept": "text/html"}) as web:
        web.post("/studio/signin", data={"access_key_id": key, "secret_access_key": secret})
        budgets_html = web.get("/studio/usage").text
        assert re.search(r'<tr data-name="team=vision">.*?Exceeded', budgets_html, re.S)
    assert cli.main(["usage", "budget", "delete", "--home", str(server.home), "team=vision"]) == 0
    again["TrainingJobName"] = unique("allowed-again")
    sm.create_training_job(**again)
    wait_status(sm, other["TrainingJobName"], timeout=90)


def test_endpoint_scaled_up_and_down_is_metered_in_three_segments(server_factory, capsys):
    server = server_factory()
    sm = server.client("sagemaker")
    make_model(server, "usage-model", 2.0)
    name = "metered-ep"
    deploy(server, name, [variant("A", "usage-model", count=1)])

    def segment(count: int):
        return next((iv for iv in intervals_of(server, name) if iv.is_open and iv.count == count), None)

    def scaled(count: int, segments: int) -> None:
        sm.update_endpoint_weights_and_capacities(EndpointName=name, DesiredWeightsAndCapacities=[
            {"VariantName": "A", "DesiredInstanceCount": count}])
        wait_in_service(sm, name)
        wait_until(lambda: len(intervals_of(server, name)) == segments and segment(count), 30, 0.2,
                   f"a {count}-instance segment")
        time.sleep(1.0)

    wait_until(lambda: segment(1), 30, 0.2, "a 1-instance segment")
    time.sleep(1.0)
    scaled(3, 2)
    scaled(1, 3)
    sm.delete_endpoint(EndpointName=name)
    sm.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    segments = wait_until(lambda: (lambda ivs: ivs if ivs and not any(i.is_open for i in ivs) else None)(
        intervals_of(server, name)), 30, 0.2, "every segment to close")
    assert [(iv.part, iv.instance_type, iv.count) for iv in segments] == [
        ("A", "ml.m5.large", 1), ("A", "ml.m5.large", 3), ("A", "ml.m5.large", 1)]
    for before, after in zip(segments, segments[1:]):
        assert before.end == after.start  # contiguous: no gap, no overlap
    assert all(iv.end > iv.start for iv in segments)
    expected = sum((iv.end - iv.start) * iv.count for iv in segments)
    row = usage_csv(server, capsys, "--since", "1h", "--by", "endpoint")[name]
    assert float(row["instance_seconds"]) == pytest.approx(expected, abs=0.01)

    # CreateEndpoint checks budgets too
    assert cli.main(["usage", "budget", "set", "--home", str(server.home), "--tag", "team", "--limit-usd", "0",
                     "--name", "frozen"]) == 0
    with pytest.raises(ClientError) as e:
        sm.create_endpoint(EndpointName="refused-ep", EndpointConfigName=name, Tags=[{"Key": "team", "Value": "x"}])
    assert e.value.response["Error"]["Code"] == "ResourceLimitExceeded" and "frozen" in e.value.response["Error"][
        "Message"]
    with pytest.raises(ClientError) as e:  # and CreateTransformJob
        sm.create_transform_job(
            TransformJobName="refused-transform", ModelName="usage-model", Tags=[{"Key": "team", "Value": "y"}],
            TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                            "S3Uri": "s3://feature-tests/usage-model"}}},
            TransformOutput={"S3OutputPath": "s3://feature-tests/out"},
            TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1})
    assert e.value.response["Error"]["Code"] == "ResourceLimitExceeded"


def test_usage_by_user_names_who_created_each_job(server_factory, capsys):
    """A job created with a person's key is counted to that person, one created with the server's key to
    ``root``; the creator is kept out of DescribeTrainingJob (it is not a SageMaker field)."""
    import boto3

    from shipyard.domain.users import Users

    server = server_factory()
    ana = Users(server.home).add("ana")
    as_ana = boto3.client("sagemaker", endpoint_url=server.url, region_name=server.region,
                          aws_access_key_id=ana.access_key_id, aws_secret_access_key=ana.secret_access_key)
    sm, s3 = server.client("sagemaker"), server.client("s3")
    jobs = {"ana": unique("by-ana"), "root": unique("by-root")}
    for who, client in (("ana", as_ana), ("root", sm)):
        params = script_job(s3, BUCKET, jobs[who], NAPPING)
        params["Environment"] = {"NAP": "0.5"}
        client.create_training_job(**params)
    raw: list[bytes] = []
    sm.meta.events.register("after-call.sagemaker.DescribeTrainingJob",
                            lambda http_response, **_: raw.append(http_response.content))
    for name in jobs.values():
        assert wait_status(sm, name, timeout=90)["TrainingJobStatus"] == "Completed"
        wait_until(lambda n=name: [iv for iv in intervals_of(server, n) if not iv.is_open] or None, 30, 0.2,
                   "the job's usage interval to close")
    assert raw and not any(b"_user" in body for body in raw)
    rows = usage_csv(server, capsys, "--since", "1h", "--by", "user")
    assert {"ana", "root"} <= set(rows)
    for who, name in jobs.items():
        [iv] = intervals_of(server, name)
        assert iv.user == who
