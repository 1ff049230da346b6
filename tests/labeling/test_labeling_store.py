"""Labeling jobs over a real store without a server: the controller driven by hand, time moved by patching the
clock the resource layer reads. Leases (TaskTimeLimitInSeconds), one answer per worker, availability lifetime,
stopping conditions, StopLabelingJob, restart-safe task creation, box consolidation into the output manifest."""

from __future__ import annotations

import json

import pytest

from shipyard.config import load_settings
from shipyard.context import build_services
from shipyard.controllers.labeling import LabelingController
from shipyard.domain.users import Users
from shipyard.errors import AuthError, ValidationError
from shipyard.resources import labeling_job as lj
from shipyard.resources import workteam as wt

from labeling_helpers import TEMPLATES, job_params, label_config, team_params

BUCKET = "lab"


class Clock:
    """time.time for the resource layer, moved by the test."""

    def __init__(self, start: float):
        self.now = start

    def time(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
def env(request, tmp_path, monkeypatch):
    overrides = {}
    if request.param == "postgresql":
        overrides["database_url"] = request.getfixturevalue("pg_url")
    services = build_services(load_settings(home=tmp_path / "home", **overrides), start_controllers=False)
    users = Users(tmp_path / "home")
    for name in ("alice", "bob", "carol"):
        users.add(name)
    services.objects.create_bucket(BUCKET)
    services.objects.put_object(BUCKET, "labels.json", label_config())
    for task, body in TEMPLATES.items():
        services.objects.put_object(BUCKET, f"{task}.liquid.html", body.encode())
    clock = Clock(1_800_000_000.0)
    import time as real_time
    monkeypatch.setattr(lj.time, "time", clock.time)
    import uuid
    team = wt.create_workteam(services, team_params(f"team-{uuid.uuid4().hex[:8]}", "alice,bob"))["WorkteamArn"]
    try:
        yield services, LabelingController(services), clock, team, uuid.uuid4().hex[:6]
    finally:
        monkeypatch.setattr(lj.time, "time", real_time.time)
        services.meta.close()


def _job(services, name: str, team: str, n_objects: int, **kw) -> None:
    lines = "\n".join(json.dumps({"source-ref": f"s3://{BUCKET}/img/{i}.png", "id": i}) for i in range(n_objects))
    services.objects.put_object(BUCKET, f"{name}/input.manifest", lines.encode())
    lj.create(services, job_params(name, BUCKET, team, **kw))


def _status(services, name):
    return services.meta.get(lj.KIND, name).status


def test_lease_lapses_after_the_time_limit_and_each_worker_answers_once(env):
    services, ctl, clock, team, tag = env
    name = f"lease-{tag}"
    _job(services, name, team, 1, workers=2, time_limit=30)
    ctl.reconcile_all()
    assert _status(services, name) == "InProgress"
    a = lj.take(services, "alice", name)
    assert a is not None and a["index"] == 0
    assert lj.take(services, "alice", name)["task"] == a["task"]  # her own lease is resumed, not a second one
    b = lj.take(services, "bob", name)
    assert b["task"] == a["task"]  # two places per object
    clock.now += 31  # alice's and bob's time limits pass
    with pytest.raises(ValidationError, match="time limit"):
        lj.submit(services, "alice", a["task"], {"label": "cat"})
    assert lj.take(services, "bob", name)["task"] == a["task"]  # back in the queue: bob takes it again
    lj.submit(services, "bob", a["task"], {"label": "cat"})
    assert lj.take(services, "bob", name) is None  # he answered it: not his again
    with pytest.raises(AuthError) as info:
        lj.take(services, "carol", name)  # not in the team
    assert info.value.http_status == 403 and info.value.code == "AccessDeniedException"
    assert lj.take(services, "alice", name)["task"] == a["task"]
    with pytest.raises(ValidationError, match="not one of the job's labels"):
        lj.submit(services, "alice", a["task"], {"label": "horse"})
    lj.submit(services, "alice", a["task"], {"label": "dog"})
    ctl.reconcile_all()
    desc = lj.describe(services.meta.get(lj.KIND, name))
    assert desc["LabelingJobStatus"] == "Completed"
    assert desc["LabelCounters"] == {"TotalLabeled": 1, "HumanLabeled": 1, "MachineLabeled": 0,
                                     "FailedNonRetryableError": 0, "Unlabeled": 0}
    out = services.objects.get_bytes(BUCKET, f"output/{name}/manifests/output/output.manifest").decode()
    line = json.loads(out)
    assert line["animal"] == 0 and line["animal-metadata"]["confidence"] == 0.5  # a tie: the first label
    responses = list(services.objects.iter_keys(BUCKET, f"output/{name}/annotations/worker-response/iteration-1/0/"))
    assert len(responses) == 2


def test_boxes_consolidate_and_restart_creates_no_duplicate_tasks(env):
    services, ctl, clock, team, tag = env
    name = f"boxes-{tag}"
    _job(services, name, team, 2, task="BoundingBox", workers=2)
    ctl.reconcile_all()
    ctl.reconcile_all()  # idempotent
    LabelingController(services).reconcile_all()  # a new controller (a restart) resumes
    assert len(list(lj.tasks_of(services, name))) == 2
    props = {"width": 64, "height": 48}
    for user, shift in (("alice", 0), ("bob", 2)):
        for _ in range(2):
            view = lj.take(services, user, name)
            lj.submit(services, user, view["task"], {"inputImageProperties": props, "boundingBoxes": [
                {"label": "dog", "left": 10 + shift, "top": 10, "width": 20, "height": 20}]})
    ctl.reconcile_all()
    lines = [json.loads(x) for x in services.objects.get_bytes(
        BUCKET, f"output/{name}/manifests/output/output.manifest").decode().splitlines()]
    assert [x["id"] for x in lines] == [0, 1]
    assert lines[0]["animal"] == {"image_size": [{"width": 64, "height": 48, "depth": 3}],
                                  "annotations": [{"class_id": 1, "left": 11, "top": 10, "width": 20, "height": 20}]}
    meta = lines[0]["animal-metadata"]
    assert meta["type"] == "groundtruth/object-detection" and meta["class-map"] == {"1": "dog"}
    assert 0.8 < meta["objects"][0]["confidence"] < 1.0


def test_stopping_condition_and_stop_and_lifetime(env):
    services, ctl, clock, team, tag = env
    capped = f"capped-{tag}"
    _job(services, capped, team, 3, workers=1, StoppingConditions={"MaxHumanLabeledObjectCount": 1})
    ctl.reconcile_all()
    view = lj.take(services, "alice", capped)
    lj.submit(services, "alice", view["task"], {"label": "bird"})
    ctl.reconcile_all()
    desc = lj.describe(services.meta.get(lj.KIND, capped))
    assert desc["LabelingJobStatus"] == "Stopped"
    assert desc["LabelCounters"]["TotalLabeled"] == 1 and desc["LabelCounters"]["Unlabeled"] == 2
    out = services.objects.get_bytes(BUCKET, f"output/{capped}/manifests/output/output.manifest").decode()
    assert len(out.splitlines()) == 1

    stopped = f"stopped-{tag}"
    _job(services, stopped, team, 2, workers=1)
    ctl.reconcile_all()
    lj.stop(services, stopped)
    ctl.reconcile_all()
    assert _status(services, stopped) == "Stopped"
    with pytest.raises(AuthError):  # no task of a stopped job is handed out
        lj.take(services, "alice", stopped)

    short = f"short-{tag}"
    _job(services, short, team, 2, workers=1, time_limit=60)
    services.meta.update(lj.KIND, short, {"HumanTaskConfig": {
        **services.meta.get(lj.KIND, short).doc["HumanTaskConfig"], "TaskAvailabilityLifetimeInSeconds": 60}})
    ctl.reconcile_all()
    view = lj.take(services, "bob", short)
    lj.submit(services, "bob", view["task"], {"label": "cat"})
    import shipyard.controllers.labeling as ctl_mod
    real = ctl_mod.time.time
    try:
        ctl_mod.time.time = lambda: real() + 120  # the lifetime passes
        ctl.reconcile_all()
    finally:
        ctl_mod.time.time = real
    desc = lj.describe(services.meta.get(lj.KIND, short))
    assert desc["LabelingJobStatus"] == "Completed"
    assert desc["LabelCounters"]["TotalLabeled"] == 1 and desc["LabelCounters"]["Unlabeled"] == 1
