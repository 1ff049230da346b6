"""Projects: a push to a model building project's repository -> its pipeline execution, vs the script a user
would otherwise run after each push.

A real server (fresh home) gets a model building project (``prod-shipyard-model-building``); its seed run is
stopped at once so that no job competes with the measurement. Then ``--pushes`` times each, side by side:

- project: ``git commit`` + ``git push`` to the project's repository; the time until ListPipelineExecutions
  shows the commit's execution (the controller sees the new ref, uploads the commit's files, updates the
  pipeline from ``pipelines/pipeline.json`` and starts it);
- script: the same commit and push to a plain bare repository, then what AWS's template runs in CodeBuild and a
  user without the template scripts: ``git archive`` of the commit, upload of its files with boto3,
  UpdatePipeline from its ``pipeline.json``, StartPipelineExecution; the time until the execution is listed.

Each execution is stopped as soon as it is seen (nothing runs behind the next measurement). Prints medians and
the ratio project / script; the project's figure includes up to one controller tick (1 s) of waiting for the
push to be noticed.

    .venv/bin/python bench/bench_projects.py [--pushes 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from shipyard.testing.server import ShipyardProcess  # noqa: E402

ENV = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "bench",
       "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "b@x"}


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=ENV, check=True, capture_output=True, text=True).stdout


def wait_new(sm, pipeline: str, seen: set[str], timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            listed = sm.list_pipeline_executions(PipelineName=pipeline)["PipelineExecutionSummaries"]
        except sm.exceptions.ClientError:  # the project's pipeline is made by its first run
            listed = []
        for e in listed:
            if e["PipelineExecutionArn"] not in seen:
                return e["PipelineExecutionArn"]
        time.sleep(0.02)
    raise SystemExit(f"no new execution of {pipeline} in {timeout} s")


def stop(sm, arn: str, seen: set[str]) -> None:
    seen.add(arn)
    try:
        sm.stop_pipeline_execution(PipelineExecutionArn=arn)
    except sm.exceptions.ClientError:
        pass


def edit(work: Path, i: int) -> None:
    script = work / "pipelines" / "preprocess.py"
    script.write_text(script.read_text() + f"# edit {i}\n")
    git("commit", "-qam", f"edit {i}", cwd=work)


def script_push(sm, s3, work: Path, bare: Path, bucket: str, pipeline: str, role: str) -> None:
    """What a user runs after a push without the project: archive the commit, upload, update, start."""
    commit = git("rev-parse", "HEAD", cwd=work).strip()
    with tempfile.TemporaryDirectory() as tmp:
        tar = Path(tmp) / "tree.tar"
        git("--git-dir", str(bare), "archive", f"--output={tar}", commit)
        with tarfile.open(tar) as archive:
            archive.extractall(Path(tmp) / "tree", filter="data")
        tree = Path(tmp) / "tree"
        prefix = f"script/code/{commit}/"
        for path in tree.rglob("*"):
            if path.is_file():
                s3.upload_file(str(path), bucket, prefix + path.relative_to(tree).as_posix())
        definition = (tree / "pipelines" / "pipeline.json").read_text()
    sm.update_pipeline(PipelineName=pipeline, PipelineDefinition=definition, RoleArn=role)
    sm.start_pipeline_execution(PipelineName=pipeline, ClientRequestToken=commit, PipelineParameters=[
        {"Name": "CodeUri", "Value": f"s3://{bucket}/{prefix}"}])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pushes", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = ShipyardProcess(root / "home").start()
        try:
            sm, s3 = server.client("sagemaker"), server.client("s3")
            pid = sm.create_project(ProjectName="bench", ServiceCatalogProvisioningDetails={
                "ProductId": "prod-shipyard-model-building"})["ProjectId"]
            base = f"bench-{pid}"
            deadline = time.monotonic() + 60
            while sm.describe_project(ProjectName="bench")["ProjectStatus"] != "CreateCompleted":
                if time.monotonic() > deadline:
                    raise SystemExit("project not created in 60 s")
                time.sleep(0.1)
            seen: set[str] = set()
            stop(sm, wait_new(sm, base, seen), seen)  # the seed run: stopped, nothing runs behind us
            url = sm.describe_code_repository(CodeRepositoryName=f"{base}-modelbuild")["GitConfig"]["RepositoryUrl"]
            key_id, secret = server.keys()  # the hosted repository takes a Shipyard key over HTTP Basic auth
            url = url.replace("http://", f"http://{quote(key_id, safe='')}:{quote(secret, safe='')}@", 1)
            work = root / "project-clone"
            git("clone", "-q", url, str(work))

            # the script's side: a plain bare repository holding the same code, and its own pipeline
            bare = root / "plain.git"
            git("init", "-q", "--bare", "--initial-branch=main", str(bare))
            plain = root / "plain-clone"
            git("clone", "-q", url, str(plain))
            git("remote", "set-url", "origin", str(bare), cwd=plain)
            git("push", "-q", "origin", "main", cwd=plain)
            role = "arn:aws:iam::123456789012:role/bench"
            bucket = "bench-projects-script"
            s3.create_bucket(Bucket=bucket)
            sm.create_pipeline(PipelineName="bench-script", RoleArn=role,
                               PipelineDefinition=(plain / "pipelines" / "pipeline.json").read_text())
            script_seen: set[str] = set()

            project_s, script_s = [], []
            for i in range(args.pushes):
                edit(work, i)
                t0 = time.perf_counter()
                git("push", "-q", "origin", "main", cwd=work)
                arn = wait_new(sm, base, seen)
                project_s.append(time.perf_counter() - t0)
                stop(sm, arn, seen)

                edit(plain, i)
                t0 = time.perf_counter()
                git("push", "-q", "origin", "main", cwd=plain)
                script_push(sm, s3, plain, bare, bucket, "bench-script", role)
                arn = wait_new(sm, "bench-script", script_seen)
                script_s.append(time.perf_counter() - t0)
                stop(sm, arn, script_seen)
        finally:
            server.stop(kill_children=True)
    p, s = statistics.median(project_s), statistics.median(script_s)
    print(f"push -> pipeline execution listed, median of {args.pushes} (load: {os.getloadavg()[0]:.1f})")
    print(f"  project (push only)          {p * 1000:8.0f} ms   (min {min(project_s) * 1000:.0f}, "
          f"max {max(project_s) * 1000:.0f})")
    print(f"  script (push + boto3 script) {s * 1000:8.0f} ms   (min {min(script_s) * 1000:.0f}, "
          f"max {max(script_s) * 1000:.0f})")
    print(f"  ratio project / script: {p / s:.2f}x")


if __name__ == "__main__":
    main()
