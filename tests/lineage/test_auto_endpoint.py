"""The endpoint half of the automatic lineage (``lineage.auto.on_model_created`` / ``on_endpoint_created``),
on a real SQLite store in process: a trained model deployed behind an endpoint leads, through its
ModelDeployment action, the Model artifact and the job's trial component, back to the training data."""

from __future__ import annotations

import pytest

from shipyard.config import Settings
from shipyard.context import Services
from shipyard.lineage import auto
from shipyard.metastore.base import Resource
from shipyard.metastore.sql.store import SqlMetaStore
from shipyard.resources import lineage_graph

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


@pytest.fixture
def services(tmp_path):
    meta = SqlMetaStore(f"sqlite:///{tmp_path}/m.db")
    yield Services(settings=Settings(home=tmp_path), meta=meta, objects=None, runner=None)
    meta.close()


def _job(services, status: str, doc: dict) -> Resource:
    return Resource(kind="training-job", name="job1", arn=services.arn("training-job", "job1"), status=status,
                    created=0.0, modified=0.0, doc=doc)


def test_endpoint_context_leads_back_to_the_data(services):
    doc = {"TrainingJobName": "job1", "AlgorithmSpecification": {"TrainingImage": IMAGE},
           "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {"S3Uri": "s3://b/train"}}}]}
    auto.on_job(services, "created", "training-job", _job(services, "InProgress", doc))
    done = dict(doc, ModelArtifacts={"S3ModelArtifacts": "s3://b/out/job1/output/model.tar.gz"})
    auto.on_job(services, "finished", "training-job", _job(services, "Completed", done))
    model_doc = {"ModelName": "m1", "PrimaryContainer": {"Image": IMAGE,
                                                          "ModelDataUrl": "s3://b/out/job1/output/model.tar.gz"}}
    auto.on_model_created(services, model_doc)
    auto.on_endpoint_created(services, "ep1", {"EndpointConfigName": "cfg1"}, [model_doc])
    # idempotent; and the form CreateEndpoint's snapshot holds (each variant's container list)
    auto.on_endpoint_created(services, "ep1", {"EndpointConfigName": "cfg1"},
                             [{"Containers": [model_doc["PrimaryContainer"]]}])

    context = services.arn("context", auto.endpoint_context_name("ep1"))
    up = lineage_graph.query(services, {"StartArns": [context], "Direction": "Ascendants", "IncludeEdges": True})
    kinds = {(v["LineageType"], v.get("Type")) for v in up["Vertices"]}
    assert kinds == {("Action", "ModelDeployment"), ("Artifact", "Model"), ("Artifact", "Image"),
                     ("TrialComponent", "TrainingJob"), ("Artifact", "DataSet")}
    assert len(up["Vertices"]) == 5  # one Model artifact (the job's output is the deployed model) and one image
    data = lineage_graph.query(services, {"StartArns": [context], "Direction": "Ascendants",
                                          "Filters": {"Types": ["DataSet"]}})["Vertices"]
    assert len(data) == 1
    # and forward: from the data to the endpoint
    down = lineage_graph.query(services, {"StartArns": [data[0]["Arn"]], "Direction": "Descendants"})
    assert context in {v["Arn"] for v in down["Vertices"]}


def test_a_failed_job_produced_nothing(services):
    doc = {"TrainingJobName": "job1", "AlgorithmSpecification": {"TrainingImage": IMAGE},
           "ModelArtifacts": {"S3ModelArtifacts": "s3://b/out/model.tar.gz"}}
    auto.on_job(services, "finished", "training-job", _job(services, "Failed", doc))
    assert services.meta.list("artifact").items == []


def test_recording_never_raises_into_create_endpoint(services):
    auto.on_endpoint_created(services, "ep2", {"EndpointConfigName": "cfg"}, [{"PrimaryContainer": None}])
    auto.on_model_created(services, {"PrimaryContainer": {"Image": 3}})


def test_processing_and_transform_jobs_record_inputs_and_outputs(services):
    proc = {"ProcessingInputs": [
        {"InputName": "code", "S3Input": {"S3Uri": "s3://b/code/prep.py"}},
        {"InputName": "raw", "S3Input": {"S3Uri": "s3://b/raw"}}],
        "AppSpecification": {"ImageUri": IMAGE},
        "ProcessingOutputConfig": {"Outputs": [{"OutputName": "train", "S3Output": {"S3Uri": "s3://b/train"}}]}}
    for event, status in (("created", "InProgress"), ("finished", "Completed")):
        auto.on_job(services, event, "processing-job", Resource(
            kind="processing-job", name="prep", arn="arn", status=status, created=0.0, modified=0.0, doc=proc))
    services.meta.create("model", "m1", services.arn("model", "m1"), "Created", {
        "ModelName": "m1", "PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": "s3://b/model.tar.gz"}})
    batch = {"ModelName": "m1", "TransformInput": {"DataSource": {"S3DataSource": {"S3Uri": "s3://b/train"}}},
             "TransformOutput": {"S3OutputPath": "s3://b/scored"}}
    for event, status in (("created", "InProgress"), ("finished", "Completed")):
        auto.on_job(services, event, "transform-job", Resource(
            kind="transform-job", name="score", arn="arn", status=status, created=0.0, modified=0.0, doc=batch))

    component = services.arn("experiment-trial-component", "score-aws-transform-job")
    up = lineage_graph.query(services, {"StartArns": [component], "Direction": "Ascendants"})["Vertices"]
    assert {(v["LineageType"], v.get("Type")) for v in up} == {
        ("Artifact", "DataSet"), ("Artifact", "Model"), ("TrialComponent", "ProcessingJob"), ("Artifact", "Code"),
        ("Artifact", "Image")}
    down = lineage_graph.query(services, {"StartArns": [component], "Direction": "Descendants"})["Vertices"]
    assert [v.get("Type") for v in down] == ["DataSet"]
