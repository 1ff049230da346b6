"""Jobs hold keys of their own, scoped like an execution role, never the server's (issue 13).

A real server started with ``SHIPYARD_SECRET_ACCESS_KEY`` in its environment runs a script-mode job whose
program looks for the server's secret in its environment and its ancestors', tries the home's credentials
file, and uses boto3 with the AWS_* variables it was given: its own channel reads, its own output prefix
takes writes, and everything else is refused with AWS's codes. After the job ends its key is refused too.
Unit tests cover the scope rules and the key file.
"""

from __future__ import annotations

import io
import json
import os
import stat
import sys
import tarfile
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from shipyard.domain.job_keys import JobKeys, JobScope
from shipyard.errors import AuthError
from shipyard.server.auth import authorize_call, authorize_s3
from shipyard.training import isolation

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
from training_helpers import log_messages, script_job, unique, wait_status  # noqa: E402

BUCKET = "job-keys"
OTHER = "job-keys-other"
SERVER_KEY = ("AKIASERVERKEYTEST001", "server-secret-" + "x" * 26)

PROBE = r"""
    import json, os, boto3
    from botocore.exceptions import ClientError

    secret = "SHIPYARD_SECRET_ACCESS_KEY"
    print("env-has-shipyard-secret", secret in os.environ)
    print("env-shipyard-vars", sorted(k for k in os.environ if k.startswith("SHIPYARD_")))
    with open(os.path.join(os.environ["SM_MODEL_DIR"], "env.json"), "w") as f:
        json.dump(dict(os.environ), f)  # the test looks for the server's secret in every value

    # the processes above this one, up to the server: their environments, as /proc shows them
    pid = os.getppid()
    while pid > 1:
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
            environ = open(f"/proc/{pid}/environ", "rb").read().decode(errors="replace")
        except OSError as e:
            print("ancestor-unreadable", pid, type(e).__name__)
            break
        role = ("launcher" if "shipyard.runners._launch" in cmd else
                "executor" if "shipyard.training.executor" in cmd else
                "server" if "shipyard.server.main" in cmd else "other")
        print("ancestor", role, secret in environ)
        if role == "server":
            break
        try:
            pid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break

    # the server's process, by the pid the test passes in, and every process this one can see
    try:
        open(f"/proc/{os.environ['SERVER_PID']}/environ", "rb").read()
        print("server-environ", "read")
    except OSError as e:
        print("server-environ", type(e).__name__)
    print("visible-processes", len([p for p in os.listdir("/proc") if p.isdigit()]))

    # the home's credentials file: up from the working folder
    folder, outcome = os.path.abspath(os.getcwd()), "not-found"
    while folder != "/":
        path = os.path.join(folder, "credentials.json")
        if os.path.exists(path):
            try:
                open(path).read()
                outcome = "read"
            except OSError as e:
                outcome = type(e).__name__
            break
        folder = os.path.dirname(folder)
    print("credentials-file", outcome)

    def attempt(label, call):
        try:
            call()
            print(label, "allowed")
        except ClientError as e:
            print(label, e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"])

    s3 = boto3.client("s3")
    sm = boto3.client("sagemaker")
    bucket, prefix, name = os.environ["BUCKET"], os.environ["PREFIX"], os.environ["JOB"]
    attempt("read-own-channel", lambda: s3.get_object(Bucket=bucket, Key=prefix + "train/data.csv")["Body"].read())
    attempt("list-own-channel", lambda: s3.list_objects_v2(Bucket=bucket, Prefix=prefix + "train/"))
    attempt("list-other-bucket", lambda: s3.list_objects_v2(Bucket=os.environ["OTHER"]))
    attempt("list-buckets", lambda: s3.list_buckets())
    attempt("write-own-output", lambda: s3.put_object(Bucket=bucket, Key=f"output/{name}/extra/note.txt",
                                                      Body=b"mine"))
    attempt("write-outside-output", lambda: s3.put_object(Bucket=bucket, Key="elsewhere/note.txt", Body=b"x"))
    attempt("write-other-job-output", lambda: s3.put_object(Bucket=bucket, Key="output/someone-else/x",
                                                            Body=b"x"))
    attempt("create-training-job", lambda: sm.create_training_job(
        TrainingJobName=name + "-evil", RoleArn="arn:aws:iam::123456789012:role/x",
        AlgorithmSpecification={"TrainingImage": "x", "TrainingInputMode": "File"},
        OutputDataConfig={"S3OutputPath": "s3://b/o"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 60}))
    attempt("list-training-jobs", lambda: sm.list_training_jobs())
    attempt("describe-own-job", lambda: sm.describe_training_job(TrainingJobName=name))
    print("job-key", os.environ["AWS_ACCESS_KEY_ID"])
    print("caller-arn", boto3.client("sts").get_caller_identity()["Arn"])
"""


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory):
    """A server whose key comes from SHIPYARD_* variables (the ones a job must never see)."""
    from shipyard.testing.server import ShipyardProcess

    proc = ShipyardProcess(tmp_path_factory.mktemp("job-keys-home"),
                           env={"SHIPYARD_ACCESS_KEY_ID": SERVER_KEY[0],
                                "SHIPYARD_SECRET_ACCESS_KEY": SERVER_KEY[1]})
    proc.start()
    try:
        yield proc
    finally:
        proc.stop(kill_children=True)


def _lines(messages: list[str], label: str) -> list[str]:
    return [m[len(label) + 1:] for m in messages if m.startswith(label + " ")]


def test_a_job_holds_only_its_own_scoped_key(keyed_server):
    sm, s3, logs = (keyed_server.client(s) for s in ("sagemaker", "s3", "logs"))
    s3.create_bucket(Bucket=OTHER)
    s3.put_object(Bucket=OTHER, Key="secret.txt", Body=b"not yours")
    name = unique("keys")
    params = script_job(s3, BUCKET, name, PROBE, channels={"train": b"1,2\n"})
    params["Environment"] = {"BUCKET": BUCKET, "PREFIX": f"{name}/data/", "JOB": name, "OTHER": OTHER,
                             "SERVER_PID": str(keyed_server.pid)}
    sm.create_training_job(**params)
    desc = wait_status(sm, name, timeout=120)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    messages = log_messages(logs, name)

    # (a) no server secret in the job's environment, nor in the executor's or launcher's
    assert _lines(messages, "env-has-shipyard-secret") == ["False"]
    assert _lines(messages, "env-shipyard-vars") == ["['SHIPYARD_HOST_ADDRESSES', 'SHIPYARD_HOST_INDEX']"]
    ancestors = _lines(messages, "ancestor")
    if isolation.hides_processes():
        # its own PID namespace: no ancestor, no server, nothing but its init and itself
        assert ancestors == [], messages
        assert _lines(messages, "server-environ") == ["FileNotFoundError"], messages
        assert _lines(messages, "visible-processes") == ["2"], messages
    else:
        assert any(a.startswith("executor ") for a in ancestors), messages
        assert all(a.endswith("False") for a in ancestors if a.split()[0] in ("executor", "launcher")), ancestors
    model = s3.get_object(Bucket=BUCKET, Key=f"output/{name}/output/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(model)) as tar:
        env = json.loads(tar.extractfile("env.json").read())
    assert not any(SERVER_KEY[1] in v or SERVER_KEY[0] in v for v in env.values())
    assert env["AWS_ACCESS_KEY_ID"] != SERVER_KEY[0] and env["AWS_SECRET_ACCESS_KEY"] != SERVER_KEY[1]
    assert env["AWS_ENDPOINT_URL"] == keyed_server.url

    # (b) the home's credentials file. The program runs as the server's user, so file modes cannot hide it:
    # where the host allows a mount namespace the program sees only its own folder of the home.
    if isolation.available():
        assert _lines(messages, "credentials-file") == ["not-found"]
    else:
        assert any("without a private view of the Shipyard home" in m for m in messages)

    # (c) its own data yes, anything else refused with AWS's codes
    outcome = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in
               (m for m in messages if m.split(" ", 1)[0] in {
                   "read-own-channel", "list-own-channel", "list-other-bucket", "list-buckets",
                   "write-own-output", "write-outside-output", "write-other-job-output", "create-training-job",
                   "list-training-jobs", "describe-own-job"})}
    assert outcome == {
        "read-own-channel": "allowed",
        "list-own-channel": "allowed",
        "list-other-bucket": "AccessDenied 403",
        "list-buckets": "AccessDenied 403",
        "write-own-output": "allowed",
        "write-outside-output": "AccessDenied 403",
        "write-other-job-output": "AccessDenied 403",
        "create-training-job": "AccessDeniedException 403",
        "list-training-jobs": "AccessDeniedException 403",
        "describe-own-job": "allowed",
    }, messages
    assert s3.get_object(Bucket=BUCKET, Key=f"output/{name}/extra/note.txt")["Body"].read() == b"mine"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=BUCKET, Key="elsewhere/note.txt")
    with pytest.raises(ClientError):
        sm.describe_training_job(TrainingJobName=name + "-evil")

    # GetCallerIdentity names the job's role, assumed by the job: not the server's key
    role = params["RoleArn"].rsplit("/", 1)[-1]
    assert _lines(messages, "caller-arn") == [f"arn:aws:sts::{keyed_server.settings.account}:assumed-role/"
                                              f"{role}/{name}"], messages

    # after the job ended its key is refused, by S3 and the JSON services alike
    key_id = _lines(messages, "job-key")[0]
    assert key_id == env["AWS_ACCESS_KEY_ID"]
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(aws_access_key_id=key_id, aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                                    region_name="us-east-1")
    config = Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"})
    with pytest.raises(ClientError) as e:
        session.client("s3", endpoint_url=keyed_server.url, config=config).get_object(
            Bucket=BUCKET, Key=f"{name}/data/train/data.csv")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert e.value.response["Error"]["Code"] == "InvalidAccessKeyId"
    with pytest.raises(ClientError) as e:
        session.client("sagemaker", endpoint_url=keyed_server.url, config=config).describe_training_job(
            TrainingJobName=name)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert e.value.response["Error"]["Code"] in ("UnrecognizedClientException", "InvalidClientTokenId")

    # the key file holds no key of an ended job; home, database, key file and objects are the user's alone
    home = keyed_server.home
    keys = json.loads((home / "job_keys.json").read_text())["keys"]
    assert all(v["scope"]["name"] != name for v in keys.values())
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for path in (home / "credentials.json", home / "shipyard.db", home / "job_keys.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    objects = [p for p in (home / "objects").rglob("*") if p.is_file()]
    assert objects and all(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 for p in objects)


def test_keys_of_ended_jobs_are_revoked_on_restart(keyed_server):
    """A key left in the file for a job that is no longer running (the server died first) dies on start."""
    keys = JobKeys(keyed_server.home)
    stale = keys.issue(JobScope(kind="training-job", name="never-ran-" + unique("x"), read=[f"{BUCKET}/"]))
    keyed_server.restart()
    assert stale.access_key_id not in json.loads((keyed_server.home / "job_keys.json").read_text())["keys"]
    import boto3

    client = boto3.session.Session(aws_access_key_id=stale.access_key_id,
                                   aws_secret_access_key=stale.secret_access_key,
                                   region_name="us-east-1").client("sagemaker", endpoint_url=keyed_server.url)
    with pytest.raises(ClientError) as e:
        client.describe_training_job(TrainingJobName="x")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_caller_identity_names_the_key_that_signed(keyed_server):
    """The server's key is the account's shipyard user; a job's key the job's assumed role, with the job's
    name as the session, whatever key the server itself holds."""
    import boto3

    sts = keyed_server.client("sts")
    mine = sts.get_caller_identity()
    assert mine["UserId"] == SERVER_KEY[0] and mine["Arn"].endswith(":user/shipyard")
    name = unique("caller")
    key = JobKeys(keyed_server.home).issue(JobScope(kind="training-job", name=name,
                                                    role_arn="arn:aws:iam::123456789012:role/service/TrainRole"))
    client = boto3.session.Session(aws_access_key_id=key.access_key_id, aws_secret_access_key=key.secret_access_key,
                                   region_name="us-east-1").client("sts", endpoint_url=keyed_server.url)
    ident = client.get_caller_identity()
    assert ident["Arn"] == f"arn:aws:sts::{mine['Account']}:assumed-role/TrainRole/{name}"
    assert ident["UserId"] == f"{key.access_key_id}:{name}" and ident["Account"] == mine["Account"]
    assert SERVER_KEY[0] not in str(ident)
    JobKeys(keyed_server.home).revoke("training-job", name)


# --- the rules, without a server ----------------------------------------------------------------------------
SCOPE = JobScope(kind="training-job", name="j1", read=["data/in/train", "data/ckpt/j1/"],
                 write=["data/ckpt/j1/", "data/out/j1/"], log_group="/aws/sagemaker/TrainingJobs",
                 log_stream_prefix="j1/", own=[["sagemaker", "DescribeTrainingJob", "TrainingJobName"]])


@pytest.mark.parametrize("method,path,query,headers,ok", [
    ("GET", "/data/in/train/a.csv", {}, {}, True),
    ("HEAD", "/data/in/train/a.csv", {}, {}, True),
    ("GET", "/data", {"prefix": "in/train/"}, {}, True),
    ("GET", "/data", {"prefix": "in/"}, {}, False),          # a wider listing than its channel
    ("GET", "/data", {}, {}, False),
    ("HEAD", "/data", {}, {}, True),
    ("GET", "/other/in/train/a.csv", {}, {}, False),
    ("GET", "/", {}, {}, False),
    ("PUT", "/data/out/j1/model.tar.gz", {}, {}, True),
    ("PUT", "/data/ckpt/j1/step-1", {}, {}, True),
    ("PUT", "/data/out/j2/model.tar.gz", {}, {}, False),
    ("PUT", "/data/in/train/a.csv", {}, {}, False),           # its input is read-only
    ("DELETE", "/data/in/train/a.csv", {}, {}, False),
    ("POST", "/data/out/j1/big", {"uploads": ""}, {}, True),
    ("PUT", "/data/out/j1/copy", {}, {"x-amz-copy-source": "/other/secret"}, False),
    ("PUT", "/data/out/j1/copy", {}, {"x-amz-copy-source": "/data/in/train/a.csv"}, True),
    ("PUT", "/data", {}, {}, False),
    ("DELETE", "/data", {}, {}, False),
    ("POST", "/data", {"delete": ""}, {}, False),
])
def test_s3_scope(method, path, query, headers, ok):
    if ok:
        authorize_s3(SCOPE, method=method, path=path, query=query, headers=headers)
    else:
        with pytest.raises(AuthError) as e:
            authorize_s3(SCOPE, method=method, path=path, query=query, headers=headers)
        assert (e.value.code, e.value.http_status) == ("AccessDenied", 403)


@pytest.mark.parametrize("service,op,params,ok", [
    ("logs", "PutLogEvents", {"logGroupName": "/aws/sagemaker/TrainingJobs", "logStreamName": "j1/algo-1"}, True),
    ("logs", "CreateLogStream", {"logGroupName": "/aws/sagemaker/TrainingJobs", "logStreamName": "j1/x"}, True),
    ("logs", "PutLogEvents", {"logGroupName": "/aws/sagemaker/TrainingJobs", "logStreamName": "j2/algo-1"}, False),
    ("logs", "PutLogEvents", {"logGroupName": "/other", "logStreamName": "j1/algo-1"}, False),
    ("logs", "DeleteLogGroup", {"logGroupName": "/aws/sagemaker/TrainingJobs"}, False),
    ("cloudwatch", "PutMetricData", {"Namespace": "x"}, True),
    ("cloudwatch", "DeleteAlarms", {}, False),
    ("sagemaker", "DescribeTrainingJob", {"TrainingJobName": "j1"}, True),
    ("sagemaker", "DescribeTrainingJob", {"TrainingJobName": "j2"}, False),
    ("sagemaker", "StopTrainingJob", {"TrainingJobName": "j1"}, False),
    ("sagemaker", "CreateEndpoint", {}, False),
    ("sagemaker", "DeleteModel", {}, False),
    ("application-autoscaling", "RegisterScalableTarget", {}, False),
    ("sagemaker-runtime", "invocations", {}, False),
    ("sts", "GetCallerIdentity", {}, True),
])
def test_call_scope(service, op, params, ok):
    if ok:
        authorize_call(SCOPE, service, op, params)
    else:
        with pytest.raises(AuthError) as e:
            authorize_call(SCOPE, service, op, params)
        assert (e.value.code, e.value.http_status) == ("AccessDeniedException", 403)


def test_key_file_is_private_and_revocation_sticks(tmp_path):
    keys = JobKeys(tmp_path)
    a = keys.issue(JobScope(kind="training-job", name="a"))
    b = keys.issue(JobScope(kind="training-job", name="b"))
    assert stat.S_IMODE(os.stat(tmp_path / "job_keys.json").st_mode) == 0o600
    assert a.access_key_id != b.access_key_id and a.secret_access_key != b.secret_access_key
    assert keys.issue(JobScope(kind="training-job", name="a")).access_key_id != a.access_key_id  # replaced
    assert keys.lookup(a.access_key_id) is None
    assert keys.revoke("training-job", "b") == 1
    again = JobKeys(tmp_path)  # a restart reads what is left
    assert again.lookup(b.access_key_id) is None and again.for_job("training-job", "a") is not None
    assert again.prune(lambda kind, name: False) == 1 and again.for_job("training-job", "a") is None


def test_home_and_credentials_are_private(tmp_path):
    from shipyard.config import load_settings

    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    os.chmod(home, 0o755)
    load_settings(home)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "credentials.json").stat().st_mode) == 0o600


@pytest.mark.integration  # starts the wrapped program
@pytest.mark.skipif(not isolation.available(), reason="no mount namespace on this host")
def test_isolated_program_sees_only_its_job_folder(tmp_path):
    import subprocess

    home = tmp_path / "home"
    job = home / "runs" / "training" / "j1"
    (job / "code").mkdir(parents=True)
    (home / "runs" / "training" / "j2").mkdir()
    (home / "credentials.json").write_text("secret")
    envs = home / "environments"
    envs.mkdir()
    (envs / "python.txt").write_text("an interpreter")
    script = ("import os; print(sorted(os.listdir('../../../..'))); print(sorted(os.listdir('../..'))); "
              "print(open('../../../../environments/python.txt').read()); open('../made', 'w').write('x')")
    cmd = isolation.wrap([sys.executable, "-c", script], home, job, job / "code", envs)
    out = subprocess.run(cmd, cwd=job / "code", capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "['environments', 'runs']"  # no credentials, database or objects
    assert lines[1] == "['j1']"                   # no other job's folder
    assert lines[2] == "an interpreter"          # the environments stay readable
    assert (job / "made").read_text() == "x"     # and what it writes lands in its real folder


@pytest.mark.integration  # runs the executor as a subprocess
@pytest.mark.skipif(not isolation.available(), reason="no mount namespace on this host")
@pytest.mark.parametrize("mode", ["stop", "pipe"])
def test_isolated_job_keeps_signals_and_pipes(tmp_path, mode):
    """Under isolation the program still gets exactly one SIGTERM on a stop, Pipe-mode FIFOs still work,
    and the home's credentials are not there."""
    import signal
    import subprocess

    from shipyard.objectstore import open_objectstore
    from shipyard.io.recordio import write_record
    from test_executor import TIMEOUT, sourcedir

    home = tmp_path / "home"
    (home / "credentials.json").parent.mkdir(parents=True)
    (home / "credentials.json").write_text("secret")
    store = open_objectstore((home / "objects").as_uri())
    store.create_bucket("bkt")
    script = """
        import os, signal, sys, time
        home = os.path.abspath("../../../..")
        print("home-has-credentials", os.path.exists(os.path.join(home, "credentials.json")), flush=True)
        if os.environ.get("MODE") == "pipe":
            with open(os.environ["SM_CHANNEL_TRAIN"] + "_0", "rb") as f:
                print("pipe-bytes", len(f.read()), flush=True)
            sys.exit(0)
        def on_term(*_):
            open(os.path.join(os.environ["SM_MODEL_DIR"], "terms"), "a").write("TERM\\n")
            sys.exit(0)
        signal.signal(signal.SIGTERM, on_term)
        print("ready", flush=True)
        time.sleep(60)
    """
    store.put_object("bkt", "code/sourcedir.tar.gz", sourcedir(script))
    channels = []
    if mode == "pipe":
        buf = io.BytesIO()
        write_record(buf, b"alpha")
        store.put_object("bkt", "pipe/part-0", buf.getvalue())
        channels = [{"ChannelName": "train", "InputMode": "Pipe", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://bkt/pipe/", "S3DataDistributionType": "FullyReplicated"}}}]
    job_dir = home / "runs" / "training" / "iso-job"
    job_dir.mkdir(parents=True)
    req = {"TrainingJobName": "iso-job",
           "HyperParameters": {"sagemaker_program": '"train.py"',
                               "sagemaker_submit_directory": '"s3://bkt/code/sourcedir.tar.gz"'},
           "AlgorithmSpecification": {"TrainingImage": "sagemaker-scikit-learn", "TrainingInputMode": "File"},
           "InputDataConfig": channels, "OutputDataConfig": {"S3OutputPath": "s3://bkt/out/"},
           "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
           "StoppingCondition": {"MaxRuntimeInSeconds": 60}, "Environment": {"MODE": mode}}
    (job_dir / "job.json").write_text(json.dumps({
        "request": req, "arn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/iso-job",
        "program": {"kind": "script", "framework": "sklearn"}, "object_store_url": (home / "objects").as_uri(),
        "stop_grace": 5, "isolate": True}))
    log_path = job_dir / "output.log"
    proc = subprocess.Popen([sys.executable, "-m", "shipyard.training.executor", str(job_dir)],
                            stdout=open(log_path, "ab"), stderr=subprocess.STDOUT)
    try:
        if mode == "stop":
            deadline = time.monotonic() + TIMEOUT
            while "ready" not in log_path.read_text() and time.monotonic() < deadline:
                time.sleep(0.1)
            proc.send_signal(signal.SIGTERM)
        proc.wait(TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = log_path.read_text()
    status = json.loads((job_dir / "status.json").read_text())
    assert "home-has-credentials False" in log, log
    if mode == "pipe":
        assert status["outcome"] == "Completed", log
        assert "pipe-bytes" in log and "pipe-bytes 0" not in log, log
    else:
        assert status["outcome"] == "Stopped", log
        assert (job_dir / "model" / "terms").read_text() == "TERM\n"
