"""Batch transform, inference pipelines and multi-model endpoints of a framework image run on its environment.

The same real ``sagemaker-scikit-learn:1.2-1`` environment as ``test_sklearn_environment.py`` (its cached-build
fixtures are reused: built once into ``$SHIPYARD_ENVIRONMENTS_CACHE``, skipped with the reason where pip cannot
reach a package index). The server's own scikit-learn is another version, so each inference script asserting
``sklearn.__version__.startswith("1.2")`` shows which interpreter ran it.
"""

from __future__ import annotations

import json
import time

import pytest

from test_sklearn_environment import IMAGE, ROLE, _logs, _tar, env_root, sklearn_env  # noqa: F401 - fixtures

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

# y = 2x + 1, fitted by the model server with the environment's scikit-learn when it loads the model
DATA = "\n".join(f"{2 * x + 1},{x}" for x in range(20))

PREDICT = """
import os, sys, numpy as np, sklearn
from sagemaker_inference import decoder
from sklearn.linear_model import LinearRegression
assert sklearn.__version__.startswith("1.2"), sklearn.__version__
print("inference script on", sys.executable, "with sklearn", sklearn.__version__, flush=True)

def model_fn(model_dir):
    data = np.loadtxt(os.path.join(model_dir, "data.csv"), delimiter=",", ndmin=2)
    return LinearRegression().fit(data[:, 1:], data[:, 0])

def input_fn(body, content_type):
    return decoder.decode(body, content_type)

def predict_fn(data, model):
    return {"sklearn": sklearn.__version__, "predictions": model.predict(np.reshape(data, (-1, 1))).round(3).tolist()}
"""

SCALE = """
import numpy as np, sklearn
from sagemaker_inference import decoder, encoder
from sklearn.preprocessing import FunctionTransformer
assert sklearn.__version__.startswith("1.2"), sklearn.__version__

def model_fn(model_dir):
    return FunctionTransformer(lambda x: x * 10)

def input_fn(body, content_type):
    return decoder.decode(body, content_type)

def predict_fn(data, model):
    return model.transform(np.reshape(data, (-1, 1)))

def output_fn(prediction, accept):
    return encoder.encode(prediction, "text/csv"), "text/csv"
"""


def _wait(describe, key: str, busy: tuple[str, ...], timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while (d := describe())[key] in busy:
        assert time.monotonic() < deadline, d
        time.sleep(0.5)
    return d


@pytest.fixture
def srv(sklearn_env, env_root, server_factory):
    srv = server_factory(env={"SHIPYARD_ENVIRONMENTS": "auto", "SHIPYARD_ENVIRONMENTS_CACHE": str(env_root)})
    s3 = srv.client("s3")
    s3.create_bucket(Bucket="envs")
    s3.put_object(Bucket="envs", Key="model/model.tar.gz", Body=_tar({"data.csv": DATA}))
    s3.put_object(Bucket="envs", Key="code/predict.tar.gz", Body=_tar({"inference.py": PREDICT}))
    s3.put_object(Bucket="envs", Key="code/scale.tar.gz", Body=_tar({"scale.py": SCALE}))
    s3.put_object(Bucket="envs", Key="in/data.csv", Body=b"3\n10\n")
    return srv


PREDICT_CONTAINER = {"Image": IMAGE, "ModelDataUrl": "s3://envs/model/model.tar.gz",
                     "Environment": {"SAGEMAKER_PROGRAM": "inference.py",
                                     "SAGEMAKER_SUBMIT_DIRECTORY": "s3://envs/code/predict.tar.gz"}}
SCALE_CONTAINER = {"Image": IMAGE, "Environment": {"SAGEMAKER_PROGRAM": "scale.py",
                                                   "SAGEMAKER_SUBMIT_DIRECTORY": "s3://envs/code/scale.tar.gz",
                                                   "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv"}}


def _transform(srv, name: str, model: str) -> tuple[dict, str, list[dict]]:
    sm, s3 = srv.client("sagemaker"), srv.client("s3")
    sm.create_transform_job(
        TransformJobName=name, ModelName=model, BatchStrategy="SingleRecord",
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://envs/in/"}},
                        "ContentType": "text/csv", "SplitType": "Line"},
        TransformOutput={"S3OutputPath": f"s3://envs/out/{name}", "Accept": "application/json",
                         "AssembleWith": "Line"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1})
    d = _wait(lambda: sm.describe_transform_job(TransformJobName=name), "TransformJobStatus", ("InProgress",))
    text = _logs(srv.client("logs"), "/aws/sagemaker/TransformJobs", f"{name}/")
    assert d["TransformJobStatus"] == "Completed", d.get("FailureReason", "") + "\n" + text
    out = s3.get_object(Bucket="envs", Key=f"out/{name}/data.csv.out")["Body"].read().decode()
    return d, text, [json.loads(line) for line in out.splitlines() if line.strip()]


def test_batch_transform_runs_on_the_environment(srv, env_root):
    srv.client("sagemaker").create_model(ModelName="sk-tr", ExecutionRoleArn=ROLE, PrimaryContainer=PREDICT_CONTAINER)
    _, text, rows = _transform(srv, "sk-tr", "sk-tr")
    assert [r["predictions"] for r in rows] == [[7.0], [21.0]]
    assert all(r["sklearn"].startswith("1.2.") for r in rows)
    # the environment's preparation is in the job's log stream, and the model server ran on its interpreter
    assert "environment sklearn-1.2-1" in text, text
    assert f"inference script on {env_root}" in text, text


def test_pipeline_transform_and_endpoint_run_on_the_environment(srv, env_root):
    sm, rt = srv.client("sagemaker"), srv.client("sagemaker-runtime")
    sm.create_model(ModelName="sk-pipe", ExecutionRoleArn=ROLE,
                    Containers=[{**SCALE_CONTAINER, "ContainerHostname": "scale"},
                                {**PREDICT_CONTAINER, "ContainerHostname": "predict"}])
    _, text, rows = _transform(srv, "sk-pipe", "sk-pipe")
    assert [r["predictions"] for r in rows] == [[61.0], [201.0]]  # 2 * (10 x) + 1: both stages ran
    assert "environment sklearn-1.2-1" in text and f"inference script on {env_root}" in text, text

    sm.create_endpoint_config(EndpointConfigName="sk-pipe", ProductionVariants=[
        {"VariantName": "main", "ModelName": "sk-pipe", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName="sk-pipe", EndpointConfigName="sk-pipe")
    ep = _wait(lambda: sm.describe_endpoint(EndpointName="sk-pipe"), "EndpointStatus", ("Creating",))
    assert ep["EndpointStatus"] == "InService", ep.get("FailureReason")
    answer = json.loads(rt.invoke_endpoint(EndpointName="sk-pipe", Body=b"3", ContentType="text/csv",
                                           Accept="application/json")["Body"].read())
    assert answer["predictions"] == [61.0] and answer["sklearn"].startswith("1.2.")
    deadline = time.monotonic() + 30  # endpoint logs are shipped every few seconds
    while "environment sklearn-1.2-1" not in (text := _logs(srv.client("logs"), "/aws/sagemaker/Endpoints/sk-pipe",
                                                            "main/")):
        assert time.monotonic() < deadline, text
        time.sleep(0.5)
    sm.delete_endpoint(EndpointName="sk-pipe")


def test_multi_model_endpoint_runs_on_the_environment(srv):
    sm, s3, rt = srv.client("sagemaker"), srv.client("s3"), srv.client("sagemaker-runtime")
    s3.put_object(Bucket="envs", Key="mme/a.tar.gz", Body=_tar({"data.csv": DATA, "code/inference.py": PREDICT}))
    sm.create_model(ModelName="sk-mme", ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": IMAGE, "Mode": "MultiModel", "ModelDataUrl": "s3://envs/mme/"})
    sm.create_endpoint_config(EndpointConfigName="sk-mme", ProductionVariants=[
        {"VariantName": "main", "ModelName": "sk-mme", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName="sk-mme", EndpointConfigName="sk-mme")
    ep = _wait(lambda: sm.describe_endpoint(EndpointName="sk-mme"), "EndpointStatus", ("Creating",))
    assert ep["EndpointStatus"] == "InService", ep.get("FailureReason")
    answer = json.loads(rt.invoke_endpoint(EndpointName="sk-mme", TargetModel="a.tar.gz", Body=b"3\n10",
                                           ContentType="text/csv", Accept="application/json")["Body"].read())
    assert answer["predictions"] == [7.0, 21.0] and answer["sklearn"].startswith("1.2.")
    sm.delete_endpoint(EndpointName="sk-mme")


def test_a_pipeline_shares_an_environment_only_when_its_stages_agree():
    from shipyard.serving.pipeline import shared_environment

    xgb = IMAGE.replace("sagemaker-scikit-learn:1.2-1-cpu-py3", "sagemaker-xgboost:1.7-1")
    script = {"hostname": "s", "args": ["--script-program", "inference.py", "--code-dir", "/x"]}
    builtin = {"hostname": "b", "args": ["--handler", "shipyard.algorithms.xgboost:Handler"]}
    sk = {"Image": IMAGE}
    assert shared_environment([sk, sk], [script, script]) == (IMAGE, None)
    assert shared_environment([{"Image": xgb}], [builtin]) == (None, None)  # nothing wants an environment
    image, warning = shared_environment([sk, {"Image": xgb}], [script, builtin])
    assert image == IMAGE and "built-in algorithm stages (b)" in warning and "server's packages after" in warning
    image, warning = shared_environment([sk, {"Image": xgb}], [script, {**script, "hostname": "t"}])
    assert image is None and "different environments" in warning and "xgboost-1.7-1" in warning
