"""Shipyard Studio (``/studio``) in a real browser: sign-in, refusal, CSRF, and each page over real resources.

One server (the session's), one Chromium, one signed-in browser context for the module. The resources are
made through boto3 as a user would: a short script-mode training job printing a metric, a long one to stop,
a two-variant endpoint, a model package group with a version. The last test saves screenshots of the main
pages (to ``$SHIPYARD_SCREENSHOTS``, e.g. ``docs/images``, else a temporary folder).
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "training"))
sys.path.insert(0, str(HERE.parent / "hosting"))
from feature_helpers import deploy, make_model, variant  # noqa: E402
from training_helpers import ensure_bucket, script_job, unique, wait_status  # noqa: E402

# Screenshots go to a temporary folder; `SHIPYARD_SCREENSHOTS=docs/images pytest tests/ui` refreshes the README's
# (a test run never rewrites files of the checkout by itself).
IMAGES = Path(os.environ.get("SHIPYARD_SCREENSHOTS") or tempfile.mkdtemp(prefix="shipyard-studio-shots-"))
BUCKET = "studio-tests"
STEPS = 8
METRIC_SCRIPT = f"""
    import os, time
    for i in range({STEPS}):
        print(f"epoch={{i}} train-loss={{1.0 / (i + 1):.4f}}", flush=True)
        time.sleep(0.15)
    print("training finished", flush=True)
    with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w") as f:
        f.write("weights")
"""
SLOW_SCRIPT = """
    import time
    for i in range(600):
        print(f"still working {i}", flush=True)
        time.sleep(0.2)
"""


@pytest.fixture(scope="module")
def jobs(server):
    """A finished job with a metric series and artifacts, a running one (to be stopped) and a failed one."""
    sm, s3 = server.client("sagemaker"), server.client("s3")
    done, running, failed = unique("studio-train"), unique("studio-slow"), unique("studio-fail")
    sm.create_training_job(**script_job(s3, BUCKET, done, METRIC_SCRIPT, hps={"learning_rate": "0.25"},
                                        metrics=[{"Name": "train:loss", "Regex": r"train-loss=([0-9.]+)"}]))
    sm.create_training_job(**script_job(s3, BUCKET, running, SLOW_SCRIPT, max_runtime=300))
    sm.create_training_job(**script_job(s3, BUCKET, failed, "raise SystemExit('the data is bad')"))
    desc = wait_status(sm, done, timeout=90)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    wait_status(sm, running, statuses={"InProgress"}, secondary="Training", timeout=60)
    assert wait_status(sm, failed, timeout=60)["TrainingJobStatus"] == "Failed"
    yield {"done": done, "running": running, "failed": failed}
    try:
        sm.stop_training_job(TrainingJobName=running)
    except sm.exceptions.ClientError:
        pass


def csrf_of(page) -> str:
    return page.locator("input[name=csrf_token]").first.get_attribute("value")


def test_refused_without_a_session(server, browser):
    # A script gets 401 (not the sign-in form); a POST without a session is refused too.
    for method, path in (("GET", "/studio"), ("GET", "/studio/training-jobs"), ("POST", "/studio/endpoints/x/delete"),
                         ("GET", "/studio/training-jobs/x/metrics.json"), ("GET", "/studio/download?uri=s3://a/b")):
        r = httpx.request(method, server.url + path, follow_redirects=False)
        assert r.status_code == 401, (method, path, r.status_code)
    # A forged cookie is no session.
    r = httpx.get(server.url + "/studio", cookies={"shipyard_console": "e30.deadbeef"}, follow_redirects=False)
    assert r.status_code == 401
    # A browser is sent to sign in, and comes back where it was going afterwards.
    context = browser.new_context(base_url=server.url)
    try:
        page = context.new_page()
        page.goto("/studio/endpoints")
        assert "/studio/signin" in page.url
        assert page.locator("input[name=secret_access_key]").count() == 1
    finally:
        context.close()
    # Static assets need no session (the sign-in page uses them).
    assert httpx.get(server.url + "/studio/static/htmx.min.js").status_code == 200


def test_sign_in_with_a_wrong_then_the_right_key(server, browser):
    key, secret = server.keys()
    context = browser.new_context(base_url=server.url)
    try:
        page = context.new_page()
        page.goto("/studio/training-jobs")
        page.fill("input[name=access_key_id]", key)
        page.fill("input[name=secret_access_key]", secret + "x")
        page.click("button[type=submit]")
        assert page.locator("#signin-error").is_visible()
        assert not any(c["name"] == "shipyard_console" for c in context.cookies())
        page.fill("input[name=access_key_id]", key)
        page.fill("input[name=secret_access_key]", secret)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r".*/studio/training-jobs$"))
        assert page.locator("h1").inner_text() == "Training jobs"
        cookie = next(c for c in context.cookies() if c["name"] == "shipyard_console")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["expires"] > time.time()
        # The page's script cannot read it.
        assert "shipyard_console" not in page.evaluate("document.cookie")
    finally:
        context.close()


def test_a_post_without_the_csrf_token_is_refused(page, jobs, server):
    running = jobs["running"]
    page.goto(f"/studio/training-jobs/{running}")
    token = csrf_of(page)
    url = f"/studio/training-jobs/{running}/stop"
    r = page.request.post(url, form={"x": "1"}, max_redirects=0)
    assert r.status == 403 and "CSRF" in r.text()
    r = page.request.post(url, form={"csrf_token": "0" * 64}, max_redirects=0)
    assert r.status == 403
    sm = server.client("sagemaker")
    assert sm.describe_training_job(TrainingJobName=running)["TrainingJobStatus"] == "InProgress"
    # With the token, the action reaches the API (here: an endpoint that does not exist, the API's error).
    r = page.request.post("/studio/endpoints/no-such-endpoint/delete", form={"csrf_token": token}, max_redirects=0)
    assert r.status == 400 and "ValidationException" in r.text()


def test_training_job_list_and_detail(page, jobs, server):
    done = jobs["done"]
    page.goto("/studio/training-jobs")
    page.fill("input[name=name]", done)
    page.select_option("select[name=status]", "Completed")
    page.click("form.filters button[type=submit]")
    rows = page.locator("#jobs-table tbody tr")
    assert rows.count() == 1 and done in rows.first.inner_text() and "Completed" in rows.first.inner_text()
    page.goto("/studio/training-jobs?status=Failed&name=" + done)
    assert "No training jobs match" in page.locator("#jobs-table").inner_text()

    page.goto("/studio/training-jobs")
    page.fill("input[name=name]", done)
    page.click("form.filters button[type=submit]")
    page.click(f"#jobs-table a:text-is('{done}')")
    assert page.locator("#job-status").inner_text() == "Completed"
    assert "0.25" in page.locator("#hyperparameters").inner_text()
    assert "learning_rate" in page.locator("#hyperparameters").inner_text()
    assert "Completed" in page.locator("#timeline").inner_text()
    # The log tail (htmx, from the job's CloudWatch log stream).
    page.wait_for_selector("#log-lines", timeout=10_000)
    log = page.locator("#log-lines").inner_text()
    assert "training finished" in log and "train-loss=0.1250" in log
    # The metric chart really drew: uPlot's canvas has coloured pixels.
    page.wait_for_selector("#metric-charts[data-rendered='1'] canvas", timeout=10_000)
    assert page.locator("figure.metric-chart").get_attribute("data-metric") == "train:loss"
    drawn = page.evaluate("""() => {
        const c = document.querySelector('#metric-charts canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let blue = 0;
        for (let i = 0; i < d.length; i += 4) { if (d[i + 3] > 0 && d[i + 2] > 150 && d[i] < 120) blue++; }
        return {w: c.width, h: c.height, blue};
    }""")
    assert drawn["w"] > 100 and drawn["h"] > 50 and drawn["blue"] > 50, drawn
    series = page.request.get(f"/studio/training-jobs/{done}/metrics.json").json()
    assert series["train:loss"]["v"][-1] == pytest.approx(1 / STEPS, abs=1e-4)
    # The artifacts download link serves the model tarball.
    href = page.locator("#artifact-link").get_attribute("href")
    r = page.request.get(href)
    assert r.status == 200 and r.body()[:2] == b"\x1f\x8b"


def test_a_job_key_signs_in_with_only_its_scope(server, browser, jobs):
    """A running job's own key pair (the API accepts it) signs in, and sees only what the API lets it see."""
    from shipyard.domain import job_keys

    running = jobs["running"]
    key = job_keys.for_home(server.home).for_job("training-job", running)
    assert key is not None
    context = browser.new_context(base_url=server.url)
    try:
        page = context.new_page()
        page.goto("/studio/signin")
        page.fill("input[name=access_key_id]", key.access_key_id)
        page.fill("input[name=secret_access_key]", key.secret_access_key)
        page.click("button[type=submit]")
        assert "(job key)" in page.locator("header .who").inner_text()
        r = page.request.get("/studio/training-jobs")  # ListTrainingJobs is outside a job's scope
        assert r.status == 403 and "AccessDenied" in r.text()
        r = page.request.get(f"/studio/training-jobs/{jobs['done']}")  # another job: refused
        assert r.status == 403
        r = page.request.post(f"/studio/training-jobs/{running}/stop", max_redirects=0,
                              form={"csrf_token": csrf_of(page)})
        assert r.status == 403  # a job may not stop itself through the API either
    finally:
        context.close()
    desc = server.client("sagemaker").describe_training_job(TrainingJobName=running)
    assert desc["TrainingJobStatus"] == "InProgress"


def test_live_log_tail_and_stop_a_running_job(page, jobs, server):
    running = jobs["running"]
    dashboard = page.context.new_page()  # a second tab on the dashboard, never reloaded
    dashboard.goto("/studio")
    assert running in dashboard.locator("#panel-running").inner_text()
    assert jobs["failed"] in dashboard.locator("#panel-failures").inner_text()
    page.goto(f"/studio/training-jobs/{running}")
    page.wait_for_selector("#log-lines", timeout=10_000)
    first = page.locator("#log-lines").inner_text()
    assert "still working" in first
    # The tail is live: htmx polls it, so new lines arrive without a reload.
    page.wait_for_function("t => document.querySelector('#log-lines').innerText !== t", arg=first, timeout=10_000)
    page.click("#stop-job")
    page.wait_for_url(re.compile(rf".*/studio/training-jobs/{running}$"))
    assert page.locator("#job-status").inner_text() in ("Stopping", "Stopped")
    desc = wait_status(server.client("sagemaker"), running, statuses={"Stopped"}, timeout=30)
    assert desc["TrainingJobStatus"] == "Stopped"
    # The dashboard tab is live too: the stopped job leaves "Running jobs" on a poll, without a reload.
    dashboard.wait_for_function("n => !document.querySelector('#panel-running').innerText.includes(n)",
                                arg=running, timeout=10_000)
    dashboard.close()


def test_approve_a_model_package_with_a_comment(page, server):
    sm = server.client("sagemaker")
    group = unique("studio-group")
    s3 = server.client("s3")
    ensure_bucket(s3, BUCKET)
    s3.put_object(Bucket=BUCKET, Key=f"{group}/model.tar.gz", Body=b"model")
    sm.create_model_package_group(ModelPackageGroupName=group, ModelPackageGroupDescription="console test")
    arn = sm.create_model_package(ModelPackageGroupName=group, ModelApprovalStatus="PendingManualApproval",
                                  InferenceSpecification={
                                      "Containers": [{"Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/"
                                                      "sagemaker-xgboost:1.7-1", "ModelDataUrl": f"s3://{BUCKET}/{group}/model.tar.gz"}],
                                      "SupportedContentTypes": ["text/csv"],
                                      "SupportedResponseMIMETypes": ["text/csv"]})["ModelPackageArn"]
    page.goto("/studio/models")
    page.click(f"#groups-table a:text-is('{group}')")
    row = page.locator("#packages-table tbody tr[data-version='1']")
    assert row.locator(".approval").inner_text() == "PendingManualApproval"
    row.locator("input[name=comment]").fill("looks good on holdout")
    row.locator("button[value=Approved]").click()
    page.wait_for_url(re.compile(rf".*/studio/models/{group}$"))
    assert page.locator("#packages-table tbody tr[data-version='1'] .approval").inner_text() == "Approved"
    desc = sm.describe_model_package(ModelPackageName=arn)
    assert desc["ModelApprovalStatus"] == "Approved" and desc["ApprovalDescription"] == "looks good on holdout"


def test_change_variant_weights_on_a_real_endpoint(page, server):
    name = unique("studio-ep")
    make_model(server, name + "-a", 1.0)
    make_model(server, name + "-b", 3.0)
    deploy(server, name, [variant("A", name + "-a", weight=1.0), variant("B", name + "-b", weight=1.0)])
    page.goto("/studio/endpoints")
    page.click(f"#endpoints-table a:text-is('{name}')")
    assert page.locator("#endpoint-status").inner_text() == "InService"
    assert page.locator("#variants tbody tr").count() == 2
    page.fill("input[name='weight:B']", "3")
    page.click("#update-weights")
    page.wait_for_url(re.compile(rf".*/studio/endpoints/{name}$"))
    sm = server.client("sagemaker")
    deadline = time.monotonic() + 30
    weights = {}
    while time.monotonic() < deadline:
        desc = sm.describe_endpoint(EndpointName=name)
        weights = {v["VariantName"]: v["CurrentWeight"] for v in desc["ProductionVariants"]}
        if desc["EndpointStatus"] == "InService" and weights == {"A": 1.0, "B": 3.0}:
            break
        time.sleep(0.2)
    assert weights == {"A": 1.0, "B": 3.0}
    page.reload()
    assert page.locator("#variants tr[data-variant='B'] .current-weight").inner_text() == "3.0"
    # A negative weight (past the form's own check) is refused by the API's validation, with the reason.
    page.eval_on_selector("input[name='weight:A']", "e => e.removeAttribute('min')")
    page.fill("input[name='weight:A']", "-1")
    page.click("#update-weights")
    assert "ValidationException" in page.locator("#error").inner_text()
    assert sm.describe_endpoint(EndpointName=name)["ProductionVariants"][0]["DesiredWeight"] == 1.0
    # Screenshots of the main pages, with the data the tests made.
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.goto(f"/studio/endpoints/{name}")
    page.screenshot(path=str(IMAGES / "studio-endpoint.png"), full_page=True)
    page.goto("/studio")
    page.wait_for_selector("#panel-endpoints")
    page.screenshot(path=str(IMAGES / "studio-home.png"), full_page=True)
    page.goto("/studio/training-jobs")
    page.screenshot(path=str(IMAGES / "studio-training-jobs.png"), full_page=True)
    page.goto("/studio/models")
    page.screenshot(path=str(IMAGES / "studio-models.png"), full_page=True)
    sm.delete_endpoint(EndpointName=name)


def test_pipelines_with_their_executions_and_steps(page, server):
    sm = server.client("sagemaker")
    name = unique("studio-pipe")
    steps = [{"Name": "Check", "Type": "Condition", "Arguments": {
        "Conditions": [{"Type": "GreaterThanOrEqualTo", "LeftValue": {"Get": "Parameters.Threshold"},
                        "RightValue": 0.5}],
        "IfSteps": [],
        "ElseSteps": [{"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": "threshold too low"}}]}}]
    sm.create_pipeline(PipelineName=name, RoleArn="arn:aws:iam::123456789012:role/ShipyardTest",
                       PipelineDefinition=json.dumps({"Version": "2020-12-01", "Metadata": {}, "Steps": steps,
                                                      "Parameters": [{"Name": "Threshold", "Type": "Float",
                                                                      "DefaultValue": 0.5}]}))
    arn = sm.start_pipeline_execution(PipelineName=name, PipelineParameters=[
        {"Name": "Threshold", "Value": "0.25"}])["PipelineExecutionArn"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if sm.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"] != "Executing":
            break
        time.sleep(0.2)
    page.goto("/studio/pipelines")
    page.click(f"#pipelines-table a:text-is('{name}')")
    execution = page.locator("section.execution").first
    assert execution.get_attribute("data-status") == "Failed"
    assert "threshold too low" in execution.inner_text()
    assert "Failed" in execution.locator("tr[data-step='Stop']").inner_text()
    assert "Succeeded" in execution.locator("tr[data-step='Check']").inner_text()
    # The processing and transform job lists answer through their List operations (filters included).
    for path in ("/studio/processing-jobs", "/studio/transform-jobs"):
        page.goto(path + "?status=Failed&name=" + name)
        assert page.locator("#jobs-table").is_visible() and "No jobs match" in page.locator("#jobs-table").inner_text()
        page.goto(path + "?status=Bogus")
        assert "Status must be one of" in page.locator("#error").inner_text()
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.goto(f"/studio/pipelines/{name}")
    page.screenshot(path=str(IMAGES / "studio-pipeline.png"), full_page=True)


def test_job_detail_screenshot(page, jobs):
    page.goto(f"/studio/training-jobs/{jobs['done']}")
    page.wait_for_selector("#metric-charts[data-rendered='1'] canvas", timeout=10_000)
    page.wait_for_selector("#log-lines", timeout=10_000)
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMAGES / "studio-training-job.png"), full_page=True)
