"""The worker portal in a real browser (the system's Chromium driven by Playwright): a worker signs in, takes the
next task, picks a label with the keyboard, draws a box with the mouse, submits, and the box is in the job's
output manifest. Skipped, saying what to install, without Playwright or Chromium."""

from __future__ import annotations

import json
import re
import time

import pytest

from shipyard.domain.users import Users
from shipyard.testing.server import ShipyardProcess

from labeling_helpers import TEMPLATES, job_params, label_config, png, team_params

pytestmark = pytest.mark.integration
BUCKET = "portal"


@pytest.fixture(scope="module")
def portal_server(tmp_path_factory):
    proc = ShipyardProcess(tmp_path_factory.mktemp("portal-home"))
    proc.start()
    try:
        yield proc
    finally:
        proc.stop(kill_children=True)


def _near(got: list[int], want: list[int]) -> bool:
    return all(abs(g - w) <= 1 for g, w in zip(got, want, strict=True))


@pytest.mark.timeout(180)
def test_worker_draws_a_box_with_the_mouse_and_it_reaches_the_manifest(portal_server, browser):
    dana = Users(portal_server.home).add("dana")
    sm, s3 = portal_server.client("sagemaker"), portal_server.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="labels.json", Body=label_config())
    s3.put_object(Bucket=BUCKET, Key="BoundingBox.liquid.html", Body=TEMPLATES["BoundingBox"].encode())
    s3.put_object(Bucket=BUCKET, Key="img/field.png", Body=png(200, 150))
    name = "boxes-in-browser"
    s3.put_object(Bucket=BUCKET, Key=f"{name}/input.manifest",
                  Body=json.dumps({"source-ref": f"s3://{BUCKET}/img/field.png"}).encode())
    team = sm.create_workteam(**team_params("box-drawers", "dana"))["WorkteamArn"]
    sm.create_labeling_job(**job_params(name, BUCKET, team, task="BoundingBox", workers=1))

    context = browser.new_context(base_url=portal_server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto("/studio/signin?next=%2Fstudio%2Fworker")
        page.fill("input[name=access_key_id]", dana.access_key_id)
        page.fill("input[name=secret_access_key]", dana.secret_access_key)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r".*/studio/worker$"))
        deadline = time.monotonic() + 30  # the controller opens the job's tasks within a tick
        while not page.locator(f"tr[data-job='{name}'] button.start-working").count():
            assert time.monotonic() < deadline, "the job never showed up in the worker's queue"
            time.sleep(0.3)
            page.reload()
        page.click(f"tr[data-job='{name}'] button.start-working")
        page.wait_for_url(re.compile(r".*/studio/worker/tasks/.+"))
        page.wait_for_function("document.getElementById('task-image').naturalWidth > 0")
        assert "Box every animal." in page.inner_text("#short-instructions")

        page.keyboard.press("2")  # the second label, "dog"
        assert page.get_attribute("#label-picker button[data-label=dog]", "class") == "chosen"
        img = page.locator("#task-image").bounding_box()
        assert img is not None and round(img["width"]) == 200  # shown at its natural size
        page.mouse.move(img["x"] + 20, img["y"] + 30)
        page.mouse.down()
        page.mouse.move(img["x"] + 70, img["y"] + 60, steps=5)
        page.mouse.move(img["x"] + 120, img["y"] + 90, steps=5)
        page.mouse.up()
        assert page.locator("#stage .box").count() == 1
        drawn = re.match(r"dog at (\d+),(\d+) \((\d+)×(\d+)\)", page.inner_text("#items li"))
        assert drawn, page.inner_text("#items")
        assert _near([int(x) for x in drawn.groups()], [20, 30, 100, 60])  # image pixels (sub-pixel layout: ±1)
        page.click("#submit")
        page.wait_for_url(re.compile(r".*/studio/worker\?notice=.*"))
        assert "no more tasks" in page.inner_text("#notice").lower()
    finally:
        context.close()

    deadline = time.monotonic() + 30
    while (desc := sm.describe_labeling_job(LabelingJobName=name))["LabelingJobStatus"] != "Completed":
        assert time.monotonic() < deadline, desc
        time.sleep(0.3)
    key = desc["LabelingJobOutput"]["OutputDatasetS3Uri"].split("/", 3)[3]
    line = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert line["animal"]["image_size"] == [{"width": 200, "height": 150, "depth": 3}]
    (box,) = line["animal"]["annotations"]
    assert box["class_id"] == 1
    assert _near([box["left"], box["top"], box["width"], box["height"]], [20, 30, 100, 60])
    assert line["animal-metadata"]["class-map"] == {"1": "dog"}
    assert line["animal-metadata"]["type"] == "groundtruth/object-detection"


NER_TEMPLATE = ('<crowd-form><crowd-entity-annotation name="crowd-entity-annotation" header="{{ task.input.header }}" '
                'labels="{{ task.input.labels | to_json | escape }}" text="{{ task.input.taskObject }}">'
                '</crowd-entity-annotation></crowd-form>')


@pytest.mark.timeout(180)
def test_worker_marks_entities_by_selecting_text(portal_server, browser):
    erin = Users(portal_server.home).add("erin")
    sm, s3 = portal_server.client("sagemaker"), portal_server.client("s3")
    s3.put_object(Bucket=BUCKET, Key="ner.liquid.html", Body=NER_TEMPLATE.encode())
    s3.put_object(Bucket=BUCKET, Key="ner-labels.json", Body=label_config(["PER", "LOC"]))
    name = "entities-in-browser"
    s3.put_object(Bucket=BUCKET, Key=f"{name}/input.manifest",
                  Body=json.dumps({"source": "Alice met Bob in Paris."}).encode())
    team = sm.create_workteam(**team_params("readers", "erin"))["WorkteamArn"]
    params = job_params(name, BUCKET, team, task="NamedEntityRecognition", workers=1)
    params["LabelCategoryConfigS3Uri"] = f"s3://{BUCKET}/ner-labels.json"
    params["HumanTaskConfig"]["UiConfig"] = {"UiTemplateS3Uri": f"s3://{BUCKET}/ner.liquid.html"}
    sm.create_labeling_job(**params)

    context = browser.new_context(base_url=portal_server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto("/studio/signin?next=%2Fstudio%2Fworker")
        page.fill("input[name=access_key_id]", erin.access_key_id)
        page.fill("input[name=secret_access_key]", erin.secret_access_key)
        page.click("button[type=submit]")
        deadline = time.monotonic() + 30
        while not page.locator(f"tr[data-job='{name}'] button.start-working").count():
            assert time.monotonic() < deadline, "the job never showed up in the worker's queue"
            time.sleep(0.3)
            page.reload()
        page.click(f"tr[data-job='{name}'] button.start-working")
        page.wait_for_url(re.compile(r".*/studio/worker/tasks/.+"))
        assert page.inner_text("#text-source") == "Alice met Bob in Paris."
        page.dblclick("#text-source", position={"x": 5, "y": 8})  # a double click selects the first word
        assert page.evaluate("window.getSelection().toString()").strip() == "Alice"
        page.keyboard.press("1")  # PER
        page.evaluate("""() => {  // select "Paris" as a mouse drag would
            const node = document.getElementById('text-source').firstChild, r = document.createRange();
            r.setStart(node, 17); r.setEnd(node, 22);
            const s = window.getSelection(); s.removeAllRanges(); s.addRange(r);
        }""")
        page.keyboard.press("2")  # LOC
        assert [t.split(" remove")[0] for t in page.locator("#items li").all_inner_texts()] == [
            "PER: “Alice”", "LOC: “Paris”"]
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r".*/studio/worker\?notice=.*"))
    finally:
        context.close()
    deadline = time.monotonic() + 30
    while (desc := sm.describe_labeling_job(LabelingJobName=name))["LabelingJobStatus"] != "Completed":
        assert time.monotonic() < deadline, desc
        time.sleep(0.3)
    key = desc["LabelingJobOutput"]["OutputDatasetS3Uri"].split("/", 3)[3]
    line = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert line["animal"]["annotations"]["entities"] == [{"label": "PER", "startOffset": 0, "endOffset": 5},
                                                         {"label": "LOC", "startOffset": 17, "endOffset": 22}]
    assert line["animal-metadata"]["type"] == "groundtruth/named-entity-recognition"
