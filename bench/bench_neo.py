"""SageMaker Neo on Shipyard: a compiled (ONNX, onnxruntime) model vs the original, served and in-process.

Three models, each compiled by a real CreateCompilationJob (``python -m shipyard.compile.job``) on a fresh server:
- XGBoost, the built-in algorithm's ``xgboost-model`` (binary:logistic, 100 trees of depth 6, 20 features);
- a scikit-learn pipeline (StandardScaler -> LogisticRegression, 20 features), served by the scikit-learn
  container's script mode (``model_fn`` loads ``model.joblib``);
- a small PyTorch MLP (TorchScript, 32 -> 64 -> 64 -> 4), served by the PyTorch container's defaults.

For each: one-row latency (p50/p99 ms) and rows/s with 512-row requests, for
- the original framework called in-process (``Booster.inplace_predict`` / ``pipeline.predict`` /
  ``model(tensor)`` under no_grad): the Neo goal is compiled >= 2x faster per row than this;
- the compiled model in-process (an onnxruntime session, 1 thread), and the model server's ONNX handler
  in-process (decode the request body, onnxruntime, encode the answer as the original container does);
- InvokeEndpoint (boto3, SigV4, router, model server) on the original endpoint and on the compiled one
  (deployed with the job's InferenceImage), concurrency 1.
Every serving process and in-process call uses one thread (OMP_NUM_THREADS=1, SHIPYARD_ONNX_THREADS=1).

    python bench/bench_neo.py [--quick]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from shipyard.testing.archives import tarball  # noqa: E402
from shipyard.testing.server import ShipyardProcess  # noqa: E402

ROLE = "arn:aws:iam::123456789012:role/Shipyard"
XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
TORCH_IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1-cpu-py310"
SKLEARN_SCRIPT = b"import joblib, os\n\ndef model_fn(model_dir):\n    return joblib.load(os.path.join(model_dir, " \
                 b"'model.joblib'))\n"
BATCH = 512


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))]


def measure(fn, n: int, warmup: int = 20) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def csv(rows: np.ndarray) -> bytes:
    return "\n".join(",".join(f"{v:.6f}" for v in r) for r in rows).encode()


def npy(rows: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, rows.astype(np.float32))
    return buf.getvalue()


# --- the three models: (artifact, original image, env, framework, DataInputConfig, in-process call, body, ctype)
def xgboost_case(rng):
    import xgboost as xgb

    x = rng.normal(size=(2000, 20)).astype(np.float32)
    y = (x[:, :5].sum(axis=1) > 0).astype(np.float32)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 6, "nthread": 1}, xgb.DMatrix(x, y), 100)
    booster.set_param({"nthread": 1})
    artifact = tarball({"xgboost-model": bytes(booster.save_raw("json"))})
    return dict(name="xgboost", artifact=artifact, image=XGB_IMAGE, env={}, framework="XGBOOST",
                shapes='{"data": [1, 20]}', call=lambda rows: booster.inplace_predict(rows), x=x,
                body=csv, ctype="text/csv", accept="text/csv")


def sklearn_case(rng):
    import joblib
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = rng.normal(size=(2000, 20)).astype(np.float32)
    y = (x[:, 0] - x[:, 3] > 0).astype(np.int64)
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
    buf = io.BytesIO()
    joblib.dump(pipe, buf)
    artifact = tarball({"model.joblib": buf.getvalue(), "code/inference.py": SKLEARN_SCRIPT})
    env = {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}
    return dict(name="sklearn-pipeline", artifact=artifact, image=SKLEARN_IMAGE, env=env, framework="SKLEARN",
                shapes='{"input": [1, 20]}', call=lambda rows: pipe.predict(rows), x=x,
                body=lambda rows: json.dumps(rows.tolist()).encode(), ctype="application/json",
                accept="application/json")


def pytorch_case(rng):
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(),
                              torch.nn.Linear(64, 4)).eval()
    scripted = torch.jit.script(net)
    buf = io.BytesIO()
    torch.jit.save(scripted, buf)
    artifact = tarball({"model.pt": buf.getvalue()})

    def call(rows):
        with torch.no_grad():
            return scripted(torch.from_numpy(rows)).numpy()

    x = rng.normal(size=(2000, 32)).astype(np.float32)
    return dict(name="pytorch-mlp", artifact=artifact, image=TORCH_IMAGE, env={}, framework="PYTORCH",
                shapes='{"input0": [1, 32]}', call=call, x=x, body=npy, ctype="application/x-npy",
                accept="application/json")


# --- server side ---
def compile_and_deploy(proc, case) -> tuple[str, str, Path]:
    """Upload, compile (wait), deploy original and compiled; returns the two endpoint names and the compiled
    model's local folder (for the in-process onnxruntime figure)."""
    sm, s3 = proc.client("sagemaker"), proc.client("s3")
    name = case["name"]
    try:
        s3.create_bucket(Bucket="neo-bench")
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    s3.put_object(Bucket="neo-bench", Key=f"{name}/model.tar.gz", Body=case["artifact"])
    uri = f"s3://neo-bench/{name}/model.tar.gz"
    sm.create_compilation_job(
        CompilationJobName=f"{name}-c5", RoleArn=ROLE, StoppingCondition={"MaxRuntimeInSeconds": 600},
        InputConfig={"S3Uri": uri, "DataInputConfig": case["shapes"], "Framework": case["framework"]},
        OutputConfig={"S3OutputLocation": f"s3://neo-bench/{name}/compiled", "TargetDevice": "ml_c5"})
    deadline = time.monotonic() + 300
    while True:
        job = sm.describe_compilation_job(CompilationJobName=f"{name}-c5")
        if job["CompilationJobStatus"] in ("COMPLETED", "FAILED", "STOPPED"):
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"compilation of {name} did not finish in 300 s")
        time.sleep(0.3)
    if job["CompilationJobStatus"] != "COMPLETED":
        raise SystemExit(f"compilation of {name} failed: {job['FailureReason']}")
    compiled = job["ModelArtifacts"]["S3ModelArtifacts"]
    for endpoint, image, data, env in ((f"{name}-orig", case["image"], uri, case["env"]),
                                       (f"{name}-neo", job["InferenceImage"], compiled, {})):
        sm.create_model(ModelName=endpoint, ExecutionRoleArn=ROLE,
                        PrimaryContainer={"Image": image, "ModelDataUrl": data, "Environment": env})
        sm.create_endpoint_config(EndpointConfigName=endpoint, ProductionVariants=[{
            "VariantName": "v", "ModelName": endpoint, "InitialInstanceCount": 1, "InstanceType": "ml.c5.xlarge"}])
        sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=endpoint)
    for endpoint in (f"{name}-orig", f"{name}-neo"):
        deadline = time.monotonic() + 180
        while (status := sm.describe_endpoint(EndpointName=endpoint))["EndpointStatus"] != "InService":
            if status["EndpointStatus"] == "Failed" or time.monotonic() > deadline:
                raise SystemExit(f"endpoint {endpoint}: {status.get('FailureReason') or 'not InService in 180 s'}")
            time.sleep(0.3)
    bucket, key = compiled[5:].split("/", 1)
    folder = Path(tempfile.mkdtemp(prefix="neo-bench-"))
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) as tar:
        tar.extractall(folder, filter="data")
    report = json.loads((folder / "compilation.json").read_text())
    verification = report.get("verification") or {}
    print(f"  {name}: compiled ({report.get('converter')}), max abs diff {verification.get('max_abs_diff', '?')} "
          f"(atol {verification.get('atol', '?')}, rtol {verification.get('rtol', '?')}), optimisations "
          f"{report.get('optimizations')}")
    return f"{name}-orig", f"{name}-neo", folder


def run_case(proc, case, n: int) -> dict:
    import onnxruntime as ort

    orig, neo, folder = compile_and_deploy(proc, case)
    rt = proc.client("sagemaker-runtime")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(folder / "model.onnx"), sess_options=opts, providers=["CPUExecutionProvider"])
    input_name = sess.get_inputs()[0].name
    from shipyard.serving.frameworks.onnx import OnnxHandler

    handler = OnnxHandler(str(folder))
    one, batch = case["x"][:1], case["x"][:BATCH]
    one_body, batch_body = case["body"](one), case["body"](batch)

    def invoke(endpoint, body):
        return lambda: rt.invoke_endpoint(EndpointName=endpoint, Body=body, ContentType=case["ctype"],
                                          Accept=case["accept"])["Body"].read()

    paths = {
        "original in-process": (lambda: case["call"](one), lambda: case["call"](batch)),
        "compiled in-process (onnxruntime)": (lambda: sess.run(None, {input_name: one}),
                                              lambda: sess.run(None, {input_name: batch})),
        "compiled handler in-process (+codec)": (
            lambda: handler.invoke(one_body, case["ctype"], case["accept"]),
            lambda: handler.invoke(batch_body, case["ctype"], case["accept"])),
        "original endpoint": (invoke(orig, one_body), invoke(orig, batch_body)),
        "compiled endpoint": (invoke(neo, one_body), invoke(neo, batch_body)),
    }
    results = {}
    for label, (single, many) in paths.items():
        lat = measure(single, n)
        rounds = max(20, n // 20)
        t = sum(measure(many, rounds, warmup=3))
        results[label] = {"p50_ms": pct(lat, 0.5) * 1e3, "p99_ms": pct(lat, 0.99) * 1e3,
                          "rows_per_s": rounds * BATCH / t}
    return results


def report(name: str, results: dict) -> None:
    print(f"\n{name}")
    print(f"  {'path':38s} {'p50 ms':>9s} {'p99 ms':>9s} {'rows/s (512-row)':>18s}")
    for label, r in results.items():
        print(f"  {label:38s} {r['p50_ms']:9.3f} {r['p99_ms']:9.3f} {r['rows_per_s']:18,.0f}")
    base = results["original in-process"]
    comp = results["compiled in-process (onnxruntime)"]
    ep_o, ep_c = results["original endpoint"], results["compiled endpoint"]
    print(f"  per row, compiled in-process vs original in-process: {base['p50_ms'] / comp['p50_ms']:.2f}x faster"
          f"; batch {comp['rows_per_s'] / base['rows_per_s']:.2f}x")
    print(f"  per row, compiled endpoint vs original endpoint:     {ep_o['p50_ms'] / ep_c['p50_ms']:.2f}x faster"
          f"; batch {ep_c['rows_per_s'] / ep_o['rows_per_s']:.2f}x")
    print(f"  per row, compiled endpoint vs original in-process:   {base['p50_ms'] / ep_c['p50_ms']:.2f}x "
          "(an HTTP round trip through SigV4 and the router vs a function call)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer requests (about a minute)")
    p.add_argument("--n", type=int, default=0, help="one-row requests per path")
    args = p.parse_args()
    n = args.n or (150 if args.quick else 1500)
    rng = np.random.default_rng(0)
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}, one-row requests per path: {n}")
    with tempfile.TemporaryDirectory(prefix="neo-bench-home-") as home:
        proc = ShipyardProcess(home, env={"SHIPYARD_ONNX_THREADS": "1", "OMP_NUM_THREADS": "1"}).start()
        try:
            for make in (xgboost_case, sklearn_case, pytorch_case):
                case = make(rng)
                report(case["name"], run_case(proc, case, n))
        finally:
            proc.stop(kill_children=True)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    sys.exit(main())
