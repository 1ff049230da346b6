"""DeepAR through the unmodified SageMaker Python SDK against a real Shipyard server: the generic Estimator
with ``image_uris.retrieve("forecasting-deepar", ...)``, fit on train/test JSON Lines channels, deploy, and a
forecast request with a configuration, as the AWS DeepAR examples do."""

from __future__ import annotations

import json

import pytest

from shipyard.testing.sdk import endpoint_gone, sdk_environment, sdk_session

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]
pytest.importorskip("torch", reason="DeepAR needs the torch extra: pip install 'shipyard[torch]'")

ROLE = "arn:aws:iam::123456789012:role/Shipyard"
REGION = "us-east-1"


@pytest.fixture(scope="module")
def sm_env(server, tmp_path_factory, quick_sagemaker_sdk):
    with sdk_environment(server, tmp_path_factory.mktemp("sagemaker-config"), bucket="shipyard-e2e-deepar",
                         region=REGION):
        yield server




def test_deepar_fit_deploy_predict(sm_env, tmp_path):
    import sagemaker
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.estimator import Estimator
    from sagemaker.serializers import JSONSerializer

    from shipyard.algorithms.deepar.sample import seasonal_dataset

    train_rows, test_rows = seasonal_dataset(n_series=8, length=84, prediction_length=7)
    for name, rows in (("train", train_rows), ("test", test_rows)):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{name}.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    session = sdk_session(REGION, "shipyard-e2e-deepar")
    train_uri = session.upload_data(str(tmp_path / "train"), key_prefix="deepar/train")
    test_uri = session.upload_data(str(tmp_path / "test"), key_prefix="deepar/test")

    image = sagemaker.image_uris.retrieve("forecasting-deepar", REGION)
    estimator = Estimator(image_uri=image, role=ROLE, instance_count=1, instance_type="ml.c5.xlarge",
                          sagemaker_session=session)
    estimator.set_hyperparameters(time_freq="D", context_length="14", prediction_length="7", epochs="3",
                                  num_cells="8", num_layers="1", mini_batch_size="32", num_eval_samples="20",
                                  early_stopping_patience="5", test_quantiles=[0.1, 0.5, 0.9])
    estimator.fit({"train": train_uri, "test": test_uri}, wait=False)
    session.logs_for_job(estimator.latest_training_job.name, wait=True, poll=1)
    desc = estimator.latest_training_job.describe()
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    metrics = {m["MetricName"]: m["Value"] for m in desc.get("FinalMetricDataList", [])}
    assert {"test:RMSE", "test:mean_wQuantileLoss", "train:final_loss"} <= set(metrics), metrics

    predictor = estimator.deploy(initial_instance_count=1, instance_type="ml.m5.large", wait=False,
                                 serializer=JSONSerializer(), deserializer=JSONDeserializer())
    assert session.wait_for_endpoint(predictor.endpoint_name, poll=1)["EndpointStatus"] == "InService"
    try:
        request = {"instances": [{"start": r["start"], "target": r["target"][:-7], "cat": r["cat"]}
                                 for r in test_rows[:2]],
                   "configuration": {"num_samples": 30, "output_types": ["mean", "quantiles", "samples"],
                                     "quantiles": ["0.1", "0.9"]}}
        answer = predictor.predict(request)
        assert len(answer["predictions"]) == 2
        first = answer["predictions"][0]
        assert len(first["mean"]) == 7 and set(first["quantiles"]) == {"0.1", "0.9"}
        assert len(first["samples"]) == 30 and len(first["samples"][0]) == 7
        assert predictor.predict(request) == answer  # the same request, the same forecast
    finally:
        predictor.delete_endpoint()
    assert endpoint_gone(sm_env, predictor.endpoint_name)
