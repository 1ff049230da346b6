"""LDA and NTM through the unmodified SageMaker SDK's own classes against a real Shipyard server:
``record_set`` (RecordIO-protobuf upload), ``fit``, ``deploy`` (the SDK's RecordSerializer /
RecordDeserializer predictors), ``predict`` and ``delete_endpoint``. Patterned on tests/e2e/test_sagemaker_sdk.py.
"""

from __future__ import annotations


import numpy as np
import pytest

from shipyard.algorithms.lda.corpus import generate
from shipyard.testing.sdk import endpoint_gone, sdk_environment, sdk_session

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

ROLE = "arn:aws:iam::123456789012:role/Shipyard"
REGION = "us-east-1"
K, V = 3, 30


@pytest.fixture(scope="module")
def sm_env(server, tmp_path_factory, quick_sagemaker_sdk):
    with sdk_environment(server, tmp_path_factory.mktemp("sagemaker-config"), bucket="shipyard-topic-models",
                         region=REGION):
        yield server




def _fit_deploy_predict(server, estimator, session, records, mini_batch_size, X, key):
    estimator.fit(records, mini_batch_size=mini_batch_size, wait=False)
    session.logs_for_job(estimator.latest_training_job.name, wait=True, poll=1)
    desc = estimator.latest_training_job.describe()
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    predictor = estimator.deploy(initial_instance_count=1, instance_type="ml.m5.large", wait=False)
    assert session.wait_for_endpoint(predictor.endpoint_name, poll=1)["EndpointStatus"] == "InService"
    try:
        records_out = predictor.predict(X)
        rows = [list(r.label[key].float32_tensor.values) for r in records_out]
    finally:
        predictor.delete_endpoint()
    assert endpoint_gone(server, predictor.endpoint_name)
    return desc, np.array(rows)


def test_sdk_lda_record_set_fit_deploy_predict(sm_env):
    import sagemaker

    c = generate(400, K, V, words_per_doc=40, seed=0)
    session = sdk_session(REGION, "shipyard-topic-models")
    lda = sagemaker.LDA(role=ROLE, instance_type="ml.c4.2xlarge", num_topics=K, alpha0=1.0,
                        sagemaker_session=session)
    records = lda.record_set(c.counts, channel="train")
    desc, rows = _fit_deploy_predict(sm_env, lda, session, records, 100, c.counts[:5], "topic_mixture")
    assert desc["HyperParameters"]["num_topics"] == str(K)
    assert rows.shape == (5, K) and np.allclose(rows.sum(axis=1), 1.0, atol=1e-4)


def test_sdk_ntm_record_set_fit_deploy_predict(sm_env):
    pytest.importorskip("torch")
    import sagemaker

    c = generate(400, K, V, words_per_doc=40, seed=0)
    session = sdk_session(REGION, "shipyard-topic-models")
    ntm = sagemaker.NTM(role=ROLE, instance_count=1, instance_type="ml.c4.xlarge", num_topics=K, epochs=5,
                        optimizer="adam", learning_rate=0.01, encoder_layers=[20, 10], sagemaker_session=session)
    train = ntm.record_set(c.counts[:320], channel="train")
    val = ntm.record_set(c.counts[320:], channel="validation")
    desc, rows = _fit_deploy_predict(sm_env, ntm, session, [train, val], 64, c.counts[:5], "topic_weights")
    metrics = {m["MetricName"]: m["Value"] for m in desc.get("FinalMetricDataList", [])}
    assert np.isfinite(metrics["validation:total_loss"]), metrics
    assert rows.shape == (5, K) and np.allclose(rows.sum(axis=1), 1.0, atol=1e-4)
