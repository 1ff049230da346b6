"""seq2seq through the unmodified SageMaker Python SDK against a real server: the generic Estimator with
``image_uris.retrieve("seq2seq")``, the three channels of AWS's notebook (train, validation, vocab), fit, deploy,
predict (JSON, with an attention matrix), delete the endpoint."""

from __future__ import annotations

import json

import pytest

from shipyard.testing.sdk import endpoint_gone, sdk_environment, sdk_session

pytest.importorskip("torch")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

ROLE = "arn:aws:iam::123456789012:role/Shipyard"
REGION = "us-east-1"
BUCKET = "shipyard-e2e-seq2seq"


@pytest.fixture(scope="module")
def sm_env(server, tmp_path_factory, quick_sagemaker_sdk):
    with sdk_environment(server, tmp_path_factory.mktemp("sagemaker-config"), bucket=BUCKET, region=REGION):
        yield server




def test_seq2seq_fit_deploy_predict(sm_env, tmp_path):
    import sagemaker
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput
    from sagemaker.serializers import JSONSerializer

    from shipyard.algorithms.seq2seq import sample

    session = sdk_session(REGION, BUCKET)
    uris = {}
    for channel, (files, _) in sample.channels(n_train=600, n_val=60).items():
        for name, content in files.items():
            (tmp_path / channel).mkdir(exist_ok=True)
            (tmp_path / channel / name).write_bytes(content)
        uris[channel] = session.upload_data(str(tmp_path / channel), key_prefix=f"seq2seq/{channel}")

    estimator = Estimator(
        image_uri=sagemaker.image_uris.retrieve("seq2seq", REGION), role=ROLE, instance_count=1,
        instance_type="ml.m5.large", sagemaker_session=session,
        hyperparameters={"rnn_num_hidden": 32, "num_embed_source": 16, "num_embed_target": 16,
                         "rnn_cell_type": "gru", "batch_size": 32, "learning_rate": 0.01, "max_num_epochs": 10,
                         "beam_size": 3, "bleu_sample_size": 20, "max_seq_len_source": 12,
                         "max_seq_len_target": 12})
    recordio = "application/x-recordio-protobuf"
    estimator.fit({"train": TrainingInput(uris["train"], content_type=recordio),
                   "validation": TrainingInput(uris["validation"], content_type=recordio),
                   "vocab": TrainingInput(uris["vocab"])}, wait=False)
    session.logs_for_job(estimator.latest_training_job.name, wait=True, poll=1)
    desc = estimator.latest_training_job.describe()
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    metrics = {m["MetricName"]: m["Value"] for m in desc.get("FinalMetricDataList", [])}
    assert metrics.get("validation:bleu", 0) > 0.6, metrics
    assert metrics.get("validation:accuracy", 0) > 0.85, metrics

    predictor = estimator.deploy(initial_instance_count=1, instance_type="ml.m5.large", wait=False,
                                 serializer=JSONSerializer(), deserializer=JSONDeserializer())
    assert session.wait_for_endpoint(predictor.endpoint_name, poll=1)["EndpointStatus"] == "InService"
    try:
        held_out = sample.corpus(10, seed=77)
        answer = predictor.predict({"instances": [{"data": s} for s, _ in held_out]})
        got = [p["target"] for p in answer["predictions"]]
        assert sum(g == t for g, (_, t) in zip(got, held_out)) >= 6, list(zip(got, held_out))
        src = held_out[0][0]
        one = predictor.predict({"instances": [{"data": src, "configuration": {"attention_matrix": "true"}}]})
        pred = one["predictions"][0]
        assert len(pred["matrix"]) == len(pred["target"].split())
        assert all(len(row) == len(src.split()) for row in pred["matrix"])
        json.dumps(one)
    finally:
        predictor.delete_endpoint()
    assert endpoint_gone(sm_env, predictor.endpoint_name)
