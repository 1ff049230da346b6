"""TrainingState reads the ``_`` keys older servers wrote and writes them back unchanged.

The documents below are what a server stored before the state was typed: a job started by a server from
before multi-instance jobs (``_handle`` only), and a multi-host job in the middle of a retry. Each goes
through a real SQLite metadata store: stored, read, ``TrainingState.from_doc(doc).to_changes()`` applied as
an update, read again; the document must come back identical, byte for byte as JSON.
"""

import json

import pytest

from shipyard.domain.training_state import PRIVATE_KEYS, Failure, Host, TrainingState
from shipyard.metastore import open_metastore

KIND = "training-job"

LEGACY = {  # a job started by a single-instance-only server: no _hosts, no _attempt
    "TrainingJobName": "old-job",
    "SecondaryStatus": "Training",
    "HyperParameters": {"num_round": "3"},
    "_program": {"kind": "builtin", "algorithm": "xgboost", "module": "shipyard.algorithms.xgboost.train"},
    "_metric_definitions": [{"Name": "validation:rmse", "Regex": ".*\\[[0-9]+\\].*#011validation-rmse:(\\S+)"}],
    "_tags": [{"Key": "team", "Value": "ml"}],
    "_handle": "local-1234",
    "_job_dir": "/srv/home/runs/training/old-job",
    "_log_stream": "old-job/algo-1-1700000000",
    "_log_offset": 4096,
    "_started": 1700000000.5,
    "_metric_steps": {"validation:rmse": 3},
}

RETRYING = {  # two hosts, one lost, a retry pending; an unknown host key from some other version
    "TrainingJobName": "multi",
    "SecondaryStatus": "Restarting",
    "_program": {"kind": "script", "framework": "pytorch"},
    "_metric_definitions": [],
    "_handle": "h-1",
    "_hosts": [
        {"host": "algo-1", "handle": "h-1", "dir": "/x/attempt-1/algo-1", "offset": 10, "address": "10.0.0.1",
         "stream": "multi/algo-1-1700000100"},
        {"host": "algo-2", "handle": "h-2", "dir": "/x/attempt-1/algo-2", "offset": 0, "address": "10.0.0.2",
         "stream": "multi/algo-2-1700000100", "node": "n2"},
    ],
    "_job_dir": "/x/attempt-1/algo-1",
    "_log_stream": "multi/algo-1-1700000100",
    "_log_offset": 10,
    "_started": 1700000100.0,
    "_first_started": 1700000000.0,
    "_master_port": 29500,
    "_admitted": {"cpus": 4.0, "gpus": 0.0},
    "_attempt": 1,
    "_failure": {"host": "algo-2", "reason": "AlgorithmError: host algo-2 was lost: gone", "lost": True,
                 "retry": True},
    "_prior_transitions": [{"Status": "Starting", "StartTime": 1.0, "EndTime": 2.0, "StatusMessage": "s"}],
    "_stop_requested": 1700000200.0,
    "_stop_sent": 1700000201.0,
    "_stop_reason": "MaxRuntimeExceeded",
    "_metric_disabled": ["(a+)+$"],
    "_done": True,
}


@pytest.fixture
def meta(tmp_path):
    store = open_metastore(f"sqlite:///{tmp_path / 'meta.db'}")
    yield store
    store.close()


@pytest.mark.parametrize("old", [LEGACY, RETRYING], ids=["legacy", "retrying"])
def test_an_old_document_comes_back_unchanged(meta, old):
    name = old["TrainingJobName"]
    meta.create(KIND, name, f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}", "InProgress", old)
    stored = meta.get(KIND, name).doc
    state = TrainingState.from_doc(stored)
    meta.update(KIND, name, state.to_changes())
    again = meta.get(KIND, name).doc
    assert json.dumps(again, sort_keys=True) == json.dumps(old, sort_keys=True)
    assert state.to_doc() == {k: v for k, v in old.items() if k.startswith("_")}


def test_every_private_key_of_a_retrying_job_is_typed():
    state = TrainingState.from_doc(RETRYING)
    assert set(RETRYING) - {"TrainingJobName", "SecondaryStatus"} <= PRIVATE_KEYS
    assert state.attempt_number == 1
    assert state.failure == Failure(host="algo-2", reason="AlgorithmError: host algo-2 was lost: gone", lost=True,
                                    retry=True)
    assert [h.host for h in state.current_hosts("multi")] == ["algo-1", "algo-2"]
    assert state.hosts[1].extra == {"node": "n2"}
    assert state.started_at == 1700000000.0  # the first attempt's start counts for MaxRuntimeInSeconds


def test_a_legacy_job_has_one_host_built_from_its_handle():
    (host,) = TrainingState.from_doc(LEGACY).current_hosts("old-job")
    assert host == Host(host="algo-1", handle="local-1234", dir="/srv/home/runs/training/old-job", offset=4096,
                        stream="old-job/algo-1-1700000000")
    assert TrainingState.from_doc(LEGACY).attempt_number == 0
    assert TrainingState.from_doc({"TrainingJobName": "new"}).current_hosts("new") == []


def test_changes_name_only_the_fields_given_and_none_deletes(meta):
    meta.create(KIND, "r", "arn:aws:sagemaker:us-east-1:123456789012:training-job/r", "InProgress", dict(RETRYING))
    state = TrainingState.from_doc(meta.get(KIND, "r").doc)
    changes = state.changes(handle=None, hosts=None, failure=None, attempt=state.attempt_number + 1)
    assert changes == {"_handle": None, "_hosts": None, "_failure": None, "_attempt": 2}
    meta.update(KIND, "r", changes)
    after = TrainingState.from_doc(meta.get(KIND, "r").doc)
    assert (after.handle, after.hosts, after.failure, after.attempt) == (None, None, None, 2)
    assert after.master_port == 29500  # untouched
    with pytest.raises(TypeError):
        state.changes(no_such_field=1)
