"""SageMaker Python SDK flows beyond fit/deploy/predict, unmodified, against a real Shipyard server.

Covers what the SDK reads from Describe* answers without ``.get`` (``Estimator.attach``,
``HyperparameterTuner.attach``, ``TrainingJobAnalytics``), CloudWatch metrics (JSON 1.0, botocore's first
choice, and Smithy RPC v2 CBOR, which other botocore versions pick), endpoint container logs in CloudWatch
Logs (``wait_for_endpoint(live_logging=True)``), ``update_endpoint``/``delete_model``, ``Model.deploy``,
batch transform, the tuner, and ``S3Uploader``/``S3Downloader``. Where the SDK sleeps 30 s between polls the
tests use ``wait=False`` and the SDK's own waiters with a short poll: the same code path, only faster.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time

import numpy as np
import pytest

from shipyard.testing.sdk import sdk_environment, sdk_session

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ROLE = "arn:aws:iam::123456789012:role/Shipyard"
REGION = "us-east-1"
BUCKET = "sdk-compat"
NAMESPACE = "/aws/sagemaker/TrainingJobs"
NUM_ROUND = 12


@pytest.fixture(scope="module")
def sm_env(server, tmp_path_factory, quick_sagemaker_sdk):
    """The SDK's environment: AWS_* at the server, telemetry off (sessions name BUCKET themselves); with
    quick_sagemaker_sdk, `estimator.logs()`, `tuner.wait()` and `transformer.wait()` run as written without
    their 5-30 s pauses."""
    with sdk_environment(server, tmp_path_factory.mktemp("sagemaker-config"), region=REGION):
        yield server


@pytest.fixture(scope="module")
def trained(sm_env, tmp_path_factory):
    """One built-in XGBoost job: fit(wait=False), then estimator.logs() follows it to the end."""
    import sagemaker
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput

    folder = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(7)
    x = rng.normal(size=(400, 4))
    y = (x[:, 0] - x[:, 1] > 0).astype(int)
    np.savetxt(folder / "train.csv", np.column_stack([y, x]), delimiter=",", fmt="%.5f")
    np.savetxt(folder / "test.csv", x[:25], delimiter=",", fmt="%.5f")
    session = sdk_session(REGION, BUCKET)
    train = session.upload_data(str(folder / "train.csv"), key_prefix="compat/train")
    test = session.upload_data(str(folder / "test.csv"), key_prefix="compat/test")
    image = sagemaker.image_uris.retrieve("xgboost", REGION, "1.7-1")
    estimator = Estimator(image_uri=image, role=ROLE, instance_count=1, instance_type="ml.m5.large",
                          hyperparameters={"objective": "binary:logistic", "num_round": NUM_ROUND, "max_depth": 3},
                          tags=[{"Key": "team", "Value": "ml"}], sagemaker_session=session)
    channels = {"train": TrainingInput(train, content_type="text/csv"),
                "validation": TrainingInput(train, content_type="text/csv")}
    estimator.fit(channels, wait=False)
    estimator.logs()  # blocks until the job ends, printing its log
    return {"server": sm_env, "estimator": estimator, "session": session, "image": image, "channels": channels, "x": x,
            "test_uri": test, "job": estimator.latest_training_job.name}


def test_attach_and_describe_defaults(trained):
    from sagemaker.estimator import Estimator

    job = trained["job"]
    attached = Estimator.attach(job, sagemaker_session=trained["session"])
    assert attached.model_data == trained["estimator"].model_data
    assert attached.output_kms_key == "" and attached.instance_count == 1 and attached.max_run == 86400
    assert attached.hyperparameters()["num_round"] == str(NUM_ROUND)
    assert attached.tags == [{"Key": "team", "Value": "ml"}]

    d = trained["session"].sagemaker_client.describe_training_job(TrainingJobName=job)
    spec = d["AlgorithmSpecification"]
    assert spec["EnableSageMakerMetricsTimeSeries"] is False and spec["TrainingInputMode"] == "File"
    names = {m["Name"]: m["Regex"] for m in spec["MetricDefinitions"]}  # the algorithm's own definitions
    assert re.match(names["validation:logloss"], "[3]#011train-logloss:0.25#011validation-logloss:0.375").group(1) \
        == "0.375"
    assert d["OutputDataConfig"]["KmsKeyId"] == ""
    for ch in d["InputDataConfig"]:
        assert (ch["CompressionType"], ch["RecordWrapperType"]) == ("None", "None")
        assert ch["DataSource"]["S3DataSource"]["S3DataDistributionType"] == "FullyReplicated"
        assert ch["ContentType"] == "text/csv"


def _recorded(server, job, metric):
    """The metric points the job's log produced, read straight from the log (not through CloudWatch)."""
    logs = server.client("logs")
    stream = logs.describe_log_streams(logGroupName=NAMESPACE, logStreamNamePrefix=job)["logStreams"][0]
    events = logs.get_log_events(logGroupName=NAMESPACE, logStreamName=stream["logStreamName"],
                                 startFromHead=True)["events"]
    key = metric.replace(":", "-") + ":"
    return [float(e["message"].split(key, 1)[1].split("#011")[0]) for e in events if key in e["message"]]


def test_training_job_analytics_and_cloudwatch(trained, monkeypatch):
    import boto3
    import botocore.model

    job = trained["job"]
    values = _recorded(trained["server"], job, "validation:logloss")
    assert len(values) == NUM_ROUND

    df = trained["estimator"].training_job_analytics.dataframe()
    rows = df[df["metric_name"] == "validation:logloss"]
    assert len(rows) >= 1 and set(df["metric_name"]) == {"train:logloss", "validation:logloss"}
    # period 60: one row per minute bucket; their values are the buckets' means of the recorded points
    assert min(rows["value"]) >= min(values) - 1e-9 and max(rows["value"]) <= max(values) + 1e-9

    cw = boto3.client("cloudwatch")
    dims = [{"Name": "TrainingJobName", "Value": job}]
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    end = start + dt.timedelta(hours=2)
    out = cw.get_metric_statistics(Namespace=NAMESPACE, MetricName="validation:logloss", Dimensions=dims,
                                   StartTime=start, EndTime=end, Period=3600,
                                   Statistics=["SampleCount", "Average", "Minimum", "Maximum", "Sum"],
                                   ExtendedStatistics=["p50"])
    points = out["Datapoints"]
    assert out["Label"] == "validation:logloss" and 1 <= len(points) <= 2
    assert sum(p["SampleCount"] for p in points) == NUM_ROUND
    assert sum(p["Sum"] for p in points) == pytest.approx(sum(values), rel=1e-6)
    assert min(p["Minimum"] for p in points) == pytest.approx(min(values))
    assert max(p["Maximum"] for p in points) == pytest.approx(max(values))
    origin = start.replace(second=0, microsecond=0)  # buckets: the start rounded to the minute + k periods
    assert all((p["Timestamp"] - origin).total_seconds() % 3600 == 0 for p in points)

    data = cw.get_metric_data(StartTime=start, EndTime=end, MetricDataQueries=[
        {"Id": "m1", "MetricStat": {"Metric": {"Namespace": NAMESPACE, "MetricName": "train:logloss",
                                               "Dimensions": dims}, "Period": 3600, "Stat": "SampleCount"}}])
    assert sum(data["MetricDataResults"][0]["Values"]) == NUM_ROUND
    listed = cw.list_metrics(Namespace=NAMESPACE, Dimensions=[{"Name": "TrainingJobName", "Value": job}])
    assert sorted(m["MetricName"] for m in listed["Metrics"]) == ["train:logloss", "validation:logloss"]
    empty = cw.get_metric_statistics(Namespace=NAMESPACE, MetricName="validation:logloss",
                                     Dimensions=[{"Name": "TrainingJobName", "Value": "no-such-job"}],
                                     StartTime=start, EndTime=end, Period=60, Statistics=["Average"])
    assert empty["Datapoints"] == []
    with pytest.raises(cw.exceptions.InvalidParameterValueException, match="Period"):
        cw.get_metric_statistics(Namespace=NAMESPACE, MetricName="x", StartTime=start, EndTime=end, Period=7,
                                 Statistics=["Average"])
    with pytest.raises(cw.exceptions.InvalidParameterCombinationException):
        cw.get_metric_statistics(Namespace=NAMESPACE, MetricName="x", StartTime=start, EndTime=end, Period=60)

    # the same calls in Smithy RPC v2 CBOR, the protocol botocore picks when it ranks CBOR first
    monkeypatch.setattr(botocore.model, "PRIORITY_ORDERED_SUPPORTED_PROTOCOLS", ("smithy-rpc-v2-cbor", "json"))
    cbor_cw = boto3.Session(region_name=REGION).client("cloudwatch")
    assert cbor_cw.meta.service_model.resolved_protocol == "smithy-rpc-v2-cbor"
    again = cbor_cw.get_metric_statistics(Namespace=NAMESPACE, MetricName="validation:logloss", Dimensions=dims,
                                          StartTime=start, EndTime=end, Period=3600,
                                          Statistics=["SampleCount", "Average", "Minimum", "Maximum", "Sum"],
                                          ExtendedStatistics=["p50"])
    strip = [{k: v for k, v in p.items()} for p in again["Datapoints"]]
    assert strip == points
    with pytest.raises(cbor_cw.exceptions.InvalidParameterValueException, match="Period"):
        cbor_cw.get_metric_statistics(Namespace=NAMESPACE, MetricName="x", StartTime=start, EndTime=end,
                                      Period=7, Statistics=["Average"])
    assert cbor_cw.list_metrics(Namespace=NAMESPACE, MetricName="train:logloss")["Metrics"]


def test_endpoint_logs_live_logging_update_and_delete(trained, caplog):
    import boto3
    from sagemaker.deserializers import CSVDeserializer
    from sagemaker.serializers import CSVSerializer

    session = trained["session"]
    predictor = trained["estimator"].deploy(1, "ml.m5.large", wait=False, serializer=CSVSerializer(),
                                            deserializer=CSVDeserializer())
    name = predictor.endpoint_name
    logs = boto3.client("logs")
    group = f"/aws/sagemaker/Endpoints/{name}"
    try:
        with caplog.at_level(logging.INFO, logger="sagemaker"):
            desc = session.wait_for_endpoint(name, poll=1, live_logging=True)  # FilterLogEvents while Creating
        assert desc["EndpointStatus"] == "InService"
        assert any("Model server listening on" in r.getMessage() for r in caplog.records), \
            [r.getMessage() for r in caplog.records]
        streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
        assert [s["logStreamName"].split("/")[0] for s in streams] == ["AllTraffic"]
        events = logs.get_log_events(logGroupName=group, logStreamName=streams[0]["logStreamName"],
                                     startFromHead=True)["events"]
        assert "Model server listening on" in events[0]["message"]
        assert len(predictor.predict(trained["x"][:3])) == 3

        predictor.update_endpoint(initial_instance_count=2, instance_type="ml.m5.large", wait=False)
        desc = session.wait_for_endpoint(name, poll=1)
        assert desc["ProductionVariants"][0]["CurrentInstanceCount"] == 2
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:  # the new instances' start-up lines reach CloudWatch Logs
            streams = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix="AllTraffic/")["logStreams"]
            if len(streams) >= 3:
                break
            time.sleep(0.5)
        assert len(streams) >= 3, streams
        assert len(predictor.predict(trained["x"][:2])) == 2
        predictor.delete_model()  # before delete_endpoint: it finds the models through the endpoint config
        with pytest.raises(Exception, match="Could not find model"):
            session.sagemaker_client.describe_model(ModelName=name)
    finally:
        predictor.delete_endpoint()
    sm = session.sagemaker_client
    sm.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    assert logs.filter_log_events(logGroupName=group, filterPattern="listening")["events"]  # logs outlive it


def test_model_deploy_and_batch_transform(trained):
    from sagemaker.model import Model
    from sagemaker.predictor import Predictor
    from sagemaker.s3 import S3Downloader
    from sagemaker.serializers import CSVSerializer

    session, est = trained["session"], trained["estimator"]
    model = Model(image_uri=trained["image"], model_data=est.model_data, role=ROLE, sagemaker_session=session,
                  predictor_cls=Predictor)
    predictor = model.deploy(1, "ml.m5.large", wait=False)
    try:
        assert session.wait_for_endpoint(predictor.endpoint_name, poll=1)["EndpointStatus"] == "InService"
        again = Predictor(predictor.endpoint_name, sagemaker_session=session, serializer=CSVSerializer())
        scores = [float(v) for v in again.predict(trained["x"][:4]).decode().split()]
        assert len(scores) == 4 and all(0 <= s <= 1 for s in scores)
        again.delete_model()
    finally:
        predictor.delete_endpoint()

    out = f"s3://{BUCKET}/compat/transform-out/"
    transformer = est.transformer(1, "ml.m5.large", output_path=out)
    transformer.transform(trained["test_uri"], content_type="text/csv", split_type="Line", wait=False)
    transformer.wait(logs=False)
    keys = S3Downloader.list(out, sagemaker_session=session)
    assert keys == [out + "test.csv.out"]
    lines = S3Downloader.read_file(keys[0], sagemaker_session=session).split()
    assert len(lines) == 25 and all(0 <= float(v) <= 1 for v in lines)
    from sagemaker.transformer import Transformer

    attached = Transformer.attach(transformer.latest_transform_job.name, sagemaker_session=session)
    assert attached.output_path == out


def test_hyperparameter_tuner_fit_analytics_attach(trained):
    from sagemaker.tuner import ContinuousParameter, HyperparameterTuner, IntegerParameter

    session, est = trained["session"], trained["estimator"]
    tuner = HyperparameterTuner(est, "validation:logloss", {"max_depth": IntegerParameter(2, 5),
                                                            "eta": ContinuousParameter(0.1, 0.5)},
                                objective_type="Minimize", max_jobs=3, max_parallel_jobs=3)
    tuner.fit(trained["channels"], wait=False)
    name = tuner.latest_tuning_job.name
    sm = session.sagemaker_client
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)[
            "HyperParameterTuningJobStatus"]
        if status != "InProgress":
            break
        time.sleep(0.5)
    tuner.wait()
    assert status == "Completed"
    best = tuner.best_training_job()
    df = tuner.analytics().dataframe()
    assert len(df) == 3 and df["FinalObjectiveValue"].min() == pytest.approx(
        df.loc[df["TrainingJobName"] == best, "FinalObjectiveValue"].iloc[0])
    attached = HyperparameterTuner.attach(name, sagemaker_session=session)
    assert attached.best_training_job() == best
    assert attached.objective_metric_name == "validation:logloss" and attached.max_jobs == 3
    assert "_tuning_objective_metric" not in attached.estimator.hyperparameters()


def test_s3_uploader_and_downloader(trained, tmp_path):
    from sagemaker.s3 import S3Downloader, S3Uploader

    session = trained["session"]
    uri = S3Uploader.upload_string_as_file_body("hello shipyard", f"s3://{BUCKET}/u/h.txt", sagemaker_session=session)
    assert S3Downloader.read_file(uri, sagemaker_session=session) == "hello shipyard"
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "a.txt").write_text("a")
    (tmp_path / "dir" / "b.txt").write_text("b")
    S3Uploader.upload(str(tmp_path / "dir"), f"s3://{BUCKET}/u/dir", sagemaker_session=session)
    listed = S3Downloader.list(f"s3://{BUCKET}/u/dir", sagemaker_session=session)
    assert listed == [f"s3://{BUCKET}/u/dir/a.txt", f"s3://{BUCKET}/u/dir/b.txt"]
    got = S3Downloader.download(f"s3://{BUCKET}/u/dir", str(tmp_path / "dl"), sagemaker_session=session)
    assert sorted(p.rsplit("/", 1)[1] for p in got) == ["a.txt", "b.txt"]
    assert (tmp_path / "dl" / "b.txt").read_text() == "b"


def test_script_mode_attach_and_analytics_without_metric_definitions(trained, tmp_path):
    from sagemaker.sklearn import SKLearn

    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text("import os\nprint('no metrics here')\n"
                                  "open(os.path.join(os.environ['SM_MODEL_DIR'], 'm.txt'), 'w').write('x')\n")
    session = trained["session"]
    est = SKLearn(entry_point="train.py", source_dir=str(src), framework_version="1.2-1", py_version="py3",
                  role=ROLE, instance_count=1, instance_type="ml.m5.large", hyperparameters={"alpha": 0.5},
                  sagemaker_session=session)
    est.fit({"train": trained["channels"]["train"]}, wait=False)
    est.logs()
    attached = SKLearn.attach(est.latest_training_job.name, sagemaker_session=session)
    assert (attached.entry_point, attached.framework_version) == ("train.py", "1.2-1")
    assert attached.hyperparameters()["alpha"] == "0.5"
    assert attached.model_data == est.model_data
    assert est.training_job_analytics.dataframe().empty  # no metric definitions: nothing, not a KeyError
