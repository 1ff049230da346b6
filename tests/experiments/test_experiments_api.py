"""Experiments, trials and trial components through boto3 against a real server: every operation, the
many-to-many associations, list filters and paging, updates that add and remove, and the errors a boto3 user
sees (ResourceNotFound for unknown names; ValidationException "already exists" for duplicates, the wording the
SageMaker SDK's load-or-create relies on; bad values named in the message)."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

pytestmark = [pytest.mark.timeout(120)]


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


@pytest.fixture(scope="module")
def sm(server):
    return server.client("sagemaker")


def test_experiment_lifecycle_and_errors(sm):
    name = _name("exp")
    arn = sm.create_experiment(ExperimentName=name, DisplayName="My-exp", Description="first")["ExperimentArn"]
    assert arn.endswith(f":experiment/{name}")
    d = sm.describe_experiment(ExperimentName=name)
    assert (d["ExperimentName"], d["DisplayName"], d["Description"]) == (name, "My-exp", "first")
    sm.update_experiment(ExperimentName=name, Description="second")
    assert sm.describe_experiment(ExperimentName=name)["Description"] == "second"
    listed = [e["ExperimentName"] for e in sm.list_experiments(MaxResults=100)["ExperimentSummaries"]]
    assert name in listed
    with pytest.raises(ClientError) as e:
        sm.create_experiment(ExperimentName=name)
    assert _code(e) == "ValidationException" and "already exists" in str(e.value)
    with pytest.raises(ClientError) as e:
        sm.describe_experiment(ExperimentName="no-such-exp")
    assert _code(e) == "ResourceNotFound" and "no-such-exp" in str(e.value)
    with pytest.raises(ClientError) as e:
        sm.list_experiments(SortBy="Status")
    assert _code(e) == "ValidationException" and "sortBy" in str(e.value)
    trial = _name("trial")
    sm.create_trial(TrialName=trial, ExperimentName=name)
    with pytest.raises(ClientError) as e:  # an experiment with trials is kept, as on AWS
        sm.delete_experiment(ExperimentName=name)
    assert _code(e) == "ValidationException" and trial in str(e.value)
    sm.delete_trial(TrialName=trial)
    assert sm.delete_experiment(ExperimentName=name)["ExperimentArn"] == arn
    with pytest.raises(ClientError) as e:
        sm.delete_experiment(ExperimentName=name)
    assert _code(e) == "ResourceNotFound"


def test_trials_and_components_many_to_many(sm):
    exp = _name("exp")
    sm.create_experiment(ExperimentName=exp)
    with pytest.raises(ClientError) as e:
        sm.create_trial(TrialName=_name("t"), ExperimentName="no-such-exp")
    assert _code(e) == "ResourceNotFound"
    t1, t2 = _name("t1"), _name("t2")
    for t in (t1, t2):
        sm.create_trial(TrialName=t, ExperimentName=exp, DisplayName=t.upper())
    with pytest.raises(ClientError) as e:
        sm.create_trial(TrialName=t1, ExperimentName=exp)
    assert _code(e) == "ValidationException" and "already exists" in str(e.value)
    assert sm.describe_trial(TrialName=t1)["ExperimentName"] == exp
    sm.update_trial(TrialName=t1, DisplayName="renamed")
    assert sm.describe_trial(TrialName=t1)["DisplayName"] == "renamed"
    c1, c2 = _name("c1"), _name("c2")
    for c in (c1, c2):
        sm.create_trial_component(TrialComponentName=c)
    sm.associate_trial_component(TrialComponentName=c1, TrialName=t1)
    sm.associate_trial_component(TrialComponentName=c1, TrialName=t2)
    sm.associate_trial_component(TrialComponentName=c2, TrialName=t2)
    sm.associate_trial_component(TrialComponentName=c2, TrialName=t2)  # twice: still once

    def comps(**kw):
        return sorted(s["TrialComponentName"] for s in sm.list_trial_components(**kw)["TrialComponentSummaries"])

    assert comps(TrialName=t1) == [c1]
    assert comps(TrialName=t2) == sorted([c1, c2])
    assert comps(ExperimentName=exp) == sorted([c1, c2])
    trials = sorted(s["TrialName"] for s in sm.list_trials(TrialComponentName=c1)["TrialSummaries"])
    assert trials == sorted([t1, t2])
    assert sorted(s["TrialName"] for s in sm.list_trials(ExperimentName=exp)["TrialSummaries"]) == sorted([t1, t2])
    page = sm.list_trial_components(ExperimentName=exp, MaxResults=1, SortBy="Name", SortOrder="Ascending")
    assert [s["TrialComponentName"] for s in page["TrialComponentSummaries"]] == [min(c1, c2)]
    page2 = sm.list_trial_components(ExperimentName=exp, MaxResults=1, SortBy="Name", SortOrder="Ascending",
                                     NextToken=page["NextToken"])
    assert [s["TrialComponentName"] for s in page2["TrialComponentSummaries"]] == [max(c1, c2)]
    assert "NextToken" not in page2
    with pytest.raises(ClientError) as e:  # still associated: disassociate first, as on AWS
        sm.delete_trial_component(TrialComponentName=c1)
    assert _code(e) == "ValidationException" and "disassociate" in str(e.value).lower()
    with pytest.raises(ClientError) as e:
        sm.delete_trial(TrialName=t1)
    assert _code(e) == "ValidationException" and c1 in str(e.value)
    sm.disassociate_trial_component(TrialComponentName=c1, TrialName=t1)
    assert comps(TrialName=t1) == []
    with pytest.raises(ClientError) as e:
        sm.disassociate_trial_component(TrialComponentName=c1, TrialName=t1)
    assert _code(e) == "ResourceNotFound"
    with pytest.raises(ClientError) as e:
        sm.associate_trial_component(TrialComponentName="no-such-tc", TrialName=t1)
    assert _code(e) == "ResourceNotFound" and "no-such-tc" in str(e.value)
    sm.delete_trial(TrialName=t1)
    sm.disassociate_trial_component(TrialComponentName=c1, TrialName=t2)
    sm.delete_trial_component(TrialComponentName=c1)
    with pytest.raises(ClientError) as e:
        sm.describe_trial_component(TrialComponentName=c1)
    assert _code(e) == "ResourceNotFound"


def test_trial_component_update_adds_and_removes(sm):
    name = _name("tc")
    sm.create_trial_component(
        TrialComponentName=name, Status={"PrimaryStatus": "InProgress"}, StartTime=1_700_000_000,
        Parameters={"lr": {"NumberValue": 0.1}, "opt": {"StringValue": "adam"}},
        InputArtifacts={"train": {"Value": "s3://b/train", "MediaType": "text/csv"}})
    sm.update_trial_component(
        TrialComponentName=name, Status={"PrimaryStatus": "Completed", "Message": "done"}, EndTime=1_700_000_100,
        Parameters={"epochs": {"NumberValue": 3}}, ParametersToRemove=["opt"],
        OutputArtifacts={"model": {"Value": "s3://b/model.tar.gz"}}, InputArtifactsToRemove=["train"])
    d = sm.describe_trial_component(TrialComponentName=name)
    assert d["Parameters"] == {"lr": {"NumberValue": 0.1}, "epochs": {"NumberValue": 3.0}}
    assert d["InputArtifacts"] == {} and d["OutputArtifacts"] == {"model": {"Value": "s3://b/model.tar.gz"}}
    assert d["Status"] == {"PrimaryStatus": "Completed", "Message": "done"}
    assert d["EndTime"].timestamp() - d["StartTime"].timestamp() == 100
    with pytest.raises(ClientError) as e:
        sm.update_trial_component(TrialComponentName=name, Status={"PrimaryStatus": "Sleeping"})
    assert _code(e) == "ValidationException" and "Sleeping" in str(e.value)
    with pytest.raises(ClientError) as e:
        sm.update_trial_component(TrialComponentName=name, Parameters={"x": {"NumberValue": 1}},
                                  ParametersToRemove=["x"])
    assert _code(e) == "ValidationException" and "'x'" in str(e.value)
    with pytest.raises(ClientError) as e:
        sm.create_trial_component(TrialComponentName=_name("tc"), Parameters={"bad": {}})
    assert _code(e) == "ValidationException" and "Parameters.bad" in str(e.value)
    with pytest.raises(ClientError) as e:
        sm.create_trial_component(TrialComponentName=name)
    assert _code(e) == "ValidationException" and "already exists" in str(e.value)
    with pytest.raises(ClientError) as e:
        sm.update_trial_component(TrialComponentName="no-such-tc", DisplayName="x")
    assert _code(e) == "ResourceNotFound"
