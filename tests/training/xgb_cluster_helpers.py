"""Data and checks shared by the data-parallel XGBoost tests (local runner and Ray)."""

from __future__ import annotations

import io
import tarfile

import numpy as np

XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ROLE = "arn:aws:iam::123456789012:role/Shipyard"


def make_data(seed: int = 0, rows: int = 4000, cols: int = 8):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, cols))
    logit = X[:, 0] - 2 * X[:, 1] + X[:, 2] * X[:, 3] + 0.5 * rng.normal(size=rows)
    return X, (logit > 0).astype(int)


def upload_shards(s3, bucket: str, prefix: str, X, y, shards: int = 4) -> None:
    for i, idx in enumerate(np.array_split(np.arange(len(y)), shards)):
        body = "\n".join(f"{y[j]}," + ",".join(f"{v:.5f}" for v in X[j]) for j in idx) + "\n"
        s3.put_object(Bucket=bucket, Key=f"{prefix}/part-{i}.csv", Body=body.encode())


def job(name: str, bucket: str, prefix: str, count: int, distribution: str, instance_type="ml.m5.large") -> dict:
    return {
        "TrainingJobName": name, "RoleArn": ROLE,
        "AlgorithmSpecification": {"TrainingImage": XGB_IMAGE, "TrainingInputMode": "File"},
        "HyperParameters": {"objective": "binary:logistic", "num_round": "40", "max_depth": "4", "eta": "0.3",
                            "eval_metric": "auc"},
        "InputDataConfig": [{"ChannelName": "train", "ContentType": "text/csv", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/{prefix}/",
            "S3DataDistributionType": distribution}}}],
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/output"},
        "ResourceConfig": {"InstanceType": instance_type, "InstanceCount": count, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 300},
    }


def model_auc(s3, artifact: str, X, y) -> tuple[float, list[str]]:
    """AUC of the trained model on (X, y), and the files in model.tar.gz."""
    import xgboost as xgb
    from sklearn.metrics import roc_auc_score

    bucket, key = artifact[5:].split("/", 1)
    data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
        raw = tar.extractfile("xgboost-model").read()
    booster = xgb.Booster()
    booster.load_model(bytearray(raw))
    return float(roc_auc_score(y, booster.predict(xgb.DMatrix(X)))), names
