"""The meter against a real metadata store (SQLite and PostgreSQL): intervals open, extend, split and close
as resources run, scale and stop, and a new meter (a restarted server) continues where the last one stopped.

Resources are written to the store as the controllers write them (the documents' own fields), and the meter's
clock is passed in, so every edge is checked exactly."""

from __future__ import annotations

from shipyard.usage import store
from shipyard.usage.intervals import Interval
from shipyard.usage.meter import Meter

ARN = "arn:aws:sagemaker:us-east-1:123456789012:"


def intervals(meta) -> list[Interval]:
    return sorted(store.intervals(meta), key=lambda i: (i.resource_name, i.start))


def training_job(meta, name, start=None, count=2, tags=None, parent="", status="InProgress", end=None, groups=None):
    doc = {"TrainingJobName": name, "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": count,
                                                       "VolumeSizeInGB": 5}}
    if groups:
        doc["ResourceConfig"] = {"InstanceGroups": groups, "VolumeSizeInGB": 5}
    if start is not None:
        doc["TrainingStartTime"] = start
    if end is not None:
        doc["TrainingEndTime"] = end
    if tags:
        doc["_tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    meta.create("training-job", name, f"{ARN}training-job/{name}", status, doc, parent=parent)


def endpoint(meta, name, count, tags=None):
    doc = {"EndpointName": name, "_spec": {"variants": [{"name": "a", "instance_type": "ml.c5.xlarge", "count": 1}]},
           "ProductionVariants": [{"VariantName": "a", "CurrentInstanceCount": count}]}
    if tags:
        doc["_tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    if meta.find("endpoint", name) is None:
        meta.create("endpoint", name, f"{ARN}endpoint/{name}", "InService", doc)
    else:
        meta.update("endpoint", name, {"ProductionVariants": doc["ProductionVariants"]})


def test_a_job_is_metered_from_its_own_start_to_its_own_end(meta):
    m = Meter(meta)
    training_job(meta, "j", start=None)
    m.pass_once(100.0)
    assert intervals(meta) == []  # no start time yet: its instances are not up
    meta.update("training-job", "j", {"TrainingStartTime": 103.0})
    m.pass_once(105.0)
    [iv] = intervals(meta)
    assert (iv.is_open, iv.start, iv.count, iv.instance_type, iv.resource_kind) == (True, 103.0, 2, "ml.m5.large",
                                                                                   "TrainingJob")
    m.pass_once(110.0)
    assert intervals(meta)[0].last_seen == 110.0
    meta.update("training-job", "j", {"TrainingEndTime": 153.0}, status="Completed")
    m.pass_once(160.0)
    [iv] = intervals(meta)
    assert (iv.is_open, iv.start, iv.end, iv.instance_seconds()) == (False, 103.0, 153.0, 100.0)
    m.pass_once(170.0)
    assert len(intervals(meta)) == 1  # idempotent


def test_a_restarted_meter_continues_an_open_interval_and_closes_it_at_the_jobs_end(meta):
    training_job(meta, "j", start=50.0, count=1)
    Meter(meta).pass_once(60.0)
    # the server dies; the job keeps running, then ends while nobody watches
    meta.update("training-job", "j", {"TrainingEndTime": 400.0}, status="Completed")
    Meter(meta).pass_once(900.0)
    [iv] = intervals(meta)
    assert (iv.start, iv.end, iv.instance_seconds()) == (50.0, 400.0, 350.0)


def test_a_restarted_meter_keeps_one_interval_for_a_job_still_running(meta):
    training_job(meta, "j", start=50.0, count=1)
    Meter(meta).pass_once(60.0)
    Meter(meta).pass_once(500.0)  # a new process: same interval, extended
    [iv] = intervals(meta)
    assert (iv.is_open, iv.start, iv.last_seen) == (True, 50.0, 500.0)


def test_a_job_shorter_than_a_tick_is_recorded_from_its_own_times(meta):
    m = Meter(meta)
    m.pass_once(10.0)
    training_job(meta, "quick", start=11.0, end=12.5, status="Completed", count=4)
    m.pass_once(13.0)
    [iv] = intervals(meta)
    assert (iv.start, iv.end, iv.instance_seconds()) == (11.0, 12.5, 6.0)


def test_instance_groups_are_metered_each_with_its_type(meta):
    training_job(meta, "hetero", start=0.0, groups=[
        {"InstanceGroupName": "cpu", "InstanceType": "ml.c5.xlarge", "InstanceCount": 2},
        {"InstanceGroupName": "gpu", "InstanceType": "ml.g5.xlarge", "InstanceCount": 1}])
    Meter(meta).pass_once(5.0)
    assert sorted((i.part, i.instance_type, i.count) for i in intervals(meta)) == [
        ("cpu", "ml.c5.xlarge", 2), ("gpu", "ml.g5.xlarge", 1)]


def test_an_endpoint_scaled_up_and_down_shows_three_segments(meta):
    m = Meter(meta)
    endpoint(meta, "ep", 1, tags={"team": "vision"})
    m.pass_once(10.0)
    m.pass_once(15.0)
    endpoint(meta, "ep", 3)
    m.pass_once(20.0)
    endpoint(meta, "ep", 1)
    m.pass_once(30.0)
    meta.delete("endpoint", "ep")
    m.pass_once(32.0)
    segments = [(i.start, i.end, i.count) for i in intervals(meta)]
    assert segments == [(10.0, 20.0, 1), (20.0, 30.0, 3), (30.0, 32.0, 1)]
    assert sum(i.instance_seconds() for i in intervals(meta)) == 10 + 30 + 2
    assert all(i.tags == {"team": "vision"} and i.part == "a" for i in intervals(meta))


def test_an_endpoint_gone_while_the_server_was_down_closes_at_its_last_sighting(meta):
    endpoint(meta, "ep", 2)
    Meter(meta).pass_once(10.0)
    Meter(meta).pass_once(30.0)
    meta.delete("endpoint", "ep")
    Meter(meta, stale=15.0).pass_once(1000.0)
    [iv] = intervals(meta)
    assert (iv.start, iv.end, iv.instance_seconds()) == (10.0, 30.0, 40.0)


def test_a_tuning_jobs_training_jobs_carry_its_tags(meta):
    meta.create("hyper-parameter-tuning-job", "tune", f"{ARN}hyper-parameter-tuning-job/tune", "InProgress",
                {"_tags": [{"Key": "team", "Value": "nlp"}]})
    training_job(meta, "tune-001", start=1.0, parent=f"{ARN}hyper-parameter-tuning-job/tune",
                 tags={"run": "a"})
    Meter(meta).pass_once(2.0)
    assert intervals(meta)[0].tags == {"team": "nlp", "run": "a"}


def test_a_notebook_in_service_is_metered_until_stopped(meta):
    meta.create("notebook-instance", "nb", f"{ARN}notebook-instance/nb", "InService",
                {"InstanceType": "ml.t3.medium"})
    m = Meter(meta)
    m.pass_once(100.0)
    meta.update("notebook-instance", "nb", {}, status="Stopped")
    m.pass_once(102.0)
    [iv] = intervals(meta)
    assert (iv.resource_kind, iv.instance_type, iv.start, iv.end) == ("NotebookInstance", "ml.t3.medium", 100.0, 102.0)


def test_an_endpoint_with_no_instances_uses_nothing(meta):
    endpoint(meta, "empty", 0)
    Meter(meta).pass_once(1.0)
    assert intervals(meta) == []


def test_usage_metrics_are_per_minute_samples_of_the_intervals(meta):
    from shipyard.usage import metrics

    endpoint(meta, "ep", 2)
    m = Meter(meta)
    m.pass_once(6030.0)          # 01:40:30
    endpoint(meta, "ep", 1)
    m.pass_once(6090.0)          # 01:41:30: 60 s at 2 instances, then 1 instance
    dims = [{"Name": "Service", "Value": "SageMaker"}, {"Name": "Type", "Value": "Resource"},
            {"Name": "Resource", "Value": "Endpoint"}, {"Name": "Class", "Value": "ml.c5.xlarge"}]
    unit, points = metrics.points(meta, "InstanceSeconds", dims, 0.0, 7000.0, None, now=6150.0)
    # 6030-6060: 2 x 30; 6060-6090: 2 x 30; 6090-6120: 1 x 30; 6120-6150: 1 x 30
    assert unit == "Seconds" and points == [(6000.0, (1.0, 60.0, 60.0, 60.0)), (6060.0, (1.0, 90.0, 90.0, 90.0)),
                                            (6120.0, (1.0, 30.0, 30.0, 30.0))]
    _, counts = metrics.points(meta, "ResourceCount", dims, 0.0, 7000.0, None, now=6150.0)
    assert [p[1][1] for p in counts] == [1.0, 1.5, 0.5]
    _, cost = metrics.points(meta, "EstimatedCost", dims, 0.0, 7000.0, None, now=6150.0,
                             table={"ml.c5.xlarge": 3600.0})
    assert [p[1][1] for p in cost] == [60.0, 90.0, 30.0]
    assert metrics.points(meta, "InstanceSeconds", dims[:3], 0.0, 7000.0, None, now=6150.0)[1] == []
    assert metrics.points(meta, "InstanceSeconds", dims, 0.0, 7000.0, "Count", now=6150.0)[1] == []
    assert {m["MetricName"] for m in metrics.list_metrics(meta)} == {"InstanceSeconds", "ResourceCount",
                                                                     "EstimatedCost"}
