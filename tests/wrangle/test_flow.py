"""Flows as documents: AWS's format accepted (a Data Wrangler flow with join, one-hot, formula, split),
join + concatenate checked against pandas, the Python export executed and compared, bad flows refused."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from shipyard import wrangle
from shipyard.errors import ValidationError


def _source(node_id: str, uri: str, name: str) -> dict:
    return {"node_id": node_id, "type": "SOURCE", "operator": "sagemaker.s3_source_0.1", "parameters": {
        "dataset_definition": {"__typename": "S3CreateDatasetDefinitionOutput", "datasetSourceType": "S3",
                               "name": name, "description": None, "s3ExecutionContext": {
                                   "__typename": "S3ExecutionContext", "s3Uri": uri, "s3ContentType": "csv",
                                   "s3HasHeader": True, "s3FieldDelimiter": ",", "s3DirIncludesNested": False,
                                   "s3AddsFilenameColumn": False}}},
        "inputs": [], "outputs": [{"name": "default", "sampling": {"sampling_method": "sample_by_limit",
                                                                   "limit_rows": 50000}}]}


def _step(node_id, operator, parameters, inputs, *, node_type="TRANSFORM", trained=None, outputs=("default",)):
    node = {"node_id": node_id, "type": node_type, "operator": operator, "parameters": parameters,
            "inputs": [{"name": "df", "node_id": n, "output_name": o} for n, o in inputs],
            "outputs": [{"name": o} for o in outputs]}
    if trained:
        node["trained_parameters"] = trained
    return node


@pytest.fixture
def music(tmp_path):
    """Tracks and ratings as in AWS's joined-dataflow example (generated), and a flow in AWS's format."""
    rng = np.random.default_rng(1)
    tracks = pd.DataFrame({"trackId": [f"t{i}" for i in range(40)], "energy": rng.random(40),
                           "valence": rng.random(40), "genre": rng.choice(["Pop", "Jazz", "Folk"], 40)})
    ratings = pd.DataFrame({"ratingEventId": [f"r{i}" for i in range(300)], "userId": rng.integers(0, 20, 300),
                            "trackId": [f"t{i}" for i in rng.integers(0, 50, 300)], "Rating": rng.integers(1, 6, 300)})
    extra = ratings.sample(25, random_state=3)
    tracks.to_csv(tmp_path / "tracks.csv", index=False)
    ratings.to_csv(tmp_path / "ratings.csv", index=False)
    extra.to_csv(tmp_path / "more_ratings.csv", index=False)
    doc = {"metadata": {"version": 1, "disable_limits": False, "instance_type": "ml.m5.4xlarge"}, "nodes": [
        _source("src-tracks", str(tmp_path / "tracks.csv"), "tracks.csv"),
        _step("types-tracks", "sagemaker.spark.infer_and_cast_type_0.1", {}, [("src-tracks", "default")],
              trained={"schema": {"trackId": "string", "energy": "float", "valence": "float", "genre": "string"}}),
        _source("src-ratings", str(tmp_path / "ratings.csv"), "ratings.csv"),
        _source("src-more", str(tmp_path / "more_ratings.csv"), "more_ratings.csv"),
        _step("concat", "sagemaker.spark.concatenate_datasets_0.1", {"concatenate_type": "row_wise",
                                                                     "apply_dedupe": False},
              [("src-ratings", "default"), ("src-more", "default")], node_type="CONCATENATE"),
        _step("onehot", "sagemaker.spark.encode_categorical_0.1", {
            "operator": "One-hot encode", "one_hot_encode_parameters": {
                "invalid_handling_strategy": "Keep", "drop_last": False, "output_style": "Columns",
                "input_column": ["genre"]},
            "ordinal_encode_parameters": {"invalid_handling_strategy": "Replace with NaN"}},
              [("types-tracks", "default")]),
        _step("formula", "sagemaker.spark.custom_formula_0.1", {"output_column": "danceability",
                                                                "formula": "0.3*valence + 0.1*energy"},
              [("onehot", "default")]),
        _step("join", "sagemaker.spark.join_tables_0.1", {"left_column": "trackId", "right_column": "trackId",
                                                          "join_type": "inner"},
              [("formula", "default"), ("concat", "default")]),
        _step("drop", "sagemaker.spark.manage_columns_0.1", {"operator": "Drop column", "drop_column_parameters": {
            "column_to_drop": ["trackId_0", "trackId_1", "ratingEventId"]}}, [("join", "default")]),
        _step("split", "sagemaker.spark.split_0.1", {"operator": "Randomized split", "randomized_split_parameters": {
            "splits": [{"name": "Train", "percentage": 0.8}, {"name": "Test", "percentage": 0.2}], "error": 0.0001}},
              [("drop", "default")], outputs=("Train", "Test")),
        _step("train", "sagemaker.dataset.identity_0.1", {}, [("split", "Train")], node_type="DATASET"),
        _step("test", "sagemaker.dataset.identity_0.1", {}, [("split", "Test")], node_type="DATASET"),
        _step("report", "sagemaker.visualizations.data_insights_report_0.1", {
            "insights_report_parameters": {"target_column": "Rating", "problem_type": "Classification"}},
              [("drop", "default")], node_type="VISUALIZATION"),
    ]}
    return tracks, ratings, extra, doc


def _by_hand(tracks, ratings, extra) -> pd.DataFrame:
    t = tracks.copy()
    counts = t["genre"].value_counts()
    for g in sorted(counts.index, key=lambda v: (-counts[v], v)):
        t[f"genre_{g}"] = (t["genre"] == g).astype("float64")
    t = t.drop(columns=["genre"])
    t["danceability"] = 0.3 * t["valence"] + 0.1 * t["energy"]
    r = pd.concat([ratings, extra], ignore_index=True)
    joined = t.merge(r.rename(columns={"trackId": "trackId_r"}), left_on="trackId", right_on="trackId_r")
    return joined.drop(columns=["trackId", "trackId_r", "ratingEventId"])


def test_aws_format_flow_with_join_and_concatenate(music):
    tracks, ratings, extra, doc = music
    flow = wrangle.parse_flow(json.dumps(doc))
    assert flow.outputs_of() == [("train", "default"), ("test", "default")]
    got = wrangle.preview(flow, "drop", sample_rows=None)
    assert_frame_equal(got, _by_hand(tracks, ratings, extra), check_dtype=False)
    assert len(got) > 0 and "trackId" not in got.columns
    frames = wrangle.run_flow(flow)
    assert len(frames[("train", "default")]) + len(frames[("test", "default")]) == len(got)
    assert wrangle.parse_flow(flow.to_doc()).to_doc() == doc  # round trip keeps the document as written


def test_python_export_reproduces_the_engine(music, tmp_path):
    *_, doc = music
    flow = wrangle.parse_flow(doc)
    script = tmp_path / "exported.py"
    script.write_text(wrangle.python_code(flow, name="music.flow", script="exported.py"))
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, str(script), "--out", str(out)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    import ast

    imported = set()
    for n in ast.walk(ast.parse(script.read_text())):
        if isinstance(n, ast.Import):
            imported |= {a.name.split(".")[0] for a in n.names}
        elif isinstance(n, ast.ImportFrom) and n.module:
            imported.add(n.module.split(".")[0])
    assert "shipyard" not in imported and {"pandas", "numpy"} <= imported  # standalone: pandas, not Shipyard
    engine = wrangle.run_flow(flow)
    for (node_id, output), frame in engine.items():
        exported = pd.read_csv(out / f"{node_id}.{output}.csv")
        assert_frame_equal(exported, frame.reset_index(drop=True), check_dtype=False)


def test_unknown_operator_is_refused_naming_node_and_operator(music):
    *_, doc = music
    doc["nodes"][5]["operator"] = "sagemaker.spark.teleport_0.1"
    with pytest.raises(ValidationError) as e:
        wrangle.parse_flow(doc)
    assert "'onehot'" in e.value.message and "sagemaker.spark.teleport_0.1" in e.value.message


@pytest.mark.parametrize("breakage, words", [
    (lambda d: d["nodes"][1]["inputs"][0].update(node_id="ghost"), ["'types-tracks'", "'ghost'"]),
    (lambda d: d["nodes"][7]["inputs"].pop(), ["'join'", "takes 2 input"]),
    (lambda d: d["nodes"][1]["inputs"][0].update(node_id="formula"), ["cycle"]),
    (lambda d: d["nodes"][10]["inputs"][0].update(output_name="Validation"), ["'Validation'", "'split'"]),
    (lambda d: d["nodes"].append(dict(d["nodes"][0])), ["used twice"]),
    (lambda d: d["metadata"].update(version=2), ["version"]),
    (lambda d: d["nodes"][0].update(type="MYSTERY"), ["'MYSTERY'"]),
])
def test_bad_flows_are_refused_clearly(music, breakage, words):
    *_, doc = music
    breakage(doc)
    with pytest.raises(ValidationError) as e:
        wrangle.parse_flow(doc)
    for word in words:
        assert word in e.value.message, e.value.message


def test_not_json_is_refused():
    with pytest.raises(ValidationError, match="not valid JSON"):
        wrangle.parse_flow("{nodes: ")


@pytest.mark.integration  # starts a local Spark (a JVM)
@pytest.mark.filterwarnings("ignore::FutureWarning")  # pyspark's note about pandas 3
def test_pyspark_custom_code_runs_on_local_spark(music):
    tracks, ratings, extra, doc = music
    code = ("import pyspark.sql.functions as F\n"
            "df = df.filter(F.col('Rating') >= 4).groupBy('genre_Pop').agg(F.count('*').alias('n'))")
    doc["nodes"].append(_step("spark", "sagemaker.spark.custom_code_0.1", {
        "operator": "Python (PySpark)", "pyspark_parameters": {"code": code}}, [("drop", "default")]))
    got = wrangle.preview(wrangle.parse_flow(doc), "spark", sample_rows=None).sort_values("genre_Pop")
    joined = _by_hand(tracks, ratings, extra)
    want = joined[joined["Rating"] >= 4].groupby("genre_Pop").size().reset_index(name="n")
    assert_frame_equal(got.reset_index(drop=True), want, check_dtype=False)


def test_public_api_is_pinned():
    assert sorted(wrangle.__all__) == sorted(
        ["Flow", "load_flow", "parse_flow", "new_flow", "add_step", "preview", "run_flow", "quality_report",
         "report_html", "processing_job_request", "pipeline_step", "python_code"])
    import importlib
    import pkgutil

    for module in pkgutil.walk_packages(wrangle.__path__, "shipyard.wrangle."):
        importlib.import_module(module.name)  # a submodule named like a function would shadow it
    for name in wrangle.__all__:
        assert callable(getattr(wrangle, name)), name


def test_operator_modules_are_standalone():
    """The Python export concatenates the ops modules: only stdlib/numpy/pandas imports, unique names."""
    import ast
    import importlib
    import inspect

    from shipyard.wrangle.operators import OPERATORS

    seen: dict[str, str] = {}
    for module in sorted({op.module for op in OPERATORS.values()} | {"_common"}):
        tree = ast.parse(inspect.getsource(importlib.import_module(f"shipyard.wrangle.ops.{module}")))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                assert node.module.split(".")[0] in {"__future__", "collections", "pandas", "numpy", "typing",
                                                     "pyarrow", "pyspark"}, (module, node.module)
            if isinstance(node, ast.ImportFrom) and node.level:
                assert node.module == "_common", (module, node.module)
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                assert node.name not in seen, f"{node.name} in both {seen.get(node.name)} and {module}"
                seen[node.name] = module
