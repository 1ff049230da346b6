"""SageMaker Neo through the SageMaker Python SDK, unmodified: built-in XGBoost ``Estimator.fit`` ->
``compile_model(target_instance_family="ml_c5", ...)`` -> ``deploy(use_compiled_model=True)`` -> predict, and the
compiled endpoint answers as the uncompiled one (within float32 tolerance).

The server runs the real compiler (``python -m shipyard.compile.job``); ``NEO_TEST_STANDIN=1`` runs the
controller tests' stand-in instead (tests/compilation/standin_compiler.py).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from shipyard.testing.sdk import sdk_environment, sdk_session
from shipyard.testing.server import ShipyardProcess

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(420)]

ROLE = "arn:aws:iam::123456789012:role/Shipyard"
REGION = "us-east-1"
N_FEATURES = 6
STANDIN = Path(__file__).parents[1] / "compilation" / "standin_compiler.py"


@pytest.fixture(scope="module")
def neo_env(tmp_path_factory, quick_sagemaker_sdk):
    env = ({"SHIPYARD_NEO_COMPILER": f"{sys.executable} {STANDIN}"}
           if os.environ.get("NEO_TEST_STANDIN") == "1" else {})
    proc = ShipyardProcess(tmp_path_factory.mktemp("neo-sdk-home"), env=env).start()
    try:
        with sdk_environment(proc, tmp_path_factory.mktemp("sagemaker-config"), bucket="shipyard-neo-sdk",
                             region=REGION):
            yield proc
    finally:
        proc.stop(kill_children=True)


def _data(folder: Path):
    rng = np.random.default_rng(7)
    w = rng.normal(size=N_FEATURES)
    x = rng.normal(size=(400, N_FEATURES))
    y = (x @ w + 0.3 * rng.normal(size=400) > 0).astype(int)
    path = folder / "train" / "train.csv"
    path.parent.mkdir(parents=True)
    np.savetxt(path, np.column_stack([y, x]), delimiter=",", fmt=["%d"] + ["%.6f"] * N_FEATURES)
    return path, rng.normal(size=(12, N_FEATURES))


def test_xgboost_fit_compile_deploy_predict(neo_env, tmp_path):
    import sagemaker
    from sagemaker.deserializers import CSVDeserializer
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput
    from sagemaker.serializers import CSVSerializer

    train, x_test = _data(tmp_path)
    session = sdk_session(REGION, "shipyard-neo-sdk")
    train_uri = session.upload_data(str(train), key_prefix="neo/train")
    image = sagemaker.image_uris.retrieve("xgboost", REGION, "1.7-1")
    estimator = Estimator(image_uri=image, role=ROLE, instance_count=1, instance_type="ml.m5.large",
                          hyperparameters={"objective": "binary:logistic", "num_round": 40, "max_depth": 3},
                          sagemaker_session=session)
    estimator.fit({"train": TrainingInput(train_uri, content_type="text/csv")}, wait=False)
    session.logs_for_job(estimator.latest_training_job.name, wait=True, poll=1)

    output = "s3://shipyard-neo-sdk/neo/compiled"
    compiled = estimator.compile_model(target_instance_family="ml_c5", input_shape={"data": [1, N_FEATURES]},
                                       output_path=output, framework="xgboost", framework_version="1.7")
    job = session.sagemaker_client.describe_compilation_job(CompilationJobName=compiled._compilation_job_name)
    assert job["CompilationJobStatus"] == "COMPLETED", job["FailureReason"]
    assert compiled.model_data == f"{output}/model-ml_c5.tar.gz"
    assert compiled.image_uri == job["InferenceImage"] and "xgboost-neo" in compiled.image_uri

    original = estimator.deploy(initial_instance_count=1, instance_type="ml.c5.xlarge", wait=False,
                                endpoint_name="neo-sdk-original", model_name="neo-sdk-original",
                                serializer=CSVSerializer(), deserializer=CSVDeserializer())
    fast = estimator.deploy(initial_instance_count=1, instance_type="ml.c5.xlarge", wait=False,
                            use_compiled_model=True, endpoint_name="neo-sdk-compiled", model_name="neo-sdk-compiled",
                            serializer=CSVSerializer(), deserializer=CSVDeserializer())
    for predictor in (original, fast):
        assert session.wait_for_endpoint(predictor.endpoint_name, poll=1)["EndpointStatus"] == "InService"
    try:
        want = np.array([float(v) for row in original.predict(x_test) for v in row if v.strip()])
        got = np.array([float(v) for row in fast.predict(x_test) for v in row if v.strip()])
        assert want.shape == got.shape == (len(x_test),)
        np.testing.assert_allclose(got, want, atol=1e-5)
    finally:
        original.delete_endpoint()
        fast.delete_endpoint()
