"""Built-in XGBoost trains data-parallel across 2 instances (one xgboost collective, algo-1 runs the tracker),
each host on its ShardedByS3Key half, and the model is as good as single-host training on all the data."""

from __future__ import annotations

from training_helpers import ensure_bucket, log_messages, unique, wait_status
from xgb_cluster_helpers import job, make_data, model_auc, upload_shards

BUCKET = "xgb-distributed"


def test_two_instances_train_one_model_as_good_as_one_host(server):
    sm, s3, logs = server.client("sagemaker"), server.client("s3"), server.client("logs")
    ensure_bucket(s3, BUCKET)
    X, y = make_data(0)
    Xt, yt = make_data(1, rows=2000)
    prefix = unique("data")
    upload_shards(s3, BUCKET, prefix, X, y, shards=4)
    single, dist = unique("xgb-one"), unique("xgb-two")
    sm.create_training_job(**job(single, BUCKET, prefix, 1, "FullyReplicated"))
    sm.create_training_job(**job(dist, BUCKET, prefix, 2, "ShardedByS3Key"))
    results = {}
    for name in (single, dist):
        desc = wait_status(sm, name, timeout=120)
        assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
        results[name] = model_auc(s3, desc["ModelArtifacts"]["S3ModelArtifacts"], Xt, yt)
    auc_one, auc_two = results[single][0], results[dist][0]
    assert results[dist][1] == ["xgboost-model"], "only algo-1 saves: one model, no clash"
    assert auc_one > 0.85 and auc_two > auc_one - 0.02, (auc_one, auc_two)
    messages = log_messages(logs, dist)
    assert "Joining the XGBoost collective as rank 1 of 2" in " ".join(messages)
    # each host loaded its half (2 of the 4 objects), not everything
    assert sum("Loaded 2000 training rows x 8 features" in m for m in messages) == 2, messages[:20]
    assert any("train-auc" in m for m in messages)
    desc = sm.describe_training_job(TrainingJobName=dist)
    assert any(m["MetricName"] == "train:auc" for m in desc.get("FinalMetricDataList", [])), desc.get(
        "FinalMetricDataList")
