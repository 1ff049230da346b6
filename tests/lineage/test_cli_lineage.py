"""``shipyard lineage ENDPOINT`` against a real server: the tree from the endpoint's context, through the
deployment and the model, back to the training job's data, image and code."""

from __future__ import annotations

import argparse
import uuid

import pytest
from botocore.exceptions import ClientError

from shipyard import cli
from shipyard.cli_lineage import add_lineage_commands

from .conftest import IMAGE

pytestmark = [pytest.mark.timeout(120)]


def _run(server, monkeypatch, *argv: str):
    for key, value in server.env().items():
        monkeypatch.setenv(key, value)
    parser = argparse.ArgumentParser()
    add_lineage_commands(parser.add_subparsers(), cli._client_opts)
    args = parser.parse_args(["lineage", *argv, "--endpoint-url", server.url])
    return args.func(args)


def test_prints_the_tree_back_to_data_image_and_code(server, sm, trained, monkeypatch, capsys):
    name, data_uri, model_uri = trained
    [model] = sm.list_artifacts(SourceUri=model_uri)["ArtifactSummaries"]
    ep = f"ep-{uuid.uuid4().hex[:8]}"
    action = sm.create_action(ActionName=f"{ep}-deploy", ActionType="ModelDeployment",
                              Source={"SourceUri": f"cfg-{ep}"})["ActionArn"]
    context = sm.create_context(ContextName=f"{ep}-aws-endpoint", ContextType="Endpoint",
                                Source={"SourceUri": f"endpoint/{ep}"})["ContextArn"]
    sm.add_association(SourceArn=model["ArtifactArn"], DestinationArn=action, AssociationType="ContributedTo")
    sm.add_association(SourceArn=action, DestinationArn=context, AssociationType="AssociatedWith")

    assert _run(server, monkeypatch, ep) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"endpoint {ep}  (Context Endpoint)"
    assert lines[1] == f"└─ AssociatedWith: ModelDeployment action  {ep}-deploy"
    assert lines[2] == f"   └─ ContributedTo: Model  {model_uri}"
    assert lines[3] == f"      └─ Produced: TrainingJob trial component  {name}-aws-training-job"
    leaves = sorted(line.split("ContributedTo: ", 1)[1] for line in lines[4:])
    assert leaves == sorted([f"Code  {data_uri.rsplit('/data/', 1)[0]}/code/sourcedir.tar.gz",
                             f"DataSet  {data_uri}", f"Image  {IMAGE}"])


def test_an_endpoint_without_lineage_is_a_clear_error(server, monkeypatch):
    with pytest.raises(ClientError) as e:
        _run(server, monkeypatch, "no-such-endpoint")
    assert "no-such-endpoint" in e.value.response["Error"]["Message"]  # what `shipyard` prints in one line
