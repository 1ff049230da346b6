"""BlazingText through the unmodified SageMaker SDK against a real server: ``image_uris.retrieve("blazingtext")``
+ ``Estimator`` in supervised mode, fit with train and validation channels, deploy, predict with AWS's request
shape, delete the endpoint."""

from __future__ import annotations

import json

import pytest

from shipyard.algorithms.blazingtext.synthetic import fasttext_lines, labelled_text
from shipyard.testing.sdk import endpoint_gone, sdk_environment, sdk_session

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

pytest.importorskip("torch", reason="BlazingText trains with PyTorch (pip install 'shipyard[torch]')")

ROLE = "arn:aws:iam::123456789012:role/Shipyard"
REGION = "us-east-1"


@pytest.fixture(scope="module")
def sm_env(server, tmp_path_factory, quick_sagemaker_sdk):
    with sdk_environment(server, tmp_path_factory.mktemp("sagemaker-config"), bucket="shipyard-e2e-blazingtext",
                         region=REGION):
        yield server




def test_supervised_fit_deploy_predict(sm_env, tmp_path):
    import sagemaker
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput
    from sagemaker.serializers import JSONSerializer
    from sagemaker.deserializers import JSONDeserializer

    (tmp_path / "train.txt").write_text(fasttext_lines(labelled_text(400, classes=3, seed=0)))
    (tmp_path / "validation.txt").write_text(fasttext_lines(labelled_text(100, classes=3, seed=1)))
    session = sdk_session(REGION, "shipyard-e2e-blazingtext")
    train_uri = session.upload_data(str(tmp_path / "train.txt"), key_prefix="bt/train")
    val_uri = session.upload_data(str(tmp_path / "validation.txt"), key_prefix="bt/validation")

    image = sagemaker.image_uris.retrieve("blazingtext", REGION, "1")
    estimator = Estimator(image_uri=image, role=ROLE, instance_count=1, instance_type="ml.c4.xlarge",
                          input_mode="File", sagemaker_session=session,
                          hyperparameters={"mode": "supervised", "epochs": 10, "min_count": 1,
                                           "learning_rate": 0.3, "vector_dim": 10, "early_stopping": True,
                                           "patience": 4, "min_epochs": 5, "word_ngrams": 2, "buckets": 10000})
    estimator.fit({"train": TrainingInput(train_uri, content_type="text/plain"),
                   "validation": TrainingInput(val_uri, content_type="text/plain")}, wait=False)
    session.logs_for_job(estimator.latest_training_job.name, wait=True, poll=1)
    desc = estimator.latest_training_job.describe()
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    metrics = {m["MetricName"]: m["Value"] for m in desc.get("FinalMetricDataList", [])}
    assert metrics.get("validation:accuracy", 0) >= 0.8, metrics

    predictor = estimator.deploy(initial_instance_count=1, instance_type="ml.m5.large", wait=False,
                                 serializer=JSONSerializer(), deserializer=JSONDeserializer())
    assert session.wait_for_endpoint(predictor.endpoint_name, poll=1)["EndpointStatus"] == "InService"
    try:
        docs = labelled_text(20, classes=3, seed=5)
        answer = predictor.predict({"instances": [t for _, t in docs], "configuration": {"k": 2}})
        assert isinstance(answer, list) and len(answer) == 20
        assert all(len(a["label"]) == 2 and len(a["prob"]) == 2 for a in answer)
        right = sum(a["label"][0] == f"__label__{c}" for a, (c, _) in zip(answer, docs))
        assert right >= 15, json.dumps(answer[:3])
    finally:
        predictor.delete_endpoint()
    assert endpoint_gone(sm_env, predictor.endpoint_name)
