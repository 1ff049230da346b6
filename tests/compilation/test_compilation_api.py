"""CreateCompilationJob's validation, Describe/List/Stop/Delete and a restart, through boto3.

The server runs the stand-in compiler (``standin_compiler.py``) sleeping 1.5 s, so a job is still
running when it is stopped or the server restarts; the compiler itself is tested in tests/compile.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from neo_helpers import ROLE, job_request, standin_env, upload, wait_job, xgb_artifact

from shipyard.testing.server import ShipyardProcess

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def slow(tmp_path_factory):
    """A server whose compiler sleeps 1.5 s before compiling; its home is reused by the restart test."""
    proc = ShipyardProcess(tmp_path_factory.mktemp("neo-home"), env=standin_env(1.5)).start()
    try:
        s3 = proc.client("s3")
        model = upload(s3, "neo", "model/model.tar.gz", xgb_artifact()[0])
        yield proc, model
    finally:
        proc.stop(kill_children=True)


def _code(call, **kw) -> tuple[str, str]:
    with pytest.raises(ClientError) as e:
        call(**kw)
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def test_validation_errors_say_what_to_fix(slow):
    proc, model = slow
    sm = proc.client("sagemaker")
    cases = [
        (job_request("v1", "s3://no-such-bucket/model.tar.gz", "s3://neo/out"), "does not exist"),
        (job_request("v2", "s3://neo/model/missing.tar.gz", "s3://neo/out"), "no such object"),
        (job_request("v3", "s3://neo/model/", "s3://neo/out"), ".tar.gz"),
        (job_request("v4", model, "s3://neo/out", framework="DARKNET"), "Darknet"),
        (job_request("v5", model, "s3://neo/out", framework="PYTORCH",
                     InputConfig={"S3Uri": model, "Framework": "PYTORCH"}), "DataInputConfig is required"),
        (job_request("v6", model, "s3://neo/out", InputConfig={"S3Uri": model, "Framework": "PYTORCH",
                                                               "DataInputConfig": "{not json"}), "not valid JSON"),
        (job_request("v7", model, "s3://neo/out", OutputConfig={"S3OutputLocation": "s3://neo/out"}),
         "exactly one of TargetDevice"),
        (job_request("v8", model, "s3://neo/out", OutputConfig={
            "S3OutputLocation": "s3://neo/out", "TargetDevice": "ml_c5",
            "TargetPlatform": {"Os": "LINUX", "Arch": "X86_64"}}), "exactly one of TargetDevice"),
        (job_request("v9", model, "s3://neo/out", OutputConfig={"S3OutputLocation": "s3://neo/out",
                                                                "TargetDevice": "ml_inf1"}), "Neuron"),
        (job_request("v10", model, "s3://neo/out", OutputConfig={
            "S3OutputLocation": "s3://neo/out", "TargetDevice": "ml_c5", "CompilerOptions": "[1, 2]"}),
         "CompilerOptions"),
        (job_request("v11", model, "s3://nobucket/out"), "does not exist"),
    ]
    for request, text in cases:
        code, message = _code(sm.create_compilation_job, **request)
        assert code == "ValidationException", (request["CompilationJobName"], code, message)
        assert text in message, (request["CompilationJobName"], message)
    for call in (sm.describe_compilation_job, sm.stop_compilation_job, sm.delete_compilation_job):
        code, message = _code(call, CompilationJobName="nope")
        assert code == "ResourceNotFound" and "nope" in message


def test_lifecycle_list_stop_delete(slow):
    proc, model = slow
    sm = proc.client("sagemaker")
    arn = sm.create_compilation_job(**job_request("life-a", model, "s3://neo/out/",
                                                  Tags=[{"Key": "team", "Value": "neo"}]))["CompilationJobArn"]
    assert arn.endswith(":compilation-job/life-a")
    assert _code(sm.create_compilation_job, **job_request("life-a", model, "s3://neo/out"))[0] == "ResourceInUse"
    sm.create_compilation_job(**job_request("life-b", model, "s3://neo/out",
                                            OutputConfig={"S3OutputLocation": "s3://neo/out",
                                                          "TargetPlatform": {"Os": "LINUX", "Arch": "X86_64"}}))
    d = sm.describe_compilation_job(CompilationJobName="life-a")
    assert d["CompilationJobStatus"] in ("STARTING", "INPROGRESS")
    assert "xgboost-neo" in d["InferenceImage"]
    assert d["DerivedInformation"]["DerivedDataInputConfig"] == '{"data":[1,6]}'
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "neo"}]

    # running: cannot be deleted; stop it
    assert _code(sm.delete_compilation_job, CompilationJobName="life-a")[0] == "ValidationException"
    sm.stop_compilation_job(CompilationJobName="life-a")
    assert wait_job(sm, "life-a", timeout=30)["CompilationJobStatus"] == "STOPPED"
    sm.stop_compilation_job(CompilationJobName="life-a")  # a no-op once stopped

    done = wait_job(sm, "life-b", timeout=60)
    assert done["CompilationJobStatus"] == "COMPLETED", done["FailureReason"]
    assert done["ModelArtifacts"]["S3ModelArtifacts"] == "s3://neo/out/model-LINUX_X86_64.tar.gz"
    assert done["ModelDigests"]["ArtifactDigest"].startswith("sha256:")
    assert done["CompilationEndTime"] >= done["CompilationStartTime"]

    page = sm.list_compilation_jobs(NameContains="life", SortBy="Name", SortOrder="Ascending", MaxResults=1)
    assert [j["CompilationJobName"] for j in page["CompilationJobSummaries"]] == ["life-a"]
    page2 = sm.list_compilation_jobs(NameContains="life", SortBy="Name", SortOrder="Ascending",
                                     NextToken=page["NextToken"])
    assert [j["CompilationJobName"] for j in page2["CompilationJobSummaries"]] == ["life-b"]
    assert page2["CompilationJobSummaries"][0]["CompilationTargetPlatformOs"] == "LINUX"
    done_list = sm.list_compilation_jobs(StatusEquals="COMPLETED")["CompilationJobSummaries"]
    assert [j["CompilationJobName"] for j in done_list] == ["life-b"]

    sm.delete_compilation_job(CompilationJobName="life-a")
    assert _code(sm.describe_compilation_job, CompilationJobName="life-a")[0] == "ResourceNotFound"


def test_restart_keeps_and_resumes_a_job(slow):
    proc, model = slow
    sm = proc.client("sagemaker")
    sm.create_compilation_job(**job_request("across-restart", model, "s3://neo/restart", RoleArn=ROLE))
    wait_job(sm, "across-restart", statuses=("INPROGRESS",), timeout=30)
    proc.stop()  # the compiler keeps running; the new server follows it
    proc.start()
    sm = proc.client("sagemaker")
    d = wait_job(sm, "across-restart", timeout=60)
    assert d["CompilationJobStatus"] == "COMPLETED", d["FailureReason"]
    assert d["ModelArtifacts"]["S3ModelArtifacts"] == "s3://neo/restart/model-ml_c5.tar.gz"
