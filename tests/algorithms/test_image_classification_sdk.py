"""Image classification through the unmodified SageMaker SDK against a real server: .rec channels uploaded to
S3, ``image_uris.retrieve("image-classification")`` + ``Estimator`` fit, deploy, predict an ``image/jpeg``
body, delete the endpoint."""

from __future__ import annotations

import json
import time

import pytest

from shipyard.testing.sdk import sdk_environment, sdk_session

pytest.importorskip("torch")
pytest.importorskip("PIL")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

ROLE = "arn:aws:iam::123456789012:role/Shipyard"
REGION = "us-east-1"


@pytest.fixture(scope="module")
def sm_env(server, tmp_path_factory, quick_sagemaker_sdk):
    with sdk_environment(server, tmp_path_factory.mktemp("sagemaker-config"), bucket="shipyard-e2e-default",
                         region=REGION):
        yield server


def test_sdk_fit_deploy_predict_jpeg(sm_env, tmp_path):
    import sagemaker
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput
    from sagemaker.serializers import IdentitySerializer

    from shipyard.algorithms.image_classification import synthetic

    for name, n, seed in (("train", 90, 1), ("validation", 30, 2)):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{name}.rec").write_bytes(synthetic.rec_bytes(synthetic.images(n, 3, 16, seed=seed)))
    session = sdk_session(REGION, "shipyard-e2e-ic")
    uris = {name: session.upload_data(str(tmp_path / name), key_prefix=f"ic/{name}")
            for name in ("train", "validation")}

    image = sagemaker.image_uris.retrieve("image-classification", REGION)
    estimator = Estimator(image_uri=image, role=ROLE, instance_count=1, instance_type="ml.c5.xlarge",
                          input_mode="File", sagemaker_session=session,
                          hyperparameters={"num_layers": 20, "image_shape": "3,16,16", "num_classes": 3,
                                           "num_training_samples": 90, "mini_batch_size": 16, "epochs": 2,
                                           "learning_rate": 0.05, "top_k": 2})
    estimator.fit({name: TrainingInput(uri, content_type="application/x-recordio", s3_data_type="S3Prefix")
                   for name, uri in uris.items()}, wait=False)
    session.logs_for_job(estimator.latest_training_job.name, wait=True, poll=1)
    desc = estimator.latest_training_job.describe()
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    metrics = {m["MetricName"]: m["Value"] for m in desc.get("FinalMetricDataList", [])}
    assert 0 <= metrics["validation:accuracy"] <= 1 and "train:accuracy" in metrics, metrics

    predictor = estimator.deploy(initial_instance_count=1, instance_type="ml.m5.large", wait=False,
                                 serializer=IdentitySerializer("image/jpeg"), deserializer=JSONDeserializer())
    assert session.wait_for_endpoint(predictor.endpoint_name, poll=1)["EndpointStatus"] == "InService"
    try:
        img = synthetic.images(1, 3, 32, seed=9)[0][0]
        probs = predictor.predict(synthetic.encode(img, "jpeg"))
        assert isinstance(probs, list) and len(probs) == 3 and abs(sum(probs) - 1) < 1e-4
        runtime = session.sagemaker_runtime_client
        raw = runtime.invoke_endpoint(EndpointName=predictor.endpoint_name, ContentType="image/png",
                                      Accept="application/jsonlines", Body=synthetic.encode(img, "png"))
        assert len(json.loads(raw["Body"].read())["prediction"]) == 3
        with pytest.raises(Exception) as info:  # a body that is no image: a 4xx naming the problem
            runtime.invoke_endpoint(EndpointName=predictor.endpoint_name, ContentType="image/jpeg", Body=b"nope")
        assert "not an image" in str(info.value)
    finally:
        predictor.delete_endpoint()
    sm = sm_env.client("sagemaker")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not sm.list_endpoints(NameContains=predictor.endpoint_name)["Endpoints"]:
            break
        time.sleep(0.25)
