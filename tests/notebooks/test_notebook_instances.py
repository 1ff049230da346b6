"""Notebook instances through boto3: lifecycle scripts run, JupyterLab answers at the presigned URL, the folder
persists across stop/start, and the errors a boto3 user expects for the wrong status or a missing name."""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from botocore.exceptions import ClientError

pytest.importorskip("jupyterlab", reason="JupyterLab is not installed (pip install 'shipyard[notebook]')")

pytestmark = pytest.mark.integration

WAIT_S = 120.0
ROLE = "arn:aws:iam::111122223333:role/SageMakerRole"
ON_CREATE = "echo created >> created.txt\necho hello from on-create\n"
ON_START = "echo started >> started.txt\necho hello from on-start\n"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _wait_status(sm, name: str, wanted: str) -> dict:
    deadline = time.monotonic() + WAIT_S
    desc: dict = {}
    while time.monotonic() < deadline:
        desc = sm.describe_notebook_instance(NotebookInstanceName=name)
        if desc["NotebookInstanceStatus"] == wanted:
            return desc
        assert desc["NotebookInstanceStatus"] != "Failed", desc.get("FailureReason")
        time.sleep(0.5)
    raise AssertionError(f"{name} not {wanted} after {WAIT_S:.0f} s: {desc}")


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, b""


def _lab_file(url: str, path: str) -> str:
    """A file's text through JupyterLab's contents API, logging in with the token the presigned URL carries."""
    parts = urllib.parse.urlsplit(url)
    token = urllib.parse.parse_qs(parts.query)["token"][0]
    status, body = _get(f"{parts.scheme}://{parts.netloc}/api/contents/{path}?content=1&token={token}")
    assert status == 200, f"{path}: HTTP {status}"
    return json.loads(body)["content"]


def _code(e: pytest.ExceptionInfo) -> str:
    return e.value.response["Error"]["Code"]


@pytest.fixture(scope="module")
def sm(server):
    return server.client("sagemaker")


def test_lifecycle_configs_crud_and_errors(sm):
    name = "lc-crud"
    arn = sm.create_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName=name, OnStart=[{"Content": _b64("echo one")}],
    )["NotebookInstanceLifecycleConfigArn"]
    assert arn.endswith(f":notebook-instance-lifecycle-config/{name}")
    desc = sm.describe_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=name)
    assert desc["OnStart"] == [{"Content": _b64("echo one")}]
    sm.update_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=name,
                                                 OnStart=[{"Content": _b64("echo two")}])
    desc = sm.describe_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=name)
    assert desc["OnStart"] == [{"Content": _b64("echo two")}]
    listed = sm.list_notebook_instance_lifecycle_configs(NameContains="lc-crud")
    assert [c["NotebookInstanceLifecycleConfigName"] for c in listed["NotebookInstanceLifecycleConfigs"]] == [name]
    with pytest.raises(ClientError) as e:
        sm.create_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=name)
    assert _code(e) == "ValidationException" and "already exists" in str(e.value)
    with pytest.raises(ClientError) as e:
        sm.create_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName="lc-bad",
                                                     OnCreate=[{"Content": "not base64!"}])
    assert _code(e) == "ValidationException" and "base64" in str(e.value)
    sm.delete_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=name)
    with pytest.raises(ClientError) as e:
        sm.describe_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=name)
    assert _code(e) == "ValidationException"


def test_instance_runs_scripts_serves_its_folder_and_survives_stop_start(sm, server):
    cfg, name = "lc-files", "nb-files"
    sm.create_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=cfg,
                                                 OnCreate=[{"Content": _b64(ON_CREATE)}],
                                                 OnStart=[{"Content": _b64(ON_START)}])
    arn = sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=ROLE,
                                      LifecycleConfigName=cfg)["NotebookInstanceArn"]
    assert arn.endswith(f":notebook-instance/{name}")
    with pytest.raises(ClientError) as e:  # the API refuses to move an instance that is not stopped
        sm.delete_notebook_instance(NotebookInstanceName=name)
    assert _code(e) == "ValidationException"
    desc = _wait_status(sm, name, "InService")
    assert desc["NotebookInstanceLifecycleConfigName"] == cfg and desc["InstanceType"] == "ml.t3.medium"
    summaries = sm.list_notebook_instances(NameContains="nb-files")["NotebookInstances"]
    assert [(s["NotebookInstanceName"], s["NotebookInstanceStatus"]) for s in summaries] == [(name, "InService")]

    url = sm.create_presigned_notebook_instance_url(NotebookInstanceName=name)["AuthorizedUrl"]
    status, _ = _get(url)
    assert status == 200
    assert _lab_file(url, "created.txt") == "created\n"  # what the OnCreate script wrote, seen through JupyterLab
    assert _lab_file(url, "started.txt") == "started\n"
    no_token = urllib.parse.urlsplit(url)._replace(path="/api/contents", query="").geturl()
    assert _get(no_token)[0] == 403
    expiry, signature = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["token"][0].split(".")
    assert 0 < int(expiry) - time.time() <= 300  # short-lived, as AWS's presigned URL
    forged = f"{int(expiry) + 86400}.{signature}"  # a later expiry with the old signature
    assert _get(no_token + f"?token={forged}")[0] == 403

    logs = server.client("logs")
    events = logs.get_log_events(logGroupName="/aws/sagemaker/NotebookInstances",
                                 logStreamName=f"{name}/LifecycleConfigOnStart")["events"]
    assert "hello from on-start" in [ev["message"] for ev in events]

    with pytest.raises(ClientError) as e:
        sm.update_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.large")
    assert _code(e) == "ValidationException" and "stop it first" in str(e.value)

    sm.stop_notebook_instance(NotebookInstanceName=name)
    _wait_status(sm, name, "Stopped")
    assert not _reachable(url), "JupyterLab still answers after StopNotebookInstance"
    with pytest.raises(ClientError) as e:
        sm.create_presigned_notebook_instance_url(NotebookInstanceName=name)
    assert _code(e) == "ValidationException"
    sm.update_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.large")

    sm.start_notebook_instance(NotebookInstanceName=name)
    desc = _wait_status(sm, name, "InService")
    assert desc["InstanceType"] == "ml.t3.large"
    url = sm.create_presigned_notebook_instance_url(NotebookInstanceName=name)["AuthorizedUrl"]
    assert _lab_file(url, "created.txt") == "created\n"  # OnCreate ran once; the folder persisted
    assert _lab_file(url, "started.txt") == "started\nstarted\n"  # OnStart ran on each start

    sm.stop_notebook_instance(NotebookInstanceName=name)
    _wait_status(sm, name, "Stopped")
    sm.delete_notebook_instance(NotebookInstanceName=name)
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        try:
            sm.describe_notebook_instance(NotebookInstanceName=name)
        except ClientError as e:
            assert e.response["Error"]["Code"] == "ValidationException"
            break
        time.sleep(0.3)
    else:
        raise AssertionError(f"{name} still described {WAIT_S:.0f} s after DeleteNotebookInstance")
    assert not (server.home / "notebook-instances" / name).exists()


def _reachable(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=3)
        return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def test_a_failing_script_fails_the_instance_with_a_reason(sm):
    cfg, name = "lc-fails", "nb-fails"
    sm.create_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=cfg,
                                                 OnStart=[{"Content": _b64("echo about to fail; exit 3")}])
    sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=ROLE,
                                LifecycleConfigName=cfg)
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        desc = sm.describe_notebook_instance(NotebookInstanceName=name)
        if desc["NotebookInstanceStatus"] == "Failed":
            break
        time.sleep(0.3)
    assert desc["NotebookInstanceStatus"] == "Failed"
    assert "exited with 3" in desc["FailureReason"]
    with pytest.raises(ClientError) as e:  # a configuration an instance uses cannot be deleted
        sm.delete_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=cfg)
    assert _code(e) == "ValidationException"
    sm.delete_notebook_instance(NotebookInstanceName=name)


def test_unknown_instance_and_config_are_validation_errors(sm):
    with pytest.raises(ClientError) as e:
        sm.describe_notebook_instance(NotebookInstanceName="nb-missing")
    assert _code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        sm.create_notebook_instance(NotebookInstanceName="nb-orphan", InstanceType="ml.t3.medium", RoleArn=ROLE,
                                    LifecycleConfigName="lc-missing")
    assert _code(e) == "ValidationException" and "lc-missing" in str(e.value)


def test_a_server_restart_reattaches_or_restarts_instances_in_service(server_factory):
    import os
    import signal

    srv = server_factory()
    sm = srv.client("sagemaker")
    for name in ("nb-keep", "nb-lost"):
        sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=ROLE)
    urls = {}
    for name in ("nb-keep", "nb-lost"):
        _wait_status(sm, name, "InService")
        urls[name] = sm.create_presigned_notebook_instance_url(NotebookInstanceName=name)["AuthorizedUrl"]
    pids = {}
    for name in urls:
        port = urllib.parse.urlsplit(urls[name]).port
        pids[name] = [pid for pid in _listening_pids(port)][0]
    srv.kill9()
    os.killpg(os.getpgid(pids["nb-lost"]), signal.SIGKILL)  # its JupyterLab (and sandbox) dies meanwhile
    srv.start()
    sm = srv.client("sagemaker")
    kept = sm.create_presigned_notebook_instance_url(NotebookInstanceName="nb-keep")["AuthorizedUrl"]
    assert urllib.parse.urlsplit(kept).port == urllib.parse.urlsplit(urls["nb-keep"]).port  # reattached
    assert _listening_pids(urllib.parse.urlsplit(kept).port) == [pids["nb-keep"]]  # the very same process
    assert _get(urls["nb-keep"])[0] == 200  # and the URL given before the restart still logs in
    deadline = time.monotonic() + WAIT_S
    new_url = urls["nb-lost"]
    lost_port = urllib.parse.urlsplit(urls["nb-lost"]).port
    while time.monotonic() < deadline and urllib.parse.urlsplit(new_url).port == lost_port:
        desc = sm.describe_notebook_instance(NotebookInstanceName="nb-lost")
        if desc["NotebookInstanceStatus"] == "InService":
            new_url = sm.create_presigned_notebook_instance_url(NotebookInstanceName="nb-lost")["AuthorizedUrl"]
        time.sleep(0.3)
    assert urllib.parse.urlsplit(new_url).port != lost_port, "the lost JupyterLab was not started again"
    assert _get(new_url)[0] == 200
    for name in urls:
        sm.stop_notebook_instance(NotebookInstanceName=name)
    for name in urls:
        _wait_status(sm, name, "Stopped")


def _listening_pids(port: int | None) -> list[int]:
    """Pids of processes with a listening socket on ``port`` (from /proc: the JupyterLab behind a URL)."""
    import os

    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # LISTEN
                inodes.add(fields[9])
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{entry}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{entry}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                pids.append(int(entry))
                break
    assert pids, f"nothing listens on port {port}"
    return pids


def test_presigned_tokens_expire_and_are_bound_to_the_instance_secret():
    from shipyard.resources.notebook_instance import presigned_token, presigned_token_valid

    token = presigned_token("secret-a", now=1000.0, ttl=300)
    assert presigned_token_valid("secret-a", token, now=1299.0)
    assert not presigned_token_valid("secret-a", token, now=1300.0)  # expired
    assert not presigned_token_valid("secret-b", token, now=1000.0)  # another instance's
    assert not presigned_token_valid("secret-a", "secret-a", now=1000.0)  # not the secret itself


def _lab_environ(url: str) -> dict[str, str]:
    """The environment of the JupyterLab behind a presigned URL (from /proc)."""
    pid = _listening_pids(urllib.parse.urlsplit(url).port)[0]
    with open(f"/proc/{pid}/environ", "rb") as f:
        pairs = [item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item]
    return {k.decode(): v.decode(errors="replace") for k, v in pairs}


def test_the_instance_has_a_key_of_its_own_revoked_when_it_stops_and_sessions_last_as_asked(sm, server):
    import os

    import boto3
    from botocore.config import Config

    name = "nb-own-key"
    sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=ROLE)
    _wait_status(sm, name, "InService")
    url = sm.create_presigned_notebook_instance_url(NotebookInstanceName=name)["AuthorizedUrl"]
    env = _lab_environ(url)
    server_key, server_secret = server.keys()
    assert env["AWS_ACCESS_KEY_ID"].startswith("AKIA") and env["AWS_ACCESS_KEY_ID"] != server_key
    assert server_secret not in "\n".join(env.values())  # the server's secret is nowhere in its environment
    assert env["AWS_ENDPOINT_URL"] == server.url and not [k for k in env if k.startswith("SHIPYARD_")]
    from shipyard.runners import sandbox

    if sandbox.available():  # JupyterLab's own view of the files (its mount namespace), through /proc
        pid = _listening_pids(urllib.parse.urlsplit(url).port)[0]
        home = os.path.realpath(server.home)
        assert not os.path.exists(f"/proc/{pid}/root{home}/credentials.json"), "the lab sees the server's home"
        assert os.path.isdir(f"/proc/{pid}/root{home}/notebook-instances/{name}/SageMaker")  # but its own folder

    session = boto3.session.Session(aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                                    aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name=server.region)
    config = Config(retries={"max_attempts": 1})
    own_sm = session.client("sagemaker", endpoint_url=server.url, config=config)
    assert name in [s["NotebookInstanceName"] for s in own_sm.list_notebook_instances()["NotebookInstances"]]
    arn = session.client("sts", endpoint_url=server.url, config=config).get_caller_identity()["Arn"]
    assert arn.endswith(f":user/notebook-instance/{name}")
    _check_session_expiration_duration(sm, server, name)

    sm.stop_notebook_instance(NotebookInstanceName=name)
    _wait_status(sm, name, "Stopped")
    with pytest.raises(ClientError) as e:
        own_sm.list_notebook_instances()
    assert _code(e) == "UnrecognizedClientException"
    sm.delete_notebook_instance(NotebookInstanceName=name)


def _check_session_expiration_duration(sm, server, name: str) -> None:
    """SessionExpirationDurationInSeconds: checked against botocore's range, and how long the JupyterLab session
    the presigned URL opens lasts (its login cookie's expiry). Part of another test: a lab start costs seconds."""
    import email.utils

    from botocore.config import Config

    unchecked = server.client("sagemaker", config=Config(parameter_validation=False))  # the server checks
    for wrong in (1799, 43201):
        with pytest.raises(ClientError) as e:
            unchecked.create_presigned_notebook_instance_url(NotebookInstanceName=name,
                                                             SessionExpirationDurationInSeconds=wrong)
        assert _code(e) == "ValidationException" and "sessionExpirationDurationInSeconds" in str(e.value)
    url = sm.create_presigned_notebook_instance_url(NotebookInstanceName=name,
                                                    SessionExpirationDurationInSeconds=1800)["AuthorizedUrl"]
    token = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["token"][0]
    parts = urllib.parse.urlsplit(url)
    request = urllib.request.Request(f"{parts.scheme}://{parts.netloc}/api/contents?token={token}")
    with urllib.request.urlopen(request, timeout=10) as r:
        cookies = [c for c in r.headers.get_all("Set-Cookie") or [] if c.startswith("username-")]
    assert cookies, "opening the presigned URL set no login cookie"
    expires = re.search(r"expires=([^;]+)", cookies[0], re.I)
    assert expires, cookies[0]
    left = email.utils.parsedate_to_datetime(expires.group(1)).timestamp() - time.time()
    assert 1700 < left <= 1801, f"the session cookie lasts {left:.0f} s, not 1800"


def test_session_cookies_past_their_end_are_refused():
    from shipyard.controllers.notebook import PresignedTokenIdentity
    from shipyard.resources.notebook_instance import presigned_token, presigned_token_session

    token = presigned_token("s", now=1000.0, ttl=300, session_s=1800)
    assert presigned_token_session("s", token, now=1100.0) == 1800
    assert presigned_token_session("s", presigned_token("s", now=1000.0), now=1100.0) == 43200  # the default
    provider = PresignedTokenIdentity()
    user = {"username": "u", "name": "u", "display_name": "u", "initials": "U", "avatar_url": None, "color": None}
    assert provider.user_from_cookie(json.dumps({**user, "shipyard_session_ends": time.time() + 60})) is not None
    assert provider.user_from_cookie(json.dumps({**user, "shipyard_session_ends": time.time() - 1})) is None
