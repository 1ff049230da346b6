"""Run AWS's public SageMaker example notebooks (converted to scripts in this folder) against a fresh Shipyard.

    .venv/bin/python examples/aws/run_all.py                  # every example
    .venv/bin/python examples/aws/run_all.py kmeans_mnist pca_mnist   # some of them
    .venv/bin/python examples/aws/run_all.py --allow-fail NAME ...     # NAME may fail without failing the run
    .venv/bin/python examples/aws/run_all.py --jobs 3                  # three at a time (they mostly wait)

Starts one Shipyard server on a temporary home, writes the SageMaker SDK config file there (telemetry off, a
default bucket) and runs every ``examples/aws/<name>.py`` as a subprocess with the server's AWS_* variables
and ``SAGEMAKER_USER_CONFIG_OVERRIDE``, each with a timeout. Prints PASS/FAIL per example with its time and
the last error line, then ``N of M examples pass`` and the total time. Exits 1 if an example fails that is not
allowed to (``--allow-fail`` or ``known_failures.txt``: one ``name  # cause`` a line). Known failures are still
run and reported. At the end the server and every process naming its home are stopped.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "src"))

from shipyard.testing.sdk import sdk_config, sdk_variables  # noqa: E402
from shipyard.testing.server import ShipyardProcess, kill_processes_under, processes_under  # noqa: E402

DEFAULT_TIMEOUT = 300

# Examples whose framework environment would download a multi-GB build of the framework (PyTorch 2.1 from PyPI is
# a CUDA build; TensorFlow 2.13 takes minutes to build): they run against a second server whose jobs use the
# server's own Python and packages (SHIPYARD_ENVIRONMENTS=server; torch and tensorflow-cpu are test extras).
ON_SERVER_PYTHON = {"pytorch_mnist", "tensorflow_script_mode", "debugger_stop_training"}
DEFAULT_BUCKET = "sagemaker-shipyard-examples"


def discover() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.py") if p.stem != "run_all" and not p.stem.startswith("_"))


def known_failures() -> dict[str, str]:
    path = HERE / "known_failures.txt"
    out = {}
    if path.exists():
        for line in path.read_text().splitlines():
            name, _, cause = line.partition("#")
            if name.strip():
                out[name.strip()] = cause.strip()
    return out


def last_error_line(text: str) -> str:
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    for line in reversed(lines):
        if any(m in line for m in ("Error", "Exception", "error:", "FAILED", "Traceback", "Timeout")):
            return line[:300]
    return lines[-1][:300] if lines else "(no output)"


def run_example(name: str, env: dict[str, str], timeout: float, logdir: Path, workdir: Path) -> tuple[bool, float, str]:
    log = logdir / f"{name}.log"
    cwd = workdir / name
    cwd.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, str(HERE / f"{name}.py")], cwd=cwd, env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            rc = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
            rc = None
    elapsed = time.monotonic() - started
    text = log.read_text(errors="replace")
    if rc == 0:
        return True, elapsed, ""
    if rc is None:
        return False, elapsed, f"timed out after {timeout:.0f} s; last line: {last_error_line(text)}"
    return False, elapsed, last_error_line(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help="examples to run (default: all)")
    ap.add_argument("--allow-fail", nargs="*", default=[], metavar="NAME", help="examples allowed to fail")
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per example")
    ap.add_argument("--jobs", type=int, default=1, help="examples run at the same time (default 1)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary home and the logs")
    args = ap.parse_args(argv)

    names = args.names or discover()
    unknown = [n for n in names if not (HERE / f"{n}.py").exists()]
    if unknown:
        ap.error(f"no such example: {', '.join(unknown)}")
    known = known_failures()
    allowed = set(args.allow_fail) | set(known)

    tmp = Path(tempfile.mkdtemp(prefix="shipyard-aws-examples-"))
    home, logdir, workdir = tmp / "home", tmp / "logs", tmp / "work"
    logdir.mkdir(parents=True)
    config = tmp / "sagemaker-config.yaml"
    config.write_text(sdk_config(DEFAULT_BUCKET))

    total_start = time.monotonic()
    print(f"Starting a Shipyard server (home {home}); logs in {logdir}", flush=True)
    # Framework images run on their own environments, as a user's server does (SHIPYARD_ENVIRONMENTS=auto):
    # the notebooks' scripts import AWS's toolkits (sagemaker_containers, sagemaker_training). The venvs are
    # cached across runs (the first build of each takes about a minute).
    cache = os.environ.get("SHIPYARD_ENVIRONMENTS_CACHE") or str(Path.home() / ".cache" / "shipyard" / "environments")
    server = ShipyardProcess(home, env={"SHIPYARD_ENVIRONMENTS": os.environ.get("SHIPYARD_ENVIRONMENTS", "auto"),
                                        "SHIPYARD_ENVIRONMENTS_CACHE": cache}).start()
    servers = [(server, home)]
    if ON_SERVER_PYTHON.intersection(names):
        home2 = tmp / "home-server-python"
        servers.append((ShipyardProcess(home2, env={"SHIPYARD_ENVIRONMENTS": "server"}).start(), home2))
    results: list[tuple[str, bool, float, str]] = []

    def environment_for(proc: ShipyardProcess, proc_home: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AWS_", "SHIPYARD_", "SAGEMAKER_"))}
        env.update(proc.env())
        env.update(sdk_variables(config))
        env.update({
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
            "SHIPYARD_EXAMPLES_HOME": str(proc_home),
        })
        return env

    try:
        envs = {n: environment_for(*servers[-1 if n in ON_SERVER_PYTHON else 0]) for n in names}
        def report(name: str, ok: bool, elapsed: float, err: str) -> None:
            results.append((name, ok, elapsed, err))
            tag = "PASS" if ok else ("FAIL (allowed)" if name in allowed else "FAIL")
            line = f"{tag:<15} {name:<40} {elapsed:6.1f} s"
            if not ok:
                line += f"  {err}"
                if name in known:
                    line += f"  [known: {known[name]}]"
            print(line, flush=True)

        if args.jobs <= 1:
            for name in names:
                report(name, *run_example(name, envs[name], args.timeout, logdir, workdir))
        else:  # the examples mostly wait (the SDK polls endpoints every 30 s), so a few at once save time
            from concurrent.futures import ThreadPoolExecutor, as_completed
            with ThreadPoolExecutor(args.jobs) as pool:
                futures = {pool.submit(run_example, n, envs[n], args.timeout, logdir, workdir): n for n in names}
                for future in as_completed(futures):
                    report(futures[future], *future.result())
            results.sort(key=lambda r: names.index(r[0]))
    finally:
        for proc, proc_home in servers:
            proc.stop()
            deadline = time.monotonic() + 10
            while processes_under(proc_home) and time.monotonic() < deadline:
                time.sleep(0.2)
            kill_processes_under(proc_home)
        if not args.keep:
            import shutil
            for name, ok, *_ in results:  # keep the logs of failures for a look, remove the rest
                if ok:
                    (logdir / f"{name}.log").unlink(missing_ok=True)
            for _, proc_home in servers:
                shutil.rmtree(proc_home, ignore_errors=True)
            shutil.rmtree(workdir, ignore_errors=True)

    passed = sum(ok for _, ok, _, _ in results)
    print(f"\n{passed} of {len(results)} examples pass ({time.monotonic() - total_start:.0f} s in all)")
    bad = [n for n, ok, _, _ in results if not ok and n not in allowed]
    if bad:
        print(f"failing: {', '.join(bad)} (logs in {logdir})")
        return 1
    if passed < len(results):
        print(f"allowed failures only (logs in {logdir})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
