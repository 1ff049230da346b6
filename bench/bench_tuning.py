"""Tuning benchmark: training jobs needed per strategy, side by side with the peers, and the server overhead.

Part 1 (in-process): every strategy and peer drives the same objective through the same loop the tuning
controller runs (``parallel`` jobs outstanding, the oldest finishing first); we count jobs until the best
job is within the regret target of the global minimum (Branin 0.01, Hartmann-6 0.05, noisy Hartmann-6 0.05,
mixed space 0.05), capped at ``--budget``, and the best regret after 50 jobs, median over ``--seeds``.
Regret is always measured on the *true* value of the job the strategy would report as best (for the noisy
objective: the job with the best noisy observation). Peers, each with the declared scaling and types:
Optuna's TPESampler(multivariate, constant_liar) and GPSampler (torch), scikit-optimize's GP-EI
(``gp_minimize``'s model; 1 parallel only: its ``ask`` has no notion of pending points), random search.

Part 2 (``--transfer``): a parent tuning job of 50 jobs on Hartmann-6, then a child on a related
Hartmann-6 (shifted, scaled, offset) with a ``TransferLearning`` warm start vs from scratch: jobs saved.

Part 3 (``--timing``): the Bayesian strategy's own time per suggestion, by number of observations.

Part 4 (``--server``): a 20-job Random tuning job of a trivial script through a real Shipyard server vs
the same runs as plain training jobs and as bare subprocesses.

    .venv/bin/python bench/bench_tuning.py [--seeds 3] [--budget 60] [--parallel 1,4]
        [--functions branin,hartmann6,hartmann6_noisy,mixed] [--peers shipyard-gp,optuna-tpe,...]
        [--transfer] [--timing] [--server]
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import statistics
import sys
import time
import warnings
from typing import Any, Callable

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from shipyard.tuning.space import SearchSpace  # noqa: E402
from shipyard.tuning.strategy import make_strategy  # noqa: E402
from shipyard.tuning.testfunctions import NOISE_SD, noisy_objective, objective_of  # noqa: E402

TARGETS = {"branin": 0.01, "hartmann6": 0.05, "hartmann6_noisy": 0.05, "mixed": 0.05}
PEERS = ["shipyard-gp", "shipyard-tpe", "optuna-tpe", "optuna-gp", "skopt-gp", "random"]
DEFAULT_PEERS = "shipyard-gp,optuna-tpe,optuna-gp,random"
AT = 50  # report the best regret after this many jobs


# ---------------------------------------------------------------------------------------------- agents
class ShipyardAgent:
    def __init__(self, name: str, ranges: dict, seed: int, noisy: bool, **options: Any):
        self.s = make_strategy(name, ranges, seed=seed, **options)
        self.n = 0

    def ask(self, k: int) -> list[tuple[Any, dict[str, str]]]:
        out = []
        for p in self.s.suggest(k):
            tid = f"t{self.n}"
            self.n += 1
            self.s.observe(tid, p, None, "InProgress")
            out.append((tid, p))
        return out

    def tell(self, handle: Any, params: dict[str, str], value: float) -> None:
        self.s.observe(handle, params, value, "Completed")


class OptunaAgent:
    def __init__(self, kind: str, ranges: dict, seed: int, noisy: bool):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        if kind == "tpe":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True,
                                                     constant_liar=True)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sampler = optuna.samplers.GPSampler(seed=seed, deterministic_objective=not noisy)
        self.study = optuna.create_study(sampler=sampler)
        space = SearchSpace.from_aws(ranges)
        self.dists: dict[str, Any] = {}
        for r in space.numeric:
            log = r.scaling == "Logarithmic"
            self.dists[r.name] = (optuna.distributions.IntDistribution(int(r.low), int(r.high), log=log)
                                  if r.integer else optuna.distributions.FloatDistribution(r.low, r.high, log=log))
        for c in space.categorical:
            self.dists[c.name] = optuna.distributions.CategoricalDistribution(c.values)

    def ask(self, k: int):
        out = []
        for _ in range(k):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t = self.study.ask(self.dists)
            out.append((t.number, {n: str(v) for n, v in t.params.items()}))
        return out

    def tell(self, handle, params, value):
        self.study.tell(handle, value)


class SkoptAgent:
    def __init__(self, ranges: dict, seed: int, noisy: bool):
        from skopt import Optimizer
        from skopt.space import Categorical, Integer, Real

        space = SearchSpace.from_aws(ranges)
        dims: list[Any] = []
        for r in space.numeric:
            prior = "log-uniform" if r.scaling == "Logarithmic" else "uniform"
            dims.append(Integer(int(r.low), int(r.high), prior=prior, name=r.name) if r.integer
                        else Real(r.low, r.high, prior=prior, name=r.name))
        dims += [Categorical(c.values, name=c.name) for c in space.categorical]
        self.names = [d.name for d in dims]
        self.opt = Optimizer(dims, base_estimator="GP", acq_func="EI", n_initial_points=10, random_state=seed)

    def ask(self, k: int):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pts = [self.opt.ask()] if k == 1 else self.opt.ask(n_points=k)
        return [(pt, {n: str(v) for n, v in zip(self.names, pt)}) for pt in pts]

    def tell(self, handle, params, value):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.opt.tell(list(handle), value)


def make_agent(peer: str, ranges: dict, seed: int, noisy: bool, **options: Any):
    if peer == "shipyard-gp":
        return ShipyardAgent("Bayesian", ranges, seed, noisy, **options)
    if peer == "shipyard-tpe":
        return ShipyardAgent("BayesianTPE", ranges, seed, noisy)
    if peer == "random":
        return ShipyardAgent("Random", ranges, seed, noisy)
    if peer in ("optuna-tpe", "optuna-gp"):
        return OptunaAgent(peer.split("-")[1], ranges, seed, noisy)
    if peer == "skopt-gp":
        return SkoptAgent(ranges, seed, noisy)
    raise SystemExit(f"unknown peer {peer!r}; one of {', '.join(PEERS)}")


# ---------------------------------------------------------------------------------------------- the loop
def run(agent, true_fn: Callable, observe_fn: Callable, fmin: float, target: float, budget: int,
        parallel: int) -> list[float]:
    """Drive ``agent`` for ``budget`` jobs; the regret of the reported-best job after each job."""
    running: list[tuple[Any, dict[str, str]]] = []
    regrets: list[float] = []
    best_obs, best_regret = math.inf, math.inf
    launched = 0
    while len(regrets) < budget:
        want = min(parallel - len(running), budget - launched)
        if want > 0:
            got = agent.ask(want)
            launched += len(got)
            running.extend(got)
        if not running:
            break
        handle, p = running.pop(0)
        obs = observe_fn(p)
        agent.tell(handle, p, obs)
        if obs < best_obs:
            best_obs, best_regret = obs, true_fn(p) - fmin
        regrets.append(best_regret)
        if best_regret <= target and len(regrets) >= AT:
            break  # the target is reached and the @50 figure is known: the rest changes nothing reported
    return regrets


def one_run(peer: str, fname: str, seed: int, budget: int, parallel: int) -> tuple[list[float], float]:
    true_fn, ranges, fmin = objective_of(fname)
    noisy = fname.endswith("_noisy")
    observe_fn = noisy_objective(true_fn, NOISE_SD, seed) if noisy else true_fn
    t0 = time.process_time()
    regrets = run(make_agent(peer, ranges, seed, noisy), true_fn, observe_fn, fmin, TARGETS[fname], budget,
                  parallel)
    return regrets, time.process_time() - t0


def jobs_to(regrets: list[float], target: float) -> int | None:
    return next((i + 1 for i, r in enumerate(regrets) if r <= target), None)


def cell(regrets_by_seed: list[list[float]], target: float, budget: int) -> tuple[str, str]:
    got = [jobs_to(r, target) for r in regrets_by_seed]
    reached = sum(g is not None for g in got)
    med = statistics.median(g if g is not None else math.inf for g in got)
    jobs = f"{med:.0f}" if med != math.inf else f">{budget}"
    at = statistics.median(r[min(AT, len(r)) - 1] for r in regrets_by_seed)
    return f"{jobs} ({reached}/{len(got)})", f"{at:.3f}"


def part1(seeds: int, budget: int, parallels: list[int], peers: list[str], functions: list[str]) -> None:
    print(f"jobs to regret target: median over seeds 0..{seeds - 1} (k/n = seeds that reached it within "
          f"{budget} jobs); @{AT} = median best regret after {AT} jobs; cpu = strategy+objective CPU seconds, "
          "all seeds")
    head = "".join(f" {f + '<=' + str(TARGETS[f]):>24s} {'@' + str(AT):>7s}" for f in functions)
    for parallel in parallels:
        print(f"\n-- {parallel} parallel --")
        print(f"{'strategy':14s}{head} {'cpu s':>7s}")
        for peer in peers:
            if peer == "skopt-gp" and parallel > 1:
                print(f"{peer:14s} (1 parallel only)")
                continue
            if peer == "skopt-gp" and importlib.util.find_spec("skopt") is None:
                print(f"{peer:14s} (not installed: pip install scikit-optimize, or the bench extra)")
                continue
            row, cpu = "", 0.0
            for fname in functions:
                runs = []
                for seed in range(seeds):
                    regrets, spent = one_run(peer, fname, seed, budget, parallel)
                    runs.append(regrets)
                    cpu += spent
                jobs, at = cell(runs, TARGETS[fname], budget)
                row += f" {jobs:>24s} {at:>7s}"
            print(f"{peer:14s}{row} {cpu:7.1f}", flush=True)


# ---------------------------------------------------------------------------------------------- transfer
def part2(seeds: int, budget: int) -> None:
    """Parent: 50 jobs of the GP strategy on Hartmann-6. Child: the related Hartmann-6, warm-started."""
    p_fn, ranges, _ = objective_of("hartmann6")
    c_fn, _, c_min = objective_of("hartmann6_related")
    target = TARGETS["hartmann6"]
    rows: dict[str, list[int | None]] = {"from scratch": [], "TransferLearning": [], "IdenticalData": []}
    for seed in range(seeds):
        parent = ShipyardAgent("Bayesian", ranges, seed, False)
        run(parent, p_fn, p_fn, -math.inf, -math.inf, 50, 1)
        history = [(t["params"], t["value"]) for t in parent.s.trials if t["value"] is not None]
        for label in rows:
            opts = {"warm_start_type": label} if label == "TransferLearning" else {}
            child = ShipyardAgent("Bayesian", ranges, seed + 1000, False, **opts)
            if label != "from scratch":
                for i, (p, v) in enumerate(history):
                    child.s.observe(f"parent:job-{i}", p, v, "Completed")
            rows[label].append(jobs_to(run(child, c_fn, c_fn, c_min, target, budget, 1), target))
    print(f"\ntransfer learning: child = related Hartmann-6 (regret <= {target}), parent = 50 GP jobs on "
          f"Hartmann-6, seeds 0..{seeds - 1}, cap {budget}, 1 parallel")
    scratch = statistics.median(g or math.inf for g in rows["from scratch"])
    for label, got in rows.items():
        med = statistics.median(g or math.inf for g in got)
        saving = (f"{scratch / med:4.1f}x fewer jobs than from scratch"
                  if med < math.inf and label != "from scratch" else "")
        print(f"  {label:18s} median {med:>5} jobs ({sum(g is not None for g in got)}/{len(got)} reached); "
              f"per seed {got} {saving}")


# ---------------------------------------------------------------------------------------------- timing
def part3(n_max: int = 200) -> None:
    """Wall and CPU time per suggestion (CPU is what a busy machine cannot inflate), by observations."""
    fn, ranges, _ = objective_of("hartmann6")
    for parallel in (1, 4):
        agent = ShipyardAgent("Bayesian", ranges, 0, False)
        wall: dict[int, float] = {}
        cpu: dict[int, float] = {}
        running: list = []
        done = 0
        while done < n_max:
            t0, c0 = time.perf_counter(), time.process_time()
            got = agent.ask(parallel - len(running))
            wall[done] = (time.perf_counter() - t0) / max(1, len(got))
            cpu[done] = (time.process_time() - c0) / max(1, len(got))
            running.extend(got)
            handle, p = running.pop(0)
            agent.tell(handle, p, fn(p))
            done += 1
        tail = [k for k in wall if k >= n_max - 20]
        print(f"GP suggestion time, Hartmann-6, {parallel} parallel, at {n_max - 20}..{n_max} observations: "
              f"CPU median {statistics.median(cpu[k] for k in tail) * 1e3:.1f} ms, mean "
              f"{statistics.mean(cpu[k] for k in tail) * 1e3:.1f} ms (the refits included); wall median "
              f"{statistics.median(wall[k] for k in tail) * 1e3:.1f} ms; whole run {sum(wall.values()):.1f} s wall, "
              f"{sum(cpu.values()):.1f} s CPU for {n_max} jobs; load average {os.getloadavg()[0]:.1f}", flush=True)


# ---------------------------------------------------------------------------------------------- server
TRIVIAL = """
import argparse
p = argparse.ArgumentParser(); p.add_argument("--x1", type=float); p.add_argument("--x2", type=float)
a, _ = p.parse_known_args()
print(f"objective: {(a.x1 - 1) ** 2 + (a.x2 - 2) ** 2:.6f}")
"""


def part4(jobs: int) -> None:
    """A ``jobs``-job Random tuning job of a trivial script through the server vs the same runs bare."""
    import subprocess
    import tempfile
    from pathlib import Path

    from shipyard.testing.server import ShipyardProcess

    with tempfile.TemporaryDirectory() as tmp:
        code = Path(tmp) / "code"
        code.mkdir()
        (code / "train.py").write_text(TRIVIAL)
        srv = ShipyardProcess(Path(tmp) / "home", log_level="warning").start()
        try:
            srv.client("s3").create_bucket(Bucket="bench")
            sm = srv.client("sagemaker")
            for parallel in (1, 2):
                name = f"bench-p{parallel}"
                t0 = time.perf_counter()
                definition = {
                    "StaticHyperParameters": {"sagemaker_program": '"train.py"',
                                              "sagemaker_submit_directory": f'"{code}"'},
                    "AlgorithmSpecification": {"TrainingImage": "python:3.11", "TrainingInputMode": "File",
                                               "MetricDefinitions": [{"Name": "objective",
                                                                      "Regex": r"objective: ([-0-9.eE+]+)"}]},
                    "RoleArn": "arn:aws:iam::123456789012:role/bench",
                    "OutputDataConfig": {"S3OutputPath": "s3://bench/out"},
                    "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
                    "StoppingCondition": {"MaxRuntimeInSeconds": 300}}
                sm.create_hyper_parameter_tuning_job(
                    HyperParameterTuningJobName=name,
                    HyperParameterTuningJobConfig={
                        "Strategy": "Random", "RandomSeed": 1,
                        "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "objective"},
                        "ResourceLimits": {"MaxNumberOfTrainingJobs": jobs, "MaxParallelTrainingJobs": parallel},
                        "ParameterRanges": {"ContinuousParameterRanges": [
                            {"Name": "x1", "MinValue": "-5", "MaxValue": "5"},
                            {"Name": "x2", "MinValue": "-5", "MaxValue": "5"}]}},
                    TrainingJobDefinition=definition)
                deadline = time.monotonic() + 600
                while time.monotonic() < deadline:
                    d = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
                    if d["HyperParameterTuningJobStatus"] in ("Completed", "Failed", "Stopped"):
                        break
                    time.sleep(0.1)
                tuned = time.perf_counter() - t0
                rows = sm.list_training_jobs_for_hyper_parameter_tuning_job(
                    HyperParameterTuningJobName=name, MaxResults=100)["TrainingJobSummaries"]
                params = [r["TunedHyperParameters"] for r in rows]
                t0 = time.perf_counter()
                for i in range(0, len(params), parallel):
                    procs = [subprocess.Popen([sys.executable, str(code / "train.py"), "--x1", p["x1"],
                                               "--x2", p["x2"]], stdout=subprocess.DEVNULL)
                             for p in params[i:i + parallel]]
                    for pr in procs:
                        pr.wait()
                bare = time.perf_counter() - t0
                t0 = time.perf_counter()
                for i in range(0, len(params), parallel):
                    names = []
                    for j, p in enumerate(params[i:i + parallel]):
                        names.append(f"{name}-plain-{i + j}")
                        sm.create_training_job(
                            TrainingJobName=names[-1], HyperParameters={**definition["StaticHyperParameters"], **p},
                            **{k: v for k, v in definition.items() if k != "StaticHyperParameters"})
                    for n in names:
                        while sm.describe_training_job(TrainingJobName=n)["TrainingJobStatus"] in (
                                "InProgress", "Stopping") and time.monotonic() < deadline:
                            time.sleep(0.05)
                plain = time.perf_counter() - t0
                print(f"{jobs} jobs, {parallel} parallel: tuning job {tuned:6.2f} s "
                      f"({d['TrainingJobStatusCounters']['Completed']} completed) | plain training jobs "
                      f"{plain:6.2f} s | bare subprocesses {bare:6.2f} s || tuning vs bare "
                      f"+{(tuned - bare) / jobs:4.2f} s/job ({tuned / bare:4.1f}x); tuning vs plain training jobs "
                      f"+{(tuned - plain) / jobs:5.2f} s/job ({tuned / plain:4.2f}x)", flush=True)
        finally:
            srv.stop(kill_children=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--budget", type=int, default=60, help="jobs per run at most")
    ap.add_argument("--parallel", default="1,4", help="comma-separated parallel settings")
    ap.add_argument("--peers", default=DEFAULT_PEERS, help=f"comma-separated, from {','.join(PEERS)}")
    ap.add_argument("--functions", default="branin,hartmann6")
    ap.add_argument("--transfer", action="store_true", help="also measure a TransferLearning warm start")
    ap.add_argument("--timing", action="store_true", help="also time the GP strategy's suggestions")
    ap.add_argument("--server", action="store_true", help="also measure a 20-job tuning job through the server")
    ap.add_argument("--jobs", type=int, default=20)
    args = ap.parse_args()
    if args.peers:
        part1(args.seeds, args.budget, [int(p) for p in args.parallel.split(",")], args.peers.split(","),
              args.functions.split(","))
    if args.transfer:
        part2(args.seeds, args.budget)
    if args.timing:
        part3()
    if args.server:
        part4(args.jobs)


if __name__ == "__main__":
    main()
