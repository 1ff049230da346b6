"""Strategies through their contract: suggest/observe, state round-trip mid-run, grid enumeration,
Hyperband's brackets, and an honest Bayesian-vs-random comparison on Branin."""

import itertools
import json
import statistics

import pytest

from shipyard.errors import ValidationError
from shipyard.tuning.pareto import pareto_front
from shipyard.tuning.strategy import make_strategy, strategy_from_state
from shipyard.tuning.testfunctions import BRANIN_MIN, BRANIN_RANGES, branin, objective_of, run_loop

MIXED = {"ContinuousParameterRanges": [{"Name": "lr", "MinValue": "0.0001", "MaxValue": "1",
                                        "ScalingType": "Logarithmic"}],
         "IntegerParameterRanges": [{"Name": "depth", "MinValue": "1", "MaxValue": "10"}],
         "CategoricalParameterRanges": [{"Name": "booster", "Values": ["gbtree", "dart"]}]}


def in_range(p):
    return 1e-4 <= float(p["lr"]) <= 1 and 1 <= int(p["depth"]) <= 10 and p["booster"] in ("gbtree", "dart")


def branin_of(p):
    return branin(float(p["x1"]), float(p["x2"]))


@pytest.mark.parametrize("name", ["Random", "Bayesian", "BayesianTPE"])
def test_suggest_observe_restore_mid_run(name):
    s = make_strategy(name, MIXED, seed=3)
    for i, p in enumerate(s.suggest(6)):
        assert set(p) == {"lr", "depth", "booster"} and in_range(p)
        s.observe(f"j{i}", p, None, "InProgress")
        if i < 4:
            s.observe(f"j{i}", p, float(p["lr"]) * int(p["depth"]), "Completed")
    s.observe("j4", s.trials[4]["params"], None, "Failed")
    state = json.loads(json.dumps(s.state()))  # must survive JSON (the tuning job document)
    restored = strategy_from_state(state)
    assert restored.state() == state
    assert [t["status"] for t in restored.trials] == ["Completed"] * 4 + ["Failed", "InProgress"]
    assert restored.best()["id"] == s.best()["id"]
    nxt = restored.suggest(3)
    assert len(nxt) == 3 and all(in_range(p) for p in nxt)
    seen = [t["params"] for t in s.trials]
    assert not any(p in seen for p in nxt)  # a restored strategy does not replay earlier suggestions
    # the pending job of before the restart is still matched by its id
    restored.observe("j5", s.trials[5]["params"], 0.5, "Completed")
    assert restored.trials[5]["value"] == 0.5


def test_random_is_reproducible_and_restore_continues_the_same_sequence():
    a = make_strategy("Random", BRANIN_RANGES, seed=11)
    first = a.suggest(5)
    b = strategy_from_state(json.loads(json.dumps(a.state())))
    assert a.suggest(4) == b.suggest(4)
    c = make_strategy("Random", BRANIN_RANGES, seed=11)
    assert c.suggest(5) == first
    assert make_strategy("Random", BRANIN_RANGES, seed=12).suggest(5) != first


def test_grid_enumerates_every_combination_once_then_stops():
    ranges = {"CategoricalParameterRanges": [{"Name": "a", "Values": ["1", "2", "3"]},
                                             {"Name": "b", "Values": ["x", "y"]}]}
    g = make_strategy("Grid", ranges)
    # a warm-start parent already ran one combination
    g.observe("parent-1", {"a": "2", "b": "y"}, 0.3, "Completed")
    got = g.suggest(4)
    state = json.loads(json.dumps(g.state()))
    got += strategy_from_state(state).suggest(10)
    g2 = strategy_from_state(state)
    g2.suggest(10)
    assert g2.exhausted and g2.suggest(1) == []
    expected = {(a, b) for a, b in itertools.product("123", "xy")} - {("2", "y")}
    assert sorted((p["a"], p["b"]) for p in got) == sorted(expected)
    with pytest.raises(ValidationError, match="Grid strategy"):
        make_strategy("Grid", MIXED)


def test_hyperband_brackets_promote_the_best_with_more_resource():
    ranges = {"ContinuousParameterRanges": [{"Name": "x", "MinValue": "0", "MaxValue": "1"}]}
    hb = make_strategy("Hyperband", ranges, seed=0, resource_name="epochs", min_resource=1, max_resource=9)
    assert hb.s_max == 2
    first = hb.suggest(9)  # bracket s=2: 9 configurations at 1 epoch
    assert len(first) == 9 and {p["epochs"] for p in first} == {"1"}
    # the next suggestion, while the first rung runs, opens bracket s=1 (5 configs at 3 epochs)
    extra = hb.suggest(1)
    assert extra[0]["epochs"] == "3"
    restored = strategy_from_state(json.loads(json.dumps(hb.state())))
    for i, p in enumerate(first):  # objective = x: smaller is better
        restored.observe(f"t{i}", p, float(p["x"]), "Completed")
    promoted = [p for p in restored.suggest(10) if p["epochs"] == "3" and p["x"] != extra[0]["x"]]
    best3 = sorted(float(p["x"]) for p in first)[:3]
    assert sorted(float(p["x"]) for p in promoted[:3]) == best3
    with pytest.raises(ValidationError, match="MinResource < MaxResource"):
        make_strategy("Hyperband", ranges, min_resource=5, max_resource=5)
    with pytest.raises(ValidationError, match="cannot also be tuned"):
        make_strategy("Hyperband", ranges, resource_name="x", min_resource=1, max_resource=9)


def test_hyperband_runs_to_completion_in_the_loop():
    fn, ranges, fmin = objective_of("branin")
    hb = make_strategy("Hyperband", ranges, seed=1, resource_name="epochs", min_resource=1, max_resource=27)
    values = run_loop(hb, fn, 120, parallel=4)
    assert len(values) == 120
    assert {t["params"]["epochs"] for t in hb.trials} >= {"1", "3", "9", "27"}


def test_maximize_flips_the_best():
    s = make_strategy("Random", BRANIN_RANGES, maximize=True, seed=0)
    ps = s.suggest(5)
    for i, p in enumerate(ps):
        s.observe(f"t{i}", p, branin_of(p), "Completed")
    assert s.best()["value"] == max(branin_of(p) for p in ps)


def test_bayesian_beats_random_on_branin():
    """Median (5 seeds) best regret after 30 jobs, 2 in parallel: each Bayesian engine beats random search."""
    regrets = {}
    for name in ("Random", "Bayesian", "BayesianTPE"):
        regrets[name] = statistics.median(
            min(run_loop(make_strategy(name, BRANIN_RANGES, seed=seed), branin_of, 30, parallel=2)) - BRANIN_MIN
            for seed in range(5))
    assert regrets["Bayesian"] < regrets["Random"] and regrets["BayesianTPE"] < regrets["Random"], regrets


@pytest.mark.parametrize("engine", ["gp", "tpe"])
def test_multi_objective_study_and_pareto_front(engine):
    s = make_strategy("Bayesian", BRANIN_RANGES, seed=0, directions=["Minimize", "Maximize"], engine=engine)
    points = []
    for i in range(12):
        (p,) = s.suggest(1)
        vec = [branin_of(p), float(p["x1"])]
        s.observe(f"t{i}", p, vec[0], "Completed", values=vec)
        points.append(vec)
    restored = strategy_from_state(json.loads(json.dumps(s.state())))
    assert len(restored.suggest(2)) == 2
    front = pareto_front(points, ["Minimize", "Maximize"])
    assert front
    for i in front:  # nothing dominates a front point
        assert not any(q[0] <= points[i][0] and q[1] >= points[i][1] and q != points[i] for q in points)
    assert pareto_front([[1, 1], [2, 2], [0, 3]]) == [0, 2]


def test_bayesian_handles_a_wide_categorical_space():
    """Ten categorical ranges of 30 values are 300 one-hot dimensions: suggestions stay valid and quick."""
    import time

    ranges = {"CategoricalParameterRanges": [{"Name": f"c{i}", "Values": [f"v{j}" for j in range(30)]}
                                             for i in range(10)]}
    s = make_strategy("Bayesian", ranges, seed=0)
    t0 = time.monotonic()
    values = run_loop(s, lambda p: sum(int(v[1:]) for v in p.values()), 20, parallel=2)
    assert len(values) == 20 and time.monotonic() - t0 < 30
    keys = {json.dumps(t["params"], sort_keys=True) for t in s.trials}
    assert len(keys) == len(s.trials)  # never the same point twice
    assert all(p in [f"v{j}" for j in range(30)] for t in s.trials for p in t["params"].values())
