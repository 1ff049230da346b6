"""Built-in XGBoost on several instances with the hyperparameters notebooks send: no ``tree_method`` (the
container's distributed default, ``hist``, as SageMaker's XGBoost container gets it) and ``exact`` (which
xgboost cannot run distributed: the job trains with ``hist`` and says so in its log)."""

from __future__ import annotations

from training_helpers import ensure_bucket, log_messages, unique, wait_status
from xgb_cluster_helpers import job, make_data, model_auc, upload_shards

from shipyard.algorithms.xgboost.train import xgb_params

BUCKET = "xgb-dist-defaults"


def test_distributed_tree_method_defaults():
    for given, used in ((None, "hist"), ("auto", "hist"), ("exact", "hist"), ("approx", "approx"),
                        ("hist", "hist"), ("gpu_hist", "hist")):
        hp = {"num_round": 3, "objective": "binary:logistic", "tree_method": given}
        assert xgb_params(hp, 2, hosts=2)[0]["tree_method"] == used, given
    assert "tree_method" not in xgb_params({"num_round": 3}, 2)[0], "one host: left to xgboost"
    assert xgb_params({"num_round": 3, "tree_method": "exact"}, 2)[0]["tree_method"] == "exact"


def test_two_instances_with_default_and_exact_tree_method_complete(server):
    sm, s3, logs = server.client("sagemaker"), server.client("s3"), server.client("logs")
    ensure_bucket(s3, BUCKET)
    X, y = make_data(0, rows=2000)
    Xt, yt = make_data(1, rows=1000)
    prefix = unique("data")
    upload_shards(s3, BUCKET, prefix, X, y, shards=2)
    names = {}
    for tree_method in (None, "exact"):
        name = unique(f"xgb-{tree_method or 'default'}")
        params = job(name, BUCKET, prefix, 2, "ShardedByS3Key", instance_type="ml.m5.2xlarge")
        params["HyperParameters"]["num_round"] = "20"
        if tree_method:
            params["HyperParameters"]["tree_method"] = tree_method
        # a validation channel, as notebooks have: evaluated on every host, the metric all-reduced
        params["InputDataConfig"].append({**params["InputDataConfig"][0], "ChannelName": "validation"})
        sm.create_training_job(**params)
        names[tree_method] = name
    for tree_method, name in names.items():
        desc = wait_status(sm, name, timeout=180)
        assert desc["TrainingJobStatus"] == "Completed", (tree_method, desc.get("FailureReason"))
        auc, files = model_auc(s3, desc["ModelArtifacts"]["S3ModelArtifacts"], Xt, yt)
        assert files == ["xgboost-model"] and auc > 0.85, (tree_method, auc, files)
        metrics = {m["MetricName"] for m in desc.get("FinalMetricDataList", [])}
        assert {"train:auc", "validation:auc"} <= metrics, metrics
        messages = " ".join(log_messages(logs, name))
        assert "Joining the XGBoost collective as rank 1 of 2" in messages
        assert ("tree_method 'exact' does not support distributed training: using 'hist'" in messages) == (
            tree_method == "exact")
