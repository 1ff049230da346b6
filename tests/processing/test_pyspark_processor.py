"""The SageMaker SDK's PySparkProcessor, unmodified, against a real server running a real local Spark.

``run(submit_app=..., submit_py_files=..., configuration=..., spark_event_logs_s3_uri=...)`` starts a job of
the ``sagemaker-spark-processing`` image whose entrypoint is ``smspark-submit``; Shipyard runs it with
:mod:`shipyard.processing.spark_submit` on the installed pyspark. One job does the work the tests read (Spark
starts in seconds, not milliseconds); a second one fails on purpose. The translation of the configuration and
the options is also checked without Spark, on :mod:`shipyard.processing.spark_config` and ``spark_submit``.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
import shutil
import textwrap
from pathlib import Path

import pytest
from processing_helpers import ROLE, ensure_bucket, read_output, unique

from shipyard.processing import spark_config, spark_submit
from shipyard.processing.spark_image import command, is_spark_image
from shipyard.testing.sdk import sdk_environment, sdk_session

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

BUCKET = "pyspark-processor"
HAVE_JAVA = bool(os.environ.get("JAVA_HOME")) or shutil.which("java") is not None
HAVE_PYSPARK = importlib.util.find_spec("pyspark") is not None
needs_spark = pytest.mark.skipif(
    not (HAVE_JAVA and HAVE_PYSPARK),
    reason=("a real Spark needs " + " and ".join(
        [w for w, ok in (("Java (python scripts/spark_setup.py)", HAVE_JAVA),
                         ("pyspark (pip install 'shipyard[spark]')", HAVE_PYSPARK)) if not ok])))

APP = """
    import argparse, json, os
    from pyspark.sql import SparkSession, functions as F
    import shipyard_udfs  # from submit_py_files

    p = argparse.ArgumentParser()
    p.add_argument("--input"); p.add_argument("--output")
    args = p.parse_args()
    spark = SparkSession.builder.appName("ShipyardPySparkTest").getOrCreate()
    df = spark.read.csv(args.input, header=True, schema="kind STRING, amount INT")
    totals = df.groupBy("kind").agg(F.sum("amount").alias("total"), F.count("*").alias("rows"))
    scaled = totals.withColumn("scaled", F.udf(shipyard_udfs.triple, "long")(F.col("total")))
    scaled.coalesce(1).write.mode("overwrite").csv(os.path.join(args.output, "totals"), header=True)
    facts = {"marker": spark.conf.get("spark.shipyard.marker"),
             "partitions": spark.conf.get("spark.sql.shuffle.partitions"),
             "master": spark.sparkContext.master, "env": os.environ.get("SPARK_ENV_TEST_VALUE")}
    with open(os.path.join(args.output, "facts.json"), "w") as f:
        json.dump(facts, f)
    spark.stop()
"""
UDFS = """
    def triple(x):
        return int(x) * 3
"""
FAILING_APP = """
    raise ValueError("the input has no column named amount")
"""
CONFIGURATION = [
    {"Classification": "spark-defaults",
     "Properties": {"spark.shipyard.marker": "from-configuration", "spark.sql.shuffle.partitions": "3",
                    # a short job starts faster on the JIT's first tier (a quarter less on two cores)
                    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"}},
    {"Classification": "spark-env", "Properties": {},
     "Configurations": [{"Classification": "export", "Properties": {"SPARK_ENV_TEST_VALUE": "exported"}}]},
]


def _rows() -> list[tuple[str, int]]:
    return [(kind, amount) for amount in range(1, 31) for kind in ("a", "b", "c") if (amount + len(kind)) % 2]


@pytest.fixture(scope="module")
def sdk(proc_server, tmp_path_factory):
    """The SDK's environment pointed at the module's server, and a session with a default bucket."""
    with sdk_environment(proc_server, tmp_path_factory.mktemp("sdk"), bucket=BUCKET):
        ensure_bucket(proc_server.client("s3"), BUCKET)
        yield sdk_session(bucket=BUCKET), proc_server


def _processor(session, instance_count: int = 1):
    from sagemaker.spark.processing import PySparkProcessor

    return PySparkProcessor(base_job_name="sm-spark", framework_version="3.5", role=ROLE,
                            instance_count=instance_count, instance_type="ml.m5.large",
                            max_runtime_in_seconds=240, sagemaker_session=session)


@pytest.fixture(scope="module")
def spark_job(sdk, tmp_path_factory):
    """One PySparkProcessor.run: CSV in through a ProcessingInput, totals out through a ProcessingOutput, a
    helper module through submit_py_files, a configuration, and the event log to S3."""
    from sagemaker.processing import ProcessingInput, ProcessingOutput

    session, server = sdk
    s3 = server.client("s3")
    work = tmp_path_factory.mktemp("spark-app")
    (work / "preprocess.py").write_text(textwrap.dedent(APP))
    (work / "shipyard_udfs.py").write_text(textwrap.dedent(UDFS))
    prefix = unique("spark")
    buf = io.StringIO()
    csv.writer(buf).writerows([("kind", "amount"), *_rows()])
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/input/data.csv", Body=buf.getvalue().encode())
    processor = _processor(session)
    processor.run(
        submit_app=str(work / "preprocess.py"),
        submit_py_files=[str(work / "shipyard_udfs.py")],
        inputs=[ProcessingInput(source=f"s3://{BUCKET}/{prefix}/input",
                                destination="/opt/ml/processing/input/data")],
        outputs=[ProcessingOutput(output_name="result", source="/opt/ml/processing/output/result",
                                  destination=f"s3://{BUCKET}/{prefix}/output")],
        arguments=["--input", "/opt/ml/processing/input/data", "--output", "/opt/ml/processing/output/result"],
        configuration=CONFIGURATION,
        spark_event_logs_s3_uri=f"s3://{BUCKET}/{prefix}/spark-events",
        wait=True, logs=False)
    desc = processor.latest_job.describe()
    return desc, read_output(s3, BUCKET, prefix)


@needs_spark
def test_pyspark_processor_runs_the_app_on_its_input_and_uploads_the_output(spark_job):
    desc, objects = spark_job
    assert desc["ProcessingJobStatus"] == "Completed", desc.get("FailureReason")
    entry = desc["AppSpecification"]["ContainerEntrypoint"]
    assert entry[0] == "smspark-submit" and entry[-1] == "/opt/ml/processing/input/code/preprocess.py"
    assert "--py-files" in entry and is_spark_image(desc["AppSpecification"]["ImageUri"])
    totals_files = [k for k in objects if k.startswith("output/totals/") and k.endswith(".csv")]
    assert len(totals_files) == 1, sorted(objects)
    got = {row["kind"]: (int(row["total"]), int(row["rows"]), int(row["scaled"]))
           for row in csv.DictReader(io.StringIO(objects[totals_files[0]].decode()))}
    want: dict[str, tuple[int, int]] = {}
    for kind, amount in _rows():
        total, rows = want.get(kind, (0, 0))
        want[kind] = (total + amount, rows + 1)
    # every input row was read, and the py-files UDF ran on each total
    assert got == {kind: (total, rows, 3 * total) for kind, (total, rows) in want.items()}
    facts = json.loads(objects["output/facts.json"])
    assert facts["master"].startswith("local[")


@needs_spark
def test_configuration_reaches_spark_conf_and_the_environment(spark_job):
    _, objects = spark_job
    facts = json.loads(objects["output/facts.json"])
    assert facts["marker"] == "from-configuration"
    assert facts["partitions"] == "3"
    assert facts["env"] == "exported"


@needs_spark
def test_the_event_log_is_uploaded_for_the_history_server(spark_job):
    _, objects = spark_job
    events = [k for k in objects if k.startswith("spark-events/")]
    assert events, sorted(objects)
    text = b"".join(objects[k] for k in events).decode()
    assert "SparkListenerApplicationStart" in text and "ShipyardPySparkTest" in text


@needs_spark
def test_a_failing_app_fails_the_job_with_its_error_as_the_exit_message(sdk, tmp_path):
    from sagemaker.processing import ProcessingJob

    session, server = sdk
    (tmp_path / "broken.py").write_text(textwrap.dedent(FAILING_APP))
    processor = _processor(session)
    with pytest.raises(Exception) as raised:
        processor.run(submit_app=str(tmp_path / "broken.py"), wait=True, logs=False)
    assert "Failed" in str(raised.value) or "failed" in str(raised.value)
    job = processor.latest_job
    assert isinstance(job, ProcessingJob)
    desc = server.client("sagemaker").describe_processing_job(ProcessingJobName=job.job_name)
    assert desc["ProcessingJobStatus"] == "Failed"
    assert "ValueError: the input has no column named amount" in desc.get("ExitMessage", "")
    assert "ValueError: the input has no column named amount" in desc["FailureReason"]


# --- the translation, without Spark ---


def test_configuration_classifications_map_to_conf_env_and_files():
    entries = spark_config.parse([
        {"Classification": "spark-defaults", "Properties": {"spark.executor.memory": "2g", "flag": True}},
        {"Classification": "core-site", "Properties": {"fs.s3a.endpoint": "http://127.0.0.1:1"}},
        {"Classification": "hadoop-env", "Configurations": [
            {"Classification": "export", "Properties": {"HADOOP_HEAPSIZE": "2048"}}]},
        {"Classification": "spark-log4j", "Properties": {"log4j.rootCategory": "WARN, console",
                                                         "log4j.logger.org.apache.spark": "ERROR",
                                                         "log4j.appender.console.target": "System.out"}},
        {"Classification": "spark-metrics", "Properties": {"*.sink.console.class": "ConsoleSink"}},
        {"Classification": "yarn-site", "Properties": {"yarn.nodemanager.vmem-check-enabled": "false"}},
    ])
    out = spark_config.settings(entries)
    assert out.conf == {"spark.executor.memory": "2g", "flag": "true",
                        "spark.hadoop.fs.s3a.endpoint": "http://127.0.0.1:1"}
    assert out.env == {"HADOOP_HEAPSIZE": "2048"}
    log4j = out.files["log4j2.properties"]
    assert "rootLogger.level = warn" in log4j and "appender.console.type = Console" in log4j
    assert "logger.shipyard1.name = org.apache.spark" in log4j and "logger.shipyard1.level = error" in log4j
    assert any("log4j.appender.console.target" in n for n in out.notes)
    assert out.files["metrics.properties"] == "*.sink.console.class = ConsoleSink\n"
    assert out.ignored == ["yarn-site: no YARN runs in local mode"]


@pytest.mark.parametrize("document, fragment", [
    ({"Classification": "spark-default", "Properties": {}}, "use one of"),
    ({"Classification": "spark-env", "Properties": {"A": "1"}}, "nested"),
    ({"Classification": "spark-env", "Configurations": [{"Classification": "spark-defaults"}]}, "'export'"),
    ({"Classification": "spark-defaults", "Properties": {}, "Extra": 1}, "unknown key(s) Extra"),
    (["spark-defaults"], "not an object"),
])
def test_a_bad_configuration_says_which_entry_and_what_to_fix(document, fragment):
    with pytest.raises(spark_config.ConfigurationError) as raised:
        spark_config.settings(spark_config.parse(document))
    assert fragment in str(raised.value)


def _view(tmp_path: Path, **kw) -> spark_submit.JobView:
    return spark_submit.JobView(opt_ml=tmp_path, **kw)


def test_files_options_expand_folders_map_opt_ml_and_fetch_s3(tmp_path):
    deps = tmp_path / "processing" / "input" / "py-files"
    (deps / "pkg").mkdir(parents=True)
    (deps / "a.py").write_text("")
    (deps / "pkg" / "b.py").write_text("")
    fetched = tmp_path / "fetched.zip"
    asked: list[str] = []

    def fetch(uri: str) -> list[Path]:
        asked.append(uri)
        return [fetched]

    value = spark_submit.expand_files("/opt/ml/processing/input/py-files,s3://b/k/dep.zip", _view(tmp_path),
                                      fetch, "--py-files")
    assert value.split(",") == [str(deps / "a.py"), str(deps / "pkg" / "b.py"), str(fetched)]
    assert asked == ["s3://b/k/dep.zip"]
    for bad, fragment in (("relative/x.py", "absolute path"), ("/opt/ml/none.py", "no such file"),
                          ("hdfs://nn/x.py", "only local paths")):
        with pytest.raises(spark_submit.SubmitError) as raised:
            spark_submit.expand_files(bad, _view(tmp_path), fetch, "--py-files")
        assert fragment in str(raised.value)


def test_the_command_runs_local_mode_with_the_users_conf_winning(tmp_path):
    conf = tmp_path / "processing" / "input" / "conf"
    conf.mkdir(parents=True)
    (conf / "configuration.json").write_text(json.dumps(
        [{"Classification": "spark-defaults", "Properties": {"spark.ui.enabled": "true"}}]))
    opts = spark_submit.parser().parse_args(["--class", "Main", "/opt/ml/processing/input/code/app.py",
                                             "--alpha", "1"])
    sub = spark_submit.build(opts, _view(tmp_path), tmp_path / "work", Path("/spark"), lambda uri: [], 3, 2048)
    cmd = sub.command
    assert cmd[:3] == ["/spark/bin/spark-submit", "--master", "local[3]"]
    confs = [cmd[i + 1] for i, word in enumerate(cmd) if word == "--conf"]
    assert "spark.ui.enabled=true" in confs and "spark.ui.enabled=false" not in confs
    assert "spark.driver.memory=2048m" in confs
    assert cmd[-3:] == [str(tmp_path / "processing/input/code/app.py"), "--alpha", "1"]
    assert cmd[cmd.index("--class") + 1] == "Main"
    assert sub.env["PYSPARK_PYTHON"] and sub.env["SPARK_LOCAL_IP"] == "127.0.0.1"


def test_cpus_and_memory_follow_the_instance_type_within_the_machine():
    assert spark_submit.job_cpus("ml.m5.xlarge", 64) == 4
    assert spark_submit.job_cpus("ml.m5.4xlarge", 2) == 2
    assert spark_submit.job_cpus("", 6) == 6
    assert spark_submit.driver_memory_mb("ml.m5.xlarge", 64 * 1024) == 8 * 1024
    assert spark_submit.driver_memory_mb("ml.m5.24xlarge", 8 * 1024) == 4 * 1024
    assert spark_submit.driver_memory_mb("ml.t3.medium", 1024) == spark_submit.MIN_DRIVER_MB


def test_a_worker_host_leaves_the_application_to_the_primary(tmp_path, monkeypatch, capsys):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "resourceconfig.json").write_text(
        json.dumps({"current_host": "algo-2", "hosts": ["algo-1", "algo-2"]}))
    (tmp_path / "config" / "processingjobconfig.json").write_text("{}")
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path))
    assert spark_submit.main(["/opt/ml/processing/input/code/app.py"]) == 0
    assert "primary host algo-1" in capsys.readouterr().err


def test_the_spark_image_entrypoint_maps_to_the_local_program():
    image = "173754725891.dkr.ecr.us-east-1.amazonaws.com/sagemaker-spark-processing:3.1-cpu-py37-v1.0"
    assert is_spark_image(image) and not is_spark_image("python:3.11")
    assert command(["smspark-submit", "--py-files", "/x"], ["--a"], python="/py") == [
        "/py", "-m", "shipyard.processing.spark_submit", "--py-files", "/x", "--a"]
    assert command(["python3", "/opt/ml/processing/input/code/job.py"], [], python="/py") == [
        "/py", "/opt/ml/processing/input/code/job.py"]
    with pytest.raises(ValueError):
        command(["smspark-history-server"], [])


def test_a_spark_entrypoint_needs_pyspark_and_java_named_in_the_validation_error(monkeypatch):
    from shipyard.errors import ValidationError
    from shipyard.processing import spark_image

    monkeypatch.setattr(spark_image, "_java_available", lambda: False)
    with pytest.raises(ValidationError) as raised:
        spark_image.check_machine("x.dkr.ecr.us-east-1.amazonaws.com/sagemaker-spark-processing:3.5")
    assert "Java runtime" in str(raised.value) and "spark_setup.py" in str(raised.value)
    with pytest.raises(ValidationError):
        spark_image.check_entrypoint("img", ["smspark-history-server"])
    spark_image.check_entrypoint("img", ["/usr/local/bin/smspark-submit", "app.py"])


def test_the_logged_command_masks_secret_conf_values():
    cmd = ["--conf", "spark.hadoop.fs.s3a.secret.key=abc", "--conf", "spark.sql.shuffle.partitions=3"]
    assert spark_submit.shown(cmd) == ["--conf", "spark.hadoop.fs.s3a.secret.key=****",
                                       "--conf", "spark.sql.shuffle.partitions=3"]
