"""The trial layout (written and read back), the hook's save schedule, and the built-in rules over trials made
here: each rule fires on the broken case and stays quiet on the healthy one."""

from __future__ import annotations

import json

import numpy as np
import pytest

from shipyard.debugger import rule_job
from shipyard.debugger.hook import Hook
from shipyard.debugger.records import TensorEvent, decode_event, encode_event, frame, masked_crc32c, unframe
from shipyard.debugger.rules import RULES, CPUBottleneck, LowGPUUtilization, parameter_problem
from shipyard.debugger.trial import Trial
from shipyard.debugger.writer import TrialWriter


def test_crc32c_matches_the_reference_vector():
    # RFC 3720's CRC-32C check value of "123456789"
    from shipyard.debugger.records import crc32c

    assert crc32c(b"123456789") == 0xE3069283
    assert masked_crc32c(b"") != masked_crc32c(b"x")


@pytest.mark.parametrize("value", [np.float32(1.5), np.arange(6, dtype=np.int64).reshape(2, 3),
                                   np.array([np.nan, np.inf, -1.0]), np.array([True, False])])
def test_event_round_trip(value):
    payload, end = unframe(frame(encode_event(TensorEvent("a/b", 7, np.asarray(value), 2, 3, 12.5))))
    [ev] = decode_event(payload)
    assert (ev.name, ev.step, ev.mode, ev.mode_step, ev.wall_time) == ("a/b", 7, 2, 3, 12.5)
    np.testing.assert_array_equal(ev.value, np.asarray(value))
    assert ev.value.dtype == np.asarray(value).dtype


def test_torn_record_is_refused():
    data = frame(b"hello")
    with pytest.raises(ValueError):
        unframe(data[:-6])
    broken = bytearray(data)
    broken[8] ^= 1
    with pytest.raises(ValueError):
        unframe(bytes(broken))


def test_hook_saves_on_schedule_and_the_trial_reads_it_as_it_grows(tmp_path):
    config = tmp_path / "debughookconfig.json"
    config.write_text(json.dumps({"LocalPath": str(tmp_path / "t"), "HookParameters": {"save_interval": "5"},
                                  "CollectionConfigurations": [
                                      {"CollectionName": "losses", "CollectionParameters": {"save_interval": "2"}},
                                      {"CollectionName": "weights", "CollectionParameters": {"save_steps": "1,3"}}]}))
    hook = Hook.create_from_json_file(str(config))
    trial = Trial(str(tmp_path / "t"))
    for step in range(6):
        hook.save_scalar("loss", 10 - step, step, "losses")
        hook.save_tensor("w", np.full(3, step), step, "weights")
        hook.save_scalar("other", step, step)  # default collection: HookParameters.save_interval
        if step == 2:
            hook.flush()
            assert trial.refresh() == 3 and trial.steps("loss") == [0, 2]  # steps 0, 1 (w) and 2
    hook.close()
    assert trial.refresh() >= 1
    assert trial.steps("loss") == [0, 2, 4]
    assert trial.steps("w") == [1, 3]
    assert trial.steps("other") == [0, 5]
    assert trial.series("loss") == [(0, 10.0), (2, 8.0), (4, 6.0)]
    assert trial.collections() == {"default": ["other"], "losses": ["loss"], "weights": ["w"]}
    assert not trial.ended()
    TrialWriter(tmp_path / "t").close()
    assert trial.ended()


def _trial(tmp_path, series: dict[str, list], collection="losses") -> Trial:
    w = TrialWriter(tmp_path)
    steps = max(len(v) for v in series.values())
    for step in range(steps):  # one event file per step: all of the step's tensors in one write
        w.write_step(step, [(name, values[step]) for name, values in series.items() if step < len(values)],
                     mode="TRAIN", collection=collection)
    w.close()
    t = Trial(str(tmp_path))
    t.refresh()
    return t


def _rule(name, **params):
    return RULES[name]({k: str(v) for k, v in params.items()})


def test_loss_not_decreasing(tmp_path):
    rising = _trial(tmp_path / "a", {"loss": [1.0 + 0.1 * i for i in range(30)]})
    finding = _rule("LossNotDecreasing", num_steps=5).evaluate(rising)
    assert finding is not None and finding.step == 5 and "LossNotDecreasing" in finding.message
    falling = _trial(tmp_path / "b", {"loss": [1.0 / (i + 1) for i in range(30)]})
    assert _rule("LossNotDecreasing", num_steps=5).evaluate(falling) is None
    # a tensor_regex picks tensors outside the losses collection
    other = _trial(tmp_path / "c", {"my_metric": [float(i) for i in range(30)]}, collection="metrics")
    assert _rule("LossNotDecreasing", use_losses_collection="False").evaluate(other) is None
    assert _rule("LossNotDecreasing", tensor_regex="my_.*", use_losses_collection="False").evaluate(other)


def test_overfit_compares_validation_with_training(tmp_path):
    names = {"loss": [1.0, 0.5, 0.3, 0.2, 0.1, 0.05]}
    w = TrialWriter(tmp_path)
    for step, v in enumerate(names["loss"]):
        w.write_step(2 * step, [("loss", v)], mode="TRAIN", collection="losses")
        w.write_step(2 * step + 1, [("loss", v * (1.05 if step < 3 else 2.0))], mode="EVAL", collection="losses")
    t = Trial(str(tmp_path))
    t.refresh()
    finding = _rule("Overfit", patience=2).evaluate(t)
    assert finding is not None and finding.step == 9  # the second eval step over the ratio


def test_gradient_and_tensor_rules(tmp_path):
    vanishing = _trial(tmp_path / "v", {"gradients/w": [np.full(4, 1e-3), np.full(4, 1e-9)]}, collection="gradients")
    assert _rule("VanishingGradient").evaluate(vanishing).step == 1
    assert _rule("VanishingGradient", threshold=1e-12).evaluate(vanishing) is None
    exploding = _trial(tmp_path / "e", {"w": [np.ones(3), np.array([1.0, np.inf, 2.0]), np.array([np.nan])]})
    assert _rule("ExplodingTensor").evaluate(exploding).step == 1
    assert _rule("ExplodingTensor", only_nan=True).evaluate(exploding).step == 2


def test_class_imbalance_and_tree_depth(tmp_path):
    labels = np.array([0] * 95 + [1] * 5)
    t = _trial(tmp_path / "c", {"labels": [labels], "predictions": [labels]}, collection="labels")
    assert "most frequent" in _rule("ClassImbalance", samples=50).evaluate(t).message
    balanced = np.array([0, 1] * 50)
    t = _trial(tmp_path / "d", {"labels": [balanced], "predictions": [1 - balanced]}, collection="labels")
    assert "mispredicted" in _rule("ClassImbalance", samples=50).evaluate(t).message
    trees = _trial(tmp_path / "t", {"trees/Node": [np.arange(15.0)]}, collection="trees")
    assert _rule("TreeDepth", depth=4).evaluate(trees) is not None  # log2(14) < 4
    assert _rule("TreeDepth", depth=3).evaluate(trees) is None


def test_profiler_rules_over_system_metrics():
    t = [float(i) for i in range(20)]
    busy_cpu = {"cpu0/CPUUtilization": [(x, 95.0) for x in t], "gpu0/GPUUtilization": [(x, 2.0) for x in t]}
    assert CPUBottleneck({"patience": "10"}).evaluate_metrics(busy_cpu) is not None
    assert LowGPUUtilization({"patience": "10", "window": "10"}).evaluate_metrics(busy_cpu) is not None
    healthy = {"cpu0/CPUUtilization": [(x, 40.0) for x in t], "gpu0/GPUUtilization": [(x, 90.0) for x in t]}
    assert CPUBottleneck({"patience": "10"}).evaluate_metrics(healthy) is None
    assert LowGPUUtilization({"patience": "10", "window": "10"}).evaluate_metrics(healthy) is None
    no_gpu = {"cpu0/CPUUtilization": [(x, 99.0) for x in t]}
    assert CPUBottleneck({"patience": "10"}).evaluate_metrics(no_gpu) is None


def test_parameter_names_and_types_are_checked():
    assert parameter_problem("LossNotDecreasing", {"num_steps": "3", "rule_to_invoke": "LossNotDecreasing"}) == ""
    assert "num_stepz" in parameter_problem("LossNotDecreasing", {"num_stepz": "3"})
    assert "number" in parameter_problem("Overfit", {"patience": "soon"})


def test_rule_program_reports_condition_met_and_writes_its_finding(tmp_path):
    _trial(tmp_path / "tensors", {"loss": [1.0 + i for i in range(12)]})
    root = tmp_path / "opt_ml"
    assert rule_job.run("LossNotDecreasing", str(tmp_path / "tensors"), "", {"num_steps": "3"}, root, 0.01,
                        log=lambda m: None) == 0
    message = (root / "output" / "message").read_text()
    assert message.startswith("RuleEvaluationConditionMet: Evaluation of the rule LossNotDecreasing at step 3")
    result = json.loads((root / "processing/output/rule/LossNotDecreasing.json").read_text())
    assert result["condition_met"] and result["step"] == 3
    healthy = tmp_path / "opt_ml2"
    _trial(tmp_path / "good", {"loss": [1.0 / (i + 1) for i in range(12)]})
    assert rule_job.run("LossNotDecreasing", str(tmp_path / "good"), "", {}, healthy, 0.01, log=lambda m: None) == 0
    assert not (healthy / "output" / "message").exists()


def test_system_sampler_writes_aws_system_metrics(tmp_path, monkeypatch):
    """CPU per core and memory from /proc; GPUs from nvidia-smi's CSV (a stand-in here: no GPU on this machine)."""
    import os
    import time

    from shipyard.debugger.profiler import SystemSampler, read_system_metrics

    fake = tmp_path / "bin" / "nvidia-smi"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho '87, 1000, 4000'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    sampler = SystemSampler(tmp_path / "prof", interval_ms=100).start()
    deadline = time.monotonic() + 10
    files: list = []
    while time.monotonic() < deadline and not files:
        time.sleep(0.3)
        files = list((tmp_path / "prof" / "system" / "incremental").glob("*/*.algo-1.json"))
    sampler.stop()
    lines = [ln for f in files for ln in f.read_text().splitlines()]
    series = read_system_metrics(lines)
    assert "cpu0/CPUUtilization" in series and "Memory/MemoryUsedPercent" in series
    assert [v for _, v in series["gpu0/GPUUtilization"]][0] == 87.0
    assert [v for _, v in series["gpu0/GPUMemoryUtilization"]][0] == 25.0
    assert all(0.0 <= v <= 100.0 for _, v in series["cpu0/CPUUtilization"])
