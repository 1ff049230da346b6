"""Image classification against what a user would otherwise do: scikit-learn on the pixels, and the same ResNet
in a plain in-process torch loop.

The data is generated (no downloads): coloured shapes on noisy backgrounds, one class per shape
(:mod:`shipyard.algorithms.image_classification.synthetic`), ``--size`` pixels square. Shipyard runs as a user
runs it: the images packed as MXNet ``.rec`` files (our im2rec writer), uploaded, CreateTrainingJob against a
Shipyard server (image ``image-classification``, ResNet-20, ``--epochs``), and the held-out accuracy of the
model.tar.gz it leaves, through the model's own handler (each test image as a JPEG request body). Its times:
the job's training time (TrainingEndTime - TrainingStartTime: Python and torch starting, the .rec decoded, the
epochs, the model written) and the wall time from CreateTrainingJob to Completed.

The peers, in this process, on the same decoded pixels: scikit-learn's LogisticRegression and
RandomForestClassifier on the flattened pixels, and the same network (our ResNet-20 module) trained by a plain
torch loop with the same optimiser, batch size, learning rate and epochs (no job, no RecordIO, no decoding:
the platform's overhead is the time ratio to this loop; it keeps its best validation epoch, as the job
does). Every side uses the same torch / BLAS thread count: ``BENCH_THREADS`` (default 1), given to the job as
its ``OMP_NUM_THREADS`` environment variable, which the training program honours.

Run: ``python bench/bench_image_classification.py [--quick]``. Ratios: ours / peer.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tarfile
import tempfile
import time
from pathlib import Path

THREADS = os.environ.get("BENCH_THREADS", "1")
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, THREADS)

import numpy as np  # noqa: E402

from shipyard.algorithms.image_classification import synthetic  # noqa: E402

BUCKET = "bench-image-classification"
REC = "application/x-recordio"


def run_job(srv, name: str, hps: dict, channels: dict[str, bytes], timeout: float) -> dict:
    s3, sm = srv.client("s3"), srv.client("sagemaker")
    config = []
    for channel, body in channels.items():
        s3.put_object(Bucket=BUCKET, Key=f"{name}/{channel}/{channel}.rec", Body=body)
        config.append({"ChannelName": channel, "ContentType": REC, "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/{name}/{channel}/",
                             "S3DataDistributionType": "FullyReplicated"}}})
    t0 = time.perf_counter()
    sm.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": "image-classification", "TrainingInputMode": "File"},
        RoleArn="arn:aws:iam::123456789012:role/Bench", HyperParameters={k: str(v) for k, v in hps.items()},
        InputDataConfig=config, OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/output"},
        # SM_NUM_CPUS follows the instance type: ml.m5.large (2 vCPUs) unless BENCH_THREADS is 4 or more
        ResourceConfig={"InstanceType": "ml.c5.xlarge" if int(THREADS) >= 4 else "ml.m5.large",
                        "InstanceCount": 1, "VolumeSizeInGB": 1},
        Environment={"OMP_NUM_THREADS": THREADS},
        StoppingCondition={"MaxRuntimeInSeconds": int(timeout)})
    deadline = time.monotonic() + timeout
    while True:
        desc = sm.describe_training_job(TrainingJobName=name)
        if desc["TrainingJobStatus"] in ("Completed", "Failed", "Stopped") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    wall = time.perf_counter() - t0
    if desc["TrainingJobStatus"] != "Completed":
        raise SystemExit(f"job {name} {desc['TrainingJobStatus']}: {desc.get('FailureReason')}")
    key = desc["ModelArtifacts"]["S3ModelArtifacts"].split(f"s3://{BUCKET}/", 1)[1]
    artifact = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    metrics = {x["MetricName"]: x["Value"] for x in desc.get("FinalMetricDataList", [])}
    return {"job_s": (desc["TrainingEndTime"] - desc["TrainingStartTime"]).total_seconds(), "wall_s": wall,
            "artifact": artifact, "metrics": metrics}


def served_accuracy(artifact: bytes, test, folder: Path) -> float:
    from shipyard.algorithms.image_classification.handler import ImageClassificationHandler

    with tarfile.open(fileobj=io.BytesIO(artifact)) as tar:
        tar.extractall(folder, filter="data")
    handler = ImageClassificationHandler(str(folder))
    right = 0
    for img, y in test:
        probs = json.loads(handler.invoke(synthetic.encode(img, "jpeg"), "image/jpeg", "application/json")[0])
        right += int(np.argmax(probs) == y)
    return right / len(test)


def pixels(pairs, size: int) -> tuple[np.ndarray, np.ndarray]:
    from shipyard.algorithms.image_classification.data import prepare
    x = np.stack([prepare(img, (3, size, size)) for img, _ in pairs])
    return x, np.array([y for _, y in pairs])


def torch_loop(x: np.ndarray, y: np.ndarray, xv: np.ndarray, yv: np.ndarray, xt: np.ndarray, yt: np.ndarray,
               hps: dict) -> tuple[float, float]:
    """(seconds, test accuracy) of the same ResNet trained by a plain loop on in-memory uint8 pixels, keeping
    the epoch with the best validation accuracy (as the job does)."""
    import copy

    import torch

    from shipyard.algorithms.image_classification.model import build
    torch.manual_seed(0)
    torch.set_num_threads(int(THREADS))
    t = time.perf_counter()
    model = build(hps["num_layers"], hps["num_classes"], (3, x.shape[2], x.shape[3]))
    opt = torch.optim.SGD(model.parameters(), lr=hps["learning_rate"], momentum=0.9, weight_decay=1e-4)
    bs = hps["mini_batch_size"]
    X, Y = torch.from_numpy(x), torch.from_numpy(y)

    def predict(xs):
        model.eval()
        with torch.no_grad():
            out = torch.cat([model(torch.from_numpy(xs[i:i + 256]).float() / 255).argmax(1)
                             for i in range(0, len(xs), 256)]).numpy()
        model.train()
        return out

    best, best_state = -1.0, None
    for _ in range(hps["epochs"]):
        order = torch.randperm(len(X))
        for i in range(0, len(X), bs):
            idx = order[i:i + bs]
            if len(idx) < 2:
                continue
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(X[idx].float() / 255), Y[idx])
            loss.backward()
            opt.step()
        acc = float((predict(xv) == yv).mean())
        if acc > best:
            best, best_state = acc, copy.deepcopy(model.state_dict())
    secs = time.perf_counter() - t
    model.load_state_dict(best_state)
    return secs, float((predict(xt) == yt).mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="a small set, for a check that it runs")
    ap.add_argument("--train", type=int, default=2000)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--classes", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--timeout", type=float, default=900)
    args = ap.parse_args()
    if args.quick:
        args.train, args.size, args.epochs = 400, 24, 4
    n_val, n_test = max(100, args.train // 5), 400
    train = synthetic.images(args.train, args.classes, args.size, seed=1)
    val = synthetic.images(n_val, args.classes, args.size, seed=2)
    test = synthetic.images(n_test, args.classes, args.size, seed=3)
    hps = {"num_classes": args.classes, "num_training_samples": args.train, "num_layers": 20,
           "image_shape": f"3,{args.size},{args.size}", "epochs": args.epochs, "mini_batch_size": 32,
           "learning_rate": 0.05, "optimizer": "sgd"}
    print(f"# {args.train} training, {n_val} validation, {n_test} test images, {args.size}x{args.size}, "
          f"{args.classes} shape classes; ResNet-20, {args.epochs} epochs, batch 32, SGD lr 0.05; "
          f"{THREADS} thread(s) each side", flush=True)

    from shipyard.testing.server import ShipyardProcess
    with tempfile.TemporaryDirectory() as tmp:
        srv = ShipyardProcess(Path(tmp) / "home", log_level="warning").start()
        try:
            srv.client("s3").create_bucket(Bucket=BUCKET)
            ours = run_job(srv, f"ic-bench-{int(time.time())}", hps,
                           {"train": synthetic.rec_bytes(train), "validation": synthetic.rec_bytes(val)},
                           args.timeout)
        finally:
            srv.stop(kill_children=True)
        acc = served_accuracy(ours["artifact"], test, Path(tmp) / "model")

    x, y = pixels(train, args.size)
    xv, yv = pixels(val, args.size)
    xt, yt = pixels(test, args.size)
    rows = [("Shipyard job (ResNet-20)", acc, ours["job_s"])]
    loop_s, loop_acc = torch_loop(x, y, xv, yv, xt, yt, hps)
    rows.append(("plain torch loop (same ResNet-20)", loop_acc, loop_s))
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    flat, flat_t = x.reshape(len(x), -1) / 255.0, xt.reshape(len(xt), -1) / 255.0
    for label, clf in (("sklearn LogisticRegression", LogisticRegression(max_iter=1000)),
                       ("sklearn RandomForest (200 trees)", RandomForestClassifier(200, n_jobs=1, random_state=0))):
        t = time.perf_counter()
        clf.fit(flat, y)
        rows.append((label, float((clf.predict(flat_t) == yt).mean()), time.perf_counter() - t))

    print(f"{'model':36s} {'test acc':>8s} {'train s':>8s}")
    for label, a, s in rows:
        print(f"{label:36s} {a:8.3f} {s:8.2f}")
    print(f"(Shipyard: validation:accuracy {ours['metrics'].get('validation:accuracy', float('nan')):.3f}; "
          f"CreateTrainingJob->Completed {ours['wall_s']:.2f} s)")
    for label, a, s in rows[1:]:
        print(f"ratio Shipyard / {label}: accuracy x{acc / max(a, 1e-9):.3f}, time x{ours['job_s'] / s:.2f}")


if __name__ == "__main__":
    main()
