"""Shipyard Studio in a real browser: an endpoint's traffic charts, the S3 browser, logs search, notebooks.

One server (the session's), one Chromium, one signed-in page for the module. The data is made through boto3 as
a user would: an endpoint invoked a few times, a bucket with objects under two prefixes, a training job printing
lines to find, a notebook instance, and a running `shipyard notebook` whose lab the page links to. Screenshots
of the pages go to ``$SHIPYARD_SCREENSHOTS`` (e.g. ``docs/images``), else a temporary folder.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "training"))
sys.path.insert(0, str(HERE.parent / "hosting"))
from feature_helpers import ROW, deploy, make_model, variant  # noqa: E402
from training_helpers import script_job, unique, wait_status  # noqa: E402

IMAGES = Path(os.environ.get("SHIPYARD_SCREENSHOTS") or tempfile.mkdtemp(prefix="shipyard-studio-shots-"))
BUCKET = "studio-tests"
# A 2x1 PNG (red, blue): enough for the browser to decode and lay out.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAIAAAABCAIAAAB7QOjdAAAAEElEQVR4nGP4z8DAwMDAAAAHAQH/"
                       "lqk1SgAAAABJRU5ErkJggg==")
CSV = b"feature,label\n0.25,1\n0.75,0\n"
LOG_LINES = 130  # more than one page of search results (100)


def screenshot(page, name: str) -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMAGES / name), full_page=True)


def csrf_of(page) -> str:
    return page.locator("input[name=csrf_token]").first.get_attribute("value")


@pytest.fixture(scope="module")
def log_job(server):
    """A finished training job whose log has LOG_LINES numbered 'needle' lines among others."""
    sm, s3 = server.client("sagemaker"), server.client("s3")
    name = unique("studio-logs")
    script = f"""
        for i in range({LOG_LINES}):
            print(f"needle line {{i:03d}}", flush=True)
            print(f"hay line {{i:03d}}", flush=True)
        print("the end of the haystack", flush=True)
    """
    sm.create_training_job(**script_job(s3, BUCKET, name, script))
    desc = wait_status(sm, name, timeout=90)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    return name


def test_pages_refuse_without_a_session(server, notebook_instance):
    # (asks for the notebook instance only to start it now: its JupyterLab boots while the other tests run)
    for method, path in (("GET", "/studio/s3"), ("GET", "/studio/s3/b/raw?key=k"), ("POST", "/studio/s3/b/upload"),
                         ("GET", "/studio/logs"), ("GET", "/studio/notebooks"), ("POST", "/studio/notebooks/x/open"),
                         ("GET", "/studio/endpoints/x/traffic.json")):
        r = httpx.request(method, server.url + path, follow_redirects=False)
        assert r.status_code == 401, (method, path, r.status_code)


def test_endpoint_traffic_charts(page, server):
    name = unique("studio-traffic")
    make_model(server, name, 2.0)
    deploy(server, name, [variant("A", name)])
    rt = server.client("sagemaker-runtime")
    for _ in range(3):
        rt.invoke_endpoint(EndpointName=name, Body=ROW, ContentType="text/csv")["Body"].read()
    page.goto(f"/studio/endpoints/{name}")
    page.wait_for_selector("#endpoint-traffic[data-rendered] figure.traffic-chart canvas", timeout=15_000)
    page.wait_for_function("() => document.querySelector('#endpoint-traffic').dataset.invocations === '3'",
                           timeout=15_000)
    metrics = page.eval_on_selector_all("figure.traffic-chart", "fs => fs.map(f => f.dataset.metric)")
    assert {"Invocations", "ModelLatency", "Invocation4XXErrors", "Invocation5XXErrors"} <= set(metrics)
    drawn = page.evaluate("""() => {
        const c = document.querySelector("figure.traffic-chart[data-metric='Invocations'] canvas");
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let blue = 0;
        for (let i = 0; i < d.length; i += 4) { if (d[i + 3] > 0 && d[i + 2] > 150 && d[i] < 120) blue++; }
        return {w: c.width, h: c.height, blue};
    }""")
    assert drawn["w"] > 100 and drawn["h"] > 50 and drawn["blue"] > 10, drawn
    screenshot(page, "studio-endpoint-traffic.png")
    # The JSON the charts poll: the invocation count per variant, latency in ms, on CloudWatch's grid.
    body = page.request.get(f"/studio/endpoints/{name}/traffic.json?range=15m").json()
    assert body["variants"] == ["A"] and body["period"] == 10 and body["totals"]["A"]["Invocations"] == 3
    latency = next(c for c in body["charts"] if c["metric"] == "ModelLatency")
    assert latency["unit"] == "ms" and any(v is not None and v > 0 for v in latency["lines"]["A"])
    assert body["totals"]["A"]["Invocation5XXErrors"] == 0
    # The range buttons switch the window; a bad range is the API's kind of error.
    page.click("button.traffic-range[data-range='24h']")
    page.wait_for_function("() => document.querySelector('#endpoint-traffic').dataset.range === '24h'")
    r = page.request.get(f"/studio/endpoints/{name}/traffic.json?range=2d")
    assert r.status == 400 and "ValidationException" in r.text()
    r = page.request.get("/studio/endpoints/no-such-endpoint/traffic.json")
    assert r.status == 400 and "ValidationException" in r.text()
    server.client("sagemaker").delete_endpoint(EndpointName=name)


def test_s3_browse_preview_upload_delete(page, server):
    s3 = server.client("s3")
    bucket = unique("studio-s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="data/train.csv", Body=CSV)
    s3.put_object(Bucket=bucket, Key="data/notes.txt", Body=b"<script>alert(1)</script> & more")
    s3.put_object(Bucket=bucket, Key="models/model.tar.gz", Body=b"\x1f\x8b\x08\x00" + bytes(range(256)))
    s3.put_object(Bucket=bucket, Key="models/pixel.png", Body=PNG, ContentType="image/png")
    s3.put_object(Bucket=bucket, Key="config.json", Body=b'{"epochs": 3, "name": "x"}')
    with ThreadPoolExecutor(8) as pool:  # more than a page (100)
        list(pool.map(lambda i: s3.put_object(Bucket=bucket, Key=f"many/part-{i:03d}", Body=b"x"), range(101)))

    page.goto("/studio/s3")
    page.click(f"#buckets-table a:text-is('{bucket}')")
    folders = page.eval_on_selector_all("#objects-table tr.folder", "rs => rs.map(r => r.dataset.prefix)")
    assert folders == ["data/", "many/", "models/"]
    assert page.eval_on_selector_all("#objects-table tr.object", "rs => rs.map(r => r.dataset.key)") == [
        "config.json"]
    page.click("#objects-table a:text-is('data/')")
    assert page.eval_on_selector_all("#objects-table tr.object", "rs => rs.map(r => r.dataset.key)") == [
        "data/notes.txt", "data/train.csv"]
    # A CSV previews as a table.
    page.click("#objects-table a:text-is('train.csv')")
    assert page.locator("#object-type").inner_text() == "text/csv"
    assert page.locator("#preview-table th").all_inner_texts() == ["feature", "label"]
    assert page.locator("#preview-table tr").nth(2).inner_text().split() == ["0.75", "0"]
    screenshot(page, "studio-s3-object.png")
    # Text is shown escaped (the tag is text, no script ran), JSON pretty-printed, an image inline, a tarball not.
    page.goto(f"/studio/s3/{bucket}/object?key=data/notes.txt")
    assert page.locator("#preview-text").inner_text() == "<script>alert(1)</script> & more"
    assert page.locator("#preview script").count() == 0
    page.goto(f"/studio/s3/{bucket}/object?key=config.json")
    assert json.loads(page.locator("#preview-text").inner_text()) == {"epochs": 3, "name": "x"}
    page.goto(f"/studio/s3/{bucket}/object?key=models/pixel.png")
    page.wait_for_function("() => document.querySelector('#preview img').naturalWidth === 2", timeout=10_000)
    page.goto(f"/studio/s3/{bucket}/object?key=models/model.tar.gz")
    assert page.locator("#no-preview").is_visible()
    r = page.request.get(page.locator("#download-link").get_attribute("href"))
    assert r.status == 200 and r.body() == b"\x1f\x8b\x08\x00" + bytes(range(256))
    assert r.headers["content-disposition"].startswith("attachment;")
    # The raw route never serves a page the browser would render as the console's.
    r = page.request.get(f"/studio/s3/{bucket}/raw?key=data/notes.txt")
    assert r.headers["content-type"] == "application/octet-stream" and r.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in r.headers["content-security-policy"]
    # Paging: 100 on the first page, the 101st on the next.
    page.goto(f"/studio/s3/{bucket}?prefix=many/")
    assert page.locator("#objects-table tr.object").count() == 100
    page.click("#next-page")
    assert page.eval_on_selector_all("#objects-table tr.object", "rs => rs.map(r => r.dataset.key)") == [
        "many/part-100"]

    # Upload through the form (multipart, htmx, CSRF header), found with boto3.
    page.goto(f"/studio/s3/{bucket}?prefix=data/")
    page.set_input_files("#upload-form input[type=file]", files=[
        {"name": "fresh.csv", "mimeType": "text/csv", "buffer": b"a,b\n1,2\n"}])
    page.click("#upload-button")
    page.wait_for_url(re.compile(r".*uploaded=data%2Ffresh\.csv"))
    assert "data/fresh.csv" in page.locator("#notice").inner_text()
    screenshot(page, "studio-s3.png")
    assert s3.get_object(Bucket=bucket, Key="data/fresh.csv")["Body"].read() == b"a,b\n1,2\n"
    # A refused upload says why under the form (the API's error code, a 4xx swapped in by htmx).
    page.set_input_files("#upload-form input[type=file]", files=[
        {"name": "x.txt", "mimeType": "text/plain", "buffer": b"x"}])
    page.fill("#upload-form input[name=name]", "n" * 1100)
    page.click("#upload-button")
    page.wait_for_selector("#upload-error", timeout=10_000)
    assert "1024 bytes" in page.locator("#upload-error").inner_text()
    # Over the size limit: 413 with what to do instead; without the CSRF token: 403.
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    r = httpx.post(f"{server.url}/studio/s3/{bucket}/upload", cookies=cookies, timeout=30,
                   headers={"X-CSRF-Token": csrf_of(page), "HX-Request": "true"},
                   files={"file": ("big.bin", b"\0" * (16 * 1024 * 1024 + 1))}, data={"prefix": "data/"})
    assert r.status_code == 413 and "RequestEntityTooLarge" in r.text and "boto3" in r.text
    r = page.request.post(f"/studio/s3/{bucket}/upload", multipart={"file": {
        "name": "y.txt", "mimeType": "text/plain", "buffer": b"y"}}, max_redirects=0)
    assert r.status == 403
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="data/")["Contents"]]
    assert keys == ["data/fresh.csv", "data/notes.txt", "data/train.csv"]

    # Delete from the object's page (after the confirm dialog), gone for boto3 too.
    page.goto(f"/studio/s3/{bucket}/object?key=data/fresh.csv")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#delete-object")
    page.wait_for_url(re.compile(r".*deleted=data%2Ffresh\.csv"))
    assert "data/fresh.csv" not in page.eval_on_selector_all("#objects-table tr.object",
                                                             "rs => rs.map(r => r.dataset.key)")
    with pytest.raises(s3.exceptions.ClientError) as e:
        s3.head_object(Bucket=bucket, Key="data/fresh.csv")
    assert e.value.response["Error"]["Code"] == "404"
    # A missing object or bucket is S3's error, on the console's error page.
    page.goto(f"/studio/s3/{bucket}/object?key=nothing-here")
    assert "NoSuchKey" in page.locator("#error").inner_text()
    page.goto("/studio/s3/no-such-bucket-here")
    assert "NoSuchBucket" in page.locator("#error").inner_text()


def test_s3_pages_keep_a_job_key_to_its_scope(server, browser):
    """A job's scoped key may read its own input prefix and nothing else, in the console as on the API."""
    from shipyard.domain import job_keys

    bucket = unique("studio-scope")
    s3 = server.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="mine/in.csv", Body=CSV)
    s3.put_object(Bucket=bucket, Key="theirs/secret.csv", Body=CSV)
    store = job_keys.for_home(server.home)
    scope = job_keys.JobScope(kind="training-job", name=unique("scoped"), read=[f"{bucket}/mine/"], write=[])
    key = store.issue(scope)
    context = browser.new_context(base_url=server.url)
    try:
        page = context.new_page()
        page.goto("/studio/signin")
        page.fill("input[name=access_key_id]", key.access_key_id)
        page.fill("input[name=secret_access_key]", key.secret_access_key)
        page.click("button[type=submit]")
        assert page.request.get("/studio/s3").status == 403  # ListAllMyBuckets: not a job's
        assert page.request.get(f"/studio/s3/{bucket}?prefix=mine/").status == 200
        assert page.request.get(f"/studio/s3/{bucket}?prefix=theirs/").status == 403
        assert page.request.get(f"/studio/s3/{bucket}/object?key=mine/in.csv").status == 200
        r = page.request.get(f"/studio/s3/{bucket}/raw?key=theirs/secret.csv")
        assert r.status == 403 and "AccessDenied" in r.text()
        page.goto(f"/studio/s3/{bucket}?prefix=mine/")
        r = page.request.post(f"/studio/s3/{bucket}/delete", form={"key": "mine/in.csv", "csrf_token": csrf_of(page)},
                              max_redirects=0)
        assert r.status == 403
    finally:
        context.close()
        store.revoke(scope.kind, scope.name)
    assert s3.get_object(Bucket=bucket, Key="mine/in.csv")["Body"].read() == CSV


def test_logs_search_with_paging_and_job_links(page, log_job):
    page.goto("/studio/logs")
    page.select_option("select[name=group]", "/aws/sagemaker/TrainingJobs")
    page.fill("input[name=prefix]", log_job)
    page.fill("input[name=pattern]", "needle")
    page.click("#logs-form button[type=submit]")
    rows = page.locator("#log-rows tr.event")
    assert rows.count() == 100
    screenshot(page, "studio-logs.png")
    assert rows.first.locator("td.message").inner_text() == "needle line 000"
    # "More" appends the next page, until there is no more.
    page.click("#logs-more")
    page.wait_for_function(f"() => document.querySelectorAll('#log-rows tr.event').length === {LOG_LINES}")
    assert rows.last.locator("td.message").inner_text() == f"needle line {LOG_LINES - 1:03d}"
    page.click("#logs-more")
    page.wait_for_selector("#log-rows tr.end")
    assert rows.count() == LOG_LINES
    # A quoted phrase and any-of terms (FilterLogEvents's syntax); the stream links to its job.
    page.goto(f"/studio/logs?group=/aws/sagemaker/TrainingJobs&prefix={log_job}&pattern=%3Fhaystack+%3F%22line+007%22")
    messages = page.locator("#log-rows td.message").all_inner_texts()
    assert sorted(messages) == ["hay line 007", "needle line 007", "the end of the haystack"]
    page.locator("#log-rows td.stream a").first.click()
    page.wait_for_url(re.compile(rf".*/studio/training-jobs/{log_job}$"))
    page.goto(f"/studio/logs?group=/aws/sagemaker/TrainingJobs&prefix={log_job}&pattern=no-such-words")
    assert page.locator("#no-events").is_visible()
    page.goto("/studio/logs?group=/no/such/group")
    assert "ResourceNotFoundException" in page.locator("#error").inner_text()


@pytest.fixture(scope="module")
def notebook_instance(server):
    """A notebook instance (its JupyterLab starting), stopped and deleted at the end; None without JupyterLab."""
    import importlib.util

    if importlib.util.find_spec("jupyterlab") is None:
        yield None
        return
    sm = server.client("sagemaker")
    name = unique("studio-nb")
    sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium",
                                RoleArn="arn:aws:iam::111122223333:role/SageMakerRole")
    yield name
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = sm.describe_notebook_instance(NotebookInstanceName=name)["NotebookInstanceStatus"]
        if status in ("Stopped", "Failed"):
            sm.delete_notebook_instance(NotebookInstanceName=name)
            return
        if status == "InService":
            sm.stop_notebook_instance(NotebookInstanceName=name)
        time.sleep(0.3)


def _wait_instance(sm, name: str, wanted: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        status = sm.describe_notebook_instance(NotebookInstanceName=name)["NotebookInstanceStatus"]
        if status == wanted:
            return
        assert status != "Failed"
        time.sleep(0.3)
    raise AssertionError(f"{name} is {status}, not {wanted}, after {timeout:.0f} s")


def test_notebook_instances_open_and_stop(page, server, notebook_instance):
    if notebook_instance is None:
        pytest.skip("JupyterLab is not installed (pip install 'shipyard[notebook]')")
    sm = server.client("sagemaker")
    name = notebook_instance
    _wait_instance(sm, name, "InService")
    page.goto("/studio/notebooks")
    row = page.locator(f"#instances-table tr[data-name='{name}']")
    assert "InService" in row.inner_text() and "ml.t3.medium" in row.inner_text()
    # Open: the browser is sent to the presigned URL (JupyterLab's, with its short-lived token).
    r = page.request.post(f"/studio/notebooks/{name}/open", form={"csrf_token": csrf_of(page)}, max_redirects=0)
    assert r.status == 303 and re.match(r"http://127\.0\.0\.1:\d+/.*token=\d+\.\w+", r.headers["location"])
    assert httpx.get(r.headers["location"], timeout=10).status_code == 200
    row.locator("button.stop").click()
    page.wait_for_url(re.compile(r".*/studio/notebooks$"))
    _wait_instance(sm, name, "Stopped")
    page.reload()
    row = page.locator(f"#instances-table tr[data-name='{name}']")
    assert "Stopped" in row.inner_text() and row.locator("button.start").count() == 1
    assert row.locator("button.open").count() == 0
    # The API refuses a URL for a stopped instance; the console says why.
    r = page.request.post(f"/studio/notebooks/{name}/open", form={"csrf_token": csrf_of(page)}, max_redirects=0)
    assert r.status == 400 and "ValidationException" in r.text()


def test_notebooks_page_links_to_the_running_shipyard_notebook(page, server, tmp_path):
    pytest.importorskip("jupyterlab", reason="JupyterLab is not installed (pip install 'shipyard[notebook]')")
    from shipyard.testing.server import free_port

    record = Path(server.home) / "notebook" / "lab.json"
    page.goto("/studio/notebooks")
    assert "shipyard notebook --home" in page.locator("#lab-command").inner_text()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SHIPYARD_"))}
    proc = subprocess.Popen([sys.executable, "-m", "shipyard.cli_notebook", "--home", str(server.home),
                             "--dir", str(tmp_path), "--port", str(free_port())], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not record.exists() and time.monotonic() < deadline:
            assert proc.poll() is None, f"shipyard notebook exited with {proc.returncode}"
            time.sleep(0.1)
        assert record.stat().st_mode & 0o777 == 0o600
        lab = json.loads(record.read_text())
        assert lab["pid"] == proc.pid and "/lab?token=" in lab["url"]
        page.reload()
        assert page.locator("#lab-link").get_attribute("href") == lab["url"]
        assert str(proc.pid) in page.locator("#lab-running").inner_text()
        screenshot(page, "studio-notebooks.png")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not record.exists()  # removed on exit
    page.reload()
    assert page.locator("#lab-link").count() == 0 and page.locator("#lab-command").is_visible()
