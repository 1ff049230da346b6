"""Lineage clean-up and tags (boto3, real server): deleting an experiment, a trial or a trial component removes
its associations, so no walk meets a dangling edge; Tags given to CreateArtifact / CreateAction /
CreateContext are kept and answered by ListTags, and AddTags / DeleteTags work on these ARNs."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

pytestmark = [pytest.mark.timeout(60)]


@pytest.fixture(scope="module")
def sm(server):
    return server.client("sagemaker")


def _artifact(sm, uri: str) -> str:
    return sm.create_artifact(Source={"SourceUri": uri}, ArtifactType="DataSet")["ArtifactArn"]


def _edges(sm, **kw) -> list[dict]:
    return sm.list_associations(**kw)["AssociationSummaries"]


def test_deleting_experiment_entities_removes_their_associations(sm):
    u = uuid.uuid4().hex[:8]
    exp_arn = sm.create_experiment(ExperimentName=f"clean-{u}")["ExperimentArn"]
    trial_arn = sm.create_trial(TrialName=f"clean-trial-{u}", ExperimentName=f"clean-{u}")["TrialArn"]
    tc_arn = sm.create_trial_component(TrialComponentName=f"clean-tc-{u}")["TrialComponentArn"]
    data = _artifact(sm, f"s3://clean/{u}/data.csv")
    kept = _artifact(sm, f"s3://clean/{u}/kept.csv")
    # (a trial is not an association end: botocore's ARN pattern admits experiments and trial components only)
    for src, dst in ((data, tc_arn), (data, exp_arn), (kept, data)):
        sm.add_association(SourceArn=src, DestinationArn=dst, AssociationType="ContributedTo")
    assert len(_edges(sm, SourceArn=data)) == 2

    sm.delete_trial_component(TrialComponentName=f"clean-tc-{u}")
    assert _edges(sm, DestinationArn=tc_arn) == []
    assert sm.delete_trial(TrialName=f"clean-trial-{u}")["TrialArn"] == trial_arn
    sm.delete_experiment(ExperimentName=f"clean-{u}")
    assert _edges(sm, DestinationArn=exp_arn) == []
    # edges between entities that still exist are untouched
    assert [(e["SourceArn"], e["DestinationArn"]) for e in _edges(sm, SourceArn=kept)] == [(kept, data)]
    assert _edges(sm, SourceArn=data) == []


def test_a_refused_delete_keeps_the_associations(sm):
    u = uuid.uuid4().hex[:8]
    sm.create_experiment(ExperimentName=f"keep-{u}")
    sm.create_trial(TrialName=f"keep-trial-{u}", ExperimentName=f"keep-{u}")
    tc_arn = sm.create_trial_component(TrialComponentName=f"keep-tc-{u}")["TrialComponentArn"]
    sm.associate_trial_component(TrialComponentName=f"keep-tc-{u}", TrialName=f"keep-trial-{u}")
    data = _artifact(sm, f"s3://keep/{u}/data.csv")
    sm.add_association(SourceArn=data, DestinationArn=tc_arn, AssociationType="ContributedTo")
    with pytest.raises(ClientError) as e:
        sm.delete_trial_component(TrialComponentName=f"keep-tc-{u}")
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert "DisassociateTrialComponent" in e.value.response["Error"]["Message"]
    assert len(_edges(sm, DestinationArn=tc_arn)) == 1


@pytest.mark.parametrize("noun", ["Artifact", "Action", "Context"])
def test_tags_on_lineage_entities(sm, noun):
    u = uuid.uuid4().hex[:8]
    tags = [{"Key": "team", "Value": "ml"}, {"Key": "stage", "Value": "dev"}]
    source = {"SourceUri": f"s3://tags/{u}/{noun}"}
    if noun == "Artifact":
        arn = sm.create_artifact(Source=source, ArtifactType="DataSet", Tags=tags)["ArtifactArn"]
        described = sm.describe_artifact(ArtifactArn=arn)
    elif noun == "Action":
        arn = sm.create_action(ActionName=f"act-{u}", Source=source, ActionType="Deploy", Tags=tags)["ActionArn"]
        described = sm.describe_action(ActionName=f"act-{u}")
    else:
        arn = sm.create_context(ContextName=f"ctx-{u}", Source=source, ContextType="Endpoint",
                                Tags=tags)["ContextArn"]
        described = sm.describe_context(ContextName=f"ctx-{u}")
    assert not any(k.startswith("_") for k in described)
    assert sm.list_tags(ResourceArn=arn)["Tags"] == tags
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "stage", "Value": "prod"}, {"Key": "owner", "Value": "me"}])
    sm.delete_tags(ResourceArn=arn, TagKeys=["team"])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "stage", "Value": "prod"},
                                                     {"Key": "owner", "Value": "me"}]
