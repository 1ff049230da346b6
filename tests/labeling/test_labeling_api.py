"""Labeling jobs through boto3 and the worker portal over HTTP, against a real server: bad input refused with
AWS's codes and the field named; two workers label a job end to end (a user outside the team gets 403), the
answers are consolidated into AWS's output layout, and a training job reads the output manifest in Pipe mode
with AugmentedManifestFile + AttributeNames."""

from __future__ import annotations

import contextlib
import json
import re
import textwrap
import time
from dataclasses import dataclass
from typing import Iterator

import httpx
import pytest
from botocore.exceptions import ClientError

from shipyard.domain.users import User, Users
from shipyard.testing.archives import tarball, untar
from shipyard.testing.server import ShipyardProcess

from labeling_helpers import LABELS, ROLE, TEMPLATES, job_params, label_config, png, team_params

pytestmark = pytest.mark.integration
BUCKET = "labeling-api"
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


@dataclass
class Lab:
    """The module's server, its workers' key pairs and the team alice and bob are in."""

    server: ShipyardProcess
    keys: dict[str, User]
    team_arn: str

    def client(self, service: str):
        return self.server.client(service)


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    proc = ShipyardProcess(tmp_path_factory.mktemp("labeling-home"))
    proc.start()
    try:
        users = Users(proc.home)
        keys = {name: users.add(name, role="viewer" if name == "bob" else "admin") for name in ("alice", "bob",
                                                                                               "carol")}
        s3 = proc.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="labels.json", Body=label_config())
        for task, body in TEMPLATES.items():
            s3.put_object(Bucket=BUCKET, Key=f"{task}.liquid.html", Body=body.encode())
        for i in range(3):
            s3.put_object(Bucket=BUCKET, Key=f"img/{i}.png", Body=png(16 + i, 12))
        team = proc.client("sagemaker").create_workteam(**team_params("animals", "alice,bob"))["WorkteamArn"]
        yield Lab(proc, keys, team)
    finally:
        proc.stop(kill_children=True)


@contextlib.contextmanager
def worker(lab: Lab, name: str) -> Iterator[httpx.Client]:
    """An HTTP client with a console session of this worker."""
    user = lab.keys[name]
    with httpx.Client(base_url=lab.server.url, timeout=30, headers={"accept": "text/html"}) as web:
        r = web.post("/studio/signin", data={"access_key_id": user.access_key_id,
                                             "secret_access_key": user.secret_access_key})
        assert r.status_code == 303, r.text
        yield web


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def _task_data(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="task-data">(.*?)</script>', html, re.S)
    assert found, html[:500]
    return json.loads(found.group(1))


def _error(call) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


def _put_manifest(s3, name: str, body: bytes) -> None:
    s3.put_object(Bucket=BUCKET, Key=f"{name}/input.manifest", Body=body)


def test_bad_input_is_refused_naming_the_field(lab_server):
    sm, s3 = lab_server.client("sagemaker"), lab_server.client("s3")
    code, message = _error(lambda: sm.create_workteam(**team_params("nobody-team", "dave,erin")))
    assert code == "ValidationException" and "MemberDefinitions" in message and "no members" in message
    team = lab_server.team_arn

    _put_manifest(s3, "bad-manifest", b'{"source-ref": "s3://labeling-api/img/0.png"}\nthis is not json\n')
    code, message = _error(lambda: sm.create_labeling_job(**job_params("bad-manifest", BUCKET, team)))
    assert code == "ValidationException"
    assert "InputConfig.DataSource.S3DataSource.ManifestS3Uri" in message and "line 2" in message

    code, message = _error(lambda: sm.create_labeling_job(**job_params("never-uploaded", BUCKET, team)))
    assert code == "ValidationException" and "ManifestS3Uri" in message and "NoSuchKey" in message

    _put_manifest(s3, "bad-template", b'{"source-ref": "s3://labeling-api/img/0.png"}\n')
    s3.put_object(Bucket=BUCKET, Key="unknown.liquid.html", Body=b"<crowd-form><crowd-keypoint name='k'>"
                                                               b"</crowd-keypoint></crowd-form>")
    params = job_params("bad-template", BUCKET, team)
    params["HumanTaskConfig"]["UiConfig"] = {"UiTemplateS3Uri": f"s3://{BUCKET}/unknown.liquid.html"}
    code, message = _error(lambda: sm.create_labeling_job(**params))
    assert code == "ValidationException" and "HumanTaskConfig.UiConfig" in message and "crowd-keypoint" in message

    code, message = _error(lambda: sm.create_human_task_ui(HumanTaskUiName="nope", UiTemplate={
        "Content": "<p>no widget</p>"}))
    assert code == "ValidationException" and "UiTemplate.Content" in message

    params = job_params("bad-template", BUCKET, team)
    params["HumanTaskConfig"]["PreHumanTaskLambdaArn"] = "arn:aws:lambda:us-east-1:123456789012:function:mine"
    code, message = _error(lambda: sm.create_labeling_job(**params))
    assert code == "ValidationException" and "HumanTaskConfig.PreHumanTaskLambdaArn" in message

    params = job_params("bad-template", BUCKET, team, task="BoundingBox")
    params["HumanTaskConfig"]["UiConfig"] = {"UiTemplateS3Uri": f"s3://{BUCKET}/ImageMultiClass.liquid.html"}
    code, message = _error(lambda: sm.create_labeling_job(**params))
    assert code == "ValidationException" and "another task type" in message

    missing = team.rsplit("/", 1)[0] + "/no-such-team"
    code, message = _error(lambda: sm.create_labeling_job(**job_params("bad-template", BUCKET, missing)))
    assert code == "ResourceNotFound" and "HumanTaskConfig.WorkteamArn" in message
    code, _ = _error(lambda: sm.describe_labeling_job(LabelingJobName="never-made"))
    assert code == "ResourceNotFound"


def _wait(sm, name: str, statuses, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    desc: dict = {}
    while time.monotonic() < deadline:
        desc = sm.describe_labeling_job(LabelingJobName=name)
        if desc["LabelingJobStatus"] in statuses:
            return desc
        time.sleep(0.2)
    raise AssertionError(f"{name} is {desc.get('LabelingJobStatus')}, not {statuses}: {desc.get('FailureReason')}")


def _label_all(server: Lab, name: str, user: str, choose) -> int:
    """The worker takes and answers tasks through the portal until none is left; returns how many."""
    done = 0
    with worker(server, user) as web:
        home = web.get("/studio/worker")
        assert home.status_code == 200 and name in home.text
        r = web.post(f"/studio/worker/jobs/{name}/next", data={"csrf_token": _csrf(home.text)})
        for _ in range(10):
            assert r.status_code == 303, r.text
            target = r.headers["location"]
            if "/worker/tasks/" not in target:
                assert "No+more" in target or "no+more" in target or "%20" in target
                return done
            page = web.get(target)
            assert page.status_code == 200, page.text
            data = _task_data(page.text)
            assert data["labels"] == LABELS and data["header"] == "Which animal is it?"
            image = web.get(target + "/object")
            assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
            r = web.post(target + "/submit", data={"csrf_token": _csrf(page.text),
                                                   "answer": json.dumps(choose(data["index"]))})
            done += 1
    raise AssertionError("the worker never ran out of tasks")


PIPE_SCRIPT = textwrap.dedent('''
    import json, os, struct
    path = os.path.join(os.environ.get("SM_INPUT_DIR", "/opt/ml/input"), "data", "train_0")
    records = []
    with open(path, "rb") as f:
        while True:
            head = f.read(8)
            if len(head) < 8:
                break
            magic, length = struct.unpack("<II", head)
            assert magic == 0xCED7230A, hex(magic)
            length &= (1 << 29) - 1
            records.append(f.read(length))
            f.read(-length % 4)
    pairs = [(len(records[i]), json.loads(records[i + 1])) for i in range(0, len(records), 2)]
    with open(os.path.join(os.environ["SM_MODEL_DIR"], "seen.json"), "w") as out:
        json.dump(pairs, out)
''')


@pytest.mark.timeout(300)
def test_two_workers_label_a_job_and_a_training_job_reads_the_output(lab_server):
    sm, s3 = lab_server.client("sagemaker"), lab_server.client("s3")
    name = "animals-e2e"
    _put_manifest(s3, name, "\n".join(json.dumps({"source-ref": f"s3://{BUCKET}/img/{i}.png", "n": i})
                                      for i in range(3)).encode())
    sm.create_labeling_job(**job_params(name, BUCKET, lab_server.team_arn, workers=2))
    desc = _wait(sm, name, ("InProgress",))
    assert desc["LabelCounters"]["Unlabeled"] == 3 and desc["JobReferenceCode"]
    listed = sm.list_labeling_jobs_for_workteam(WorkteamArn=lab_server.team_arn)["LabelingJobSummaryList"]
    assert [j["LabelingJobName"] for j in listed] == [name]
    assert listed[0]["LabelCounters"] == {"HumanLabeled": 0, "PendingHuman": 3, "Total": 3}

    with worker(lab_server, "carol") as web:  # not in the team
        r = web.get("/studio/worker")
        assert r.status_code == 403 and "AccessDeniedException" in r.text and "no work team" in r.text

    # alice: cat, dog, bird; bob (a viewer user: workers need no write access to the API) agrees on 0 and 2
    assert _label_all(lab_server, name, "alice", lambda i: {"label": LABELS[i]}) == 3
    assert _label_all(lab_server, name, "bob", lambda i: {"label": "bird" if i == 1 else LABELS[i]}) == 3
    desc = _wait(sm, name, ("Completed", "Failed"))
    assert desc["LabelingJobStatus"] == "Completed", desc.get("FailureReason")
    assert desc["LabelCounters"] == {"TotalLabeled": 3, "HumanLabeled": 3, "MachineLabeled": 0,
                                     "FailedNonRetryableError": 0, "Unlabeled": 0}
    uri = desc["LabelingJobOutput"]["OutputDatasetS3Uri"]
    assert uri == f"s3://{BUCKET}/output/{name}/manifests/output/output.manifest"
    lines = [json.loads(x) for x in s3.get_object(Bucket=BUCKET, Key=uri.split("/", 3)[3])["Body"].read().splitlines()]
    assert [x["n"] for x in lines] == [0, 1, 2]
    assert [x["animal"] for x in lines] == [0, 1, 2]  # object 1: a tie (dog, bird) goes to the first label
    meta = lines[0]["animal-metadata"]
    assert meta["class-name"] == "cat" and meta["confidence"] == 1.0 and lines[1]["animal-metadata"]["confidence"] \
        == 0.5
    assert meta["type"] == "groundtruth/image-classification" and meta["job-name"] == f"labeling-job/{name}"
    assert meta["human-annotated"] == "yes" and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}",
                                                              meta["creation-date"])
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=f"output/{name}/annotations/")["Contents"]]
    assert sum("/worker-response/iteration-1/" in k for k in keys) == 6
    consolidated = [k for k in keys if "/consolidated-annotation/consolidation-response/iteration-1/" in k]
    assert consolidated
    body = json.loads(s3.get_object(Bucket=BUCKET, Key=consolidated[0])["Body"].read())
    assert body[0]["consolidatedAnnotation"]["content"]["animal-metadata"]["job-name"] == f"labeling-job/{name}"
    response = json.loads(s3.get_object(Bucket=BUCKET, Key=next(k for k in keys if "worker-response" in k))[
        "Body"].read())
    assert response["answers"][0]["answerContent"]["crowd-image-classifier"]["label"] in LABELS

    with worker(lab_server, "alice") as web:  # her queue shows what she did
        home = web.get("/studio/worker")
        assert home.text.count("<td>#") == 3

    s3.put_object(Bucket=BUCKET, Key="code/sourcedir.tar.gz", Body=tarball({"train.py": PIPE_SCRIPT.encode()}))
    sm.create_training_job(
        TrainingJobName="reads-labels", RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": SKLEARN_IMAGE, "TrainingInputMode": "Pipe"},
        HyperParameters={"sagemaker_program": '"train.py"',
                         "sagemaker_submit_directory": f'"s3://{BUCKET}/code/sourcedir.tar.gz"'},
        InputDataConfig=[{"ChannelName": "train", "RecordWrapperType": "RecordIO", "InputMode": "Pipe",
                          "DataSource": {"S3DataSource": {"S3DataType": "AugmentedManifestFile", "S3Uri": uri,
                                                          "S3DataDistributionType": "FullyReplicated",
                                                          "AttributeNames": ["source-ref", "animal"]}}}],
        OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/training"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 180})
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        tj = sm.describe_training_job(TrainingJobName="reads-labels")
        if tj["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
            break
        time.sleep(0.5)
    assert tj["TrainingJobStatus"] == "Completed", tj.get("FailureReason")
    model = tj["ModelArtifacts"]["S3ModelArtifacts"].split("/", 3)
    seen = json.loads(untar(s3.get_object(Bucket=model[2], Key=model[3])["Body"].read())["seen.json"])
    assert seen == [[len(png(16 + i, 12)), i] for i in range(3)]


GUESSER = b'''
import json

def model_fn(model_dir):
    return "guesser"

def input_fn(body, content_type):
    return body.decode("utf-8") if isinstance(body, bytes) else body

def predict_fn(text, model):
    return {"label": "dog" if "woof" in text else "cat"}

def output_fn(prediction, accept):
    return json.dumps(prediction)
'''


@pytest.mark.timeout(300)
def test_prelabeling_with_an_endpoint_gives_the_starting_answer(lab_server):
    sm, s3 = lab_server.client("sagemaker"), lab_server.client("s3")
    s3.put_object(Bucket=BUCKET, Key="guesser/model.tar.gz", Body=tarball({"code/inference.py": GUESSER}))
    sm.create_model(ModelName="guesser", ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": SKLEARN_IMAGE, "ModelDataUrl": f"s3://{BUCKET}/guesser/model.tar.gz",
        "Environment": {"SAGEMAKER_PROGRAM": "inference.py"}})
    sm.create_endpoint_config(EndpointConfigName="guesser", ProductionVariants=[
        {"VariantName": "main", "ModelName": "guesser", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName="guesser", EndpointConfigName="guesser")
    name = "prelabeled"
    params = job_params(name, BUCKET, lab_server.team_arn, task="TextMultiClass", workers=1,
                        Tags=[{"Key": "shipyard:prelabel-endpoint", "Value": "no-such-endpoint"}])
    _put_manifest(s3, name, b'{"source": "woof woof"}\n{"source": "meow"}\n')
    code, message = _error(lambda: sm.create_labeling_job(**params))
    assert code == "ValidationException" and "Tags" in message and "no-such-endpoint" in message
    deadline = time.monotonic() + 180
    while sm.describe_endpoint(EndpointName="guesser")["EndpointStatus"] != "InService":
        assert time.monotonic() < deadline, sm.describe_endpoint(EndpointName="guesser")
        time.sleep(0.5)
    params["Tags"] = [{"Key": "shipyard:prelabel-endpoint", "Value": "guesser"}]
    sm.create_labeling_job(**params)
    _wait(sm, name, ("InProgress",))
    with worker(lab_server, "alice") as web:
        home = web.get("/studio/worker")
        r = web.post(f"/studio/worker/jobs/{name}/next", data={"csrf_token": _csrf(home.text)})
        seen = {}
        for _ in range(3):
            if "/worker/tasks/" not in r.headers["location"]:
                break
            page = web.get(r.headers["location"])
            data = _task_data(page.text)
            assert data["element"] == "crowd-classifier" and data["shape"] == "class"
            seen[data["source"]] = data["prelabel"]
            r = web.post(r.headers["location"] + "/submit", data={"csrf_token": _csrf(page.text),
                                                                  "answer": json.dumps(data["prelabel"])})
    assert seen == {"woof woof": {"label": "dog"}, "meow": {"label": "cat"}}
    desc = _wait(sm, name, ("Completed", "Failed"))
    key = desc["LabelingJobOutput"]["OutputDatasetS3Uri"].split("/", 3)[3]
    lines = [json.loads(x) for x in s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().splitlines()]
    assert [(x["source"], x["animal"], x["animal-metadata"]["type"]) for x in lines] == [
        ("woof woof", 1, "groundtruth/text-classification"), ("meow", 0, "groundtruth/text-classification")]
    sm.delete_endpoint(EndpointName="guesser")


def test_teams_workforce_task_ui_list_and_stop(lab_server):
    sm, s3 = lab_server.client("sagemaker"), lab_server.client("s3")
    team = sm.describe_workteam(WorkteamName="animals")["Workteam"]
    assert team["WorkteamArn"] == lab_server.team_arn and ":workteam/private-crowd/animals" in team["WorkteamArn"]
    assert team["SubDomain"].endswith("/studio/worker")
    assert [t["WorkteamName"] for t in sm.list_workteams()["Workteams"]] == ["animals"]
    sm.add_tags(ResourceArn=team["WorkteamArn"], Tags=[{"Key": "team", "Value": "vision"}])  # workteam/private-crowd/
    assert sm.list_tags(ResourceArn=team["WorkteamArn"])["Tags"] == [{"Key": "team", "Value": "vision"}]
    workforce = sm.describe_workforce(WorkforceName="default")["Workforce"]  # made with the first team
    assert team["WorkforceArn"] == workforce["WorkforceArn"] and workforce["Status"] == "Active"
    code, message = _error(lambda: sm.create_workforce(WorkforceName="second", CognitoConfig={
        "UserPool": "us-east-1_x", "ClientId": "y"}))
    assert code == "ResourceLimitExceeded" and "one is allowed per region" in message

    ui_arn = sm.create_human_task_ui(HumanTaskUiName="classify-ui", UiTemplate={
        "Content": TEMPLATES["ImageMultiClass"]})["HumanTaskUiArn"]
    described = sm.describe_human_task_ui(HumanTaskUiName="classify-ui")
    assert described["HumanTaskUiArn"] == ui_arn and described["HumanTaskUiStatus"] == "Active"
    assert len(described["UiTemplate"]["ContentSha256"]) == 64
    name = "stopped-by-user"
    _put_manifest(s3, name, b'{"source-ref": "s3://labeling-api/img/0.png"}\n')
    params = job_params(name, BUCKET, lab_server.team_arn)
    params["HumanTaskConfig"]["UiConfig"] = {"HumanTaskUiArn": ui_arn}
    sm.create_labeling_job(**params)
    _wait(sm, name, ("InProgress",))
    listed = sm.list_labeling_jobs(NameContains="stopped-by")["LabelingJobSummaryList"]
    assert [j["LabelingJobName"] for j in listed] == [name]
    assert listed[0]["WorkteamArn"] == lab_server.team_arn and listed[0]["LabelCounters"]["Unlabeled"] == 1
    sm.stop_labeling_job(LabelingJobName=name)
    desc = _wait(sm, name, ("Stopped",))
    assert desc["LabelCounters"]["TotalLabeled"] == 0
    assert s3.get_object(Bucket=BUCKET, Key=f"output/{name}/manifests/output/output.manifest")["Body"].read() == b""
    assert sm.list_labeling_jobs(StatusEquals="Stopped")["LabelingJobSummaryList"][0]["LabelingJobName"] == name
    with worker(lab_server, "alice") as web:  # the console's job pages
        assert name in web.get("/studio/labeling-jobs").text
        page = web.get(f"/studio/labeling-jobs/{name}")
        assert page.status_code == 200 and "Stopped" in page.text and "output.manifest" in page.text
