"""A framework processor runs its script on the image's environment, not the server's Python.

``XGBoostProcessor(framework_version="1.0-1")`` is a FrameworkProcessor: the SDK uploads ``runproc.sh``, which
unpacks the source dir and calls ``python3 <script>`` through bash — so the environment must be first on the
job's ``PATH``, not only substituted for a ``python*`` entry point. The 1.0-1 image's xgboost is 1.0.2 (the
server's is 3.x), so the script's own report says which interpreter ran it. The environment is built once into
``$SHIPYARD_ENVIRONMENTS_CACHE`` (the same cache as the other environment tests and ``make examples``).
"""

from __future__ import annotations

import textwrap
import time

import pytest

from shipyard.environments import builder
from shipyard.environments.spec import spec_for_image
from shipyard.testing.sdk import sdk_environment, sdk_session
from test_sklearn_environment import ROLE, env_root  # noqa: F401 - fixture

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.0-1-cpu-py3"


@pytest.fixture(scope="session")
def xgboost_env(env_root):  # noqa: F811
    log: list[str] = []
    return builder.prepare(spec_for_image(IMAGE), env_root, log.append)  # a failure here is a real failure


def _log(srv, job_name: str) -> str:
    logs = srv.client("logs")
    group = "/aws/sagemaker/ProcessingJobs"
    streams = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=job_name)["logStreams"]
    return "\n".join(e["message"] for s in streams for e in logs.get_log_events(
        logGroupName=group, logStreamName=s["logStreamName"], startFromHead=True)["events"])


def test_xgboost_processor_runs_the_script_on_the_images_environment(xgboost_env, env_root, server_factory,  # noqa: F811
                                                                      tmp_path):
    from sagemaker.xgboost import XGBoostProcessor

    srv = server_factory(env={"SHIPYARD_ENVIRONMENTS": "auto", "SHIPYARD_ENVIRONMENTS_CACHE": str(env_root)})
    srv.client("s3").create_bucket(Bucket="envs")
    source = tmp_path / "src"
    source.mkdir()
    (source / "show.py").write_text(textwrap.dedent("""
        import sys, xgboost
        print("library", xgboost.__version__, "python", sys.executable)
    """))
    with sdk_environment(srv, tmp_path / "config", bucket="envs"):
        processor = XGBoostProcessor(framework_version="1.0-1", role=ROLE, instance_type="ml.m5.large",
                                     instance_count=1, sagemaker_session=sdk_session(bucket="envs"))
        processor.run(code="show.py", source_dir=str(source), wait=False, logs=False)
    job_name = processor.latest_job.job_name
    sm = srv.client("sagemaker")
    deadline = time.monotonic() + 300
    while (desc := sm.describe_processing_job(ProcessingJobName=job_name))["ProcessingJobStatus"] == "InProgress":
        assert time.monotonic() < deadline, desc
        time.sleep(0.2)
    log = _log(srv, job_name)
    assert desc["ProcessingJobStatus"] == "Completed", (desc.get("FailureReason"), log[-3000:])
    line = next(x for x in log.splitlines() if x.startswith("library "))
    _, version, _, python = line.split()
    assert version == "1.0.2" and python.startswith(str(xgboost_env.path)), (line, str(xgboost_env.path))
