"""Target tracking decisions: proportional scale-out, margin and cooldowns on scale-in, clamping."""

from shipyard.autoscaling.policy import Observation, decide


def test_scale_out_is_proportional_and_clamped():
    d = decide(Observation(current=1, metric=250.0, now=1000), target=100, min_cap=1, max_cap=4)
    assert d.desired == 3
    d = decide(Observation(current=2, metric=1000.0, now=1000), target=100, min_cap=1, max_cap=4)
    assert d.desired == 4


def test_scale_out_cooldown_holds():
    obs = Observation(current=1, metric=300.0, now=1000, last_scale_out=990)
    assert decide(obs, 100, 1, 4, scale_out_cooldown=60).desired == 1
    obs.now = 1100
    assert decide(obs, 100, 1, 4, scale_out_cooldown=60).desired == 3


def test_scale_in_waits_for_cooldown_and_respects_min_and_disable():
    obs = Observation(current=4, metric=10.0, now=1000, last_scale_out=950)
    assert decide(obs, 100, 1, 4, scale_in_cooldown=100).desired == 4
    obs.now = 1100
    assert decide(obs, 100, 1, 4, scale_in_cooldown=100).desired == 1
    assert decide(obs, 100, 2, 4, scale_in_cooldown=100).desired == 2
    assert decide(obs, 100, 1, 4, scale_in_cooldown=100, disable_scale_in=True).desired == 4


def test_no_flapping_near_target():
    obs = Observation(current=2, metric=95.0, now=10_000)
    assert decide(obs, 100, 1, 4, scale_in_cooldown=0).desired == 2
    obs = Observation(current=2, metric=0.0, now=10_000)
    assert decide(obs, 100, 1, 4, scale_in_cooldown=0).desired == 1
