"""Object2Vec through the unmodified SageMaker SDK against a real Shipyard server: ``image_uris.retrieve`` +
``Estimator`` on JSON Lines pairs, fit, deploy, predict scores (JSON) and embeddings, delete the endpoint."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("sagemaker")

from shipyard.algorithms.object2vec.sample import jsonl, latent_pairs, records  # noqa: E402
from shipyard.testing.sdk import sdk_environment, sdk_session  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

ROLE = "arn:aws:iam::123456789012:role/Shipyard"
REGION = "us-east-1"


@pytest.fixture(scope="module")
def sm_env(server, tmp_path_factory, quick_sagemaker_sdk):
    with sdk_environment(server, tmp_path_factory.mktemp("sagemaker-config"), bucket="shipyard-o2v-default",
                         region=REGION):
        yield server


def test_object2vec_fit_deploy_predict(sm_env, tmp_path):
    import sagemaker
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput
    from sagemaker.serializers import JSONSerializer

    session = sdk_session(REGION, "shipyard-e2e-object2vec")
    uris = {}
    for seed, name, n in ((0, "train", 2000), (1, "validation", 300)):
        path = tmp_path / name / f"{name}.jsonl"
        path.parent.mkdir(parents=True)
        path.write_bytes(jsonl(records(*latent_pairs(n, seed=seed))))
        uris[name] = TrainingInput(session.upload_data(str(path), key_prefix=f"o2v/{name}"),
                                   content_type="application/jsonlines")

    image = sagemaker.image_uris.retrieve("object2vec", REGION)
    estimator = Estimator(image_uri=image, role=ROLE, instance_count=1, instance_type="ml.m5.large",
                          sagemaker_session=session)
    estimator.set_hyperparameters(
        enc0_network="pooled_embedding", enc0_max_seq_len=1, enc0_vocab_size=40, enc0_token_embedding_dim=16,
        enc1_network="pooled_embedding", enc1_max_seq_len=1, enc1_vocab_size=30, enc1_token_embedding_dim=16,
        enc_dim=16, mlp_dim=16, mlp_layers=1, mlp_activation="linear", output_layer="softmax", num_classes=2,
        epochs=6, mini_batch_size=32, learning_rate=0.01, optimizer="adam",
        _kvstore="device", _num_gpus="auto")
    estimator.fit(uris, wait=False)
    session.logs_for_job(estimator.latest_training_job.name, wait=True, poll=1)
    desc = estimator.latest_training_job.describe()
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    metrics = {m["MetricName"]: m["Value"] for m in desc.get("FinalMetricDataList", [])}
    assert metrics.get("validation:accuracy", 0) > 0.7, metrics

    predictor = estimator.deploy(initial_instance_count=1, instance_type="ml.m5.large", wait=False,
                                 serializer=JSONSerializer(), deserializer=JSONDeserializer())
    assert session.wait_for_endpoint(predictor.endpoint_name, poll=1)["EndpointStatus"] == "InService"
    try:
        u, i, y = latent_pairs(100, seed=4)
        out = predictor.predict({"instances": records(u, i)})
        scores = [p["scores"] for p in out["predictions"]]
        assert len(scores) == 100 and all(len(s) == 2 for s in scores)
        assert np.mean(np.argmax(scores, axis=1) == y) > 0.7
        emb = predictor.predict({"instances": [{"in0": [3]}, {"in0": [5]}]})
        assert [len(p["embeddings"]) for p in emb["predictions"]] == [16, 16]
        runtime = session.sagemaker_runtime_client
        raw = runtime.invoke_endpoint(EndpointName=predictor.endpoint_name, ContentType="application/jsonlines",
                                      Accept="application/jsonlines", Body=b'{"in0": [1], "in1": [2]}\n')
        assert [set(json.loads(x)) for x in raw["Body"].read().decode().splitlines()] == [{"scores"}]
    finally:
        predictor.delete_endpoint()
    sm = sm_env.client("sagemaker")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(
            e["EndpointName"] == predictor.endpoint_name for e in sm.list_endpoints()["Endpoints"]):
        time.sleep(0.25)
