"""Batch transform throughput vs in-process ``predict`` on the same rows, in one run.

    .venv/bin/python bench/bench_transform.py [--rows 1000000] [--features 28]

- in-process: read the CSV with pyarrow, ``booster.inplace_predict``, write one score per line (what a user's own
  script would do, the limit);
- Shipyard: the same CSV object in the server's S3, CreateTransformJob (SplitType Line, MultiRecord,
  MaxPayloadInMB 6, MaxConcurrentTransforms 2) timed from Create to Completed, outputs checked against in-process.
Prints rows/s of each and the ratio (the target is >= 0.8x).
"""

from __future__ import annotations

import argparse
import io
import os
import tarfile
import tempfile
import time
import uuid

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import xgboost as xgb

from shipyard.testing.server import ShipyardProcess

XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def make_data(path: str, rows: int, features: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    with open(path, "w") as f:
        for start in range(0, rows, 100_000):
            block = rng.normal(size=(min(100_000, rows - start), features)).astype(np.float32)
            np.savetxt(f, block, delimiter=",", fmt="%.5f")


def in_process(booster: xgb.Booster, path: str, out_path: str) -> float:
    t0 = time.perf_counter()
    table = pacsv.read_csv(path, read_options=pacsv.ReadOptions(autogenerate_column_names=True))
    X = np.column_stack([c.to_numpy() for c in table.columns]).astype(np.float32)
    preds = booster.inplace_predict(X)
    with open(out_path, "w") as f:
        f.write("\n".join(map(str, preds.tolist())))
        f.write("\n")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=28)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="bench-transform-")
    data = os.path.join(work, "data.csv")
    make_data(data, args.rows, args.features)
    rng = np.random.default_rng(1)
    Xt = rng.normal(size=(20_000, args.features)).astype(np.float32)
    yt = (Xt[:, 0] + Xt[:, 1] * Xt[:, 2] > 0).astype(np.float32)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 6, "tree_method": "hist"},
                        xgb.DMatrix(Xt, label=yt), 100)
    local_s = in_process(booster, data, os.path.join(work, "local.out"))

    raw = booster.save_raw("ubj")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    server = ShipyardProcess(os.path.join(work, "home")).start()
    try:
        s3, sm = server.client("s3"), server.client("sagemaker")
        bucket = "bench-transform"
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="model.tar.gz", Body=buf.getvalue())
        s3.upload_file(data, bucket, "in/data.csv")
        sm.create_model(ModelName="bench-xgb", ExecutionRoleArn="arn:aws:iam::123456789012:role/Shipyard",
                        PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": f"s3://{bucket}/model.tar.gz"})
        name = f"bench-{uuid.uuid4().hex[:6]}"
        t0 = time.perf_counter()
        sm.create_transform_job(
            TransformJobName=name, ModelName="bench-xgb", BatchStrategy="MultiRecord", MaxPayloadInMB=6,
            MaxConcurrentTransforms=2,
            TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/in/"}},
                            "ContentType": "text/csv", "SplitType": "Line"},
            TransformOutput={"S3OutputPath": f"s3://{bucket}/out", "AssembleWith": "Line", "Accept": "text/csv"},
            TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1})
        deadline = time.monotonic() + 900
        while True:
            d = sm.describe_transform_job(TransformJobName=name)
            if d["TransformJobStatus"] != "InProgress":
                break
            if time.monotonic() > deadline:
                raise TimeoutError("transform did not finish in 15 minutes")
            time.sleep(0.2)
        job_s = time.perf_counter() - t0
        if d["TransformJobStatus"] != "Completed":
            raise SystemExit(f"transform {d['TransformJobStatus']}: {d.get('FailureReason')}")
        got = np.array(s3.get_object(Bucket=bucket, Key="out/data.csv.out")["Body"].read().split(), dtype=float)
        want = np.loadtxt(os.path.join(work, "local.out"))
        assert got.shape == want.shape, (got.shape, want.shape)
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-5)
    finally:
        server.stop(kill_children=True)
    print(f"rows: {args.rows:,} x {args.features} (CSV {os.path.getsize(data) / 1e6:.0f} MB), XGBoost 100 trees depth 6")
    print(f"in-process predict : {local_s:7.2f} s  {args.rows / local_s:12,.0f} rows/s")
    print(f"Shipyard transform : {job_s:7.2f} s  {args.rows / job_s:12,.0f} rows/s  (Create -> Completed)")
    print(f"ratio transform/in-process rows/s: {local_s / job_s:.2f}x")


if __name__ == "__main__":
    main()
