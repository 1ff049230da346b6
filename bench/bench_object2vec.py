"""Object2Vec rating regression against the matrix factorisations a user would write instead: RMSE and time.

The data: generated user x movie ratings (1..5) from hidden low-rank factors plus user and movie biases and
noise (MovieLens cannot be downloaded here), split into train / validation / test pairs. Object2Vec runs as a
user runs it: a CreateTrainingJob against a Shipyard server (image ``object2vec``, JSON Lines channels
``{"label": rating, "in0": [user], "in1": [movie]}``, the movie-recommendation notebook's network with
32-dimensional embeddings and early stopping tolerance 0.001), its RMSE read
from the job's ``test:mean_squared_error`` and its time as the job's training time
(TrainingEndTime - TrainingStartTime) and as the wall time from CreateTrainingJob to Completed. The baselines,
in-process on the same train pairs, scored on the same test pairs:

* the biases alone (global mean + user bias + movie bias, ridge-regularised) - the floor any model must beat;
* ALS in numpy (biases, then rank-k factors on the residuals, alternating ridge solves);
* scikit-learn's TruncatedSVD of the mean-centred rating matrix (missing ratings as 0), the quick baseline.

Run: ``python bench/bench_object2vec.py [--quick]``. Ratios: ours / baseline (RMSE < 1 means Object2Vec is more
accurate; time > 1 means it is slower).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, os.environ.get("BENCH_THREADS", "1"))

import numpy as np  # noqa: E402

BUCKET = "bench-object2vec"


def make_ratings(n_users: int, n_items: int, n: int, rank: int = 5, seed: int = 0):
    """(users, items, ratings) of ``n`` distinct random pairs, ratings 1..5 from hidden factors and biases."""
    rng = np.random.default_rng(seed)
    U, V = rng.normal(size=(n_users, rank)), rng.normal(size=(n_items, rank))
    bu, bi = rng.normal(scale=0.4, size=n_users), rng.normal(scale=0.4, size=n_items)
    flat = rng.choice(n_users * n_items, size=n, replace=False)
    users, items = flat // n_items, flat % n_items
    raw = 3.5 + bu[users] + bi[items] + 0.6 * np.einsum("ij,ij->i", U[users], V[items]) / np.sqrt(rank)
    ratings = np.clip(np.round(raw + 0.5 * rng.normal(size=n)), 1, 5)
    return users, items, ratings


def rmse(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.clip(pred, 1, 5) - y) ** 2)))


def fit_biases(u, i, y, n_users, n_items, reg=5.0, sweeps=5):
    mu = y.mean()
    bu, bi = np.zeros(n_users), np.zeros(n_items)
    for _ in range(sweeps):
        r = y - mu - bi[i]
        bu = np.bincount(u, r, n_users) / (np.bincount(u, minlength=n_users) + reg)
        r = y - mu - bu[u]
        bi = np.bincount(i, r, n_items) / (np.bincount(i, minlength=n_items) + reg)
    return mu, bu, bi


def als(u, i, y, n_users, n_items, rank=5, reg=2.0, iters=10, seed=0):
    """Biases, then alternating ridge least squares for rank-``rank`` factors on the residuals."""
    mu, bu, bi = fit_biases(u, i, y, n_users, n_items)
    r = y - mu - bu[u] - bi[i]
    rng = np.random.default_rng(seed)
    P, Q = 0.1 * rng.normal(size=(n_users, rank)), 0.1 * rng.normal(size=(n_items, rank))
    by_user = [np.flatnonzero(u == k) for k in range(n_users)]
    by_item = [np.flatnonzero(i == k) for k in range(n_items)]
    eye = reg * np.eye(rank)
    for _ in range(iters):
        for k, idx in enumerate(by_user):
            if len(idx):
                Qk = Q[i[idx]]
                P[k] = np.linalg.solve(Qk.T @ Qk + eye, Qk.T @ r[idx])
        for k, idx in enumerate(by_item):
            if len(idx):
                Pk = P[u[idx]]
                Q[k] = np.linalg.solve(Pk.T @ Pk + eye, Pk.T @ r[idx])
    return lambda uu, ii: mu + bu[uu] + bi[ii] + np.einsum("ij,ij->i", P[uu], Q[ii])


def truncated_svd(u, i, y, n_users, n_items, rank=5):
    import scipy.sparse as sp
    from sklearn.decomposition import TruncatedSVD

    mu = y.mean()
    M = sp.csr_matrix((y - mu, (u, i)), shape=(n_users, n_items))
    svd = TruncatedSVD(n_components=rank, random_state=0)
    Z = svd.fit_transform(M)
    R = Z @ svd.components_
    return lambda uu, ii: mu + R[uu, ii]


def jsonl(users, items, ratings) -> bytes:
    return "".join(json.dumps({"label": float(r), "in0": [int(a)], "in1": [int(b)]}) + "\n"
                   for a, b, r in zip(users, items, ratings)).encode()


def run_object2vec(srv, splits, n_users, n_items, epochs: int, timeout: float) -> dict:
    s3, sm = srv.client("s3"), srv.client("sagemaker")
    s3.create_bucket(Bucket=BUCKET)
    channels = []
    for name in ("train", "validation", "test"):
        s3.put_object(Bucket=BUCKET, Key=f"{name}/{name}.jsonl", Body=jsonl(*splits[name]))
        channels.append({"ChannelName": name, "ContentType": "application/jsonlines", "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/{name}/",
                             "S3DataDistributionType": "FullyReplicated"}}})
    hps = {"enc0_network": "pooled_embedding", "enc0_max_seq_len": "1", "enc0_vocab_size": str(n_users),
           "enc1_network": "pooled_embedding", "enc1_max_seq_len": "1", "enc1_vocab_size": str(n_items),
           "enc0_token_embedding_dim": "32", "enc1_token_embedding_dim": "32", "enc_dim": "32",
           "mlp_dim": "64", "mlp_layers": "1", "mlp_activation": "tanh", "output_layer": "mean_squared_error",
           "epochs": str(epochs), "mini_batch_size": "64", "learning_rate": "0.003", "optimizer": "adam",
           "early_stopping_patience": "3", "early_stopping_tolerance": "0.001"}
    name = f"o2v-bench-{int(time.time())}"
    t0 = time.perf_counter()
    sm.create_training_job(
        TrainingJobName=name, AlgorithmSpecification={"TrainingImage": "object2vec", "TrainingInputMode": "File"},
        RoleArn="arn:aws:iam::123456789012:role/Bench", HyperParameters=hps, InputDataConfig=channels,
        OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/output"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": int(timeout)})
    deadline = time.monotonic() + timeout
    while True:
        desc = sm.describe_training_job(TrainingJobName=name)
        if desc["TrainingJobStatus"] in ("Completed", "Failed", "Stopped") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    wall = time.perf_counter() - t0
    if desc["TrainingJobStatus"] != "Completed":
        raise SystemExit(f"Object2Vec job {desc['TrainingJobStatus']}: {desc.get('FailureReason')}")
    metrics = {m["MetricName"]: m["Value"] for m in desc.get("FinalMetricDataList", [])}
    job_s = (desc["TrainingEndTime"] - desc["TrainingStartTime"]).total_seconds()
    return {"rmse": float(np.sqrt(metrics["test:mean_squared_error"])), "job_s": job_s, "wall_s": wall}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="a small data set (about a minute)")
    ap.add_argument("--users", type=int, default=943)
    ap.add_argument("--items", type=int, default=1682)
    ap.add_argument("--ratings", type=int, default=100_000)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--timeout", type=float, default=1200)
    args = ap.parse_args()
    if args.quick:
        args.users, args.items, args.ratings, args.epochs = 300, 400, 20_000, 20
    from shipyard.testing.server import ShipyardProcess

    u, i, y = make_ratings(args.users, args.items, args.ratings)
    n_test = n_val = len(y) // 10
    idx = {"test": slice(0, n_test), "validation": slice(n_test, n_test + n_val), "train": slice(n_test + n_val, None)}
    splits = {k: (u[s], i[s], y[s]) for k, s in idx.items()}
    tu, ti, ty = splits["train"]
    su, si, sy = splits["test"]
    print(f"# {args.users} users x {args.items} movies, {len(ty)} train / {n_val} validation / {n_test} test "
          f"ratings (1..5, variance {sy.var():.3f}); rank-5 truth", flush=True)
    rows = []
    for label, fit in (("biases only (numpy)", lambda: fit_biases(tu, ti, ty, args.users, args.items)),
                       ("ALS rank 5 (numpy)", lambda: als(tu, ti, ty, args.users, args.items)),
                       ("TruncatedSVD rank 5 (sklearn)", lambda: truncated_svd(tu, ti, ty, args.users, args.items))):
        t = time.perf_counter()
        model = fit()
        secs = time.perf_counter() - t
        if isinstance(model, tuple):
            mu, bu, bi = model
            pred = mu + bu[su] + bi[si]
        else:
            pred = model(su, si)
        rows.append((label, rmse(pred, sy), secs))
    with tempfile.TemporaryDirectory() as tmp:
        srv = ShipyardProcess(Path(tmp) / "home", log_level="warning").start()
        try:
            o2v = run_object2vec(srv, splits, args.users, args.items, args.epochs, args.timeout)
        finally:
            srv.stop(kill_children=True)
    print(f"{'model':32s} {'test RMSE':>9s} {'train s':>8s}")
    print(f"{'Object2Vec (CreateTrainingJob)':32s} {o2v['rmse']:9.4f} {o2v['job_s']:8.2f}   "
          f"(wall from CreateTrainingJob to Completed: {o2v['wall_s']:.2f} s)")
    for label, err, secs in rows:
        print(f"{label:32s} {err:9.4f} {secs:8.2f}")
    print("ratios, Object2Vec / baseline (RMSE; training time):")
    for label, err, secs in rows:
        ratio = f"x{o2v['job_s'] / secs:.1f}" if secs >= 0.01 else "(baseline under 10 ms)"
        print(f"  vs {label:30s} RMSE x{o2v['rmse'] / err:.3f}   time {ratio}")
    print("(Object2Vec's time is the job's training time on the CPU: a training program in its own process, "
          "including starting Python and torch and reading the channels; the baselines run in this process)",
          file=sys.stderr)


if __name__ == "__main__":
    main()
