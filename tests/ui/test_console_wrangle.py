"""The console's data-flow pages (issue 21): over HTTP (sign in, GET/POST, read the HTML) and in a real browser.

A CSV goes to a bucket through boto3, as a user's upload would; a flow is created from it on the page, steps are
added and the data grid follows them, the report opens, and the flow is exported as a processing job that then
runs (on Data Wrangler's image, mapped to Shipyard's flow runner) and writes the transformed data. Bad input
shows its message on the page. The preview runs the flow's steps in the job sandbox: a custom step that looks
for the server's home or the network finds neither, and the time and size limits hold.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import sys
import tempfile
import time
import uuid
from html import unescape
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from shipyard.domain.users import Users
from shipyard.runners import sandbox
from shipyard.ui import wrangle_sandbox

pytestmark = pytest.mark.integration

DATA_BUCKET = "wrangle-console-data"
CITIES = ["oslo", "rome", "lima"]
CSV_ROWS = [("id", "age", "city", "churned"),
            *[(str(i), "" if i % 4 == 0 else str(20 + i), CITIES[i % 3], str(i % 2)) for i in range(40)]]
CSV_BODY = "\n".join(",".join(r) for r in CSV_ROWS).encode() + b"\n"
FILL_AGE = {"operator": "Fill missing", "fill_missing_parameters": {"input_column": "age", "fill_value": "-1"}}
DROP_CITY = {"operator": "Drop column", "drop_column_parameters": {"column_to_drop": ["city"]}}


@pytest.fixture(scope="module")
def data(server) -> str:
    s3 = server.client("s3")
    with contextlib.suppress(Exception):
        s3.create_bucket(Bucket=DATA_BUCKET)
    s3.put_object(Bucket=DATA_BUCKET, Key="customers/churn.csv", Body=CSV_BODY)
    s3.put_object(Bucket=DATA_BUCKET, Key="notes/readme.txt", Body=b"not data")
    return "customers/churn.csv"


@contextlib.contextmanager
def signed_in(server, key_id: str | None = None, secret: str | None = None) -> Iterator[httpx.Client]:
    if key_id is None:
        key_id, secret = server.keys()
    with httpx.Client(base_url=server.url, timeout=180, headers={"accept": "text/html"}) as web:
        r = web.post("/studio/signin", data={"access_key_id": key_id, "secret_access_key": secret})
        assert r.status_code == 303, r.text
        yield web


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def grid(html: str) -> tuple[list[tuple[str, str]], list[list[str]]]:
    """(name, dtype) of each column and the cells of the page's data grid."""
    table = re.search(r'<table class="data-grid" id="data-grid">(.*?)</table>', html, re.S)
    assert table, "no data grid on the page: " + (error_of(html) or html[-2000:])
    heads = re.findall(r'<span class="col">(.*?)</span><br><span class="dtype">(.*?)</span>', table.group(1))
    body = table.group(1).split("<tbody>")[1]
    rows = [[unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)]
            for tr in re.findall(r"<tr>(.*?)</tr>", body, re.S)]
    return [(unescape(n), unescape(t)) for n, t in heads], rows


def error_of(html: str) -> str:
    found = re.search(r'<p class="error" id="[a-z-]+">(.*?)</p>', html, re.S)
    return unescape(found.group(1)) if found else ""


def new_flow(web: httpx.Client, name: str, key: str) -> httpx.Response:
    page = web.get(f"/studio/wrangle?bucket={DATA_BUCKET}")
    return web.post("/studio/wrangle/new", data={"csrf_token": csrf_of(page.text), "name": name,
                                                 "bucket": DATA_BUCKET, "key": key, "header": "on", "infer": "on"})


def add_step(web: httpx.Client, name: str, operator: str, params, csrf: str) -> httpx.Response:
    text = params if isinstance(params, str) else json.dumps(params)
    return web.post(f"/studio/wrangle/flows/{name}/steps", data={"csrf_token": csrf, "operator": operator,
                                                                 "parameters": text})


def wait_job(sm, name: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        desc = sm.describe_processing_job(ProcessingJobName=name)
        if desc["ProcessingJobStatus"] in ("Completed", "Failed", "Stopped") or time.monotonic() > deadline:
            return desc
        time.sleep(1)


def test_flow_from_csv_steps_grid_report_and_exports(server, data):
    name = f"churn-{uuid.uuid4().hex[:6]}"
    with signed_in(server) as web:
        listing = web.get(f"/studio/wrangle?bucket={DATA_BUCKET}")
        assert listing.status_code == 200
        assert f'value="{data}"' in listing.text and "readme.txt" not in listing.text  # data objects only
        r = new_flow(web, name, data)
        assert r.status_code == 303 and r.headers["location"] == f"/studio/wrangle/flows/{name}"
        assert name in web.get("/studio/wrangle").text

        page = web.get(f"/studio/wrangle/flows/{name}")
        assert page.status_code == 200
        columns, rows = grid(page.text)
        assert [c for c, _ in columns] == ["id", "age", "city", "churned"]
        assert dict(columns)["age"].startswith("float") and dict(columns)["id"] == "int64"  # types inferred
        assert len(rows) == 40 and rows[0][1] == "—" and rows[1][1] == "21.0"  # row 0's age is missing
        assert "40 rows in the sample" in page.text
        assert len(re.findall(r'<a href="/studio/wrangle/flows/[^"]+\?node=[^"]+" class="node', page.text)) == 2

        csrf = csrf_of(page.text)
        r = add_step(web, name, "handle_missing", FILL_AGE, csrf)
        assert r.status_code == 303, error_of(r.text)
        columns, rows = grid(web.get(r.headers["location"]).text)
        assert rows[0][1] == "-1.0" and rows[4][1] == "-1.0" and rows[1][1] == "21.0"
        r = add_step(web, name, "manage_columns", DROP_CITY, csrf)
        assert r.status_code == 303, error_of(r.text)
        page = web.get(r.headers["location"])
        columns, rows = grid(page.text)
        assert [c for c, _ in columns] == ["id", "age", "churned"] and len(rows) == 40
        boxes = re.findall(r'class="node( selected)?"\s*data-node="([^"]+)"', page.text)
        assert len(boxes) == 4 and boxes[-1][0] == " selected"  # the new step is the selected node
        svg = re.search(r"<svg id=\"flow-graph\".*?</svg>", page.text, re.S).group(0)
        assert svg.count('class="edge"') == 3 and "manage_columns" in svg and "Drop column" in svg

        # an earlier node's grid is still its own
        first_step = boxes[1][1]
        columns, rows = grid(web.get(f"/studio/wrangle/flows/{name}?node={first_step}").text)
        assert [c for c, _ in columns] == ["id", "age", "city", "churned"] and rows[0][1] == "—"

        report = web.get(f"/studio/wrangle/flows/{name}/report", params={"target": "churned"})
        assert report.status_code == 200, error_of(report.text)
        summary = re.search(r'<p id="report-summary">(.*?)</p>', report.text, re.S).group(1)
        assert "40 rows, 3 columns" in summary and "Classification" in summary
        frame = re.search(r'<iframe id="report-frame" class="report-frame" sandbox="" title="the report" '
                          r'srcdoc="([^"]*)"', report.text)
        assert frame, "the report is not in a sandboxed frame"
        inner = unescape(frame.group(1))
        assert "<svg" in inner and "age" in inner and "<script" not in inner

        step = web.get(f"/studio/wrangle/flows/{name}/export/pipeline-step")
        definition = json.loads(unescape(re.search(r'<pre class="code" id="step-definition">(.*?)</pre>', step.text,
                                                   re.S).group(1)))
        assert definition["Type"] == "Processing"
        assert definition["Arguments"]["ProcessingInputs"][0]["S3Input"]["S3Uri"].endswith(f"/{name}.flow")
        code = web.get(f"/studio/wrangle/flows/{name}/export/code.py")
        assert code.status_code == 200 and f'filename="{name}.py"' in code.headers["content-disposition"]
        compile(code.text, f"{name}.py", "exec")  # a Python program

        job_name = f"wr-{uuid.uuid4().hex[:10]}"
        r = web.post(f"/studio/wrangle/flows/{name}/export/processing-job",
                     data={"csrf_token": csrf, "job_name": job_name, "instance_type": "ml.m5.large"})
        assert r.status_code == 303 and job_name in r.headers["location"]
        assert job_name in web.get(r.headers["location"]).text  # in the processing job list

    sm, s3 = server.client("sagemaker"), server.client("s3")
    desc = wait_job(sm, job_name)
    assert desc["ProcessingJobStatus"] == "Completed", desc.get("FailureReason")
    out_uri = desc["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    bucket, _, prefix = out_uri[5:].partition("/")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    assert keys, f"no output under {out_uri}"
    text = s3.get_object(Bucket=bucket, Key=keys[0])["Body"].read().decode()
    out = list(csv.DictReader(io.StringIO(text)))
    assert len(out) == 40 and list(out[0]) == ["id", "age", "churned"] and float(out[0]["age"]) == -1.0


def test_bad_input_shows_a_clear_message(server, data):
    name = f"bad-{uuid.uuid4().hex[:6]}"
    with signed_in(server) as web:
        assert new_flow(web, name, data).status_code == 303
        page = web.get(f"/studio/wrangle/flows/{name}")
        csrf = csrf_of(page.text)
        before = web.get(f"/studio/wrangle/flows/{name}/flow.flow").json()

        r = add_step(web, name, "turn_into_gold", {}, csrf)
        assert r.status_code == 400 and "turn_into_gold" in error_of(r.text) and "manage_columns" in error_of(r.text)
        r = add_step(web, name, "manage_columns", {"operator": "Drop column", "drop_column_parameters": {
            "column_to_drop": ["salary"]}}, csrf)
        message = error_of(r.text)
        assert r.status_code == 400 and "The step was not added" in message and "salary" in message
        assert "not found" in message and "age" in message  # says which columns there are
        r = add_step(web, name, "manage_columns", '{"operator": "Drop column",', csrf)
        assert r.status_code == 400 and "not valid JSON" in error_of(r.text)
        r = add_step(web, name, "custom_pandas", {"code": "raise RuntimeError('the data is odd')"}, csrf)
        assert r.status_code == 400 and "RuntimeError: the data is odd" in error_of(r.text)
        assert web.get(f"/studio/wrangle/flows/{name}/flow.flow").json() == before  # nothing saved
        columns, _ = grid(r.text)  # the page still shows the grid
        assert [c for c, _ in columns] == ["id", "age", "city", "churned"]

        # a step can be removed again, but not one another step reads
        r = add_step(web, name, "manage_columns", DROP_CITY, csrf)
        assert r.status_code == 303, error_of(r.text)
        nodes = web.get(f"/studio/wrangle/flows/{name}/flow.flow").json()["nodes"]
        r = web.post(f"/studio/wrangle/flows/{name}/delete-step", data={"csrf_token": csrf,
                                                                         "node": nodes[-2]["node_id"]})
        assert r.status_code == 400 and "is read by" in r.text
        r = web.post(f"/studio/wrangle/flows/{name}/delete-step", data={"csrf_token": csrf,
                                                                         "node": nodes[-1]["node_id"]})
        assert r.status_code == 303 and web.get(f"/studio/wrangle/flows/{name}/flow.flow").json() == before

        r = web.get("/studio/wrangle/flows/no-such-flow")
        assert r.status_code == 404 and "NoSuchKey" in r.text
        r = web.post("/studio/wrangle/new", data={"csrf_token": csrf, "name": "../evil", "bucket": DATA_BUCKET,
                                                  "key": data})
        assert r.status_code == 400 and "letters, digits" in error_of(r.text)
        r = web.post("/studio/wrangle/new", data={"csrf_token": csrf, "name": name, "bucket": DATA_BUCKET, "key": data})
        assert r.status_code == 400 and "exists" in error_of(r.text)
        # a source that is gone: the page says so instead of failing
        s3 = server.client("s3")
        s3.put_object(Bucket=DATA_BUCKET, Key="tmp/gone.csv", Body=b"a,b\n1,2\n")
        gone = f"gone-{uuid.uuid4().hex[:6]}"
        assert new_flow(web, gone, "tmp/gone.csv").status_code == 303
        s3.delete_object(Bucket=DATA_BUCKET, Key="tmp/gone.csv")
        r = web.get(f"/studio/wrangle/flows/{gone}")
        assert r.status_code == 200 and "no S3 objects at s3://" in error_of(r.text)


def test_a_viewer_reads_flows_but_cannot_change_them(server, data):
    name = f"shared-{uuid.uuid4().hex[:6]}"
    with signed_in(server) as web:
        assert new_flow(web, name, data).status_code == 303
    viewer = Users(server.home).add(f"viewer-{uuid.uuid4().hex[:6]}", role="viewer")
    with signed_in(server, viewer.access_key_id, viewer.secret_access_key) as web:
        page = web.get(f"/studio/wrangle/flows/{name}")
        assert page.status_code == 200
        assert len(grid(page.text)[1]) == 40  # the sample is read as the viewer: reads are allowed
        r = add_step(web, name, "manage_columns", DROP_CITY, csrf_of(page.text))
        assert r.status_code == 403 and "AccessDenied" in r.text
        r = web.post(f"/studio/wrangle/flows/{name}/export/processing-job", data={"csrf_token": csrf_of(page.text)})
        assert r.status_code == 403 and "AccessDenied" in r.text


@pytest.mark.skipif(not sandbox.available(), reason="no mount namespace here: previews run unsandboxed")
def test_custom_steps_run_in_the_sandbox(server, data):
    """The user's code sees neither the server's home nor the network nor the server's environment."""
    name = f"probe-{uuid.uuid4().hex[:6]}"
    port = server.url.rsplit(":", 1)[1]
    code = (f"import json, os, socket\n"
            f"seen = sorted(os.listdir({str(Path(server.home).resolve())!r}))\n"
            f"user_home = sorted(os.listdir({USER_HOME!r}))\n"
            f"try:\n    socket.create_connection(('127.0.0.1', {port}), timeout=2).close(); net = 'connected'\n"
            f"except OSError:\n    net = 'refused'\n"
            f"df = df.head(1).assign(home_seen=str(seen), net=net, keys=str('AWS_SECRET_ACCESS_KEY' in os.environ),\n"
            f"                        user_home=json.dumps(user_home))")
    with signed_in(server) as web:
        assert new_flow(web, name, data).status_code == 303
        page = web.get(f"/studio/wrangle/flows/{name}")
        r = add_step(web, name, "custom_pandas", {"code": code}, csrf_of(page.text))
        assert r.status_code == 303, error_of(r.text)
        columns, rows = grid(web.get(r.headers["location"]).text)
        got = dict(zip([c for c, _ in columns], rows[0]))
        assert got["home_seen"] == "['wrangle-previews']"  # only the preview's own folder, not the home's files
        assert got["net"] == "refused" and got["keys"] == "False"
        # the server user's own home (~/.aws and the like) is hidden too, but for Python and Shipyard inside it
        assert set(json.loads(got["user_home"])) <= python_entries_of(USER_HOME)
    assert len(list(Path(server.home).iterdir())) > 1  # what was hidden: the database, objects, keys...


USER_HOME = os.path.realpath(os.path.expanduser("~"))
# Screenshots go to $SHIPYARD_SCREENSHOTS (e.g. docs/images), else a temporary folder, as the other console tests.
IMAGES = Path(os.environ.get("SHIPYARD_SCREENSHOTS") or tempfile.mkdtemp(prefix="shipyard-studio-shots-"))


def screenshot(page, name: str) -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMAGES / name), full_page=True)


def python_entries_of(folder: str) -> set[str]:
    """The entries of ``folder`` that lead to Python or Shipyard's code (shown again inside the sandbox)."""
    out = set()
    for root in {sys.prefix, sys.base_prefix, str(Path(wrangle_sandbox.__file__).resolve().parents[2])}:
        rel = os.path.relpath(os.path.realpath(root), folder)
        if not rel.startswith(".."):
            out.add(rel.split(os.sep)[0])
    return out


def _child_folder(tmp_path: Path, code: str) -> Path:
    from shipyard import wrangle

    folder = tmp_path / "home" / "wrangle-previews" / "x"
    (folder / "data" / "0").mkdir(parents=True)
    (folder / "data" / "0" / "00000-d.csv").write_text("a,b\n1,2\n3,4\n")
    flow = wrangle.new_flow("s3://b/d.csv")
    wrangle.add_step(flow, "custom_pandas", {"code": code})
    (folder / "flow.flow").write_text(json.dumps(flow.to_doc()))
    (folder / "sources.json").write_text(json.dumps({"s3://b/d.csv": "data/0"}))
    (folder / "request.json").write_text(json.dumps({"mode": "preview", "rows": 5, "sample_rows": 100}))
    return folder


def test_preview_time_and_size_limits(tmp_path, monkeypatch):
    monkeypatch.setattr(wrangle_sandbox, "TIME_LIMIT", 4.0)
    started = time.monotonic()
    result = wrangle_sandbox.run_child(_child_folder(tmp_path / "1", "while True:\n    pass"), sandbox.available())
    assert "ran past its 4 s limit" in result["error"] and time.monotonic() - started < 60

    monkeypatch.setattr(wrangle_sandbox, "RESULT_LIMIT", 1024)
    big = ("import os\nopen(os.path.join(os.environ['HOME'], 'result.json'), 'w').write(' ' * 4096)\n"
           "os._exit(0)")
    result = wrangle_sandbox.run_child(_child_folder(tmp_path / "2", big), sandbox.available())
    assert "over the console's 1024 byte limit" in result["error"]
    result = wrangle_sandbox.run_child(_child_folder(tmp_path / "3", "import os\nos._exit(3)"), sandbox.available())
    assert "exit code 3" in result["error"]


def test_in_a_browser_create_edit_report_export(page, server, data):
    """Chromium: the new-flow form, two steps through the add-step form (flow.js fills an example), the grid
    following them, a click on the graph, the report in its frame, and the export landing in the job list."""
    name = f"browser-{uuid.uuid4().hex[:6]}"
    page.goto(f"/studio/wrangle?bucket={DATA_BUCKET}")
    page.fill("#new-flow input[name=name]", name)
    page.select_option("#new-flow select[name=key]", data)
    page.click("#new-flow button[type=submit]")
    page.wait_for_url(re.compile(rf".*/studio/wrangle/flows/{name}$"))
    headers = page.locator("#data-grid thead .col").all_inner_texts()
    assert headers == ["id", "age", "city", "churned"]

    for operator, params, wanted in (("handle_missing", FILL_AGE, ["id", "age", "city", "churned"]),
                                     ("manage_columns", DROP_CITY, ["id", "age", "churned"])):
        page.select_option("#step-operator", operator)
        example = json.loads(page.input_value("#step-parameters"))  # filled in by flow.js
        assert example == flow_example(operator)
        page.fill("#step-parameters", json.dumps(params))
        page.click("#add-step button[type=submit]")
        page.wait_for_url(re.compile(r".*\?node=.*"))
        assert page.locator("#data-grid thead .col").all_inner_texts() == wanted
        assert page.locator("#data-grid tbody tr").first.locator("td").nth(1).inner_text() == "-1.0"
    assert page.locator("#flow-graph a.node").count() == 4
    page.locator("#flow-graph a.node").nth(1).click()  # the types step: city is back, age still missing
    page.wait_for_load_state()
    assert "city" in page.locator("#data-grid thead .col").all_inner_texts()
    assert page.locator("#data-grid tbody tr").first.locator("td").nth(1).inner_text() == "—"

    page.locator("#flow-graph a.node").nth(3).click()
    page.wait_for_load_state()
    screenshot(page, "studio-flow.png")
    page.select_option("#report-form select[name=target]", "churned")
    page.click("#report-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/report\?.*"))
    assert "40 rows, 3 columns" in page.inner_text("#report-summary")
    assert page.frame_locator("#report-frame").locator("svg").count() > 0  # the histograms
    screenshot(page, "studio-flow-report.png")
    page.go_back()
    page.wait_for_load_state()

    job_name = f"wrb-{uuid.uuid4().hex[:10]}"
    page.fill("#export-job input[name=job_name]", job_name)
    page.click("#export-job button[type=submit]")
    page.wait_for_url(re.compile(r".*/studio/processing-jobs\?name=.*"))
    assert job_name in page.inner_text("main")


def flow_example(operator: str) -> dict:
    """The example the form offers: the operator's, on the data's first column (id)."""
    from shipyard.ui.flow_view import EXAMPLES

    return json.loads(json.dumps(EXAMPLES[operator]).replace('"COLUMN"', '"id"'))


def test_the_sample_is_cut_at_a_line_end_and_large_parquet_is_refused(tmp_path, monkeypatch):
    from shipyard import wrangle
    from shipyard.objectstore.local import LocalObjectStore
    from shipyard.ui.operations import Identity

    store = LocalObjectStore(tmp_path / "objects")
    store.create_bucket("bkt")
    body = b"a,b\n" + b"".join(f"{i},{i * i}\n".encode() for i in range(100))
    store.put_object("bkt", "t/part-1.csv", io.BytesIO(body))
    store.put_object("bkt", "t/part-2.csv", io.BytesIO(body))
    store.put_object("bkt", "t/_SUCCESS", io.BytesIO(b""))
    monkeypatch.setattr(wrangle_sandbox, "SAMPLE_BYTES", 50)
    staged = wrangle_sandbox.stage_sources(store, Identity("server-key"), wrangle.new_flow("s3://bkt/t"),
                                           tmp_path / "stage")
    assert staged == {"s3://bkt/t": "data/0"}
    files = sorted((tmp_path / "stage" / "data" / "0").iterdir())
    assert [f.name for f in files] == ["00000-part-1.csv"]  # the budget ends in the first object
    text = files[0].read_bytes()
    assert body.startswith(text) and text.endswith(b"\n") and 40 < len(text) <= 50

    store.put_object("bkt", "big.parquet", io.BytesIO(b"x" * 100))
    with pytest.raises(wrangle_sandbox.SampleError, match="Parquet object of 100 bytes"):
        wrangle_sandbox.stage_sources(store, Identity("server-key"),
                                      wrangle.new_flow("s3://bkt/big.parquet", content_type="parquet"),
                                      tmp_path / "stage2")
