"""A flow exported to a processing job on Data Wrangler's image and run by a real server: its outputs
(``<node_id>.default``) equal the engine's local run; a failing step fails the job naming the node; the CLI's
``export --to processing-job --run`` does the same end to end; a pipeline step runs the flow too."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import uuid

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from shipyard import wrangle
from shipyard.testing.server import ShipyardProcess

pytestmark = [pytest.mark.integration]

BUCKET = "wrangle-tests"
ROLE = "arn:aws:iam::123456789012:role/ShipyardTest"
TERMINAL = ("Completed", "Failed", "Stopped")


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    proc = ShipyardProcess(tmp_path_factory.mktemp("wrangle-home"))
    proc.start()
    try:
        yield proc
    finally:
        proc.stop(kill_children=True)


@pytest.fixture(scope="module")
def data(srv):
    s3 = srv.client("s3")
    try:
        s3.create_bucket(Bucket=BUCKET)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    rng = np.random.default_rng(5)
    customers = pd.DataFrame({"cid": np.arange(60), "age": rng.integers(18, 80, 60).astype(float),
                              "plan": rng.choice(["basic", "pro", "team"], 60)})
    customers.loc[[3, 9, 27], "age"] = np.nan
    orders = pd.DataFrame({"oid": np.arange(400), "cid": rng.integers(0, 70, 400), "amount": rng.gamma(2, 30, 400)})
    for key, frame in (("raw/customers.csv", customers), ("raw/orders/part-0.csv", orders.iloc[:200]),
                       ("raw/orders/part-1.csv", orders.iloc[200:])):
        s3.put_object(Bucket=BUCKET, Key=key, Body=frame.to_csv(index=False).encode())
    return s3


def _flow() -> wrangle.Flow:
    flow = wrangle.new_flow(f"s3://{BUCKET}/raw/customers.csv")
    wrangle.add_step(flow, "handle_missing", {"operator": "Impute", "impute_parameters": {
        "column_type": "Numeric", "numeric_parameters": {"input_column": "age", "strategy": "Median"}}})
    wrangle.add_step(flow, "encode_categorical", {"operator": "One-hot encode", "one_hot_encode_parameters": {
        "input_column": "plan"}}, node_id="encoded")
    orders = wrangle.parse_flow({**flow.to_doc(), "nodes": flow.to_doc()["nodes"] + wrangle.new_flow(
        f"s3://{BUCKET}/raw/orders", name="orders").to_doc()["nodes"]})
    orders_types = orders.data_nodes()[-1].node_id
    wrangle.add_step(orders, "join_tables", {"left_column": "cid", "right_column": "cid", "join_type": "inner"},
                     inputs=["encoded", orders_types], node_id="joined")
    wrangle.add_step(orders, "custom_pandas", {"code": "df['big'] = df['amount'] > 50"}, node_id="final")
    return orders


def _read_output(s3, uri: str) -> pd.DataFrame:
    bucket, _, prefix = uri[len("s3://"):].partition("/")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]]
    assert len(keys) == 1 and keys[0].endswith(".csv"), keys
    return pd.read_csv(io.BytesIO(s3.get_object(Bucket=bucket, Key=keys[0])["Body"].read()))


def _wait(sm, name: str, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        desc = sm.describe_processing_job(ProcessingJobName=name)
        if desc["ProcessingJobStatus"] in TERMINAL or time.monotonic() > deadline:
            return desc
        time.sleep(0.3)


def _submit(srv, s3, flow, name: str, outputs=None) -> dict:
    request = wrangle.processing_job_request(
        flow, job_name=name, role=ROLE, flow_s3_uri=f"s3://{BUCKET}/{name}/flow/flow.flow",
        output_s3_uri=f"s3://{BUCKET}/{name}/output", outputs=outputs, instance_type="ml.m5.large")
    s3.put_object(Bucket=BUCKET, Key=f"{name}/flow/flow.flow", Body=json.dumps(flow.to_doc()).encode())
    sm = srv.client("sagemaker")
    sm.create_processing_job(**request)
    return _wait(sm, name)


def test_processing_job_output_equals_the_local_run(srv, data):
    flow = _flow()
    name = f"wrangle-{uuid.uuid4().hex[:8]}"
    desc = _submit(srv, data, flow, name, outputs=[("final", "default"), ("encoded", "default")])
    assert desc["ProcessingJobStatus"] == "Completed", desc.get("FailureReason")
    assert "sagemaker-data-wrangler-container" in desc["AppSpecification"]["ImageUri"]
    local = wrangle.run_flow(flow, [("final", "default"), ("encoded", "default")], s3_client=data)
    assert len(local[("final", "default")]) > 100  # orders of unknown customers dropped by the inner join
    for (node_id, output), frame in local.items():
        remote = _read_output(data, f"s3://{BUCKET}/{name}/output/{node_id}.{output}")
        assert_frame_equal(remote, frame.reset_index(drop=True), check_dtype=False)


def test_a_failing_step_fails_the_job_naming_the_node(srv, data):
    flow = _flow()
    wrangle.add_step(flow, "manage_columns", {"operator": "Drop column", "drop_column_parameters": {
        "column_to_drop": "no_such_column"}}, node_id="bad-drop")
    desc = _submit(srv, data, flow, f"wrangle-bad-{uuid.uuid4().hex[:6]}")
    assert desc["ProcessingJobStatus"] == "Failed"
    assert "bad-drop" in desc["FailureReason"] and "no_such_column" in desc["FailureReason"]


def test_cli_export_runs_the_job(srv, data, tmp_path):
    path = tmp_path / "customers.flow"
    _flow().save(path)
    done = subprocess.run([sys.executable, "-m", "shipyard.cli", "wrangle", "export", str(path), "--to",
                           "processing-job", "--run", "--node", "final", "--s3-prefix", f"s3://{BUCKET}/cli",
                           "--endpoint-url", srv.url, "--wait", "120"],
                          capture_output=True, text=True, timeout=180, env=srv.env())
    assert done.returncode == 0, done.stderr + done.stdout
    job = done.stdout.splitlines()[0]
    remote = _read_output(data, f"s3://{BUCKET}/cli/{job}/output/final.default")
    local = wrangle.run_flow(_flow(), [("final", "default")], s3_client=data)[("final", "default")]
    assert_frame_equal(remote, local.reset_index(drop=True), check_dtype=False)


def test_pipeline_step_runs_the_flow(srv, data):
    flow = _flow()
    name = f"wrangle-pipe-{uuid.uuid4().hex[:6]}"
    data.put_object(Bucket=BUCKET, Key=f"{name}/flow/flow.flow", Body=json.dumps(flow.to_doc()).encode())
    step = wrangle.pipeline_step(flow, name="Wrangle", role=ROLE, flow_s3_uri=f"s3://{BUCKET}/{name}/flow/flow.flow",
                                 output_s3_uri=f"s3://{BUCKET}/{name}/output", outputs=[("final", "default")],
                                 instance_type="ml.m5.large")
    sm = srv.client("sagemaker")
    definition = {"Version": "2020-12-01", "Steps": [step]}
    sm.create_pipeline(PipelineName=name, PipelineDefinition=json.dumps(definition), RoleArn=ROLE)
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    deadline = time.monotonic() + 150
    while True:
        status = sm.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"]
        if status not in ("Executing",) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    steps = sm.list_pipeline_execution_steps(PipelineExecutionArn=arn)["PipelineExecutionSteps"]
    assert status == "Succeeded", steps
    remote = _read_output(data, f"s3://{BUCKET}/{name}/output/final.default")
    local = wrangle.run_flow(flow, [("final", "default")], s3_client=data)[("final", "default")]
    assert_frame_equal(remote, local.reset_index(drop=True), check_dtype=False)
