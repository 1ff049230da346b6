"""The typed endpoint state (``domain/endpoint_state.py``) reads and writes the ``_`` keys older servers wrote:
an existing database's endpoint documents must load and come back out unchanged."""

from __future__ import annotations

import copy

import pytest

from shipyard.domain.endpoint_state import KEYS, DesiredVariant, EndpointState, Instance


def apply(doc: dict, changes: dict) -> dict:
    """What the metadata store does with ``update(changes)``: merge top-level keys, ``None`` removes one."""
    out = dict(doc)
    for k, v in changes.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out


def variant(name: str, **extra) -> dict:
    """A variant as today's CreateEndpoint snapshot (``api.endpoints.snapshot``) writes it."""
    return {"name": name, "weight": 1.0, "count": 1, "model": "m",
            "containers": [{"Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
                            "ModelDataUrl": "s3://b/m/model.tar.gz", "Environment": {"A": "1"}}],
            "startup_timeout": None, "shadow": False, "execution_mode": "Serial", "serverless": None, **extra}


CURRENT = {  # an InService endpoint of today's server, mid scale-up and with shipped logs
    "EndpointName": "ep", "EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/ep",
    "EndpointConfigName": "cfg", "EndpointStatus": "Updating", "CreationTime": 1.5, "LastModifiedTime": 2.5,
    "ProductionVariants": [{"VariantName": "a", "CurrentInstanceCount": 1}],
    "_spec": {"config": "cfg", "variants": [variant("a"), variant("s", serverless={"MemorySizeInMB": 2048,
                                                                                   "MaxConcurrency": 5})],
              "data_capture": {"EnableCapture": True, "DestinationS3Uri": "s3://cap/x"},
              "async_inference": None},
    "_gen": 2,
    "_instances": {"a": [{"id": "local-1", "host": "127.0.0.1", "port": 40001, "instance": "0a1b2c3d",
                          "token": "t0k"}],
                   "s": []},  # a scaled-to-zero serverless variant is recorded with no instance
    "_starting": [{"id": "local-2", "host": "127.0.0.1", "port": 40002, "instance": "4e5f6a7b", "token": "t1"}],
    "_prepared": {"a": {"model_dir": "/h/runs/endpoints/ep/a/model-2", "args": ["--script-program", "inference.py"],
                        "env": {"PYTHONPATH": "/x"}, "python": None, "environment_image": "img",
                        "environment_warning": None}},
    "_desired": {"a": {"weight": None, "count": 3}},
    "_log_offsets": {"a/0a1b2c3d": 1234},
}

OLD = {  # an endpoint of an older server: no tokens, no serverless/shadow keys, no generation, no _prepared
    "EndpointName": "old", "EndpointStatus": "InService", "CreationTime": 1.0,
    "_spec": {"config": "c0", "variants": [{"name": "AllTraffic", "weight": 1.0, "count": 2, "model": "m0",
                                            "containers": [{"Image": "i"}]}]},
    "_instances": {"AllTraffic": [{"id": "h1", "host": "127.0.0.1", "port": 1},
                                  {"id": "h2", "host": "127.0.0.1", "port": 2, "pid": 77}]},
}


@pytest.mark.parametrize("doc", [CURRENT, OLD], ids=["current", "old"])
def test_a_stored_document_comes_back_unchanged(doc):
    before = copy.deepcopy(doc)
    state = EndpointState.from_doc(doc)
    assert apply(doc, state.to_changes()) == before
    assert doc == before  # reading does not touch the document


def test_fields_read_typed_from_the_historical_keys():
    state = EndpointState.from_doc(CURRENT)
    assert state.spec is not None and state.spec.config == "cfg"
    assert [v.name for v in state.spec.serverless_variants] == ["s"]
    assert state.spec.variant("a").containers[0]["ModelDataUrl"] == "s3://b/m/model.tar.gz"
    assert state.spec.variant("nope") is None
    assert state.spec.data_capture == {"EnableCapture": True, "DestinationS3Uri": "s3://cap/x"}
    assert state.spec.async_inference is None
    assert state.gen == 2
    (inst,) = state.instances["a"]
    assert (inst.host, inst.port, inst.token, inst.instance) == ("127.0.0.1", 40001, "t0k", "0a1b2c3d")
    assert state.instances["s"] == []
    assert [i.id for i in state.starting or []] == ["local-2"]
    assert state.prepared["a"].model_dir.endswith("model-2") and state.prepared["a"].python is None
    assert state.desired == {"a": DesiredVariant(weight=None, count=3)}
    assert state.log_offsets == {"a/0a1b2c3d": 1234}

    old = EndpointState.from_doc(OLD)
    assert old.gen is None and old.prepared == {} and old.starting is None
    assert [i.token for i in old.instances["AllTraffic"]] == [None, None]
    assert old.instances["AllTraffic"][1].extra == {"pid": 77}  # a key this version does not know is kept
    assert old.spec is not None and old.spec.variant("AllTraffic").serverless is None


def test_changes_write_only_the_named_fields_and_clear_empty_ones():
    state = EndpointState.from_doc(CURRENT)
    assert state.spec is not None
    state.spec.variant("a").count = 3
    state.instances["a"].append(Instance(id="local-2", host="127.0.0.1", port=40002, instance="4e5f6a7b",
                                         token="t1"))
    state.starting = None
    state.desired = {}
    changes = state.to_changes(["spec", "instances", "starting", "desired"])
    assert set(changes) == {"_spec", "_instances", "_starting", "_desired"}
    assert changes["_starting"] is None and changes["_desired"] is None  # the store removes these keys
    after = apply(CURRENT, changes)
    assert after["_spec"]["variants"][0]["count"] == 3
    assert after["_spec"]["variants"][1] == CURRENT["_spec"]["variants"][1]
    assert [i["port"] for i in after["_instances"]["a"]] == [40001, 40002]
    assert "_starting" not in after and "_desired" not in after
    assert after["_prepared"] == CURRENT["_prepared"] and after["_gen"] == 2
    assert EndpointState.from_doc(after).to_changes(["log_offsets"]) == {"_log_offsets": {"a/0a1b2c3d": 1234}}


def test_an_empty_state_clears_every_key_and_unknown_fields_are_refused():
    assert EndpointState().to_changes() == {key: None for key in KEYS.values()}
    assert EndpointState(starting=[]).to_changes(["starting"]) == {"_starting": []}  # kept as written
    with pytest.raises(KeyError, match="instancez"):
        EndpointState().to_changes(["instancez"])
