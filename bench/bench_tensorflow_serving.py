"""A small Keras MLP SavedModel served as SageMaker's TensorFlow Serving container serves it: endpoint vs in-process.

Same SavedModel (Keras 32 -> 64 -> 64 -> 4, ``model.export``), same rows, concurrency 1:
- in-process: the ``serving_default`` signature called on a tensor (the floor), and the TF Serving handler's
  ``invoke`` (JSON ``{"instances": ...}`` parsed, signature called, ``{"predictions": ...}`` written) called
  directly;
- the model server alone (``shipyard.serving.model_server`` with the arguments deploy gives a TensorFlow image's
  model), ``POST /invocations`` on a keep-alive connection;
- InvokeEndpoint through a Shipyard server (boto3 ``sagemaker-runtime``: SigV4, router, model server), the model
  deployed with a tensorflow-inference image (served on the server's own TensorFlow:
  ``SHIPYARD_ENVIRONMENTS=server``, so the SavedModel is read by the TensorFlow that wrote it).

TensorFlow Serving itself (the binary AWS's container runs) is not installable from PyPI, so it is not in the
table. Prints one-row latency p50/p99 (ms), requests/s, rows/s with 512-row requests, and each path's ratio to
the in-process signature call and to the in-process handler.

    python bench/bench_tensorflow_serving.py [--quick] [--n 2000]
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import shutil
import statistics
import sys
import tarfile
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["SHIPYARD_ENVIRONMENTS"] = "server"  # the endpoint runs on this TensorFlow (see the docstring)
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "hosting"))
sys.path.insert(0, str(ROOT / "tests" / "serving"))
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.13-cpu"
N_IN, BATCH = 32, 512


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))] * 1000


def measure(fn, n: int, warmup: int = 50) -> list[float]:
    for _ in range(min(warmup, n)):
        fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def make_model(folder: Path) -> None:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((N_IN,)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(64, activation="relu"), keras.layers.Dense(4)])
    model.export(str(folder / "1"), verbose=False)  # TF Serving's <version>/saved_model.pb layout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--quick", action="store_true", help="n=200")
    args = ap.parse_args()
    n = 200 if args.quick else args.n
    import tensorflow as tf

    from hosting_helpers import upload, wait_in_service

    from shipyard.serving.frameworks.tensorflow import TensorFlowServingHandler, serving_args
    from shipyard.testing.server import ShipyardProcess

    rng = np.random.default_rng(0)
    row = rng.normal(size=(1, N_IN)).astype(np.float32)
    rows_batch = rng.normal(size=(BATCH, N_IN)).astype(np.float32)
    one = json.dumps({"instances": row.tolist()}).encode()
    batch = json.dumps({"instances": rows_batch.tolist()}).encode()
    results: dict[str, list[float]] = {}
    tmp = Path(tempfile.mkdtemp(prefix="bench-tensorflow-"))
    try:
        make_model(tmp / "model")
        fn = tf.saved_model.load(str(tmp / "model" / "1")).signatures["serving_default"]
        name = next(iter(fn.structured_input_signature[1]))
        x = tf.constant(row)
        expected = next(iter(fn(**{name: x}).values())).numpy()
        results["in-process signature"] = measure(lambda: fn(**{name: x}), n)
        handler = TensorFlowServingHandler(str(tmp / "model"))
        got = json.loads(handler.invoke(one, "application/json", "application/json")[0])["predictions"]
        assert np.allclose(got, expected, atol=1e-5), got
        results["in-process handler (json)"] = measure(
            lambda: handler.invoke(one, "application/json", "application/json"), n)
        results["in-process handler batch"] = measure(
            lambda: handler.invoke(batch, "application/json", "application/json"), max(20, n // 20))
        xb = tf.constant(rows_batch)
        results["in-process signature batch"] = measure(lambda: fn(**{name: xb}), max(20, n // 20))

        from serving_helpers import ModelServer

        ms = ModelServer(tmp / "model", *serving_args(tmp / "model", None, None))
        try:
            conn = http.client.HTTPConnection("127.0.0.1", ms.port)

            def direct(body: bytes):
                def f():
                    conn.request("POST", "/invocations", body=body, headers={"Content-Type": "application/json"})
                    r = conn.getresponse()
                    r.read()
                return f

            results["model server (http, json)"] = measure(direct(one), n)
            results["model server batch"] = measure(direct(batch), max(20, n // 20))
        finally:
            ms.stop()

        srv = ShipyardProcess(tmp / "home", log_level="warning").start()
        try:
            sm, s3, rt = srv.client("sagemaker"), srv.client("s3"), srv.client("sagemaker-runtime")
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w:gz") as tar:
                tar.add(str(tmp / "model" / "1"), arcname="1")
            url = upload(s3, "bench-tensorflow", "mlp/model.tar.gz", buf.getvalue())
            sm.create_model(ModelName="mlp", ExecutionRoleArn="arn:aws:iam::123456789012:role/Shipyard",
                            PrimaryContainer={"Image": IMAGE, "ModelDataUrl": url})
            sm.create_endpoint_config(EndpointConfigName="mlp", ProductionVariants=[
                {"VariantName": "v", "ModelName": "mlp", "InitialInstanceCount": 1,
                 "InstanceType": "ml.m5.large"}])
            sm.create_endpoint(EndpointName="mlp", EndpointConfigName="mlp")
            wait_in_service(sm, "mlp", timeout=180)

            def invoke(body: bytes):
                return lambda: rt.invoke_endpoint(EndpointName="mlp", Body=body, ContentType="application/json",
                                                  Accept="application/json")["Body"].read()

            got = json.loads(invoke(one)())["predictions"]
            assert np.allclose(got, expected, atol=1e-5), got
            results["InvokeEndpoint (json)"] = measure(invoke(one), n)
            results["InvokeEndpoint batch"] = measure(invoke(batch), max(20, n // 20))
            sm.delete_endpoint(EndpointName="mlp")
        finally:
            srv.stop(kill_children=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    single = {k: v for k, v in results.items() if "batch" not in k}
    floor = statistics.median(results["in-process signature"])
    base = statistics.median(results["in-process handler (json)"])
    print(f"# 1-row Keras MLP SavedModel ({N_IN}->64->64->4), concurrency 1, n={n}, TensorFlow {tf.__version__}")
    print(f"{'path':28}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}{'p50 / signature':>17}{'p50 / handler':>15}")
    for key, samples in single.items():
        p50 = statistics.median(samples)
        print(f"{key:28}{pct(samples, 0.5):>9.3f}{pct(samples, 0.99):>9.3f}{1 / statistics.mean(samples):>9.0f}"
              f"{p50 / floor:>17.2f}{p50 / base:>15.2f}")
    print(f"# {BATCH}-row requests: rows/s (ratio to the in-process signature)")
    batch_rows = {k: BATCH / statistics.median(v) for k, v in results.items() if "batch" in k}
    top = batch_rows["in-process signature batch"]
    for key, rps in batch_rows.items():
        print(f"{key:28}{rps:>12.0f} rows/s{rps / top:>8.2f}")


if __name__ == "__main__":
    main()
