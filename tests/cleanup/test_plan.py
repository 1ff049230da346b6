"""The clean-up planner on hand-made snapshots: each rule, its boundaries, the savings and the order."""

from __future__ import annotations

import pytest

from shipyard.cleanup import plan as P
from shipyard.cleanup.collect import default_bucket_pattern, job_scoped, s3_uris

NOW = 1_000_000.0
HOUR = 3600.0
OLD = NOW - 10 * HOUR
PRICES = {"ml.m5.large": 0.115, "ml.c5.xlarge": 0.204}


def price(t: str) -> float:
    return PRICES[t]


def names(p: P.Plan, kind: str) -> list[str]:
    return [c.name for c in p.of(kind)]


def endpoint(name, invocations=0, status="InService", created=OLD, modified=OLD, configs=None,
             instances=(("ml.m5.large", 1),)):
    return P.Endpoint(name, status, tuple(configs or [name]), created, modified, invocations, tuple(instances))


def test_parse_duration():
    assert P.parse_duration("30m") == 1800 and P.parse_duration("1h") == 3600
    assert P.parse_duration("7d") == 7 * 86400 and P.parse_duration("45s") == 45
    assert P.parse_duration("1.5h") == 5400
    for bad in ("", "1", "h", "5x", "-1h", "0m", "1 hour"):
        with pytest.raises(ValueError, match="30m, 1h or 7d"):
            P.parse_duration(bad)


def test_idle_endpoint_rules_and_savings():
    snap = P.Snapshot(now=NOW, endpoints=[
        endpoint("idle", instances=(("ml.m5.large", 2), ("ml.c5.xlarge", 1))),
        endpoint("busy", invocations=3),
        endpoint("unknown", invocations=None),                      # metrics unreadable: kept
        endpoint("fresh", created=NOW - 60),                        # created inside the window
        endpoint("updated", modified=NOW - 60),                     # changed inside the window
        endpoint("failed", status="Failed"),
        endpoint("creating", status="Creating", invocations=None),
        endpoint("serverless", instances=()),
    ])
    p = P.plan(snap, HOUR, price)
    assert names(p, "endpoint") == ["idle", "serverless"]
    idle = p.of("endpoint")[0]
    assert idle.reason == "InService, no invocations in the last 1h"
    assert idle.instance_hours_per_day == 3 * 24
    assert idle.cost_per_day == pytest.approx((2 * 0.115 + 0.204) * 24)
    assert p.of("endpoint")[1].instance_hours_per_day == 0 and p.of("endpoint")[1].cost_per_day == 0
    assert p.instance_hours_per_day == 72 and p.cost_per_day == pytest.approx(idle.cost_per_day)
    # the window boundary: created exactly at the window's start is inside it
    at_edge = P.Snapshot(now=NOW, endpoints=[endpoint("edge", created=NOW - HOUR)])
    assert P.plan(at_edge, HOUR, price).candidates == []
    assert names(P.plan(at_edge, HOUR - 1, price), "endpoint") == ["edge"]


def test_deleting_an_endpoint_frees_its_config_and_model_in_order():
    snap = P.Snapshot(
        now=NOW,
        endpoints=[endpoint("idle", configs=["idle-cfg"]), endpoint("busy", invocations=5, configs=["busy-cfg"]),
                   endpoint("updating", invocations=1, status="Updating", configs=["old-cfg", "new-cfg"])],
        endpoint_configs=[P.EndpointConfig("idle-cfg", OLD, ("shared", "idle-model")),
                          P.EndpointConfig("busy-cfg", OLD, ("shared",)),
                          P.EndpointConfig("old-cfg", OLD, ("m-old",)), P.EndpointConfig("new-cfg", OLD, ("m-new",)),
                          P.EndpointConfig("orphan-cfg", OLD, ("orphan-model",)),
                          P.EndpointConfig("fresh-cfg", NOW - 5, ("fresh-cfg-model",))],
        models=[P.Model(n, OLD) for n in ("shared", "idle-model", "m-old", "m-new", "orphan-model",
                                          "fresh-cfg-model", "loose", "transforming")] + [P.Model("fresh", NOW - 5)],
        transform_jobs=[P.TransformJob("t1", "InProgress", "transforming"), P.TransformJob("t0", "Completed", "loose")],
    )
    p = P.plan(snap, HOUR, price)
    assert [(c.kind, c.name) for c in p.candidates] == [
        ("endpoint", "idle"),
        ("endpoint-config", "idle-cfg"), ("endpoint-config", "orphan-cfg"),
        ("model", "idle-model"), ("model", "loose"), ("model", "orphan-model"),
    ]
    reasons = {c.name: c.reason for c in p.candidates}
    assert reasons["idle-cfg"] == "used only by endpoint idle, deleted by this plan"
    assert reasons["orphan-cfg"] == "no endpoint uses it"
    assert reasons["idle-model"] == "used only by endpoint config idle-cfg, deleted by this plan"
    assert reasons["loose"] == "no endpoint config or running transform job uses it"


def test_stopped_notebooks():
    snap = P.Snapshot(now=NOW, notebooks=[
        P.Notebook("stopped", "Stopped", "ml.t3.medium", NOW - 3 * 86400),
        P.Notebook("just-stopped", "Stopped", "ml.t3.medium", NOW - 60),
        P.Notebook("running", "InService", "ml.t3.medium", OLD),
        P.Notebook("failed", "Failed", "ml.t3.medium", OLD)])
    p = P.plan(snap, HOUR, price)
    assert names(p, "notebook-instance") == ["stopped"]
    assert p.of("notebook-instance")[0].reason == "Stopped since 1970-01-09 13:46 UTC"  # NOW - 3 days


BUCKET = "sagemaker-us-east-1-123456789012"


def obj(key, size=10, modified=OLD, bucket=BUCKET):
    return P.S3Object(bucket, key, size, modified)


def test_orphaned_prefixes_only_of_gone_jobs():
    snap = P.Snapshot(
        now=NOW,
        objects=[
            obj("gone-job/source/sourcedir.tar.gz", 100), obj("gone-job/output/model.tar.gz", 900),
            obj("gone-proc/input/code/run.py", 5), obj("gone-proc/output/report/out.json", 7),
            obj("gone-transform/data.csv.out", 3),
            obj("live-job/source/sourcedir.tar.gz"),           # the job exists
            obj("Live-Model/output/model.tar.gz"),             # a model of that name (names ignore case)
            obj("used-artifact/output/model.tar.gz"),          # a live model's ModelDataUrl points inside
            obj("whole/output/x"),                              # a live pipeline reads s3://bucket/whole
            obj("mixed/output/model.tar.gz"), obj("mixed/notes.txt"),   # not only job artifacts
            obj("data/train.csv"),                              # session.upload_data's default prefix
            obj("recent/source/sourcedir.tar.gz", modified=NOW - 10),  # the SDK uploads before CreateTrainingJob
            obj("readme.txt"),                                  # a top-level object
            obj("bad_name!/output/x"),                          # not a job name
            obj("other-bucket-job/output/x", bucket="my-bucket"),  # never touched: not a default bucket
        ],
        default_buckets=frozenset({BUCKET}),
        owner_names=frozenset({"live-job", "live-model"}),
        referenced_uris=frozenset({f"s3://{BUCKET}/used-artifact/output/model.tar.gz", f"s3://{BUCKET}/whole"}),
    )
    p = P.plan(snap, HOUR, price)
    assert names(p, "s3-prefix") == [f"s3://{BUCKET}/gone-job/", f"s3://{BUCKET}/gone-proc/",
                                     f"s3://{BUCKET}/gone-transform/"]
    gone = p.of("s3-prefix")[0]
    assert gone.keys == ("gone-job/output/model.tar.gz", "gone-job/source/sourcedir.tar.gz")
    assert gone.bytes == 1000 and gone.bucket == BUCKET
    assert gone.reason == "2 object(s) of job gone-job, which the server no longer knows"
    # a whole bucket named as an input protects everything in it
    covered = P.Snapshot(now=NOW, objects=snap.objects, referenced_uris=frozenset({f"s3://{BUCKET}/"}),
                         default_buckets=snap.default_buckets)
    assert P.plan(covered, HOUR, price).of("s3-prefix") == []
    # when some resource kind could not be listed, no prefix is a candidate
    incomplete = P.Snapshot(now=NOW, objects=snap.objects, s3_complete=False, default_buckets=snap.default_buckets)
    assert P.plan(incomplete, HOUR, price).of("s3-prefix") == []


def test_expired_log_streams():
    day = 86400.0
    snap = P.Snapshot(
        now=NOW,
        log_retention={"/aws/sagemaker/TrainingJobs": 1, "/aws/sagemaker/Endpoints/x": None},
        log_streams=[P.LogStream("/aws/sagemaker/TrainingJobs", "old/algo-1", NOW - 2 * day, 50),
                     P.LogStream("/aws/sagemaker/TrainingJobs", "new/algo-1", NOW - 0.5 * day, 70),
                     P.LogStream("/aws/sagemaker/Endpoints/x", "AllTraffic/i-1", NOW - 40 * day, 90)])
    p = P.plan(snap, HOUR, price)
    assert names(p, "log-stream") == ["/aws/sagemaker/TrainingJobs:old/algo-1"]
    c = p.of("log-stream")[0]
    assert (c.group, c.stream, c.bytes) == ("/aws/sagemaker/TrainingJobs", "old/algo-1", 50)
    assert c.reason == "last event 2d ago, past the group's retention of 1d"
    with_default = P.plan(snap, HOUR, price, log_retention_days=30)
    assert names(with_default, "log-stream") == ["/aws/sagemaker/Endpoints/x:AllTraffic/i-1",
                                                 "/aws/sagemaker/TrainingJobs:old/algo-1"]
    assert with_default.of("log-stream")[0].reason == "last event 40d ago, past --log-retention of 30d"


def test_table_rows_and_total_line():
    snap = P.Snapshot(now=NOW, endpoints=[endpoint("idle")], objects=[obj("gone/output/m", 2048)],
                      default_buckets=frozenset({BUCKET}))
    p = P.plan(snap, HOUR, price)
    assert P.rows(p) == [
        ["endpoint", "idle", "InService, no invocations in the last 1h", "24", "2.76", "-"],
        ["s3-prefix", f"s3://{BUCKET}/gone/", "1 object(s) of job gone, which the server no longer knows", "-", "-",
         "2.0 KiB"]]
    assert P.total_line(p) == ("total: 2 to delete; saves 24 instance-hours/day ($2.76/day) and 2.0 KiB of "
                               "storage")
    assert P.total_line(P.plan(P.Snapshot(now=NOW), HOUR, price)) == "nothing to clean up"


def test_s3_uris_found_anywhere_in_a_description():
    desc = {"HyperParameters": {"sagemaker_submit_directory": '"s3://b/job/source/sourcedir.tar.gz"'},
            "Environment": {"X": "s3://b/env/"},
            "PipelineDefinition": '{"Steps": [{"Arguments": {"S3Uri": "s3://b/pipe/code.py"}}]}',
            "Inputs": [{"S3Uri": "s3://b/in"}], "Other": 3, "Name": "no uri"}
    assert s3_uris(desc) == {"s3://b/job/source/sourcedir.tar.gz", "s3://b/env/", "s3://b/pipe/code.py",
                             "s3://b/in"}


def test_a_jobs_output_path_protects_only_its_own_folder():
    """The SDK's default output path is the bucket's root; SageMaker writes below it, in <path>/<job>/."""
    desc = {"TrainingJobName": "live", "OutputDataConfig": {"S3OutputPath": "s3://b/"},
            "ProfilerConfig": {"S3OutputPath": "s3://b"}, "CheckpointConfig": {"S3Uri": "s3://b/ckpt/live"}}
    assert s3_uris(job_scoped(desc)) == {"s3://b/live/", "s3://b/ckpt/live"}
    tuning = {"HyperParameterTuningJobName": "hpo",
              "TrainingJobDefinition": {"OutputDataConfig": {"S3OutputPath": "s3://b/"},
                                        "StaticHyperParameters": {"sagemaker_submit_directory": '"s3://b/hpo/src.tgz"'}}}
    assert s3_uris(job_scoped(tuning)) == {"s3://b/hpo/src.tgz"}
    processing = {"ProcessingOutputConfig": {"Outputs": [{"S3Output": {"S3Uri": "s3://b/"}}]}}
    assert s3_uris(job_scoped(processing)) == {"s3://b/"}  # written at that very path: kept whole


def test_default_buckets():
    pattern = default_bucket_pattern("123456789012")
    assert all(pattern.match(b) for b in ("sagemaker-us-east-1-123456789012", "sagemaker-eu-central-1-123456789012",
                                           "shipyard-default-123456789012", "sagemaker-shipyard"))
    assert not any(pattern.match(b) for b in ("sagemaker-us-east-1-999999999999", "my-data", "sagemaker-shipyard-x",
                                               "shipyard-default-999999999999", "sagemaker-123456789012"))
