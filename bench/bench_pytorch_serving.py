"""A small TorchScript MLP served as SageMaker's PyTorch container serves it: the endpoint vs in-process vs TorchServe.

Same model (TorchScript, 32 -> 64 -> 64 -> 4), same rows, concurrency 1:
- in-process: ``model(torch.from_numpy(row))`` under ``torch.no_grad()`` (the floor), and the script handler's
  ``invoke`` with the PyTorch container's defaults (decode npy, predict, encode npy) called directly;
- the model server alone (``shipyard.serving.model_server`` with the arguments deploy gives a PyTorch image's
  model), ``POST /invocations`` on a keep-alive connection: the fair match for TorchServe's own HTTP;
- InvokeEndpoint through a Shipyard server (boto3 ``sagemaker-runtime``: SigV4, router, model server), the model
  deployed with a PyTorch inference image and no inference script (default ``model_fn`` loads ``model.pt``),
  with ``application/x-npy`` (the SDK PyTorchPredictor's default) and ``application/json`` bodies;
- TorchServe (what AWS's PyTorch container runs underneath), ``POST /predictions/mlp`` with an npy body and a
  minimal handler, when a ``torchserve`` executable is found (``--torchserve PATH``, or on PATH); skipped
  otherwise. It needs Java 11+ and ``pip install torchserve torch-model-archiver`` in some environment whose
  Python has torch (not Shipyard's own venv).

Each process serving the model runs torch on 1 thread (``OMP_NUM_THREADS=1``). Prints one-row latency p50/p99
(ms), one-row requests/s, rows/s with 512-row requests, and each path's ratio to the in-process handler and to
TorchServe.

    python bench/bench_pytorch_serving.py [--quick] [--n 2000] [--torchserve /path/to/torchserve]
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # every server started below inherits it: torch on one thread
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "hosting"))
sys.path.insert(0, str(ROOT / "tests" / "serving"))
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1-cpu-py310"
N_IN, BATCH = 32, 512


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))] * 1000


def measure(fn, n: int, warmup: int = 100) -> list[float]:
    for _ in range(min(warmup, n)):
        fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def make_model(folder: Path):
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(N_IN, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64),
                                torch.nn.ReLU(), torch.nn.Linear(64, 4)).eval()
    folder.mkdir(parents=True, exist_ok=True)
    scripted = torch.jit.script(model)
    torch.jit.save(scripted, str(folder / "model.pt"))
    return scripted


TS_HANDLER = '''
import io
import numpy as np
import torch


class Handler:
    """Minimal TorchServe handler: npy body in, npy out (what the SageMaker toolkit's defaults do)."""

    def initialize(self, context):
        model_dir = context.system_properties.get("model_dir")
        self.model = torch.jit.load(model_dir + "/model.pt").eval()

    def handle(self, data, context):
        out = []
        for row in data:
            body = row.get("body") or row.get("data")
            x = torch.from_numpy(np.load(io.BytesIO(bytes(body))))
            with torch.no_grad():
                y = self.model(x).numpy()
            buf = io.BytesIO()
            np.save(buf, y.tolist())
            out.append(buf.getvalue())
        return out


_service = Handler()


def handle(data, context):
    if data is None:
        _service.initialize(context)
        return None
    return _service.handle(data, context)
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchserve_rows(ts: str, tmp: Path, n: int, one: bytes, batch: bytes) -> dict[str, list[float]] | str:
    """TorchServe's latencies, or why it was skipped."""
    archiver = shutil.which("torch-model-archiver", path=str(Path(ts).parent)) or shutil.which("torch-model-archiver")
    if not archiver:
        return "torch-model-archiver not found next to torchserve"
    store = tmp / "ts-store"
    store.mkdir()
    (tmp / "ts_handler.py").write_text(TS_HANDLER)
    subprocess.run([archiver, "--model-name", "mlp", "--version", "1.0", "--serialized-file",
                    str(tmp / "model" / "model.pt"), "--handler", str(tmp / "ts_handler.py"),
                    "--export-path", str(store)], check=True, timeout=120)
    inf, mgmt, met = free_port(), free_port(), free_port()
    (tmp / "config.properties").write_text(textwrap.dedent(f"""\
        inference_address=http://127.0.0.1:{inf}
        management_address=http://127.0.0.1:{mgmt}
        metrics_address=http://127.0.0.1:{met}
        default_workers_per_model=1
        disable_token_authorization=true
        enable_envvars_config=false
        install_py_dep_per_model=false
        """))
    env = {**os.environ, "TS_DISABLE_TOKEN_AUTHORIZATION": "true"}
    proc = subprocess.Popen([ts, "--start", "--foreground", "--ncs", "--model-store", str(store),
                             "--models", "mlp=mlp.mar", "--ts-config", str(tmp / "config.properties")],
                            cwd=tmp, env=env, stdout=open(tmp / "ts.log", "wb"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        conn = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return f"torchserve exited {proc.returncode} (log {tmp / 'ts.log'})"
            try:
                conn = http.client.HTTPConnection("127.0.0.1", inf, timeout=10)
                conn.request("POST", "/predictions/mlp", body=one, headers={"Content-Type": "application/x-npy"})
                r = conn.getresponse()
                r.read()
                if r.status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        else:
            return "torchserve did not answer in 120 s"

        def call(body: bytes):
            def f():
                conn.request("POST", "/predictions/mlp", body=body, headers={"Content-Type": "application/x-npy"})
                r = conn.getresponse()
                r.read()
            return f

        return {"TorchServe (npy)": measure(call(one), n), "TorchServe batch": measure(call(batch), max(20, n // 20))}
    finally:
        subprocess.run([ts, "--stop"], cwd=tmp, env=env, timeout=60, capture_output=True)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--quick", action="store_true", help="n=300")
    ap.add_argument("--torchserve", default=shutil.which("torchserve"), help="torchserve executable")
    args = ap.parse_args()
    n = 300 if args.quick else args.n
    import torch

    from hosting_helpers import upload, wait_in_service

    from shipyard.serving.script_handler import ScriptHandler
    from shipyard.testing.server import ShipyardProcess

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    row = rng.normal(size=(1, N_IN)).astype(np.float32)
    rows_batch = rng.normal(size=(BATCH, N_IN)).astype(np.float32)
    one, batch = npy(row), npy(rows_batch)
    one_json = json.dumps(row.tolist()).encode()
    results: dict[str, list[float]] = {}
    notes = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-pytorch-"))
    try:
        model = make_model(tmp / "model")
        x = torch.from_numpy(row)

        def raw():
            with torch.no_grad():
                model(x)

        results["in-process model()"] = measure(raw, n)
        os.environ["SHIPYARD_IMAGE"] = IMAGE
        handler = ScriptHandler(str(tmp / "model"))
        del os.environ["SHIPYARD_IMAGE"]
        results["in-process handler (npy)"] = measure(
            lambda: handler.invoke(one, "application/x-npy", "application/x-npy"), n)
        results["in-process handler batch"] = measure(
            lambda: handler.invoke(batch, "application/x-npy", "application/x-npy"), max(20, n // 20))

        from serving_helpers import ModelServer

        from shipyard.serving.frameworks.pytorch import serving_args

        ms = ModelServer(tmp / "model", *serving_args(tmp / "model", None, None), env={"SHIPYARD_IMAGE": IMAGE})
        try:
            conn = http.client.HTTPConnection("127.0.0.1", ms.port)

            def direct(body: bytes):
                def f():
                    conn.request("POST", "/invocations", body=body,
                                 headers={"Content-Type": "application/x-npy", "Accept": "application/x-npy"})
                    r = conn.getresponse()
                    r.read()
                return f

            results["model server (http, npy)"] = measure(direct(one), n)
            results["model server batch"] = measure(direct(batch), max(20, n // 20))
        finally:
            ms.stop()

        srv = ShipyardProcess(tmp / "home", log_level="warning").start()
        try:
            sm, s3, rt = srv.client("sagemaker"), srv.client("s3"), srv.client("sagemaker-runtime")
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w:gz") as tar:
                tar.add(str(tmp / "model" / "model.pt"), arcname="model.pt")
            url = upload(s3, "bench-pytorch", "mlp/model.tar.gz", buf.getvalue())
            sm.create_model(ModelName="mlp", ExecutionRoleArn="arn:aws:iam::123456789012:role/Shipyard",
                            PrimaryContainer={"Image": IMAGE, "ModelDataUrl": url})
            sm.create_endpoint_config(EndpointConfigName="mlp", ProductionVariants=[
                {"VariantName": "v", "ModelName": "mlp", "InitialInstanceCount": 1,
                 "InstanceType": "ml.m5.large"}])
            sm.create_endpoint(EndpointName="mlp", EndpointConfigName="mlp")
            wait_in_service(sm, "mlp", timeout=120)

            def invoke(body: bytes, ctype: str):
                return lambda: rt.invoke_endpoint(EndpointName="mlp", Body=body, ContentType=ctype,
                                                  Accept=ctype)["Body"].read()

            got = np.load(io.BytesIO(invoke(one, "application/x-npy")()))
            with torch.no_grad():
                assert np.allclose(got, model(x).numpy(), atol=1e-5), got
            results["InvokeEndpoint (npy)"] = measure(invoke(one, "application/x-npy"), n)
            results["InvokeEndpoint (json)"] = measure(invoke(one_json, "application/json"), n)
            results["InvokeEndpoint batch"] = measure(invoke(batch, "application/x-npy"), max(20, n // 20))
            sm.delete_endpoint(EndpointName="mlp")
        finally:
            srv.stop(kill_children=True)

        if args.torchserve:
            try:
                ts = torchserve_rows(args.torchserve, tmp, n, one, batch)
            except (OSError, subprocess.SubprocessError) as e:
                ts = f"{type(e).__name__}: {e}"
            if isinstance(ts, str):
                notes.append(f"TorchServe skipped: {ts}")
            else:
                results.update(ts)
        else:
            notes.append("TorchServe skipped: no torchserve executable (pip install torchserve "
                         "torch-model-archiver in a separate environment with torch; needs Java 11+)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    single = {k: v for k, v in results.items() if "batch" not in k}
    base = statistics.median(results["in-process handler (npy)"])
    ts_base = statistics.median(results["TorchServe (npy)"]) if "TorchServe (npy)" in results else None
    print(f"# 1-row TorchScript MLP ({N_IN}->64->64->4), concurrency 1, n={n}, torch threads 1")
    print(f"{'path':28}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}{'p50 / handler':>15}{'p50 / TorchServe':>18}")
    for name, samples in single.items():
        p50 = statistics.median(samples)
        ratio_ts = f"{p50 / ts_base:>18.2f}" if ts_base else f"{'-':>18}"
        print(f"{name:28}{pct(samples, 0.5):>9.3f}{pct(samples, 0.99):>9.3f}{1 / statistics.mean(samples):>9.0f}"
              f"{p50 / base:>15.2f}{ratio_ts}")
    print(f"# {BATCH}-row npy requests: rows/s")
    batch_rows = {k: BATCH / statistics.median(v) for k, v in results.items() if "batch" in k}
    for name, rps in batch_rows.items():
        print(f"{name:28}{rps:>12.0f} rows/s")
    for note in notes:
        print(f"# {note}")


if __name__ == "__main__":
    main()
