"""The model building template through boto3 against a real server: the project creates its seed repository,
model package group and pipeline, tagged with the project; its seed commit runs the pipeline (preprocess ->
train -> evaluate -> register, PendingManualApproval); a push to main (real git) starts a new run."""

from __future__ import annotations

import base64
import importlib.util

from urllib.parse import quote

import pytest

from shipyard.domain import users

from .helpers import git, tags_of, wait_for, wait_project

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

BUILD = "prod-shipyard-model-building"


def _with_key(url: str, key_id: str, secret: str) -> str:
    return url.replace("http://", f"http://{quote(key_id, safe='')}:{quote(secret, safe='')}@", 1)


def _executions(sm, pipeline: str) -> list[dict]:
    try:
        return sm.list_pipeline_executions(PipelineName=pipeline)["PipelineExecutionSummaries"]
    except sm.exceptions.ClientError:
        return []


def test_a_building_project_runs_its_pipeline_on_creation_and_after_a_push(server, tmp_path):
    sm = server.client("sagemaker")
    created = sm.create_project(ProjectName="churn", ProjectDescription="build",
                                ServiceCatalogProvisioningDetails={"ProductId": BUILD})
    pid = created["ProjectId"]
    assert pid.startswith("p-") and len(pid) == 14 and pid[2:].isalnum() and pid[2:] == pid[2:].lower()
    desc = wait_project(sm, "churn")
    assert desc["ProjectId"] == pid and desc["ServiceCatalogProvisioningDetails"]["ProductId"] == BUILD
    expected = {"sagemaker:project-name": "churn", "sagemaker:project-id": pid}
    base = f"churn-{pid}"

    repo = sm.describe_code_repository(CodeRepositoryName=f"{base}-modelbuild")
    assert repo["GitConfig"]["Branch"] == "main"
    assert tags_of(sm, repo["CodeRepositoryArn"]) == expected
    group = sm.describe_model_package_group(ModelPackageGroupName=base)
    assert tags_of(sm, group["ModelPackageGroupArn"]) == expected

    # the seed commit's run: the whole pipeline, ending with a package waiting for approval
    first = wait_for("the seed commit's execution", lambda: _executions(sm, base))
    assert len(first) == 1
    pipeline = sm.describe_pipeline(PipelineName=base)
    assert tags_of(sm, pipeline["PipelineArn"]) == expected
    arn = first[0]["PipelineExecutionArn"]
    done = wait_for("the seed run to finish", lambda: (lambda d: d if d["PipelineExecutionStatus"] in (
        "Succeeded", "Failed") else None)(sm.describe_pipeline_execution(PipelineExecutionArn=arn)), timeout=240)
    steps = sm.list_pipeline_execution_steps(PipelineExecutionArn=arn)["PipelineExecutionSteps"]
    assert done["PipelineExecutionStatus"] == "Succeeded", [(s["StepName"], s.get("FailureReason")) for s in steps]
    assert {s["StepName"] for s in steps} == {"Preprocess", "Train", "Evaluate", "Register"}
    packages = sm.list_model_packages(ModelPackageGroupName=base)["ModelPackageSummaryList"]
    assert [p["ModelApprovalStatus"] for p in packages] == ["PendingManualApproval"]

    # the hosted repository over smart HTTP: no key or a wrong one is refused, a viewer's key reads but does not
    # push, a key that may write pushes
    url = repo["GitConfig"]["RepositoryUrl"]
    assert url == f"{server.url}/git/{base}-modelbuild.git"
    with pytest.raises(AssertionError, match="401|Authentication failed|could not read Username"):
        git("ls-remote", url)
    with pytest.raises(AssertionError, match="401|Authentication failed"):
        git("ls-remote", _with_key(url, "AKIDNOTAKEY", "wrong"))
    viewer = users.for_home(server.home).add("project-viewer", role="viewer")
    viewer_clone = tmp_path / "viewer-clone"
    git("clone", _with_key(url, viewer.access_key_id, viewer.secret_access_key), str(viewer_clone))
    (viewer_clone / "x.txt").write_text("x")
    git("add", "x.txt", cwd=viewer_clone)
    git("commit", "-m", "viewer", cwd=viewer_clone)
    with pytest.raises(AssertionError, match="403"):
        git("push", "origin", "main", cwd=viewer_clone)

    # a push to main: clone with the URL the code repository gives, commit, push -> a new run of that commit
    work = tmp_path / "clone"
    git("clone", _with_key(url, *server.keys()), str(work))
    script = work / "pipelines" / "preprocess.py"
    script.write_text(script.read_text().replace("default=600", "default=500"))
    git("commit", "-am", "fewer rows", cwd=work)
    git("push", "origin", "main", cwd=work)
    commit = git("rev-parse", "HEAD", cwd=work).strip()
    second = wait_for("the pushed commit's execution", lambda: [
        e for e in _executions(sm, base) if e["PipelineExecutionArn"] != arn])
    described = sm.describe_pipeline_execution(PipelineExecutionArn=second[0]["PipelineExecutionArn"])
    assert described["PipelineExecutionDescription"] == f"commit {commit}"
    params = {p["Name"]: p["Value"] for p in sm.list_pipeline_parameters_for_execution(
        PipelineExecutionArn=second[0]["PipelineExecutionArn"])["PipelineParameters"]}
    assert params["CodeUri"].endswith(f"/{base}/code/{commit}/") and params["ModelPackageGroupName"] == base
    # the pushed code is what the run reads
    s3 = server.client("s3")
    bucket, key = params["CodeUri"][5:].split("/", 1)
    body = s3.get_object(Bucket=bucket, Key=key + "pipelines/preprocess.py")["Body"].read().decode()
    assert "default=500" in body

    # a notebook instance whose default repository is the project's: it starts with it cloned and, from inside
    # its sandbox (its OnStart script), commits and pushes with its own key -> a run of that commit
    if importlib.util.find_spec("jupyterlab") is not None:
        _push_from_a_notebook(sm, server, base, {arn, second[0]["PipelineExecutionArn"]})

    # deleting the project deletes what it created (its S3 data stays, as a CloudFormation stack keeps buckets)
    sm.delete_project(ProjectName="churn")
    wait_for("churn deleted", lambda: "churn" not in [p["ProjectName"] for p in sm.list_projects(
        NameContains="churn")["ProjectSummaryList"]], timeout=60)
    for call, kwargs in ((sm.describe_pipeline, {"PipelineName": base}),
                         (sm.describe_model_package_group, {"ModelPackageGroupName": base}),
                         (sm.describe_code_repository, {"CodeRepositoryName": f"{base}-modelbuild"})):
        with pytest.raises(sm.exceptions.ClientError):
            call(**kwargs)
    assert not (server.home / "git" / f"{base}-modelbuild.git").exists()
    assert s3.get_object(Bucket=bucket, Key=key + "pipelines/preprocess.py")["Body"].read()


ON_START = """set -e
cd {repo}
echo "# tuned in a notebook" >> pipelines/preprocess.py
git -c user.name=nb -c user.email=nb@example.com commit -qam "from the notebook"
git push -q origin main
git rev-parse HEAD > ../pushed-commit.txt
"""


def _push_from_a_notebook(sm, server, base: str, seen: set[str]) -> None:
    repo = f"{base}-modelbuild"
    sm.create_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName="push-on-start",
        OnStart=[{"Content": base64.b64encode(ON_START.format(repo=repo).encode()).decode()}])
    sm.create_notebook_instance(NotebookInstanceName="nb-project", InstanceType="ml.t3.medium",
                                RoleArn="arn:aws:iam::111122223333:role/SageMakerRole",
                                LifecycleConfigName="push-on-start", DefaultCodeRepository=repo)
    try:
        desc = wait_for("nb-project InService", lambda: (lambda d: d if d["NotebookInstanceStatus"] in (
            "InService", "Failed") else None)(sm.describe_notebook_instance(NotebookInstanceName="nb-project")))
        assert desc["NotebookInstanceStatus"] == "InService", desc.get("FailureReason")
        folder = server.home / "notebook-instances" / "nb-project" / "SageMaker"
        pushed = (folder / "pushed-commit.txt").read_text().strip()
        third = wait_for("the notebook's commit's execution", lambda: [
            e for e in _executions(sm, base) if e["PipelineExecutionArn"] not in seen])
        described = sm.describe_pipeline_execution(PipelineExecutionArn=third[0]["PipelineExecutionArn"])
        assert described["PipelineExecutionDescription"] == f"commit {pushed}"
    finally:
        sm.stop_notebook_instance(NotebookInstanceName="nb-project")
        wait_for("nb-project Stopped", lambda: sm.describe_notebook_instance(
            NotebookInstanceName="nb-project")["NotebookInstanceStatus"] in ("Stopped", "Failed"))
        sm.delete_notebook_instance(NotebookInstanceName="nb-project")
