"""`shipyard wrangle` in process: new, add, preview, report (JSON + HTML), export to Python (and --run), export
to a processing job's request and a pipeline step; errors are one line naming what to fix."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from shipyard import wrangle
from shipyard.cli import main
from shipyard.processing.program import program_for
from shipyard.wrangle.image import image_uri, is_wrangler_image


@pytest.fixture
def flow_file(tmp_path):
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"x": rng.normal(size=300), "g": rng.choice(["u", "v"], 300), "y": rng.integers(0, 2, 300)})
    df["copy_of_y"] = df["y"] * 10
    df.loc[:9, "x"] = np.nan
    df.to_csv(tmp_path / "data.csv", index=False)
    path = tmp_path / "my.flow"
    assert main(["wrangle", "new", str(path), "--source", str(tmp_path / "data.csv")]) == 0
    return path, df


def test_new_add_preview(flow_file, capsys):
    path, df = flow_file
    capsys.readouterr()
    assert main(["wrangle", "add", str(path), "handle_missing", "--params", json.dumps({
        "operator": "Fill missing", "fill_missing_parameters": {"input_column": "x", "fill_value": "0"}})]) == 0
    node = capsys.readouterr().out.strip()
    assert wrangle.load_flow(path).last_data_node().node_id == node
    assert main(["wrangle", "preview", str(path), "--rows", "4", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 4 and rows[0]["x"] == 0.0 and rows[0]["y"] == int(df["y"][0])


def test_report_writes_json_and_html(flow_file, tmp_path, capsys):
    path, _ = flow_file
    assert main(["wrangle", "report", str(path), "--target", "y", "--html", str(tmp_path / "r.html"),
                 "--json-out", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["leaky_features"] == ["copy_of_y"] and "Target leakage" in out
    assert "copy_of_y" in (tmp_path / "r.html").read_text()


def test_export_python_and_run(flow_file, tmp_path, capsys):
    path, df = flow_file
    assert main(["wrangle", "export", str(path), "--to", "python", "--out", str(tmp_path / "flow.py")]) == 0
    assert "def run_flow" in (tmp_path / "flow.py").read_text()
    assert main(["wrangle", "export", str(path), "--to", "python", "--run", "--out", str(tmp_path / "out")]) == 0
    (csv,) = list((tmp_path / "out").glob("*.csv"))
    pd.testing.assert_frame_equal(pd.read_csv(csv), df, check_dtype=False)


def test_export_job_request_and_pipeline_step(flow_file, tmp_path, capsys):
    path, _ = flow_file
    assert main(["wrangle", "export", str(path), "--to", "processing-job"]) == 1  # a local source
    assert "not an s3:// URI" in capsys.readouterr().err
    flow = wrangle.load_flow(path)
    flow.nodes[next(iter(flow.nodes))].parameters["dataset_definition"]["s3ExecutionContext"]["s3Uri"] = \
        "s3://bucket/data.csv"
    s3_path = tmp_path / "s3.flow"
    wrangle.parse_flow(flow.to_doc()).save(s3_path)
    capsys.readouterr()
    assert main(["wrangle", "export", str(s3_path), "--to", "pipeline-step", "--s3-prefix", "s3://b/p"]) == 0
    step = json.loads(capsys.readouterr().out)
    node = flow.last_data_node().node_id
    args = step["Arguments"]
    assert step["Type"] == "Processing" and is_wrangler_image(args["AppSpecification"]["ImageUri"])
    assert [o["OutputName"] for o in args["ProcessingOutputConfig"]["Outputs"]] == [f"{node}.default"]
    assert {i["InputName"] for i in args["ProcessingInputs"]} == {"flow", "data.csv"}


def test_errors_are_one_line(flow_file, tmp_path, capsys):
    path, _ = flow_file
    assert main(["wrangle", "add", str(path), "manage_columns", "--params", "{not json"]) == 1
    assert "--params is not valid JSON" in capsys.readouterr().err
    assert main(["wrangle", "preview", str(path), "--node", "nope"]) == 1
    assert "No node 'nope'" in capsys.readouterr().err
    (tmp_path / "bad.flow").write_text(json.dumps({"metadata": {"version": 1}, "nodes": [
        {"node_id": "a", "type": "SOURCE", "operator": "sagemaker.spark.magic_0.1"}]}))
    assert main(["wrangle", "preview", str(tmp_path / "bad.flow")]) == 1
    err = capsys.readouterr().err
    assert "'a'" in err and "sagemaker.spark.magic_0.1" in err and len(err.strip().splitlines()) == 1


def test_data_wrangler_image_runs_the_flow_runner():
    uri = image_uri("eu-west-1")
    assert uri.endswith("/sagemaker-data-wrangler-container:3.x") and ".eu-west-1." in uri
    assert program_for(uri) == {"kind": "wrangler", "image": uri}
    assert not is_wrangler_image("123456789012.dkr.ecr.us-east-1.amazonaws.com/other:1")
