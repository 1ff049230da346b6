"""TuningState and Trial read the ``_`` keys older servers wrote and write them back unchanged.

The document below is what a server stored before the state was typed: a multi-objective tuning job with
a trial recorded but not launched yet (``value: None`` is stored, as it always was), a finished trial, a
failed launch, warm-start bookkeeping and a trial key from some other version. It goes through a real
SQLite metadata store and must come back identical.
"""

import json

import pytest

from shipyard.domain.tuning_state import PRIVATE_KEYS, Trial, TuningState
from shipyard.metastore import open_metastore

KIND = "hyper-parameter-tuning-job"
OBJ = {"Type": "Minimize", "MetricName": "validation:rmse"}

OLD = {
    "HyperParameterTuningJobName": "tj",
    "HyperParameterTuningJobStatus": "InProgress",
    "CreationTime": 1700000000.0,
    "_strategies": {"definition-1": {"name": "Random", "seed": 3, "history": [[{"eta": 0.1}, 0.5]]}},
    "_trials": [
        {"name": "tj-001-aaaa", "definition": "definition-1", "params": {"eta": "0.1"}, "status": "Completed",
         "value": 0.5, "created": 1700000001.0, "launched": True, "objective": OBJ, "ended": 1700000050.0,
         "values": [0.5, 12.0], "stop_sent": True},
        {"name": "tj-002-bbbb", "definition": "definition-1", "params": {"eta": "0.9"}, "status": "Failed",
         "value": None, "created": 1700000002.0, "launched": True, "objective": OBJ, "reason": "bad",
         "ended": 1700000003.0, "launch_failed": True, "future_key": {"x": 1}},
        {"name": "tj-003-cccc", "definition": "definition-1", "params": {"eta": "0.3"}, "status": "InProgress",
         "value": None, "created": 1700000004.0, "launched": False, "objective": OBJ},
    ],
    "_secondary": [["Minimize", "train:seconds"]],
    "_rev": 7,
    "_warm_started": True,
    "_parent_best": {"TrainingJobName": "parent-001", "FinalHyperParameterTuningJobObjectiveMetric": {"Value": 0.4}},
    "_rt_tick": 1700000060.0,
    "_converged_at": 1700000055.0,
    "_pareto": [{"TrainingJobName": "tj-001-aaaa", "TunedHyperParameters": {"eta": "0.1"},
                 "Values": {"validation:rmse": 0.5, "train:seconds": 12.0}}],
    "_tags": [{"Key": "shipyard:objectives", "Value": "Minimize:train:seconds"}],
}


@pytest.fixture
def meta(tmp_path):
    store = open_metastore(f"sqlite:///{tmp_path / 'meta.db'}")
    yield store
    store.close()


def test_an_old_document_comes_back_unchanged(meta):
    meta.create(KIND, "tj", "arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/tj",
                "InProgress", OLD)
    state = TuningState.from_doc(meta.get(KIND, "tj").doc)
    meta.update(KIND, "tj", state.to_changes())
    again = meta.get(KIND, "tj").doc
    assert json.dumps(again, sort_keys=True) == json.dumps(OLD, sort_keys=True)
    assert set(state.to_doc()) == {k for k in OLD if k.startswith("_")} <= PRIVATE_KEYS


def test_trials_are_typed_and_keep_what_they_do_not_know():
    trials = TuningState.from_doc(OLD).trials
    done, refused, recorded = trials
    assert (done.value, done.values, done.stop_sent, done.active) == (0.5, [0.5, 12.0], True, False)
    assert (refused.launch_failed, refused.reason, refused.extra) == (True, "bad", {"future_key": {"x": 1}})
    assert (recorded.launched, recorded.was_launched, recorded.active) == (False, False, True)
    assert recorded.to_dict()["value"] is None  # stored explicitly, as before
    assert Trial.from_dict({"name": "t", "definition": "d", "params": {}, "status": "Completed"}).was_launched


def test_a_new_job_stores_empty_trials_and_no_absent_keys():
    state = TuningState(strategies={"definition-1": {}}, trials=[], secondary=[])
    assert state.to_doc() == {"_strategies": {"definition-1": {}}, "_trials": [], "_secondary": []}
    assert TuningState.from_doc({}).revision == 0
    assert state.changes(rev=1, rt_tick=2.0) == {"_rev": 1, "_rt_tick": 2.0}
