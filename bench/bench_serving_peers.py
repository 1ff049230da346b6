"""One-row XGBoost serving under load: Shipyard vs ``mlflow models serve`` vs BentoML, side by side.

Same model (a 4-feature, 10-tree XGBoost booster), same machine, same load generator (``wrk`` on loopback,
one wrk thread, as a separate process), one run:

- ``shipyard model server``: ``POST /invocations`` (text/csv) straight to ``shipyard.serving.model_server``;
- ``shipyard InvokeEndpoint``: ``POST /endpoints/bench/invocations`` through the Shipyard server (SigV4
  verification, router, pooled hop to the model server). wrk cannot compute HMACs, so the request is signed
  once with botocore and replayed: the server still verifies the full signature on every request (it accepts
  a signature for 15 minutes, as AWS does);
- ``mlflow models serve``: the booster saved with ``mlflow.xgboost.save_model``, ``{"inputs": [[...]]}``;
- ``bentoml serve``: a service wrapping the booster (``bench/peers/bento_service.py``), ``{"input": [[...]]}``.

Peers run with their default settings from a separate venv (``bench/.venv-peers``, created on first use with
``mlflow>=3 bentoml xgboost-cpu``) so the core install stays light. Every server's answer is checked against
the in-process prediction before it is loaded. Cells: concurrency 1 (added latency over in-process
``XGBoostHandler.invoke``), 8 and 64, ``--duration`` seconds each (10 by default) after a 2 s warm-up.

    python bench/bench_serving_peers.py [--duration 10] [--concurrency 1,8,64] [--only shipyard,mlflow,...]

Takes about 3 minutes (plus 2-4 minutes the first time, to build the peers' venv).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PEERS_VENV = BENCH / ".venv-peers"
sys.path.insert(0, str(ROOT / "tests" / "hosting"))
sys.path.insert(0, str(ROOT / "tests" / "serving"))

ROW = [0.3, 0.1, 0.7, 0.2]
CSV_ROW = ",".join(str(v) for v in ROW).encode()
SERVERS = ("shipyard-ms", "shipyard-invoke", "mlflow", "bentoml")
LABELS = {"shipyard-ms": "shipyard model server", "shipyard-invoke": "shipyard InvokeEndpoint",
          "mlflow": "mlflow models serve", "bentoml": "bentoml serve"}


# --- tools ---
def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    print("wrk not found: installing it with apt-get (Debian package 'wrk')", flush=True)
    if subprocess.run(["apt-get", "install", "-y", "wrk"], capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update"], capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, capture_output=True)
    return shutil.which("wrk") or "wrk"


def ensure_peers_venv() -> Path:
    py = PEERS_VENV / "bin" / "python"
    if not py.exists():
        print(f"creating {PEERS_VENV} (mlflow>=3, bentoml, xgboost-cpu); this takes a few minutes", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
        (PEERS_VENV / ".gitignore").write_text("*\n")
        subprocess.run([str(py), "-m", "pip", "install", "-q", "mlflow>=3", "bentoml", "xgboost-cpu"], check=True)
    return py


def lua_script(folder: Path, name: str, body: bytes, headers: dict[str, str]) -> Path:
    lines = ['wrk.method = "POST"', f"wrk.body = [==[{body.decode()}]==]"]
    lines += [f'wrk.headers["{k}"] = [==[{v}]==]' for k, v in headers.items()]
    path = folder / f"{name}.lua"
    path.write_text("\n".join(lines) + "\n")
    return path


_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def run_wrk(wrk: str, url: str, script: Path, conns: int, seconds: float) -> dict:
    out = subprocess.run([wrk, "-t1", f"-c{conns}", f"-d{seconds:g}s", "--latency", "--timeout", "5s",
                          "-s", str(script), url], capture_output=True, text=True, timeout=seconds + 30).stdout
    res = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), "errors": 0}
    for q in ("50", "99"):
        m = re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        res[f"p{q}"] = float(m.group(1)) * _UNIT[m.group(2)]
    for m in re.finditer(r"Non-2xx or 3xx responses: (\d+)|Socket errors: connect (\d+), read (\d+), "
                         r"write (\d+), timeout (\d+)", out):
        res["errors"] += sum(int(g) for g in m.groups() if g)
    return res


def post(url: str, body: bytes, headers: dict[str, str]) -> bytes:
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read()


def wait_http(url: str, proc: subprocess.Popen | None, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout:g} s")


def start_group(cmd: list[str], log: Path, env: dict | None = None, cwd: Path | None = None) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd,
                                env={**os.environ, **(env or {})}, start_new_session=True)


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the process group we started (its leader is ``proc.pid``), SIGKILL it after 15 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # workers the leader left behind
    except ProcessLookupError:
        pass


# --- the servers: each yields (url, lua script, parse(response) -> float) while running ---
class Servers:
    def __init__(self, tmp: Path, model_dir: Path, peers_py: Path | None):
        self.tmp, self.model_dir, self.peers_py = tmp, model_dir, peers_py
        self.model_file = model_dir / "xgboost-model"
        # as if the peers' venv were activated: mlflow execs ``uvicorn`` from PATH
        self.peer_env = {"PATH": f"{PEERS_VENV / 'bin'}:{os.environ.get('PATH', '')}", "VIRTUAL_ENV": str(PEERS_VENV)}

    def shipyard_ms(self):
        port = _free_port()
        proc = start_group([sys.executable, "-m", "shipyard.serving.model_server", "--model-dir",
                            str(self.model_dir), "--port", str(port), "--handler",
                            "shipyard.algorithms.xgboost.handler:XGBoostHandler"], self.tmp / "ms.log")
        try:
            wait_http(f"http://127.0.0.1:{port}/ping", proc)
            url = f"http://127.0.0.1:{port}/invocations"
            script = lua_script(self.tmp, "ms", CSV_ROW, {"Content-Type": "text/csv"})
            yield url, script, lambda: float(post(url, CSV_ROW, {"Content-Type": "text/csv"}))
        finally:
            stop_group(proc)

    def shipyard_invoke(self):
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        from hosting_helpers import XGB_IMAGE, model_tarball, upload, wait_in_service

        from shipyard.testing.server import ShipyardProcess

        srv = ShipyardProcess(self.tmp / "home", log_level="warning").start()
        try:
            sm, s3 = srv.client("sagemaker"), srv.client("s3")
            data, _ = model_tarball()  # the same booster as train_tiny_model (same seed and data)
            url = upload(s3, "bench", "m/model.tar.gz", data)
            sm.create_model(ModelName="m", PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": url})
            sm.create_endpoint_config(EndpointConfigName="c", ProductionVariants=[
                {"VariantName": "v", "ModelName": "m", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
            sm.create_endpoint(EndpointName="bench", EndpointConfigName="c")
            wait_in_service(sm, "bench")
            target = f"{srv.url}/endpoints/bench/invocations"
            req = AWSRequest("POST", target, data=CSV_ROW, headers={"Content-Type": "text/csv",
                                                                    "Accept": "text/csv"})
            SigV4Auth(Credentials(*srv.keys()), "sagemaker", srv.region).add_auth(req)
            headers = {k: v for k, v in req.headers.items()}
            headers["Host"] = f"127.0.0.1:{srv.port}"
            script = lua_script(self.tmp, "invoke", CSV_ROW, headers)
            yield target, script, lambda: float(post(target, CSV_ROW, headers))
            sm.delete_endpoint(EndpointName="bench")
            time.sleep(1)
        finally:
            srv.stop(kill_children=True)

    def mlflow(self):
        model = self.tmp / "mlflow-model"
        subprocess.run([str(self.peers_py), str(BENCH / "peers" / "save_mlflow_model.py"), str(self.model_file),
                        str(model)], check=True, capture_output=True)
        port = _free_port()
        mlflow_bin = str(self.peers_py.parent / "mlflow")
        proc = start_group([mlflow_bin, "models", "serve", "-m", str(model), "--env-manager", "local", "-h",
                            "127.0.0.1", "-p", str(port)], self.tmp / "mlflow.log", env=self.peer_env)
        try:
            wait_http(f"http://127.0.0.1:{port}/ping", proc)
            url = f"http://127.0.0.1:{port}/invocations"
            body = json.dumps({"inputs": [ROW]}).encode()
            script = lua_script(self.tmp, "mlflow", body, {"Content-Type": "application/json"})
            yield url, script, lambda: json.loads(post(url, body, {"Content-Type": "application/json"}))[
                "predictions"][0]
        finally:
            stop_group(proc)

    def bentoml(self):
        port = _free_port()
        bento_bin = str(self.peers_py.parent / "bentoml")
        proc = start_group([bento_bin, "serve", "bento_service:XGBoostService", "--host", "127.0.0.1", "--port",
                            str(port)], self.tmp / "bentoml.log", cwd=BENCH / "peers",
                           env={**self.peer_env, "BENCH_XGB_MODEL": str(self.model_file),
                                "BENTOML_DO_NOT_TRACK": "true"})
        try:
            wait_http(f"http://127.0.0.1:{port}/readyz", proc)
            url = f"http://127.0.0.1:{port}/predict"
            body = json.dumps({"input": [ROW]}).encode()
            script = lua_script(self.tmp, "bentoml", body, {"Content-Type": "application/json"})
            yield url, script, lambda: json.loads(post(url, body, {"Content-Type": "application/json"}))[0]
        finally:
            stop_group(proc)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def in_process_p50(model_dir: Path, n: int = 5000) -> tuple[float, float]:
    from shipyard.algorithms.xgboost.handler import XGBoostHandler

    handler = XGBoostHandler(str(model_dir))
    for _ in range(500):
        handler.invoke(CSV_ROW, "text/csv", "text/csv")
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        handler.invoke(CSV_ROW, "text/csv", "text/csv")
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1000, float(handler.invoke(CSV_ROW, "text/csv", "text/csv")[0])


LOAD = os.getloadavg()  # other work on the machine skews every figure: say how busy it was


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per cell (default 10)")
    ap.add_argument("--concurrency", default="1,8,64")
    ap.add_argument("--only", default=",".join(SERVERS), help=f"subset of {','.join(SERVERS)}")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    only = [s for s in args.only.split(",") if s]
    wrk = ensure_wrk()
    peers_py = ensure_peers_venv() if {"mlflow", "bentoml"} & set(only) else None
    from serving_helpers import train_tiny_model

    results: dict[str, dict[int, dict]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp_name:
        tmp = Path(tmp_name)
        model_dir = tmp / "model"
        train_tiny_model(model_dir)
        base_p50, expected = in_process_p50(model_dir)
        servers = Servers(tmp, model_dir, peers_py)
        for name in only:
            print(f"--- {LABELS[name]}", flush=True)
            gen = getattr(servers, name.replace("-", "_"))()
            try:
                url, script, answer = next(gen)
                got = answer()
                if abs(got - expected) > 1e-4:
                    raise AssertionError(f"{name} predicted {got}, in-process {expected}")
                run_wrk(wrk, url, script, max(levels), 2.0)  # warm-up
                results[name] = {}
                for c in levels:
                    cell = run_wrk(wrk, url, script, c, args.duration)
                    results[name][c] = cell
                    print(f"  c={c:<3} {cell['rps']:>9.0f} req/s  p50 {cell['p50']:.3f} ms  p99 {cell['p99']:.3f} ms"
                          f"  errors {cell['errors']}", flush=True)
            finally:
                gen.close()
    report(results, levels, base_p50, args.duration)
    if args.json:
        Path(args.json).write_text(json.dumps({"in_process_p50_ms": base_p50, "results": results}, indent=1))
    return 0


def report(results: dict, levels: list[int], base_p50: float, duration: float) -> None:
    print(f"\n1-row XGBoost (4 features, 10 trees), wrk -t1, {duration:g} s per cell, {os.cpu_count()} cores; "
          f"in-process XGBoostHandler.invoke p50 {base_p50:.3f} ms; load average before the run {LOAD[0]:.2f}")
    print(f"{'server':26}{'conc':>5}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
          f"{'x mlflow':>10}{'x bentoml':>10}")
    for name, cells in results.items():
        for c, cell in cells.items():
            ratios = ""
            for peer in ("mlflow", "bentoml"):
                ref = results.get(peer, {}).get(c)
                ratios += f"{cell['rps'] / ref['rps']:>10.1f}" if ref and ref["rps"] else f"{'-':>10}"
            print(f"{LABELS[name]:26}{c:>5}{cell['rps']:>10.0f}{cell['p50']:>9.3f}{cell['p99']:>9.3f}"
                  f"{cell['errors']:>8}{ratios}")
    if 1 in levels:
        print("\nadded p50 latency over in-process predict at concurrency 1 (wrk p50 - in-process p50):")
        for name, cells in results.items():
            if 1 in cells:
                print(f"  {LABELS[name]:26}{cells[1]['p50'] - base_p50:>8.3f} ms")


if __name__ == "__main__":
    sys.exit(main())
