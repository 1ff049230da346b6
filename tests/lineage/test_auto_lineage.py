"""Automatic lineage after a real training job: its input channel is a DataSet artifact and its image an Image
artifact that ContributedTo the job's trial component, which Produced the Model artifact; QueryLineage walks
from the model back to the data (and from the data forward to the model)."""

from __future__ import annotations

import time

import pytest

from .conftest import IMAGE

pytestmark = [pytest.mark.timeout(120)]


def _one_artifact(sm, uri: str) -> dict:
    found = sm.list_artifacts(SourceUri=uri)["ArtifactSummaries"]
    assert len(found) == 1, f"{len(found)} artifacts for {uri}"
    return found[0]


def _wait_for_edges(sm, timeout: float = 10.0, **query) -> list[dict]:
    """The job's outputs are recorded when its controller sees it finish: a moment after Describe says so."""
    deadline = time.monotonic() + timeout
    while True:
        found = sm.list_associations(**query)["AssociationSummaries"]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_training_job_inputs_contributed_to_its_component_which_produced_the_model(sm, trained):
    name, data_uri, model_uri = trained
    component_arn = f"arn:aws:sagemaker:us-east-1:123456789012:experiment-trial-component/{name}-aws-training-job"
    data = _one_artifact(sm, data_uri)
    assert data["ArtifactType"] == "DataSet"
    assert _one_artifact(sm, IMAGE)["ArtifactType"] == "Image"
    into = sm.list_associations(DestinationArn=component_arn)["AssociationSummaries"]
    assert {(a["SourceArn"], a["AssociationType"], a["SourceType"]) for a in into} >= {
        (data["ArtifactArn"], "ContributedTo", "DataSet")}
    out = _wait_for_edges(sm, SourceArn=component_arn)
    model = _one_artifact(sm, model_uri)
    assert [(a["DestinationArn"], a["AssociationType"]) for a in out] == [(model["ArtifactArn"], "Produced")]


def test_query_lineage_walks_from_the_model_back_to_the_data(sm, trained):
    name, data_uri, model_uri = trained
    _wait_for_edges(sm, DestinationArn=_one_artifact(sm, model_uri)["ArtifactArn"])
    model_arn = _one_artifact(sm, model_uri)["ArtifactArn"]
    up = sm.query_lineage(StartArns=[model_arn], Direction="Ascendants", IncludeEdges=True)
    by_arn = {v["Arn"]: v for v in up["Vertices"]}
    component = next(v for v in up["Vertices"] if v["LineageType"] == "TrialComponent")
    assert component["Arn"].endswith(f"/{name}-aws-training-job") and component["Type"] == "TrainingJob"
    assert by_arn[_one_artifact(sm, data_uri)["ArtifactArn"]]["Type"] == "DataSet"
    datasets = sm.query_lineage(StartArns=[model_arn], Direction="Ascendants",
                                Filters={"Types": ["DataSet"], "LineageTypes": ["Artifact"]})["Vertices"]
    assert [v["Arn"] for v in datasets] == [_one_artifact(sm, data_uri)["ArtifactArn"]]
    down = sm.query_lineage(StartArns=[_one_artifact(sm, data_uri)["ArtifactArn"]], Direction="Descendants",
                            MaxDepth=2)
    assert model_arn in {v["Arn"] for v in down["Vertices"]}
    assert model_arn not in {v["Arn"] for v in sm.query_lineage(
        StartArns=[_one_artifact(sm, data_uri)["ArtifactArn"]], Direction="Descendants", MaxDepth=1)["Vertices"]}
