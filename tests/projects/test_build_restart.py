"""A model building project across a server restart, and a push it cannot run: the restarted server does not
run the seed commit again (the commit is the execution's idempotency token and the last commit run is stored);
a commit whose pipeline definition is broken starts nothing and says why in the project's build log; the next
good commit runs."""

from __future__ import annotations

import time
from urllib.parse import quote

import pytest

from .helpers import git, wait_for, wait_project

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def _executions(sm, pipeline: str) -> list[str]:
    try:
        return [e["PipelineExecutionArn"] for e in sm.list_pipeline_executions(
            PipelineName=pipeline)["PipelineExecutionSummaries"]]
    except sm.exceptions.ClientError:
        return []


def _stop_all(sm, arns: list[str]) -> None:
    """Stop the runs: only their start matters here, and the machine is shared."""
    for arn in arns:
        try:
            sm.stop_pipeline_execution(PipelineExecutionArn=arn)
        except sm.exceptions.ClientError:
            pass  # already finished


def test_a_restart_runs_nothing_twice_and_a_broken_definition_is_explained(server_factory, tmp_path):
    first = server_factory()
    sm = first.client("sagemaker")
    pid = sm.create_project(ProjectName="restart", ServiceCatalogProvisioningDetails={
        "ProductId": "prod-shipyard-model-building"})["ProjectId"]
    wait_project(sm, "restart")
    base = f"restart-{pid}"
    seed_run = wait_for("the seed commit's execution", lambda: _executions(sm, base))
    _stop_all(sm, seed_run)
    first.stop(kill_children=True)

    again = server_factory(home=first.home)
    sm, logs = again.client("sagemaker"), again.client("logs")
    assert sm.describe_project(ProjectName="restart")["ProjectStatus"] == "CreateCompleted"
    time.sleep(3.0)  # three controller ticks: time enough to (wrongly) run the seed commit again
    assert _executions(sm, base) == seed_run

    key_id, secret = again.keys()
    url = sm.describe_code_repository(CodeRepositoryName=f"{base}-modelbuild")["GitConfig"]["RepositoryUrl"]
    work = tmp_path / "clone"
    git("clone", url.replace("http://", f"http://{quote(key_id, safe='')}:{quote(secret, safe='')}@"), str(work))
    definition = work / "pipelines" / "pipeline.json"
    good = definition.read_text()
    definition.write_text("{ not a pipeline")
    git("commit", "-qam", "broken", cwd=work)
    git("push", "-q", "origin", "main", cwd=work)
    broken = git("rev-parse", "HEAD", cwd=work).strip()
    group = f"/aws/codebuild/sagemaker-{base}-modelbuild"

    def explained():
        try:
            events = logs.get_log_events(logGroupName=group, logStreamName=broken)["events"]
        except logs.exceptions.ResourceNotFoundException:
            return None
        return events

    events = wait_for("the broken commit's log", explained, timeout=30)
    assert "not run" in events[0]["message"] and broken in events[0]["message"]
    assert _executions(sm, base) == seed_run

    definition.write_text(good)
    git("commit", "-qam", "fixed", cwd=work)
    git("push", "-q", "origin", "main", cwd=work)
    fixed = git("rev-parse", "HEAD", cwd=work).strip()
    new = wait_for("the fixed commit's execution", lambda: [a for a in _executions(sm, base) if a not in seed_run])
    _stop_all(sm, new)
    assert sm.describe_pipeline_execution(PipelineExecutionArn=new[0])["PipelineExecutionDescription"] == \
        f"commit {fixed}"
    started = logs.get_log_events(logGroupName=group, logStreamName=fixed)["events"]
    assert new[0] in started[0]["message"]
