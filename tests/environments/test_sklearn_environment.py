"""A real environment for ``sagemaker-scikit-learn:1.2-1-cpu-py3``: built once (a minute or two), then used by a
script-mode training job and a script-mode endpoint through a real server.

The venv lives in ``$SHIPYARD_ENVIRONMENTS_CACHE`` (default ``~/.cache/shipyard/environments``) so later runs
and CI reuse it; ``SHIPYARD_ENVIRONMENTS_CACHE=tmp`` builds into a session temp folder instead. Where pip
cannot reach a package index the tests skip, saying why.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import textwrap
import time
from pathlib import Path

import pytest

from shipyard.environments import builder
from shipyard.environments.spec import spec_for_image

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
ROLE = "arn:aws:iam::123456789012:role/ShipyardTest"


def _index_reachable(python: str) -> str | None:
    """None if pip can see scikit-learn 1.2.1 in its index, else why not."""
    try:
        proc = subprocess.run([python, "-m", "pip", "index", "versions", "scikit-learn"], capture_output=True,
                              text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{type(e).__name__}: {e}"
    if proc.returncode != 0 or "1.2.1" not in proc.stdout:
        return (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no scikit-learn 1.2.1 in the index"]
    return None


@pytest.fixture(scope="session")
def env_root(tmp_path_factory) -> Path:
    value = os.environ.get("SHIPYARD_ENVIRONMENTS_CACHE") or str(Path.home() / ".cache" / "shipyard" / "environments")
    return tmp_path_factory.mktemp("environments") if value == "tmp" else Path(value).expanduser()


@pytest.fixture(scope="session")
def sklearn_env(env_root):
    import sys

    spec = spec_for_image(IMAGE)
    if not builder.is_ready(env_root / spec.dirname):
        reason = _index_reachable(sys.executable)
        if reason is not None:
            pytest.skip(f"pip cannot reach a package index to build {spec.key}: {reason}")
    log: list[str] = []
    prepared = builder.prepare(spec, env_root, log.append)  # a failure here is a real failure
    return prepared, log


def test_environment_has_the_framework_and_the_toolkits(sklearn_env):
    prepared, _ = sklearn_env
    code = textwrap.dedent("""
        import json, sys, sklearn, numpy
        from sagemaker_training import environment
        import sagemaker_inference.decoder, sagemaker_inference.encoder
        import sagemaker_containers
        from sagemaker_containers.beta.framework import encoders
        import sagemaker_xgboost_container
        print(json.dumps({"sklearn": sklearn.__version__, "numpy": numpy.__version__, "prefix": sys.prefix,
                          "site": [p for p in sys.path if "site-packages" in p]}))
    """)
    proc = subprocess.run([prepared.python, "-c", code], capture_output=True, text=True, timeout=120, cwd="/")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert info["sklearn"].startswith("1.2.") and info["numpy"].startswith("1.")
    assert all(p.startswith(info["prefix"]) for p in info["site"])  # a clean venv: not the server's packages
    # this environment's own row: the shared cache may hold others, some being built by another test worker
    rows = [r for r in builder.list_environments(prepared.path.parent) if r["path"] == str(prepared.path)]
    assert [r["state"] for r in rows] == ["ready"]


TRAIN = """
import os, sys
import sagemaker_training
from sagemaker_training import environment
import sklearn
assert sklearn.__version__.startswith("1.2"), sklearn.__version__
import joblib, numpy as np
from sklearn.linear_model import LinearRegression

env = environment.Environment()
print("training with sklearn", sklearn.__version__, "hosts", env.hosts, "python", sys.executable, flush=True)
data = np.loadtxt(os.path.join(env.channel_input_dirs["train"], "data.csv"), delimiter=",", ndmin=2)
model = LinearRegression().fit(data[:, 1:], data[:, 0])
joblib.dump(model, os.path.join(env.model_dir, "model.joblib"))
"""

INFERENCE = """
import os, joblib, sklearn
from sagemaker_inference import decoder
assert sklearn.__version__.startswith("1.2"), sklearn.__version__

def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))

def input_fn(body, content_type):
    return decoder.decode(body, content_type)

def predict_fn(data, model):
    x = data.reshape(-1, 1)  # one feature: the toolkit's CSV decoder gives a flat array for a single column
    return {"sklearn": sklearn.__version__, "predictions": model.predict(x).round(3).tolist()}
"""


def _tar(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            data = textwrap.dedent(text).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _logs(logs, group: str, prefix: str) -> str:
    out = []
    for stream in logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=prefix)["logStreams"]:
        events = logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"],
                                     startFromHead=True)["events"]
        out += [e["message"] for e in events]
    return "\n".join(out)


def test_script_mode_training_and_endpoint_run_in_the_environment(sklearn_env, env_root, server_factory):
    srv = server_factory(env={"SHIPYARD_ENVIRONMENTS": "auto", "SHIPYARD_ENVIRONMENTS_CACHE": str(env_root)})
    sm, s3, rt, logs = (srv.client("sagemaker"), srv.client("s3"), srv.client("sagemaker-runtime"),
                        srv.client("logs"))
    s3.create_bucket(Bucket="envs")
    s3.put_object(Bucket="envs", Key="code/sourcedir.tar.gz", Body=_tar({"train.py": TRAIN}))
    rows = "\n".join(f"{2 * x + 1},{x}" for x in range(20))
    s3.put_object(Bucket="envs", Key="data/train/data.csv", Body=rows.encode())
    sm.create_training_job(
        TrainingJobName="sk-env", RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        HyperParameters={"sagemaker_program": '"train.py"',
                         "sagemaker_submit_directory": '"s3://envs/code/sourcedir.tar.gz"'},
        InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://envs/data/train"}}}],
        OutputDataConfig={"S3OutputPath": "s3://envs/output"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 600})
    deadline = time.monotonic() + 300
    while (desc := sm.describe_training_job(TrainingJobName="sk-env"))["TrainingJobStatus"] == "InProgress":
        assert time.monotonic() < deadline, desc.get("SecondaryStatus")
        time.sleep(0.5)
    text = _logs(logs, "/aws/sagemaker/TrainingJobs", "sk-env/")
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason", "") + "\n" + text
    assert "environment sklearn-1.2-1" in text and "training with sklearn 1.2" in text
    assert str(env_root) in text  # the script ran on the environment's interpreter

    s3.put_object(Bucket="envs", Key="serve/sourcedir.tar.gz", Body=_tar({"inference.py": INFERENCE}))
    sm.create_model(ModelName="sk-env", ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": IMAGE, "ModelDataUrl": desc["ModelArtifacts"]["S3ModelArtifacts"],
        "Environment": {"SAGEMAKER_PROGRAM": "inference.py",
                        "SAGEMAKER_SUBMIT_DIRECTORY": "s3://envs/serve/sourcedir.tar.gz"}})
    sm.create_endpoint_config(EndpointConfigName="sk-env", ProductionVariants=[
        {"VariantName": "main", "ModelName": "sk-env", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName="sk-env", EndpointConfigName="sk-env")
    deadline = time.monotonic() + 300
    while (ep := sm.describe_endpoint(EndpointName="sk-env"))["EndpointStatus"] == "Creating":
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert ep["EndpointStatus"] == "InService", ep.get("FailureReason")
    out = rt.invoke_endpoint(EndpointName="sk-env", Body=b"3\n10", ContentType="text/csv")
    answer = json.loads(out["Body"].read())
    assert answer["sklearn"].startswith("1.2.") and answer["predictions"] == [7.0, 21.0]
    sm.delete_endpoint(EndpointName="sk-env")
