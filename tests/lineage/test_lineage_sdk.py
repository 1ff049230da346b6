"""The SageMaker SDK's ``sagemaker.lineage`` classes, unmodified, against a real server: ``Artifact.create``
and ``list``, ``Association.create``, ``LineageQuery``, and the typed helpers (``ModelArtifact``,
``EndpointContext``) over the lineage a real training job recorded plus an endpoint deployment."""

from __future__ import annotations

import uuid

import pytest

from shipyard.testing.sdk import sdk_environment, sdk_session

# quick_sagemaker_sdk: the SDK without its fixed sleeps and per-call config-schema checks (tests/e2e/sdk_waits.py)
pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("quick_sagemaker_sdk")]


@pytest.fixture(scope="module")
def sess(server, tmp_path_factory):
    with sdk_environment(server, tmp_path_factory.mktemp("lineage-sdk")):
        yield sdk_session()


def test_artifact_create_list_association_and_query(sess):
    from sagemaker.lineage.artifact import Artifact
    from sagemaker.lineage.association import Association
    from sagemaker.lineage.query import LineageFilter, LineageQuery, LineageQueryDirectionEnum, LineageSourceEnum

    uid = uuid.uuid4().hex[:8]
    data = Artifact.create(artifact_name="raw", source_uri=f"s3://sdk-{uid}/raw", artifact_type="DataSet",
                           sagemaker_session=sess)
    clean = Artifact.create(artifact_name="clean", source_uri=f"s3://sdk-{uid}/clean", artifact_type="DataSet",
                            properties={"rows": "10"}, sagemaker_session=sess)
    assert [a.artifact_arn for a in Artifact.list(source_uri=f"s3://sdk-{uid}/raw", sagemaker_session=sess)] == [
        data.artifact_arn]
    Association.create(source_arn=data.artifact_arn, destination_arn=clean.artifact_arn,
                       association_type="DerivedFrom", sagemaker_session=sess)
    listed = list(Association.list(source_arn=data.artifact_arn, sagemaker_session=sess))
    assert [(a.destination_arn, a.association_type) for a in listed] == [(clean.artifact_arn, "DerivedFrom")]

    result = LineageQuery(sess).query(start_arns=[clean.artifact_arn],
                                      direction=LineageQueryDirectionEnum.ASCENDANTS,
                                      query_filter=LineageFilter(sources=[LineageSourceEnum.DATASET]))
    assert [v.arn for v in result.vertices] == [data.artifact_arn]
    assert [(e.source_arn, e.destination_arn) for e in result.edges] == [(data.artifact_arn, clean.artifact_arn)]
    loaded = result.vertices[0].to_lineage_object()
    assert loaded.artifact_arn == data.artifact_arn and loaded.source.source_uri == f"s3://sdk-{uid}/raw"


def test_model_and_endpoint_helpers_over_a_trained_model(sm, sess, trained):
    from sagemaker.lineage.artifact import Artifact, ModelArtifact
    from sagemaker.lineage.context import EndpointContext

    name, data_uri, model_uri = trained
    [model] = list(Artifact.list(source_uri=model_uri, sagemaker_session=sess))
    model = ModelArtifact.load(artifact_arn=model.artifact_arn, sagemaker_session=sess)
    assert [d.source.source_uri for d in model.dataset_artifacts()] == [data_uri]

    # an endpoint deployment as the automatic lineage records it: Model -> ModelDeployment -> Endpoint
    uid = uuid.uuid4().hex[:8]
    action = sm.create_action(ActionName=f"deploy-{uid}", ActionType="ModelDeployment",
                              Source={"SourceUri": f"cfg-{uid}"})["ActionArn"]
    context = sm.create_context(ContextName=f"ep-{uid}", ContextType="Endpoint",
                                Source={"SourceUri": f"ep-{uid}"})["ContextArn"]
    sm.add_association(SourceArn=model.artifact_arn, DestinationArn=action, AssociationType="ContributedTo")
    sm.add_association(SourceArn=action, DestinationArn=context, AssociationType="AssociatedWith")
    assert context in [c.context_arn for c in model.endpoint_contexts()]  # (other tests deploy it too)
    endpoint = EndpointContext.load(context_name=f"ep-{uid}", sagemaker_session=sess)
    assert [d.source.source_uri for d in endpoint.dataset_artifacts()] == [data_uri]
