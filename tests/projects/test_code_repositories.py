"""Code repositories through boto3 against a real server: CRUD, the secret that holds a private repository's
credentials (Shipyard's minimal Secrets Manager), bad input refused naming the field, and a notebook instance
that starts with its repositories cloned and pushes with the stored credentials (real git, a real Git server over
HTTP with Basic auth)."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import httpx

import pytest
from botocore.exceptions import ClientError

from .git_http import GitHttpServer
from .helpers import git, tags_of, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ROLE = "arn:aws:iam::111122223333:role/SageMakerRole"


def _error(e: pytest.ExceptionInfo) -> tuple[str, str]:
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def _bare(root: Path, name: str, files: dict[str, str]) -> Path:
    """A bare repository holding one commit of ``files`` on main."""
    bare = root / f"{name}.git"
    git("init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    work = root / f"{name}-seed"
    git("clone", "--quiet", str(bare), str(work))
    git("checkout", "--quiet", "-b", "main", cwd=work)
    for rel, text in files.items():
        (work / rel).write_text(text)
    git("add", "--all", cwd=work)
    git("commit", "--quiet", "-m", "first", cwd=work)
    git("push", "--quiet", "origin", "main", cwd=work)
    return bare


def test_create_describe_list_update_delete_and_bad_input(server):
    sm, secrets = server.client("sagemaker"), server.client("secretsmanager")
    url = "https://git.example.com/team/models.git"
    arn = sm.create_code_repository(CodeRepositoryName="models", GitConfig={"RepositoryUrl": url, "Branch": "dev"},
                                    Tags=[{"Key": "team", "Value": "ml"}])["CodeRepositoryArn"]
    desc = sm.describe_code_repository(CodeRepositoryName="models")
    assert desc["CodeRepositoryArn"] == arn and desc["GitConfig"] == {"RepositoryUrl": url, "Branch": "dev"}
    assert tags_of(sm, arn) == {"team": "ml"}
    listed = sm.list_code_repositories(NameContains="model")["CodeRepositorySummaryList"]
    assert [r["CodeRepositoryName"] for r in listed] == ["models"]

    secret = secrets.create_secret(Name="models-git", SecretString=json.dumps({"username": "u", "password": "p"}))
    sm.update_code_repository(CodeRepositoryName="models", GitConfig={"SecretArn": secret["ARN"]})
    assert sm.describe_code_repository(CodeRepositoryName="models")["GitConfig"]["SecretArn"] == secret["ARN"]
    assert json.loads(secrets.get_secret_value(SecretId="models-git")["SecretString"])["username"] == "u"

    with pytest.raises(ClientError) as e:
        sm.create_code_repository(CodeRepositoryName="bad", GitConfig={"RepositoryUrl": "ftp.example.com/repo"})
    assert _error(e)[0] == "ValidationException" and "gitconfig.repositoryurl" in _error(e)[1].lower()
    with pytest.raises(ClientError) as e:
        sm.create_code_repository(CodeRepositoryName="bad", GitConfig={
            "RepositoryUrl": url, "SecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-abcdef"})
    assert _error(e)[0] == "ValidationException" and "GitConfig.SecretArn" in _error(e)[1]
    marker = f"hunter2-{uuid.uuid4().hex}"
    plain = secrets.create_secret(Name="not-json", SecretString=marker)["ARN"]
    assert secrets.get_secret_value(SecretId=plain)["SecretString"] == marker
    stored = b"".join(p.read_bytes() for p in Path(server.home).glob("*.db*") if p.is_file())
    assert stored and marker.encode() not in stored  # kept encrypted under alias/aws/secretsmanager
    assert server.client("kms").describe_key(KeyId="alias/aws/secretsmanager")["KeyMetadata"]["KeyManager"] == "AWS"
    with pytest.raises(ClientError) as e:
        sm.update_code_repository(CodeRepositoryName="models", GitConfig={"SecretArn": plain})
    assert "username" in _error(e)[1]
    with pytest.raises(ClientError) as e:
        sm.create_code_repository(CodeRepositoryName="models", GitConfig={"RepositoryUrl": url})
    assert _error(e)[0] == "ValidationException" and "already exists" in _error(e)[1]
    with pytest.raises(ClientError) as e:
        secrets.get_secret_value(SecretId="missing")
    assert _error(e)[0] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        sm.create_notebook_instance(NotebookInstanceName="nb-bad", InstanceType="ml.t3.medium", RoleArn=ROLE,
                                    DefaultCodeRepository="no-such-repository")
    assert _error(e)[0] == "ValidationException" and "DefaultCodeRepository" in _error(e)[1]

    sm.delete_code_repository(CodeRepositoryName="models")
    with pytest.raises(ClientError) as e:
        sm.describe_code_repository(CodeRepositoryName="models")
    assert _error(e)[0] == "ValidationException"
    secrets.delete_secret(SecretId=secret["ARN"])
    with pytest.raises(ClientError):
        secrets.describe_secret(SecretId=secret["ARN"])


def test_a_notebook_starts_with_its_repositories_cloned_and_pushes_with_the_stored_credentials(server_factory,
                                                                                              tmp_path):
    pytest.importorskip("jupyterlab", reason="JupyterLab is not installed (pip install 'shipyard[notebook]')")
    root = tmp_path / "git-server"
    root.mkdir()
    _bare(root, "private", {"README.md": "private\n"})
    _bare(root, "public", {"notes.txt": "public\n"})
    http = GitHttpServer(root, "alice", "s3cret")
    trust = {"GIT_SSL_CAINFO": str(http.cert)}  # the operator's private CA, for the server and the user alike
    server = server_factory(env=trust)
    sm, secrets = server.client("sagemaker"), server.client("secretsmanager")
    try:
        private_url = f"{http.url}/private.git"
        with pytest.raises(AssertionError):  # the Git server does want credentials
            git("ls-remote", private_url, env=trust)
        secret = secrets.create_secret(Name="alice-git",
                                       SecretString=json.dumps({"username": "alice", "password": "s3cret"}))["ARN"]
        sm.create_code_repository(CodeRepositoryName="private-repo",
                                  GitConfig={"RepositoryUrl": private_url, "Branch": "main", "SecretArn": secret})
        sm.create_notebook_instance(NotebookInstanceName="nb-git", InstanceType="ml.t3.medium", RoleArn=ROLE,
                                    DefaultCodeRepository="private-repo",
                                    AdditionalCodeRepositories=[f"{http.url}/public.git"])
        try:
            desc = wait_for("nb-git InService", lambda: (lambda d: d if d["NotebookInstanceStatus"] in (
                "InService", "Failed") else None)(sm.describe_notebook_instance(NotebookInstanceName="nb-git")))
            assert desc["NotebookInstanceStatus"] == "InService", desc.get("FailureReason")
            assert desc["DefaultCodeRepository"] == "private-repo"
            folder = Path(server.home) / "notebook-instances" / "nb-git" / "SageMaker"
            assert (folder / "private-repo" / "README.md").read_text() == "private\n"
            assert (folder / "public" / "notes.txt").read_text() == "public\n"
            store = folder / ".shipyard" / "git-credentials"
            assert oct(store.stat().st_mode & 0o777) == "0o600"

            # the notebook's user commits and pushes: the clone's own credential helper answers for them
            clone = folder / "private-repo"
            (clone / "model.py").write_text("print('trained')\n")
            git("add", "model.py", cwd=clone)
            git("commit", "-m", "from the notebook", cwd=clone)
            git("push", "origin", "main", cwd=clone, env=trust)
            pushed = git("rev-parse", "HEAD", cwd=clone).strip()
            assert git("--git-dir", str(root / "private.git"), "rev-parse", "main").strip() == pushed
            # the password is in the notebook's credential store only: not in the clone's configuration or URL
            assert "s3cret" not in (clone / ".git" / "config").read_text()
            # the console's notebook page shows the instance's repositories, its default one first
            listed = sm.list_notebook_instances(DefaultCodeRepositoryContains="private")["NotebookInstances"]
            assert [i["NotebookInstanceName"] for i in listed] == ["nb-git"]
            key_id, key_secret = server.keys()
            with httpx.Client(base_url=server.url, timeout=60, headers={"accept": "text/html"}) as web:
                r = web.post("/studio/signin", data={"access_key_id": key_id, "secret_access_key": key_secret})
                assert r.status_code == 303, r.text
                row = re.search(r'<tr data-name="nb-git">(.*?)</tr>', web.get("/studio/notebooks").text, re.S)
            assert row, "nb-git is not on the notebooks page"
            assert re.findall(r'<code class="repo[^"]*"[^>]*>([^<]+)</code>', row.group(1)) == [
                "private-repo", f"{http.url}/public.git"]
            sm.stop_notebook_instance(NotebookInstanceName="nb-git")
            wait_for("nb-git Stopped", lambda: sm.describe_notebook_instance(
                NotebookInstanceName="nb-git")["NotebookInstanceStatus"] == "Stopped")
            sm.update_notebook_instance(NotebookInstanceName="nb-git", DisassociateAdditionalCodeRepositories=True)
            desc = sm.describe_notebook_instance(NotebookInstanceName="nb-git")
            assert desc["DefaultCodeRepository"] == "private-repo" and "AdditionalCodeRepositories" not in desc
        finally:
            if sm.describe_notebook_instance(NotebookInstanceName="nb-git")["NotebookInstanceStatus"] in (
                    "Pending", "InService"):
                sm.stop_notebook_instance(NotebookInstanceName="nb-git")
            wait_for("nb-git Stopped", lambda: sm.describe_notebook_instance(
                NotebookInstanceName="nb-git")["NotebookInstanceStatus"] in ("Stopped", "Failed"))
            sm.delete_notebook_instance(NotebookInstanceName="nb-git")
    finally:
        http.close()
