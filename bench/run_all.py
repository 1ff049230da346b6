"""Run every benchmark in ``bench/`` one after another and print their figures side by side.

Each script runs as its own process (so one that crashes or hangs cannot take the others with it) under a
time limit, in its own process session so that whatever it started is stopped by its group id if it
overruns. Its whole output is written to ``bench/results/<script>.txt``; at the end a summary lists, for
each script, its exit status, its wall time and the lines it printed that carry a ratio or a verdict.

    .venv/bin/python bench/run_all.py                 # every benchmark, default sizes (about an hour)
    .venv/bin/python bench/run_all.py --quick         # smaller sizes, the same comparisons (~20 min)
    .venv/bin/python bench/run_all.py --only bench_s3,bench_wire

Benchmarks are not tests: nothing here asserts. Run on a quiet machine, and compare only figures from the
same run.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")

# script -> (default arguments, --quick arguments). The order puts the short ones first.
BENCHMARKS: dict[str, tuple[list[str], list[str]]] = {
    "bench_wire": ([], ["--n", "200"]),
    "metastore": ([], ["--n", "500"]),
    "bench_s3": ([], ["--n", "100", "--keys", "1000", "--big-mib", "32"]),
    "bench_s3_sse": ([], ["--sizes-mib", "1,16", "--repeat", "5"]),
    "bench_job_overhead": ([], ["--n", "4"]),
    "bench_job_start": ([], ["--n", "4"]),
    "bench_processing_job": ([], ["--n", "3"]),
    "bench_debugger": ([], ["--repeat", "1", "--steps", "200"]),
    "bench_pipeline_dispatch": ([], ["--steps", "5", "--cached", "3"]),
    "bench_pipeline_local_mode": (["--install-compose"], ["--install-compose", "--repeat", "1"]),
    "bench_metric_ingestion": ([], ["--batches", "30"]),  # needs MLflow (see its docstring), else says so
    "bench_search": ([], ["--records", "20000", "--repeat", "10"]),
    "bench_lineage": ([], ["--chains", "200", "--repeat", "10"]),
    "bench_console": ([], ["--jobs", "2000", "--repeat", "20"]),
    "bench_usage": ([], ["--jobs", "500", "--repeat", "1"]),
    "bench_projects": ([], ["--pushes", "3"]),
    "bench_serving": ([], ["--n", "1000"]),
    "bench_router_features": ([], ["--n", "2000"]),
    "bench_hosting_features": ([], ["--n", "100"]),
    "bench_container_start": ([], ["--n", "2"]),
    "bench_byo_endpoint": ([], ["--seconds", "3"]),
    "bench_serving_peers": ([], ["--duration", "5"]),
    "bench_xgboost_train": ([], ["--rows", "300000", "--repeat", "1"]),
    "bench_pipe": ([], ["--mb", "256", "--repeat", "1"]),
    "bench_transform": ([], ["--rows", "300000"]),
    "bench_algorithms": ([], ["--rows", "50000", "--repeat", "3"]),
    "bench_distributed_xgboost": ([], ["--rows", "100000", "--rounds", "20"]),
    "bench_ray_scheduling": ([], ["--jobs", "8"]),
    "bench_tuning": (["--server", "--transfer", "--timing"],
                     ["--seeds", "3", "--peers", "shipyard-gp,optuna-tpe,random"]),
    "bench_tuning_xgboost": ([], ["--rows", "50000", "--jobs", "10", "--rounds", "20"]),
    # the neural built-ins and framework estimators (issue 19)
    "bench_pytorch_serving": ([], ["--quick"]),
    "bench_tensorflow_serving": ([], ["--quick"]),
    "bench_topic_models": ([], ["--quick"]),
    "bench_blazingtext": ([], ["--quick"]),
    "bench_object2vec": ([], ["--quick"]),
    "bench_seq2seq": ([], ["--quick"]),
    "bench_deepar": ([], ["--quick"]),
    "bench_image_classification": ([], ["--quick"]),
    # Neo and SageMaker Spark (issue 20)
    "bench_neo": ([], ["--quick"]),
    "bench_spark": ([], ["--quick"]),
    "bench_wrangle": ([], ["--rows", "200000", "--repeat", "1"]),
    "bench_wrangle_console": ([], ["--rows", "20000", "--repeat", "2"]),
}

# Lines worth repeating in the summary: ratios, speed-ups, "x" factors, verdicts.
_NOTABLE = re.compile(r"ratio|speed-?up|\d\s*x\b|\bx\s*\d|vs\b|faster|slower|p50|p99|req/s|rows/s", re.I)


def run_one(name: str, args: list[str], limit: float) -> tuple[int | None, float, str]:
    """Run one script; return (exit code or None if it overran, seconds, its output)."""
    cmd = [sys.executable, os.path.join(HERE, f"{name}.py"), *args]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=os.path.dirname(HERE), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    out: list[str] = []
    deadline = started + limit
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    buf = b""
    while True:
        chunk = None
        try:
            chunk = proc.stdout.read()
        except BlockingIOError:
            pass
        if chunk:
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                text = line.decode(errors="replace")
                print(f"  {text}", flush=True)
                out.append(text)
        if proc.poll() is not None and not chunk:
            break
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            out.append(f"[run_all] stopped after {limit:.0f} s")
            return None, time.monotonic() - started, "\n".join(out)
        time.sleep(0.05)
    if buf:
        out.append(buf.decode(errors="replace"))
    return proc.returncode, time.monotonic() - started, "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes, the same comparisons")
    ap.add_argument("--only", default="", help="comma-separated script names (without .py)")
    ap.add_argument("--limit", type=float, default=1200, help="seconds one script may take (default 1200)")
    opts = ap.parse_args()
    names = [n for n in opts.only.split(",") if n] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        ap.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    os.makedirs(RESULTS, exist_ok=True)
    summary = []
    for name in names:
        args = BENCHMARKS[name][1 if opts.quick else 0]
        print(f"== {name} {' '.join(args)}", flush=True)
        rc, seconds, output = run_one(name, args, opts.limit)
        with open(os.path.join(RESULTS, f"{name}.txt"), "w") as f:
            f.write(output + "\n")
        notable = [line.strip() for line in output.splitlines() if _NOTABLE.search(line)]
        summary.append((name, rc, seconds, notable))
    print("\n== summary (full outputs in bench/results/)")
    failed = 0
    for name, rc, seconds, notable in summary:
        state = "overran" if rc is None else ("ok" if rc == 0 else f"exit {rc}")
        failed += state != "ok"
        print(f"{name}: {state}, {seconds:.0f} s")
        for line in notable[-12:]:
            print(f"    {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
