"""Early stopping's median rule and the completion criteria."""

import pytest

from shipyard.errors import ValidationError
from shipyard.tuning.completion import CompletionCriteria
from shipyard.tuning.early_stopping import normalise, should_stop

PEERS = [[(1, 1.0), (2, 0.8), (3, 0.6)], [(1, 1.2), (2, 0.9), (3, 0.7)], [(1, 0.9), (2, 0.7), (3, 0.5)]]


def test_median_rule_stops_a_job_worse_than_the_median_of_running_averages():
    # running averages at step 2: 0.9, 1.05, 0.8 -> median 0.9
    assert should_stop([(1, 1.5), (2, 1.4)], PEERS, maximize=False)
    assert not should_stop([(1, 1.0), (2, 0.85)], PEERS, maximize=False)
    assert should_stop([(1, 0.5), (2, 0.6)], PEERS, maximize=True)


def test_median_rule_needs_evidence():
    assert not should_stop([(1, 9.0)], PEERS, maximize=False)               # too early
    assert not should_stop([(1, 9.0), (2, 9.0)], PEERS[:2], maximize=False)  # too few peers
    assert not should_stop([(1, 9), (2, 9), (3, 9), (4, 9)], PEERS, maximize=False)  # no peer reached step 4


def test_steps_fall_back_to_positions():
    assert normalise([(0, 1.0), (0, 2.0)]) == [(1, 1.0), (2, 2.0)]
    assert normalise([(5, 1.0), (10, 2.0)]) == [(5, 1.0), (10, 2.0)]


def test_completion_target_not_improving_and_convergence():
    c = CompletionCriteria.from_aws({"TargetObjectiveMetricValue": 0.9}, maximize=True)
    assert c.check([-0.5, -0.8]) is None and "Target" in c.check([-0.5, -0.95])
    n = CompletionCriteria.from_aws({"BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 3}},
                                    maximize=False)
    assert n.check([5, 3, 4, 4]) is None
    assert n.check([5, 3, 4, 4, 3.5]) is not None
    assert n.jobs_not_improving([5, 3, 4]) == 1
    conv = CompletionCriteria.from_aws({"ConvergenceDetected": {"CompleteOnConvergence": "Enabled"}}, False)
    improving = [10 - i for i in range(20)]
    flat = [10, 5, 2, 1] + [1.5] * 16
    assert conv.check(improving) is None and conv.check(flat) == "ConvergenceDetected"
    with pytest.raises(ValidationError, match="at least 3"):
        CompletionCriteria.from_aws({"BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 2}}, False)
