"""Search space: scaling maps to/from the unit cube, and every invalid range says what is wrong."""

import math

import pytest

from shipyard.errors import ValidationError
from shipyard.tuning.space import SearchSpace


def space(cont=(), ints=(), cats=(), strategy="Bayesian", static=None):
    return SearchSpace.from_aws({"ContinuousParameterRanges": list(cont), "IntegerParameterRanges": list(ints),
                                 "CategoricalParameterRanges": list(cats)}, static=static, strategy=strategy)


def rng(name, lo, hi, scaling="Auto"):
    return {"Name": name, "MinValue": str(lo), "MaxValue": str(hi), "ScalingType": scaling}


@pytest.mark.parametrize("scaling", ["Linear", "Logarithmic", "ReverseLogarithmic"])
def test_round_trip_and_monotone(scaling):
    lo, hi = (0.001, 0.999) if scaling != "Linear" else (-3.0, 7.0)
    s = space(cont=[rng("a", lo, hi, scaling)])
    prev = -math.inf
    for i in range(11):
        t = i / 10
        v = float(s.decode([t])["a"])
        assert lo - 1e-9 <= v <= hi + 1e-9
        assert v > prev
        prev = v
        assert s.encode({"a": repr(v)})[0] == pytest.approx(t, abs=1e-6)


def test_log_scaling_spends_half_the_cube_on_the_lower_decades():
    s = space(cont=[rng("lr", 1e-4, 1, "Logarithmic")])
    assert float(s.decode([0.5])["lr"]) == pytest.approx(1e-2, rel=1e-6)
    r = space(cont=[rng("m", 0.0, 0.999, "ReverseLogarithmic")])
    # reverse-log: the middle of the cube is close to 1, where small changes of momentum matter
    assert float(r.decode([0.5])["m"]) > 0.9


def test_auto_picks_log_for_wide_positive_ranges():
    s = space(cont=[rng("wide", 1e-5, 1.0), rng("narrow", 0.1, 0.9)])
    assert [r.scaling for r in s.numeric] == ["Logarithmic", "Linear"]


def test_integers_cover_end_values_evenly_and_categoricals_one_hot():
    s = space(ints=[rng("n", 1, 3, "Linear")], cats=[{"Name": "k", "Values": ["a", "b", "c"]}])
    assert s.dim == 4
    counts = {"1": 0, "2": 0, "3": 0}
    for i in range(300):
        counts[s.decode([(i + 0.5) / 300, 0, 0, 0])["n"]] += 1
    assert min(counts.values()) >= 90
    assert s.decode([0.0, 0.1, 0.9, 0.2])["k"] == "b"
    assert s.encode({"n": "2", "k": "c"})[1:] == [0.0, 0.0, 1.0]
    assert s.canonical({"n": "2.0", "k": "c", "other": "x"}) == {"n": "2", "k": "c"}


@pytest.mark.parametrize("kwargs,needle", [
    ({"cont": [rng("a", 2, 1)]}, "greater than its MaxValue"),
    ({"cont": [rng("a", 0, 1, "Logarithmic")]}, "needs MinValue > 0"),
    ({"cont": [rng("a", 0.5, 1.0, "ReverseLogarithmic")]}, "0 <= MinValue <= MaxValue < 1"),
    ({"cont": [rng("a", -0.1, 0.5, "ReverseLogarithmic")]}, "0 <= MinValue <= MaxValue < 1"),
    ({"cont": [rng("a", 0, 1)], "strategy": "Grid"}, "Grid strategy supports only CategoricalParameterRanges"),
    ({"cont": [rng(f"p{i}", 0, 1) for i in range(31)]}, "at most 30"),
    ({"cont": [rng("a", 0, 1)], "ints": [rng("a", 0, 1)]}, "more than one range"),
    ({"cont": [rng("a", 0, 1)], "static": {"a": "1"}}, "both static and tuned"),
    ({"cont": [rng("a", "x", 1)]}, "is not a number"),
    ({"ints": [rng("n", 0.5, 3)]}, "integer MinValue and MaxValue"),
    ({"cont": [rng("a", 0, 1, "Cubic")]}, "ScalingType 'Cubic'"),
    ({"cats": [{"Name": "k", "Values": []}]}, "between 1 and 30"),
])
def test_validation_messages(kwargs, needle):
    with pytest.raises(ValidationError) as e:
        space(**kwargs)
    assert needle in e.value.message


def test_grid_size_and_contains():
    s = space(cats=[{"Name": "a", "Values": ["1", "2"]}, {"Name": "b", "Values": ["x", "y", "z"]}], strategy="Grid")
    assert s.grid_size() == 6
    assert s.contains({"a": "1", "b": "z"}) and not s.contains({"a": "3", "b": "z"})
