"""The SageMaker Python SDK's processors, unmodified, against a real server: ``SKLearnProcessor.run`` and
``ScriptProcessor.run`` (the script uploaded as input ``code``, reading ``/opt/ml/processing/input/...`` by
its literal path) and ``FrameworkProcessor.run`` (``sourcedir.tar.gz`` + ``runproc.sh`` + ``requirements.txt``).
The SDK's own waits poll every 5 s; these tests wait through boto3 instead, then read what the SDK describes."""

from __future__ import annotations

import json
import textwrap

import pytest
from processing_helpers import ROLE, SKLEARN_IMAGE, ensure_bucket, read_output, unique, wait_status

from shipyard.testing.sdk import sdk_environment, sdk_session

pytestmark = [pytest.mark.integration]

REGION = "us-east-1"
BUCKET = "processing-sdk"

PREPROCESS = """
    import argparse, csv, json, os
    parser = argparse.ArgumentParser()
    parser.add_argument("--train-test-split-ratio", type=float, default=0.5)
    args = parser.parse_args()
    rows = list(csv.reader(open("/opt/ml/processing/input/data/census.csv")))
    header, rows = rows[0], rows[1:]
    cut = int(len(rows) * (1 - args.train_test_split_ratio))
    for name, part in (("train", rows[:cut]), ("test", rows[cut:])):
        folder = f"/opt/ml/processing/{name}"
        os.makedirs(folder, exist_ok=True)
        with open(f"{folder}/{name}.csv", "w", newline="") as f:
            csv.writer(f).writerows([header] + part)
    json.dump({"rows": len(rows), "train": cut}, open("/opt/ml/processing/train/summary.json", "w"))
    print("split", len(rows), "rows")
"""


@pytest.fixture(scope="module")
def sdk(proc_server, tmp_path_factory):
    with sdk_environment(proc_server, tmp_path_factory.mktemp("sagemaker-config"), bucket=BUCKET, region=REGION):
        s3 = proc_server.client("s3")
        ensure_bucket(s3, BUCKET)
        yield sdk_session(REGION, BUCKET), proc_server.client("sagemaker"), s3


def _census(s3, prefix: str) -> str:
    lines = ["age,income"] + [f"{20 + i},{i % 2}" for i in range(10)]
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/census.csv", Body="\n".join(lines).encode() + b"\n")
    return f"s3://{BUCKET}/{prefix}"


def _script(tmp_path, text: str, name: str = "preprocessing.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def _check_split(sm, s3, job_name: str, desc: dict) -> None:
    assert desc["ProcessingJobStatus"] == "Completed", desc.get("FailureReason")
    outputs = {o["OutputName"]: o["S3Output"]["S3Uri"] for o in desc["ProcessingOutputConfig"]["Outputs"]}
    bucket, prefix = outputs["train"][5:].split("/", 1)
    train = read_output(s3, bucket, prefix + "/")
    assert json.loads(train["summary.json"]) == {"rows": 10, "train": 8}
    assert len(train["train.csv"].decode().splitlines()) == 9
    bucket, prefix = outputs["test"][5:].split("/", 1)
    assert len(read_output(s3, bucket, prefix + "/")["test.csv"].decode().splitlines()) == 3


def test_sklearn_processor_run(sdk, tmp_path):
    from sagemaker.processing import ProcessingInput, ProcessingOutput
    from sagemaker.sklearn.processing import SKLearnProcessor

    session, sm, s3 = sdk
    processor = SKLearnProcessor(framework_version="1.2-1", role=ROLE, instance_type="ml.m5.large",
                                 instance_count=1, sagemaker_session=session)
    processor.run(code=str(_script(tmp_path, PREPROCESS)),
                  inputs=[ProcessingInput(source=_census(s3, unique("census")),
                                          destination="/opt/ml/processing/input/data")],
                  outputs=[ProcessingOutput(output_name="train", source="/opt/ml/processing/train"),
                           ProcessingOutput(output_name="test", source="/opt/ml/processing/test")],
                  arguments=["--train-test-split-ratio", "0.2"], wait=False, logs=False)
    job = processor.latest_job
    wait_status(sm, job.job_name)
    desc = job.describe()  # the SDK's own view of the job
    assert desc["AppSpecification"]["ContainerEntrypoint"][0] == "python3"
    code = [i for i in desc["ProcessingInputs"] if i["InputName"] == "code"][0]["S3Input"]
    assert code["LocalPath"] == "/opt/ml/processing/input/code"
    _check_split(sm, s3, job.job_name, desc)


def test_script_processor_run(sdk, tmp_path):
    from sagemaker.processing import ProcessingInput, ProcessingOutput, ScriptProcessor

    session, sm, s3 = sdk
    processor = ScriptProcessor(command=["python3"], image_uri=SKLEARN_IMAGE, role=ROLE, instance_count=1,
                                instance_type="ml.m5.large", sagemaker_session=session, env={"MODE": "script"})
    processor.run(code=str(_script(tmp_path, PREPROCESS)),
                  inputs=[ProcessingInput(source=_census(s3, unique("census")),
                                          destination="/opt/ml/processing/input/data")],
                  outputs=[ProcessingOutput(output_name="train", source="/opt/ml/processing/train"),
                           ProcessingOutput(output_name="test", source="/opt/ml/processing/test")],
                  arguments=["--train-test-split-ratio", "0.2"], wait=False, logs=False)
    desc = wait_status(sm, processor.latest_job.job_name)
    assert desc["Environment"] == {"MODE": "script"}
    _check_split(sm, s3, processor.latest_job.job_name, desc)


def test_framework_processor_with_source_dir_and_requirements(sdk, tmp_path):
    from sagemaker.processing import FrameworkProcessor, ProcessingInput, ProcessingOutput
    from sagemaker.sklearn.estimator import SKLearn

    session, sm, s3 = sdk
    source = tmp_path / "src"
    source.mkdir()
    _script(source, PREPROCESS.replace('print("split"', 'import helper; print(helper.WORD, "split"'),
            "preprocessing.py")
    (source / "helper.py").write_text("WORD = 'from-the-source-dir'\n")
    (source / "requirements.txt").write_text("")  # installed by runproc.sh (nothing to fetch: no network)
    processor = FrameworkProcessor(estimator_cls=SKLearn, framework_version="1.2-1", role=ROLE,
                                   instance_type="ml.m5.large", instance_count=1, sagemaker_session=session)
    processor.run(code="preprocessing.py", source_dir=str(source),
                  inputs=[ProcessingInput(source=_census(s3, unique("census")),
                                          destination="/opt/ml/processing/input/data")],
                  outputs=[ProcessingOutput(output_name="train", source="/opt/ml/processing/train"),
                           ProcessingOutput(output_name="test", source="/opt/ml/processing/test")],
                  arguments=["--train-test-split-ratio", "0.2"], wait=False, logs=False)
    job_name = processor.latest_job.job_name
    desc = wait_status(sm, job_name)
    assert desc["AppSpecification"]["ContainerEntrypoint"][-1].endswith("runproc.sh")
    _check_split(sm, s3, job_name, desc)
    logs = session.boto_session.client("logs")
    streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/ProcessingJobs",
                                        logStreamNamePrefix=job_name)["logStreams"]
    events = logs.get_log_events(logGroupName="/aws/sagemaker/ProcessingJobs",
                                 logStreamName=streams[0]["logStreamName"], startFromHead=True)["events"]
    assert any("from-the-source-dir split 10 rows" in e["message"] for e in events)


def test_sdk_shows_the_job_logs(sdk, tmp_path, capfd):
    """The SDK's ``logs_for_processing_job`` (what ``run(logs=True)`` calls) prints the job's log streams
    (called with a short poll: its default sleeps 10 s before the first look)."""
    from sagemaker.sklearn.processing import SKLearnProcessor

    session, sm, _ = sdk
    processor = SKLearnProcessor(framework_version="1.2-1", role=ROLE, instance_type="ml.m5.large",
                                 instance_count=1, sagemaker_session=session)
    processor.run(code=str(_script(tmp_path, "print('hello from the processing job')\n", "hello.py")),
                  wait=False, logs=False)
    job_name = processor.latest_job.job_name
    wait_status(sm, job_name)
    session.logs_for_processing_job(job_name, wait=True, poll=0.1)
    assert "hello from the processing job" in capfd.readouterr().out
    assert processor.latest_job.describe()["ProcessingJobStatus"] == "Completed"
