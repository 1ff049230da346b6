"""The built-in Debugger rules, with AWS's names, parameter names and defaults.

Each rule class reads a :class:`~.trial.Trial` step by step (``evaluate`` is called after every refresh and
looks only at steps it has not seen) and returns a :class:`Finding` when its condition is met, as smdebug's
``invoke_at_step`` raising ``RuleEvaluationConditionMet``. Parameters arrive as strings (``RuleParameters``);
an unknown parameter name is refused when the training job is created (:data:`RULES` lists the known ones).

Tensor rules: LossNotDecreasing, Overfit, VanishingGradient, ExplodingTensor, ClassImbalance, TreeDepth.
Profiler rules (over system metrics, :mod:`.profiler`): CPUBottleneck, LowGPUUtilization, ProfilerReport.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .trial import Trial


@dataclass
class Finding:
    step: int
    message: str


def _bool(v: Any) -> bool:
    return str(v).strip().lower() in ("1", "true", "yes")


class Rule:
    name: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}
    profiler: ClassVar[bool] = False

    def __init__(self, params: dict[str, str]):
        self.p: dict[str, Any] = dict(self.defaults)
        for key, value in params.items():
            if key in self.defaults:
                default = self.defaults[key]
                if isinstance(default, bool):
                    self.p[key] = _bool(value)
                elif isinstance(default, int) and not isinstance(default, bool):
                    self.p[key] = int(float(value))
                elif isinstance(default, float):
                    self.p[key] = float(value)
                else:
                    self.p[key] = value
        self.done: set[tuple[str, int]] = set()

    def met(self, step: int, detail: str = "") -> Finding:
        text = f"Evaluation of the rule {self.name} at step {step} resulted in the condition being met"
        return Finding(step, text + (f": {detail}" if detail else ""))

    def _names(self, trial: Trial, collections: tuple[str, ...], use_collections: bool = True) -> list[str]:
        regex = self.p.get("tensor_regex")
        names: set[str] = set()
        if regex:
            names |= set(trial.tensor_names(regex=regex))
        names_param = self.p.get("collection_names")
        wanted = [c.strip() for c in str(names_param).split(",") if c.strip()] if names_param else []
        if use_collections:
            wanted += list(collections)
        for c in wanted:
            names |= set(trial.tensor_names(collection=c))
        return sorted(names)

    def evaluate(self, trial: Trial) -> Finding | None:
        raise NotImplementedError


class LossNotDecreasing(Rule):
    name = "LossNotDecreasing"
    defaults = {"tensor_regex": "", "use_losses_collection": True, "num_steps": 10, "diff_percent": 0.0,
                "increase_threshold_percent": 100.0, "mode": "", "collection_names": ""}

    def __init__(self, params):
        super().__init__(params)
        self.last: dict[str, tuple[int, float]] = {}
        self.best: dict[str, float] = {}

    def evaluate(self, trial):
        mode = self.p["mode"] or None
        for name in self._names(trial, ("losses",), self.p["use_losses_collection"]):
            for step in trial.steps(name, mode):
                if (name, step) in self.done:
                    continue
                self.done.add((name, step))
                last = self.last.get(name)
                if last is not None and step < last[0] + self.p["num_steps"]:
                    continue  # evaluated every num_steps, as smdebug's rule does
                loss = float(np.mean(trial.value(name, step)))
                best = min(self.best.get(name, loss), loss)
                self.best[name] = best
                if last is not None:
                    if math.isnan(loss):
                        return self.met(step, f"{name} is NaN")
                    if best > 0 and loss > best * (1 + self.p["increase_threshold_percent"] / 100.0):
                        return self.met(step, f"{name} rose to {loss:.6g}, more than "
                                              f"{self.p['increase_threshold_percent']:g}% over its minimum {best:.6g}")
                    prev = last[1]
                    diff = (prev - loss) / abs(prev) * 100.0 if prev else (0.0 if loss == prev else -100.0)
                    if diff < self.p["diff_percent"]:
                        return self.met(step, f"{name} went from {prev:.6g} at step {last[0]} to {loss:.6g} "
                                              f"(a decrease of {diff:.3g}%, under diff_percent "
                                              f"{self.p['diff_percent']:g}%)")
                self.last[name] = (step, loss)
        return None


class Overfit(Rule):
    name = "Overfit"
    defaults = {"tensor_regex": "", "use_losses_collection": True, "start_step": 0, "patience": 1,
                "ratio_threshold": 0.1, "collection_names": ""}

    def __init__(self, params):
        super().__init__(params)
        self.strikes: dict[str, int] = {}

    def evaluate(self, trial):
        for name in self._names(trial, ("losses",), self.p["use_losses_collection"]):
            train = trial.series(name, "TRAIN")
            if not train:
                continue
            for step in trial.steps(name, "EVAL"):
                if (name, step) in self.done or step < self.p["start_step"]:
                    continue
                self.done.add((name, step))
                before = [v for s, v in train if s <= step] or [train[0][1]]
                t, e = before[-1], float(np.mean(trial.value(name, step)))
                ratio = (e - t) / abs(t) if t else 0.0
                self.strikes[name] = self.strikes.get(name, 0) + 1 if ratio > self.p["ratio_threshold"] else 0
                if self.strikes[name] >= self.p["patience"]:
                    return self.met(step, f"validation {name} {e:.6g} exceeds training {name} {t:.6g} by "
                                          f"{ratio:.3g} (ratio_threshold {self.p['ratio_threshold']:g})")
        return None


class VanishingGradient(Rule):
    name = "VanishingGradient"
    defaults = {"threshold": 0.0000001}

    def evaluate(self, trial):
        names = set(trial.tensor_names(collection="gradients")) | set(trial.tensor_names(regex="(?i)gradient"))
        for name in sorted(names):
            for step in trial.steps(name):
                if (name, step) in self.done:
                    continue
                self.done.add((name, step))
                value = float(np.mean(np.abs(trial.value(name, step))))
                if value < self.p["threshold"]:
                    return self.met(step, f"the mean absolute value of {name} is {value:.3g}, under "
                                          f"threshold {self.p['threshold']:g}")
        return None


class ExplodingTensor(Rule):
    name = "ExplodingTensor"
    defaults = {"collection_names": "", "tensor_regex": "", "only_nan": False}

    def evaluate(self, trial):
        names = self._names(trial, (), False) if (self.p["collection_names"] or self.p["tensor_regex"]) \
            else trial.tensor_names()
        for name in names:
            for step in trial.steps(name):
                if (name, step) in self.done:
                    continue
                self.done.add((name, step))
                value = np.asarray(trial.value(name, step))
                if value.dtype.kind not in "fc":
                    continue
                if np.isnan(value).any():
                    return self.met(step, f"{name} holds NaN")
                if not self.p["only_nan"] and np.isinf(value).any():
                    return self.met(step, f"{name} holds infinite values")
        return None


class ClassImbalance(Rule):
    name = "ClassImbalance"
    defaults = {"threshold_imbalance": 10.0, "threshold_misprediction": 0.7, "samples": 500, "argmax": False,
                "labels_regex": ".*labels", "predictions_regex": ".*predictions"}

    def __init__(self, params):
        super().__init__(params)
        self.counts: dict[Any, int] = {}
        self.wrong: dict[Any, int] = {}
        self.seen = 0

    def evaluate(self, trial):
        labels = trial.tensor_names(regex=self.p["labels_regex"])
        preds = trial.tensor_names(regex=self.p["predictions_regex"])
        if not labels:
            return None
        lname, pname = labels[0], (preds[0] if preds else None)
        for step in trial.steps(lname):
            if (lname, step) in self.done:
                continue
            self.done.add((lname, step))
            y = np.asarray(trial.value(lname, step)).ravel()
            p = None
            if pname and step in trial.steps(pname):
                p = np.asarray(trial.value(pname, step))
                p = (p.argmax(axis=-1) if self.p["argmax"] else p).ravel()
            for i, label in enumerate(y.tolist()):
                self.counts[label] = self.counts.get(label, 0) + 1
                if p is not None and i < len(p) and p[i] != label:
                    self.wrong[label] = self.wrong.get(label, 0) + 1
            self.seen += len(y)
            if self.seen >= self.p["samples"] and len(self.counts) > 1:
                most, least = max(self.counts.values()), min(self.counts.values())
                if least and most / least > self.p["threshold_imbalance"]:
                    return self.met(step, f"the most frequent class has {most / least:.3g}x the samples of the "
                                          f"least frequent (threshold_imbalance {self.p['threshold_imbalance']:g})")
                for label, n in self.counts.items():
                    rate = self.wrong.get(label, 0) / n
                    if p is not None and rate > self.p["threshold_misprediction"]:
                        return self.met(step, f"class {label} is mispredicted {rate:.0%} of the time "
                                              f"(threshold_misprediction {self.p['threshold_misprediction']:g})")
        return None


class TreeDepth(Rule):
    """The depth of a tree is the base-2 logarithm of its largest node ID (AWS's definition); the condition is
    met when the trees stay shallower than ``depth`` (XGBoost rejected the splits that would deepen them)."""

    name = "TreeDepth"
    defaults = {"depth": 4}

    def evaluate(self, trial):
        for name in trial.tensor_names(regex=r"^trees/(Node|ID)$"):
            for step in trial.steps(name):
                if (name, step) in self.done:
                    continue
                self.done.add((name, step))
                nodes = np.asarray(trial.value(name, step)).ravel()
                if nodes.dtype.kind not in "iuf" or not len(nodes):
                    continue
                depth = math.log2(max(1.0, float(nodes.max())))
                if depth < self.p["depth"]:
                    return self.met(step, f"the trees reach depth {depth:.3g}, under depth {self.p['depth']}")
        return None


# --- profiler rules: over system metrics (name/dimension -> [(timestamp, value)]) ---
class ProfilerRuleBase(Rule):
    profiler = True

    def evaluate_metrics(self, series: dict[str, list[tuple[float, float]]]) -> Finding | None:
        raise NotImplementedError

    def evaluate(self, trial):  # a profiler rule reads system metrics, not tensors
        return None


def _gpu(series, dimension="GPUUtilization") -> list[float]:
    points = sorted(p for k, v in series.items() if k.endswith("/" + dimension) for p in v)
    return [v for _, v in points]


def _cpu(series) -> list[tuple[float, float]]:
    by_time: dict[float, list[float]] = {}
    for k, v in series.items():
        if k.startswith("cpu") and k.endswith("/CPUUtilization"):
            for t, x in v:
                by_time.setdefault(t, []).append(x)
    return sorted((t, float(np.mean(xs))) for t, xs in by_time.items())


class CPUBottleneck(ProfilerRuleBase):
    name = "CPUBottleneck"
    defaults = {"threshold": 50.0, "gpu_threshold": 10.0, "cpu_threshold": 90.0, "patience": 1000,
                "scan_interval_us": 60000000}

    def evaluate_metrics(self, series):
        cpu, gpu = _cpu(series), _gpu(series)
        if not gpu or len(cpu) < self.p["patience"]:
            return None  # no GPU: a CPU-bound job is not starving one
        n = min(len(cpu), len(gpu))
        bottleneck = sum(1 for (_, c), g in zip(cpu[-n:], gpu[-n:])
                         if c > self.p["cpu_threshold"] and g < self.p["gpu_threshold"])
        if n and 100.0 * bottleneck / n > self.p["threshold"]:
            return self.met(n, f"{bottleneck} of {n} datapoints had CPU above {self.p['cpu_threshold']:g}% while "
                               f"GPU was under {self.p['gpu_threshold']:g}%")
        return None


class LowGPUUtilization(ProfilerRuleBase):
    name = "LowGPUUtilization"
    defaults = {"threshold_p95": 70.0, "threshold_p5": 10.0, "window": 500, "patience": 1000,
                "scan_interval_us": 60000000}

    def evaluate_metrics(self, series):
        gpu = _gpu(series)
        if len(gpu) < self.p["patience"]:
            return None
        window = np.asarray(gpu[-self.p["window"]:])
        p95, p5 = float(np.percentile(window, 95)), float(np.percentile(window, 5))
        if p95 < self.p["threshold_p95"] and p5 < self.p["threshold_p5"]:
            return self.met(len(gpu), f"GPU utilization p95 {p95:.3g}% is under threshold_p95 "
                                      f"{self.p['threshold_p95']:g}% and p5 {p5:.3g}% under "
                                      f"{self.p['threshold_p5']:g}%")
        return None


class ProfilerReport(ProfilerRuleBase):
    """Runs the other profiler rules and writes a report (JSON and a small HTML page); it never stops a job."""

    name = "ProfilerReport"
    defaults: ClassVar[dict[str, Any]] = {"CPUBottleneck_threshold": 50.0, "LowGPUUtilization_threshold_p95": 70.0}

    def report(self, series) -> dict:
        rules = {}
        for cls in (CPUBottleneck, LowGPUUtilization):
            params = {k.split("_", 1)[1]: str(v) for k, v in self.p.items() if k.startswith(cls.name + "_")}
            finding = cls(params).evaluate_metrics(series)
            rules[cls.name] = {"triggered": finding is not None, "message": finding.message if finding else ""}
        summary = {}
        for key, points in series.items():
            values = [v for _, v in points]
            summary[key] = {"datapoints": len(values), "mean": float(np.mean(values)),
                            "p95": float(np.percentile(values, 95)), "max": float(np.max(values))}
        return {"rules": rules, "system": summary}

    def evaluate_metrics(self, series):
        return None


RULES: dict[str, type[Rule]] = {c.name: c for c in (LossNotDecreasing, Overfit, VanishingGradient, ExplodingTensor,
                                                     ClassImbalance, TreeDepth, CPUBottleneck, LowGPUUtilization,
                                                     ProfilerReport)}
# what every rule accepts besides its own parameters (the SDK's, and the rule job's plumbing)
COMMON_PARAMS = {"rule_to_invoke", "action_json", "start_step", "end_step", "source_s3_uri", "base_trial",
                 "scan_interval_us"}


def parameter_problem(rule: str, params: dict[str, str]) -> str:
    """Why ``params`` are wrong for the built-in ``rule`` ("" when they are fine)."""
    cls = RULES[rule]
    for key, value in params.items():
        if key in COMMON_PARAMS or (cls is ProfilerReport and re.match(r"^[A-Za-z]+_\w+$", key)):
            continue
        if key not in cls.defaults:
            return (f"{key!r} is not a parameter of the {rule} rule (its parameters: "
                    f"{', '.join(sorted(cls.defaults)) or 'none'})")
        default = cls.defaults[key]
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            try:
                float(value)
            except (TypeError, ValueError):
                return f"parameter {key!r} of the {rule} rule must be a number, not {value!r}"
    return ""
