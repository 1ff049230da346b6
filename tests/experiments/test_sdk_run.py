"""The SageMaker SDK's ``Run``, unmodified, against a real server: parameters, metrics (BatchPutMetrics through
the SDK's metrics manager), files and charts logged inside ``with Run(...)`` land on the run's trial component,
whose metric summaries match what was logged; ``load_run`` and ``list_runs`` find it again."""

from __future__ import annotations

import uuid

import pytest

from shipyard.testing.sdk import sdk_environment, sdk_session

# quick_sagemaker_sdk: the SDK without its fixed sleeps and per-call config-schema checks (tests/e2e/sdk_waits.py)
pytestmark = [pytest.mark.timeout(180), pytest.mark.usefixtures("quick_sagemaker_sdk")]


@pytest.fixture(scope="module")
def session(server, tmp_path_factory):
    bucket = f"exp-sdk-{uuid.uuid4().hex[:8]}"
    server.client("s3").create_bucket(Bucket=bucket)
    with sdk_environment(server, tmp_path_factory.mktemp("exp-sdk"), bucket=bucket):
        yield sdk_session(bucket=bucket)


def test_run_logs_parameters_metrics_files_and_charts(session, server, tmp_path):
    from sagemaker.experiments import load_run, list_runs
    from sagemaker.experiments.run import Run

    exp = f"exp-{uuid.uuid4().hex[:8]}"
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    with Run(experiment_name=exp, run_name="first", sagemaker_session=session) as run:
        run.log_parameters({"lr": 0.01, "optimizer": "adam"})
        run.log_parameter("epochs", 3)
        for step, loss in enumerate([0.9, 0.5, 0.2]):
            run.log_metric("loss", loss, step=step)
        run.log_file(str(notes), name="notes", is_output=False)
        run.log_confusion_matrix([0, 1, 1, 0], [0, 1, 0, 0], title="cm")
        run.log_roc_curve([0, 1, 1, 0], [0.1, 0.8, 0.6, 0.3], title="roc")
        run.log_precision_recall([0, 1, 1, 0], [0.1, 0.8, 0.6, 0.3], title="pr")
        tc_name = run._trial_component.trial_component_name
    sm = server.client("sagemaker")
    d = sm.describe_trial_component(TrialComponentName=tc_name)
    assert tc_name == f"{exp}-first"
    assert d["Parameters"] == {"lr": {"NumberValue": 0.01}, "optimizer": {"StringValue": "adam"},
                               "epochs": {"NumberValue": 3.0}}
    assert d["Status"]["PrimaryStatus"] == "Completed" and d["EndTime"] >= d["StartTime"]
    (loss,) = [m for m in d["Metrics"] if m["MetricName"] == "loss"]
    assert (loss["Count"], loss["Min"], loss["Max"], loss["Last"]) == (3, 0.2, 0.9, 0.2)
    assert loss["Avg"] == pytest.approx((0.9 + 0.5 + 0.2) / 3)
    assert d["InputArtifacts"]["notes"]["Value"].startswith("s3://")
    # charts are lineage artifacts the run Produced (the SDK's CreateArtifact + AddAssociation)
    edges = sm.list_associations(SourceArn=d["TrialComponentArn"])["AssociationSummaries"]
    produced = {e["DestinationName"] for e in edges if e["AssociationType"] == "Produced"}
    assert {"cm", "roc", "pr"} <= produced, edges
    key = d["InputArtifacts"]["notes"]["Value"].split("/", 3)[3]
    bucket = d["InputArtifacts"]["notes"]["Value"].split("/")[2]
    assert server.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read() == b"hello"
    # the run sits in the experiment's run group, and the SDK finds it again
    trials = sm.list_trials(ExperimentName=exp)["TrialSummaries"]
    assert [t["TrialName"] for t in trials] == [f"Default-Run-Group-{exp}"]
    assert [r.run_name for r in list_runs(experiment_name=exp, sagemaker_session=session)] == ["first"]
    with load_run(experiment_name=exp, run_name="first", sagemaker_session=session) as again:
        again.log_metric("loss", 0.1, step=3)
    d = sm.describe_trial_component(TrialComponentName=tc_name)
    (loss,) = [m for m in d["Metrics"] if m["MetricName"] == "loss"]
    assert (loss["Count"], loss["Last"]) == (4, 0.1)
