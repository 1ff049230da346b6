"""Lineage through boto3 against a real server: artifacts, actions, contexts, associations and QueryLineage
(both directions, depth, filters, edges, paging), with the errors a boto3 user gets for bad input."""

from __future__ import annotations

import datetime
import uuid

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError


def _uid() -> str:
    return uuid.uuid4().hex[:8]


def _code(exc_info) -> str:
    return exc_info.value.response["Error"]["Code"]


def _artifact(sm, uri: str, kind: str = "DataSet", **extra) -> str:
    return sm.create_artifact(Source={"SourceUri": uri}, ArtifactType=kind, **extra)["ArtifactArn"]


def test_artifact_lifecycle_and_one_per_source(sm):
    uri = f"s3://bucket-{_uid()}/data/train.csv"
    arn = _artifact(sm, uri, ArtifactName="train", Properties={"rows": "100"})
    assert ":artifact/" in arn
    got = sm.describe_artifact(ArtifactArn=arn)
    assert got["Source"]["SourceUri"] == uri and got["ArtifactType"] == "DataSet"
    assert got["ArtifactName"] == "train" and got["Properties"] == {"rows": "100"}
    with pytest.raises(ClientError) as e:
        _artifact(sm, uri)
    assert _code(e) == "ValidationException" and arn in e.value.response["Error"]["Message"]
    # a different source type is a different source
    other = sm.create_artifact(
        Source={"SourceUri": uri, "SourceTypes": [{"SourceIdType": "S3ETag", "Value": "abc"}]},
        ArtifactType="DataSet")["ArtifactArn"]
    assert other != arn

    listed = sm.list_artifacts(SourceUri=uri)["ArtifactSummaries"]
    assert {a["ArtifactArn"] for a in listed} == {arn, other}
    assert sm.list_artifacts(SourceUri=uri, ArtifactType="Model")["ArtifactSummaries"] == []
    created = sm.describe_artifact(ArtifactArn=arn)["CreationTime"]
    assert sm.list_artifacts(SourceUri=uri, CreatedBefore=created - datetime.timedelta(seconds=1))[
        "ArtifactSummaries"] == []
    assert len(sm.list_artifacts(SourceUri=uri, CreatedAfter=created - datetime.timedelta(seconds=1))[
        "ArtifactSummaries"]) == 2

    sm.update_artifact(ArtifactArn=arn, ArtifactName="renamed", Properties={"cols": "3"},
                       PropertiesToRemove=["rows"])
    got = sm.describe_artifact(ArtifactArn=arn)
    assert got["ArtifactName"] == "renamed" and got["Properties"] == {"cols": "3"}

    assert sm.delete_artifact(ArtifactArn=arn)["ArtifactArn"] == arn
    assert sm.delete_artifact(Source={"SourceUri": uri, "SourceTypes": [
        {"SourceIdType": "S3ETag", "Value": "abc"}]})["ArtifactArn"] == other
    with pytest.raises(ClientError) as e:
        sm.describe_artifact(ArtifactArn=arn)
    assert _code(e) == "ResourceNotFound"


def test_action_and_context_lifecycle(sm):
    name = f"deploy-{_uid()}"
    arn = sm.create_action(ActionName=name, ActionType="ModelDeployment", Status="InProgress",
                           Source={"SourceUri": f"arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/{name}"},
                           Description="first")["ActionArn"]
    assert arn.endswith(f":action/{name}")
    sm.update_action(ActionName=name, Status="Completed", Properties={"k": "v"})
    got = sm.describe_action(ActionName=name)
    assert (got["Status"], got["Properties"], got["Description"]) == ("Completed", {"k": "v"}, "first")
    assert name in {a["ActionName"] for a in sm.list_actions(ActionType="ModelDeployment")["ActionSummaries"]}
    with pytest.raises(ClientError) as e:
        sm.create_action(ActionName=name, ActionType="X", Source={"SourceUri": "u"})
    assert _code(e) == "ValidationException"

    ctx = f"ep-{_uid()}"
    carn = sm.create_context(ContextName=ctx, ContextType="Endpoint", Source={"SourceUri": f"uri-{ctx}"})["ContextArn"]
    assert sm.describe_context(ContextName=ctx)["ContextType"] == "Endpoint"
    assert [c["ContextArn"] for c in sm.list_contexts(SourceUri=f"uri-{ctx}")["ContextSummaries"]] == [carn]
    sm.update_context(ContextName=ctx, Description="prod")
    assert sm.describe_context(ContextName=ctx)["Description"] == "prod"
    sm.delete_context(ContextName=ctx)
    sm.delete_action(ActionName=name)
    for call in (lambda: sm.describe_context(ContextName=ctx), lambda: sm.describe_action(ActionName=name)):
        with pytest.raises(ClientError) as e:
            call()
        assert _code(e) == "ResourceNotFound"


def test_associations_add_list_delete_and_refusals(sm):
    data = _artifact(sm, f"s3://b-{_uid()}/d")
    model = _artifact(sm, f"s3://b-{_uid()}/m.tar.gz", "Model")
    sm.add_association(SourceArn=data, DestinationArn=model, AssociationType="DerivedFrom")
    got = sm.list_associations(SourceArn=data)["AssociationSummaries"]
    assert [(a["DestinationArn"], a["AssociationType"], a["SourceType"], a["DestinationType"]) for a in got] == [
        (model, "DerivedFrom", "DataSet", "Model")]
    assert sm.list_associations(DestinationArn=model, DestinationType="Model")["AssociationSummaries"][0][
        "SourceArn"] == data
    assert sm.list_associations(DestinationArn=model, AssociationType="Produced")["AssociationSummaries"] == []

    job_arn = "arn:aws:sagemaker:us-east-1:123456789012:training-job/some-job"
    with pytest.raises(ClientError) as e:
        sm.add_association(SourceArn=data, DestinationArn=job_arn)
    assert _code(e) == "ValidationException" and "experiment-trial-component" in e.value.response["Error"]["Message"]
    missing = data[:-4] + "0000" if not data.endswith("0000") else data[:-4] + "1111"
    with pytest.raises(ClientError) as e:
        sm.add_association(SourceArn=missing, DestinationArn=model)
    assert _code(e) == "ResourceNotFound"

    sm.delete_association(SourceArn=data, DestinationArn=model)
    assert sm.list_associations(SourceArn=data)["AssociationSummaries"] == []
    with pytest.raises(ClientError) as e:
        sm.delete_association(SourceArn=data, DestinationArn=model)
    assert _code(e) == "ResourceNotFound"


def test_list_associations_sorts_and_pages(sm):
    hub = _artifact(sm, f"s3://b-{_uid()}/hub")
    spokes = [_artifact(sm, f"s3://b-{_uid()}/s{i}", "Model") for i in range(7)]
    for spoke in spokes:
        sm.add_association(SourceArn=hub, DestinationArn=spoke, AssociationType="Produced")
    seen, token = [], None
    for _ in range(10):
        kwargs = {"NextToken": token} if token else {}
        page = sm.list_associations(SourceArn=hub, SortBy="DestinationArn", SortOrder="Ascending", MaxResults=3,
                                    **kwargs)
        assert len(page["AssociationSummaries"]) <= 3
        seen += [a["DestinationArn"] for a in page["AssociationSummaries"]]
        token = page.get("NextToken")
        if not token:
            break
    assert seen == sorted(spokes)
    with pytest.raises(ClientError) as e:
        sm.list_associations(SourceArn=hub, SortBy="SourceArn", NextToken=token or "bogus")
    assert _code(e) == "ValidationException"


@pytest.fixture(scope="module")
def chain(sm):
    """data -> component-ish context chain: d0 -> d1 -> ... -> d5 (artifacts), plus a side branch d2 -> side,
    and an action above d0: act -> d0."""
    uid = _uid()
    arts = [_artifact(sm, f"s3://chain-{uid}/d{i}", "DataSet" if i < 5 else "Model",
                      Properties={"step": str(i)}) for i in range(6)]
    side = _artifact(sm, f"s3://chain-{uid}/side", "Image")
    act = sm.create_action(ActionName=f"act-{uid}", ActionType="Prepare",
                           Source={"SourceUri": f"act-{uid}"})["ActionArn"]
    for a, b in zip(arts, arts[1:]):
        sm.add_association(SourceArn=a, DestinationArn=b, AssociationType="ContributedTo")
    sm.add_association(SourceArn=arts[2], DestinationArn=side, AssociationType="Produced")
    sm.add_association(SourceArn=act, DestinationArn=arts[0], AssociationType="Produced")
    return arts, side, act


def _arns(resp) -> list[str]:
    return [v["Arn"] for v in resp["Vertices"]]


def test_query_lineage_directions_depth_and_edges(sm, chain):
    arts, side, act = chain
    down = sm.query_lineage(StartArns=[arts[0]], Direction="Descendants", IncludeEdges=True)
    assert set(_arns(down)) == set(arts[1:]) | {side}
    assert {(e["SourceArn"], e["DestinationArn"]) for e in down["Edges"]} >= {(arts[0], arts[1]), (arts[2], side)}
    assert {v["LineageType"] for v in down["Vertices"]} == {"Artifact"}
    assert {v["Type"] for v in down["Vertices"] if v["Arn"] == side} == {"Image"}

    assert set(_arns(sm.query_lineage(StartArns=[arts[0]], Direction="Descendants", MaxDepth=2))) == set(arts[1:3])
    up = sm.query_lineage(StartArns=[arts[3]], Direction="Ascendants", IncludeEdges=False)
    assert set(_arns(up)) == {arts[0], arts[1], arts[2], act} and up["Edges"] == []
    both = sm.query_lineage(StartArns=[arts[2]], Direction="Both", MaxDepth=1)
    assert set(_arns(both)) == {arts[1], arts[3], side}
    assert _arns(sm.query_lineage(StartArns=[arts[5]], Direction="Descendants")) == []


def test_query_lineage_filters_and_paging(sm, chain):
    arts, side, act = chain
    q = dict(StartArns=[arts[5]], Direction="Ascendants")
    assert set(_arns(sm.query_lineage(**q, Filters={"LineageTypes": ["Action"]}))) == {act}
    assert set(_arns(sm.query_lineage(**q, Filters={"Types": ["DataSet"]}))) == set(arts[:5])
    assert _arns(sm.query_lineage(**q, Filters={"Properties": {"step": "3"}})) == [arts[3]]
    props = sm.query_lineage(**q, Filters={"Types": ["DataSet"], "Properties": {"step": "0"}})
    assert _arns(props) == [arts[0]]
    later = sm.describe_artifact(ArtifactArn=arts[5])["CreationTime"] + datetime.timedelta(seconds=5)
    assert _arns(sm.query_lineage(**q, Filters={"CreatedAfter": later})) == []
    assert len(_arns(sm.query_lineage(**q, Filters={"CreatedBefore": later}))) == 6
    seen, token = [], None
    for _ in range(10):
        page = sm.query_lineage(**q, MaxResults=2, **({"NextToken": token} if token else {}))
        assert len(page["Vertices"]) <= 2
        seen += _arns(page)
        token = page.get("NextToken")
        if not token:
            break
    assert sorted(seen) == sorted(arts[:5] + [act])


def test_query_lineage_errors(server, sm, chain):
    arts, _, _ = chain
    unchecked = server.client("sagemaker", config=Config(parameter_validation=False))
    with pytest.raises(ClientError) as e:
        unchecked.query_lineage(StartArns=[arts[0]], MaxDepth=11)
    assert _code(e) == "ValidationException" and "maxdepth" in e.value.response["Error"]["Message"].lower()
    with pytest.raises(ClientError) as e:
        sm.query_lineage(StartArns=[arts[0][:-6] + "ffffff"])
    assert _code(e) == "ResourceNotFound"
    with pytest.raises(ClientError) as e:
        sm.query_lineage(StartArns=["arn:aws:sagemaker:us-east-1:123456789012:endpoint/x"])
    assert _code(e) == "ValidationException"


def test_deleting_an_artifact_removes_its_associations(sm):
    a = _artifact(sm, f"s3://b-{_uid()}/a")
    b = _artifact(sm, f"s3://b-{_uid()}/b")
    sm.add_association(SourceArn=a, DestinationArn=b)
    sm.delete_artifact(ArtifactArn=b)
    assert sm.list_associations(SourceArn=a)["AssociationSummaries"] == []
