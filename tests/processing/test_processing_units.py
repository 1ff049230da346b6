"""The pure pieces of processing jobs, without a server: the typed private state, the job's key scope, which
program an image runs, LocalPath rules, input staging (sharding, gzip) and output uploads (only what changed)."""

from __future__ import annotations

import gzip

import pytest

from shipyard.domain.processing_state import ProcessingState
from shipyard.domain.training_state import Host
from shipyard.errors import ValidationError
from shipyard.objectstore.local import LocalObjectStore
from shipyard.processing.inputs import stage_inputs
from shipyard.processing.outputs import OutputUploader
from shipyard.processing.program import program_for
from shipyard.processing.scope import job_scope
from shipyard.resources.processing_job import local_path

SKLEARN = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


def test_state_round_trips_through_the_document():
    doc = {"ProcessingJobName": "j", "_program": {"kind": "script"}, "_stop_sent": 3.0,
           "_hosts": [{"host": "algo-1", "handle": "h1", "dir": "/d", "offset": 7, "stream": "j/algo-1-1"}]}
    state = ProcessingState.from_doc(doc)
    assert state.hosts == [Host(host="algo-1", handle="h1", dir="/d", offset=7, stream="j/algo-1-1")]
    assert {k: v for k, v in state.to_changes().items() if v is not None} == {
        k: v for k, v in doc.items() if k.startswith("_")}
    assert state.changes(done=True) == {"_done": True}


def test_scope_reads_inputs_and_writes_output_folders_only():
    doc = {"RoleArn": "arn:aws:iam::1:role/r",
           "ProcessingInputs": [{"InputName": "code", "S3Input": {"S3Uri": "s3://b/j/code/p.py"}},
                                {"InputName": "data", "S3Input": {"S3Uri": "s3://b/data"}}],
           "ProcessingOutputConfig": {"Outputs": [{"OutputName": "o", "S3Output": {"S3Uri": "s3://out/j/o"}}]}}
    scope = job_scope("j", doc, ["b/elsewhere/"])
    assert scope.read == ["b/j/code/p.py", "b/data", "b/elsewhere/"]
    assert scope.write == ["out/j/o/"]
    assert scope.log_group == "/aws/sagemaker/ProcessingJobs" and scope.log_stream_prefix == "j/"
    assert scope.own == [["sagemaker", "DescribeProcessingJob", "ProcessingJobName"]]


def test_program_for_images(monkeypatch):
    monkeypatch.setenv("SHIPYARD_CONTAINER_ENGINE", "/nonexistent/docker")  # no engine to ask about images
    assert program_for(SKLEARN) == {"kind": "script", "framework": "sklearn", "image": SKLEARN}
    xgb = "246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-xgboost:1.7-1"
    assert program_for(xgb)["framework"] == "xgboost"
    with pytest.raises(ValidationError, match="Valid sklearn versions"):
        program_for(SKLEARN.replace("1.2-1", "0.1-9"))
    with pytest.raises(ValidationError, match="not a framework image"):
        program_for("not an image!")


@pytest.mark.parametrize("path", ["/opt/ml/processing", "/opt/ml/model", "/tmp/x", "relative/x",
                                  "/opt/ml/processing/../code"])
def test_local_paths_outside_processing_are_refused(path):
    with pytest.raises(ValidationError, match="/opt/ml/processing/"):
        local_path(path, "LocalPath")


def test_local_path_is_normalized():
    assert local_path("/opt/ml/processing/input//data/", "LocalPath") == "/opt/ml/processing/input/data"


@pytest.fixture
def store(tmp_path):
    s = LocalObjectStore(tmp_path / "objects")
    s.create_bucket("bkt")
    return s


def test_staging_shards_by_key_and_unpacks_gzip(store, tmp_path):
    for i in range(5):
        store.put_object("bkt", f"shards/part-{i}", str(i).encode())
    store.put_object("bkt", "packed/rows.csv.gz", gzip.compress(b"1,2\n"))
    inputs = [{"InputName": "s", "S3Input": {"S3Uri": "s3://bkt/shards", "LocalPath": "/opt/ml/processing/s",
                                             "S3DataDistributionType": "ShardedByS3Key"}},
              {"InputName": "p", "S3Input": {"S3Uri": "s3://bkt/packed", "LocalPath": "/opt/ml/processing/p",
                                             "S3InputMode": "Pipe", "S3CompressionType": "Gzip"}}]
    seen = {}
    notes: list[str] = []
    for host in range(2):
        folder = tmp_path / f"algo-{host + 1}"
        stage_inputs(store, inputs, folder, host, 2, notes.append)
        seen[host] = sorted(p.name for p in (folder / "processing" / "s").iterdir())
        assert (folder / "processing" / "p" / "rows.csv").read_bytes() == b"1,2\n"
    assert seen == {0: ["part-0", "part-2", "part-4"], 1: ["part-1", "part-3"]}
    assert any("Pipe mode" in n for n in notes)


def test_uploads_send_only_new_or_changed_files(store, tmp_path):
    outputs = [{"OutputName": "live", "S3Output": {"S3Uri": "s3://bkt/out/live", "S3UploadMode": "Continuous",
                                                   "LocalPath": "/opt/ml/processing/live"}},
               {"OutputName": "end", "S3Output": {"S3Uri": "s3://bkt/out/end", "S3UploadMode": "EndOfJob",
                                                  "LocalPath": "/opt/ml/processing/end"}}]
    uploader = OutputUploader(store, outputs, tmp_path, lambda _: None)
    uploader.make_folders()
    (tmp_path / "processing" / "live" / "a.txt").write_text("1")
    (tmp_path / "processing" / "end" / "sub").mkdir()
    (tmp_path / "processing" / "end" / "sub" / "b.txt").write_text("2")
    assert uploader.upload(continuous_only=True) == 1
    assert store.get_bytes("bkt", "out/live/a.txt") == b"1"
    assert uploader.upload() == 1  # only the EndOfJob file is new
    assert store.get_bytes("bkt", "out/end/sub/b.txt") == b"2"
    (tmp_path / "processing" / "live" / "a.txt").write_text("changed")
    assert uploader.upload() == 1
    assert store.get_bytes("bkt", "out/live/a.txt") == b"changed"
