"""Users with key pairs of their own (issue 17): ``shipyard users add|list|remove`` on a running server's home,
boto3 signing with a user's key, a viewer refused every write with AWS's codes, and a removed user refused at once.

Unit tests cover the user file (mode, reload across processes, notebook keys) and the read-only rule; one real
server started for this module covers the rest, with users added by the CLI while it runs.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import stat

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from shipyard.cli import main as cli_main
from shipyard.domain.users import NOTEBOOK_OWNER, Users
from shipyard.errors import AuthError, ResourceInUse, ResourceNotFound, ValidationError
from shipyard.server.auth import authorize_user, authorize_user_s3, is_read_operation
from shipyard.testing.server import ShipyardProcess


# --- the user file ----------------------------------------------------------------------------------------------
def test_add_lookup_remove_and_the_file_is_private(tmp_path):
    users = Users(tmp_path)
    alice = users.add("alice")
    bob = users.add("bob", role="viewer")
    assert alice.access_key_id.startswith("AKIA") and len(alice.access_key_id) == 20
    assert alice.access_key_id[4:].isalnum() and alice.access_key_id[4:].upper() == alice.access_key_id[4:]
    assert len(alice.secret_access_key) == 40 and alice.role == "admin" and bob.role == "viewer"
    assert stat.S_IMODE(os.stat(tmp_path / "users.json").st_mode) == 0o600
    assert users.lookup(bob.access_key_id) == bob
    assert [u.name for u in users.list()] == ["alice", "bob"]
    assert "secret_access_key" not in alice.public()
    users.remove("alice")
    assert users.lookup(alice.access_key_id) is None
    with pytest.raises(ResourceNotFound):
        users.remove("alice")
    with pytest.raises(ResourceInUse):
        users.add("bob")


def test_names_and_roles_are_checked(tmp_path):
    users = Users(tmp_path)
    for bad in ("", "a/b", "x" * 65, "has space"):
        with pytest.raises(ValidationError):
            users.add(bad)
    with pytest.raises(ValidationError, match="admin, viewer"):
        users.add("carol", role="root")
    assert users.add("c.a+r=o,l@x_y-z").name == "c.a+r=o,l@x_y-z"


def test_another_process_sees_changes_without_a_restart(tmp_path):
    server_side, cli_side = Users(tmp_path), Users(tmp_path)  # two processes' views of one home
    dave = cli_side.add("dave")
    assert server_side.lookup(dave.access_key_id) == dave
    notebook = server_side.issue_for_notebook("nb1")  # a write by the other side keeps the CLI's user
    erin = cli_side.add("erin")
    assert {u.name for u in server_side.list()} == {"dave", "erin", NOTEBOOK_OWNER + "nb1"}
    cli_side.remove("dave")
    assert server_side.lookup(dave.access_key_id) is None
    assert server_side.lookup(notebook.access_key_id) == notebook and server_side.lookup(erin.access_key_id)


def test_notebook_keys_are_replaced_revoked_and_pruned(tmp_path):
    users = Users(tmp_path)
    first = users.issue_for_notebook("nb1")
    second = users.issue_for_notebook("nb1")
    assert first.owner == second.owner == "notebook-instance/nb1" and second.role == "admin"
    assert users.lookup(first.access_key_id) is None and users.lookup(second.access_key_id) == second
    users.issue_for_notebook("nb2")
    with pytest.raises(ResourceNotFound):  # `users remove` is for people only
        users.remove("notebook-instance/nb1")
    assert users.prune_notebooks(lambda name: name == "nb2") == 1
    assert users.lookup(second.access_key_id) is None
    assert users.revoke_notebook("nb2") == 1 and users.list() == []


def test_viewer_rule():
    class Viewer:
        name, role = "vic", "viewer"

    for service, op in (("sagemaker", "DescribeTrainingJob"), ("sagemaker", "ListModels"), ("sagemaker", "Search"),
                        ("sagemaker", "QueryLineage"), ("sagemaker", "BatchDescribeModelPackage"),
                        ("sagemaker-metrics", "BatchGetMetrics"), ("logs", "FilterLogEvents"),
                        ("logs", "GetLogEvents"), ("sts", "GetCallerIdentity")):
        assert is_read_operation(service, op), op
        authorize_user(Viewer(), service, op)
    for service, op in (("sagemaker", "CreateTrainingJob"), ("sagemaker", "StopTrainingJob"),
                        ("sagemaker-runtime", "invocations"), ("logs", "PutLogEvents")):
        with pytest.raises(AuthError) as e:
            authorize_user(Viewer(), service, op, account="123456789012")
        assert e.value.code == "AccessDeniedException" and e.value.http_status == 403
        assert "arn:aws:iam::123456789012:user/vic" in e.value.message and f"{service}:{op}" in e.value.message
        assert "read-only" in e.value.message
    authorize_user_s3(Viewer(), method="GET", path="/b/k")
    with pytest.raises(AuthError) as e:
        authorize_user_s3(Viewer(), method="PUT", path="/b/k")
    assert e.value.code == "AccessDenied" and "s3:PutObject" in e.value.message

    class Admin:
        name, role = "ann", "admin"

    authorize_user(Admin(), "sagemaker", "CreateTrainingJob")
    authorize_user_s3(Admin(), method="DELETE", path="/b/k")


# --- a real server -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def users_server(tmp_path_factory):
    proc = ShipyardProcess(tmp_path_factory.mktemp("users-home"))
    proc.start()
    try:
        yield proc
    finally:
        proc.stop(kill_children=True)


def shipyard(*argv: str) -> tuple[int, str, str]:
    """``shipyard ...`` through the CLI's own main, with its output."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(list(argv))
    return code, out.getvalue(), err.getvalue()


def add_user(server: ShipyardProcess, name: str, role: str = "admin") -> tuple[str, str]:
    code, out, err = shipyard("users", "add", name, "--role", role, "--home", str(server.home), "--json")
    assert code == 0, err
    pair = json.loads(out)
    assert pair["UserName"] == name and pair["Role"] == role
    return pair["AccessKeyId"], pair["SecretAccessKey"]


def client(server: ShipyardProcess, keys: tuple[str, str], service: str):
    config = Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}, connect_timeout=5,
                    read_timeout=60)
    return boto3.session.Session(aws_access_key_id=keys[0], aws_secret_access_key=keys[1],
                                 region_name=server.region).client(service, endpoint_url=server.url, config=config)


def _error(e: pytest.ExceptionInfo) -> tuple[str, str]:
    return e.value.response["Error"]["Code"], e.value.response["Error"].get("Message", "")


@pytest.mark.integration
def test_admin_user_signs_like_the_server_key(users_server):
    keys = add_user(users_server, "alice")  # added while the server runs: no restart
    sm = client(users_server, keys, "sagemaker")
    sm.create_experiment(ExperimentName="by-alice")
    assert sm.describe_experiment(ExperimentName="by-alice")["ExperimentName"] == "by-alice"
    s3 = client(users_server, keys, "s3")
    s3.create_bucket(Bucket="users-bucket")
    s3.put_object(Bucket="users-bucket", Key="a.txt", Body=b"hello")
    ident = client(users_server, keys, "sts").get_caller_identity()
    account = users_server.settings.account
    assert ident["Arn"] == f"arn:aws:iam::{account}:user/alice" and ident["Account"] == account


@pytest.mark.integration
def test_viewer_reads_and_is_refused_every_write(users_server):
    users_server.client("s3").create_bucket(Bucket="viewer-bucket")
    users_server.client("s3").put_object(Bucket="viewer-bucket", Key="seen.txt", Body=b"visible")
    keys = add_user(users_server, "vic", role="viewer")
    sm = client(users_server, keys, "sagemaker")
    assert "TrainingJobSummaries" in sm.list_training_jobs()
    assert "ExperimentSummaries" in sm.list_experiments()
    with pytest.raises(ClientError) as e:
        sm.describe_training_job(TrainingJobName="no-such-job")
    assert _error(e)[0] != "AccessDeniedException"  # a read: answered (here: not found), not refused
    with pytest.raises(ClientError) as e:
        sm.create_experiment(ExperimentName="by-vic")
    code, message = _error(e)
    assert code == "AccessDeniedException" and e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "user/vic" in message and "sagemaker:CreateExperiment" in message and "read-only" in message
    with pytest.raises(ClientError) as e:
        sm.stop_training_job(TrainingJobName="anything")
    assert _error(e)[0] == "AccessDeniedException"

    s3 = client(users_server, keys, "s3")
    assert s3.get_object(Bucket="viewer-bucket", Key="seen.txt")["Body"].read() == b"visible"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="viewer-bucket")["Contents"]] == ["seen.txt"]
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="viewer-bucket", Key="new.txt", Body=b"x")
    assert _error(e)[0] == "AccessDenied" and "user/vic" in _error(e)[1]
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket="viewer-bucket", Key="seen.txt")
    assert _error(e)[0] == "AccessDenied"
    logs = client(users_server, keys, "logs")
    assert "logGroups" in logs.describe_log_groups()
    account = users_server.settings.account
    assert client(users_server, keys, "sts").get_caller_identity()["Arn"] == f"arn:aws:iam::{account}:user/vic"


@pytest.mark.integration
def test_cli_lists_without_secrets_and_a_removed_user_is_refused_at_once(users_server):
    keys = add_user(users_server, "temp-user")
    sm = client(users_server, keys, "sagemaker")
    sm.list_models()
    code, out, _ = shipyard("users", "list", "--home", str(users_server.home))
    assert code == 0 and "temp-user" in out and keys[0] in out and keys[1] not in out
    code, out, _ = shipyard("users", "list", "--home", str(users_server.home), "--json")
    listed = {u["name"]: u for u in json.loads(out)}
    assert listed["temp-user"]["role"] == "admin" and "secret_access_key" not in listed["temp-user"]
    code, _, err = shipyard("users", "add", "temp-user", "--home", str(users_server.home))
    assert code == 1 and "already exists" in err

    code, out, _ = shipyard("users", "remove", "temp-user", "--home", str(users_server.home))
    assert code == 0 and "removed" in out
    with pytest.raises(ClientError) as e:
        sm.list_models()
    assert _error(e)[0] == "UnrecognizedClientException"
    with pytest.raises(ClientError) as e:
        client(users_server, keys, "s3").list_buckets()
    assert _error(e)[0] == "InvalidAccessKeyId"
    code, _, err = shipyard("users", "remove", "temp-user", "--home", str(users_server.home))
    assert code == 1 and "cannot be found" in err


@pytest.mark.integration
def test_a_wrong_secret_for_a_user_key_is_refused(users_server):
    key_id, secret = add_user(users_server, "mallory-target")
    with pytest.raises(ClientError) as e:
        client(users_server, (key_id, secret[::-1]), "sagemaker").list_models()
    assert _error(e)[0] == "InvalidSignatureException"
