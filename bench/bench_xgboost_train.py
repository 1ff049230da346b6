"""Built-in XGBoost training measured as the user measures it: CreateTrainingJob -> Completed through a real
server, vs a bare ``xgboost.train`` script on the same CSV.

* bare: ``python bare.py <csv>`` as a subprocess: it parses the local CSV with pyarrow, builds a DMatrix and
  trains with the same parameters (what a user would write and time by hand);
* shipyard (File mode, and Pipe mode with ``--pipe``): a real server (:class:`ShipyardProcess`) started once;
  the same CSV uploaded through its S3 API with boto3 (as a user does, not timed); then the wall time from
  just before ``create_training_job`` until ``describe_training_job`` (polled every ``--poll`` s) says
  Completed.

Runs are interleaved, ``--repeat`` times, in ABBA order (bare, File[, Pipe], then [Pipe, ]File, bare, ...)
so that a drift in the machine's load falls on both alike; printed: the median and all runs
of each, the ratio of medians to bare (target <= 1.10), and where the job's time went (median over its
runs), from the executor's ``status.json`` (its own clock: status transitions, program start and end) and
the program's log lines (data load and training time):

    create -> Starting        controller notices the job, launcher + executor processes start
    Starting                  executor writes the /opt/ml config
    Downloading               staging the channel(s) from the object store into input/data
    program start-up          interpreter + imports until the data load begins (and exit after the model save)
    data load                 the program's "Loaded ... in X s" (CSV parse + DMatrix)
    training                  the program's "Trained ... in X s" (xgboost.train)
    Uploading                 model.tar.gz (and output) to the object store
    Completed -> seen         the controller reading status.json + the client's poll

    python bench/bench_xgboost_train.py [--rows 1000000] [--cols 28] [--rounds 100] [--depth 6] [--repeat 3]
        [--quick] [--pipe] [--poll 0.05]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from shipyard.testing.server import ShipyardProcess  # noqa: E402

BARE = textwrap.dedent("""
    import sys, numpy as np, pyarrow.csv as pacsv, xgboost as xgb
    path, rounds, depth = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    t = pacsv.read_csv(path, read_options=pacsv.ReadOptions(autogenerate_column_names=True))
    cols = [c.to_numpy() for c in t.columns]
    X = np.column_stack(cols[1:]).astype(np.float32)
    d = xgb.DMatrix(X, label=cols[0])
    b = xgb.train({"max_depth": depth, "tree_method": "hist", "eta": 0.3, "objective": "reg:squarederror"},
                  d, rounds, evals=[(d, "train")], verbose_eval=False)
    b.save_model(sys.argv[4])
""")


def make_csv(path: Path, rows: int, cols: int) -> None:
    """Label first, then ``cols`` features, written by pyarrow in 200k-row slices (seconds, not minutes)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(0)
    names = ["y"] + [f"x{i}" for i in range(cols)]
    with pacsv.CSVWriter(path, pa.schema([(n, pa.float32()) for n in names]),
                         write_options=pacsv.WriteOptions(include_header=False)) as w:
        for start in range(0, rows, 200_000):
            n = min(200_000, rows - start)
            X = np.round(rng.random((n, cols), dtype=np.float32), 5)
            y = np.round(X[:, 0] * 3 + np.sin(X[:, 1] * 6) + 0.1 * rng.standard_normal(n, dtype=np.float32), 5)
            w.write_table(pa.table([y, *X.T], names=names))


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_bare(script: Path, csv: Path, rounds: int, depth: int, model: Path) -> tuple[float, float]:
    """(wall s, CPU s) of the bare script."""
    cpu = _children_cpu()
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, str(script), str(csv), str(rounds), str(depth), str(model)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    secs = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"bare script failed: {proc.stderr[-2000:]}")
    return secs, _children_cpu() - cpu


def run_program(base: Path, csv: Path, hps: dict, i: int) -> tuple[float, float]:
    """(wall s, CPU s) of the built-in training program alone, started by hand under the /opt/ml contract
    in a prepared folder (the CSV hard-linked into its channel): the job minus the platform around it."""
    job = base / f"program-{i}"
    cfg = job / "input" / "config"
    cfg.mkdir(parents=True)
    (cfg / "hyperparameters.json").write_text(json.dumps(hps))
    (cfg / "inputdataconfig.json").write_text(json.dumps({"train": {"ContentType": "text/csv",
                                                                    "TrainingInputMode": "File"}}))
    (job / "input" / "data" / "train").mkdir(parents=True)
    os.link(csv, job / "input" / "data" / "train" / "train.csv")
    env = {**os.environ, "SAGEMAKER_BASE_DIR": str(job)}
    cpu = _children_cpu()
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "shipyard.algorithms.xgboost.train"], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    secs = time.perf_counter() - t
    shutil.rmtree(job)
    if proc.returncode != 0:
        raise SystemExit(f"training program failed: {proc.stderr[-2000:]}")
    return secs, _children_cpu() - cpu


_TICK = os.sysconf("SC_CLK_TCK")


def _server_cpu(pid: int) -> float:
    """CPU s of the server and of every child it has reaped (launcher -> executor -> program)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / _TICK


def _wait_children_reaped(pid: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = "".join(Path(t, "children").read_text() for t in Path(f"/proc/{pid}/task").iterdir()
                       if Path(t, "children").exists())
        if not kids.strip():
            return
        time.sleep(0.05)


def run_job(server: ShipyardProcess, sm, name: str, mode: str, hps: dict, poll: float) -> tuple[float, float, dict]:
    """(wall s, CPU s of server + job processes + this client's polling, phases)."""
    params = dict(
        TrainingJobName=name, RoleArn="arn:aws:iam::123456789012:role/Bench",
        AlgorithmSpecification={"TrainingImage": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
                                "TrainingInputMode": mode},
        HyperParameters=hps,
        InputDataConfig=[{"ChannelName": "train", "ContentType": "text/csv", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://bench/train/", "S3DataDistributionType": "FullyReplicated"}}}],
        OutputDataConfig={"S3OutputPath": "s3://bench/output"},
        ResourceConfig={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 3600})
    cpu0, own0 = _server_cpu(server.pid), time.process_time()
    t0 = time.time()
    sm.create_training_job(**params)
    status_file = server.home / "runs" / "training" / name / "status.json"
    described = 0.0
    while True:
        # DescribeTrainingJob once a second while the executor's status.json has no outcome (a cheap file
        # read: 20 requests a second would take CPU from the training program on a small machine), then
        # every `poll` s until the API says the job ended: the time is still what a client sees.
        if time.monotonic() - described >= 1.0 or _has_outcome(status_file):
            described = time.monotonic()
            desc = sm.describe_training_job(TrainingJobName=name)
            if desc["TrainingJobStatus"] != "InProgress":
                break
        time.sleep(poll)
    t1 = time.time()
    own = time.process_time() - own0
    if desc["TrainingJobStatus"] != "Completed":
        raise SystemExit(f"job {name} ended {desc['TrainingJobStatus']}: {desc.get('FailureReason')}")
    _wait_children_reaped(server.pid)
    return t1 - t0, _server_cpu(server.pid) - cpu0 + own, breakdown(server, name, t0, t1)


def _has_outcome(status_file: Path) -> bool:
    try:
        return bool(json.loads(status_file.read_text()).get("outcome"))
    except (OSError, ValueError):
        return False


def _log_figure(text: str, pattern: str) -> float:
    m = re.search(pattern, text)
    return float(m.group(1)) if m else float("nan")


def breakdown(server: ShipyardProcess, name: str, t0: float, t1: float) -> dict:
    """Seconds per phase, from the executor's status.json (its own clock) and the program's log lines."""
    job_dir = server.home / "runs" / "training" / name
    status = json.loads((job_dir / "status.json").read_text())
    log = ""
    for candidate in (job_dir / "output.log", *job_dir.glob("*.log")):
        if candidate.is_file():
            log = candidate.read_text(errors="replace")
            break
    starts = {t["Status"]: t["StartTime"] for t in status["transitions"]}
    load = _log_figure(log, r"Loaded .* in ([0-9.]+)s")
    train = _log_figure(log, r"Trained .* in ([0-9.]+)s")
    program = status["training_end"] - status["training_start"]
    done = starts.get("Completed", status["updated"])
    return {
        "create -> Starting": starts["Starting"] - t0,
        "Starting": starts["Downloading"] - starts["Starting"],
        "Downloading (staging)": starts["Training"] - starts["Downloading"],
        "program start-up + exit": program - load - train,
        "data load": load,
        "training": train,
        "Training -> Uploading (rest)": starts.get("Uploading", done) - starts["Training"] - program,
        "Uploading": done - starts.get("Uploading", done),
        "Completed -> seen by client": t1 - done,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--cols", type=int, default=28)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--depth", type=int, default=6)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--poll", type=float, default=0.05, help="DescribeTrainingJob poll interval, s")
    ap.add_argument("--pipe", action="store_true", help="also run the job with the channel in Pipe mode")
    ap.add_argument("--program", action="store_true",
                    help="also run the built-in training program alone (no server), as a third contender")
    ap.add_argument("--quick", action="store_true", help="100k rows, 2 repeats (a smoke run, ~1 min)")
    ap.add_argument("--json", help="also write every run's figures to this file")
    args = ap.parse_args()
    if args.quick:
        args.rows, args.repeat = min(args.rows, 100_000), min(args.repeat, 2)

    # a time limit's SIGTERM (timeout, run_all.py) still stops the server, which runs in its own session
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    base = Path(tempfile.mkdtemp(prefix="bench-xgb-"))
    server = None
    try:
        csv = base / "train.csv"
        t = time.perf_counter()
        make_csv(csv, args.rows, args.cols)
        size = csv.stat().st_size
        print(f"data: {args.rows} x {args.cols} CSV, {size / 1e6:.0f} MB, written in "
              f"{time.perf_counter() - t:.1f}s; {args.rounds} rounds, depth {args.depth}, hist, eta 0.3, "
              f"{os.cpu_count()} CPUs", flush=True)
        server = ShipyardProcess(base / "home", log_level="warning").start()
        sm, s3 = server.client("sagemaker"), server.client("s3")
        s3.create_bucket(Bucket="bench")
        t = time.perf_counter()
        s3.upload_file(str(csv), "bench", "train/train.csv")
        print(f"uploaded through S3 (boto3 upload_file) in {time.perf_counter() - t:.1f}s", flush=True)
        script = base / "bare.py"
        script.write_text(BARE)
        hps = {"num_round": str(args.rounds), "max_depth": str(args.depth), "tree_method": "hist", "eta": "0.3",
               "objective": "reg:squarederror"}
        modes = ["File"] + (["Pipe"] if args.pipe else [])
        extra = ["program"] if args.program else []
        times: dict[str, list[float]] = {"bare": [], **{m: [] for m in extra + modes}}
        cpus: dict[str, list[float]] = {"bare": [], **{m: [] for m in extra + modes}}
        phases: dict[str, list[dict]] = {m: [] for m in modes}
        # one untimed job first: the server's and the page cache's first-use costs are not what we measure
        run_job(server, sm, "xgb-warmup", "File", {**hps, "num_round": "1"}, args.poll)
        run_bare(script, csv, 1, args.depth, base / "bare-model.ubj")
        for i in range(args.repeat):
            order = ["bare", *extra, *modes]
            for name in order if i % 2 == 0 else order[::-1]:  # ABBA: a drift in the machine's load cancels
                if name == "bare":
                    secs, cpu = run_bare(script, csv, args.rounds, args.depth, base / "bare-model.ubj")
                elif name == "program":
                    secs, cpu = run_program(base, csv, hps, i)
                else:
                    secs, cpu, phase = run_job(server, sm, f"xgb-{name.lower()}-{i}", name, hps, args.poll)
                    phases[name].append(phase)
                times[name].append(secs)
                cpus[name].append(cpu)
            print(f"  run {i + 1}/{args.repeat}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()),
                  flush=True)
        med = statistics.median
        bare = med(times["bare"])
        print(f"\n{'':44}{'median s':>9}{'ratio':>8}{'CPU s':>8}{'ratio':>7}   all runs (wall s)")
        cpu_bare = med(cpus["bare"])
        labels = {"bare": "bare xgboost.train script (subprocess)", "program": "built-in program alone (no server)",
                  "File": "CreateTrainingJob -> Completed, File mode", "Pipe": "CreateTrainingJob -> Completed, Pipe"}
        for name, values in times.items():
            runs = " ".join(f"{x:.2f}" for x in values)
            cpu = med(cpus[name])
            print(f"{labels[name]:44}{med(values):>9.2f}{med(values) / bare:>8.3f}{cpu:>8.2f}{cpu / cpu_bare:>7.3f}"
                  f"   {runs}")
        print("target: each wall-time ratio <= 1.10 (CPU s: every process's user+system time, the server and "
              "this client's polling included for the jobs; steadier than wall time on a busy machine)")
        for mode in modes:
            print(f"\nwhere the {mode}-mode job's time goes (median s over {args.repeat} runs):")
            for key in phases[mode][0]:
                print(f"  {key:34}{med(p[key] for p in phases[mode]):>8.3f}")
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps({"args": vars(args), "bytes": size, "wall_s": times,
                                                   "cpu_s": cpus, "phases": phases}, indent=1))
    finally:
        if server is not None:
            server.stop(kill_children=True)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
