"""Transform jobs and model servers hold no secret of the server's (issue 13).

A real server runs with its key in ``SHIPYARD_*`` variables and host AWS credentials in ``AWS_*`` (what it
might use for an external object store). A transform job's model runs inference code that looks for those
in its environment, for the home's credentials file, for the server's process, and uses boto3 with the
``AWS_*`` variables it was given: its input and its output prefix are open to it, everything else is refused
with AWS's codes, and once the job has ended its key is refused too. An endpoint's model server, which has
no business calling AWS at all, gets no key of any kind.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hosting"))
from hosting_helpers import tarball, upload, wait_in_service  # noqa: E402

from shipyard.training import isolation  # noqa: E402

SERVER_KEY = ("AKIASECURITYTEST0001", "security-secret-" + "y" * 24)
HOST_AWS = ("AKIAHOSTCREDENTIALS1", "host-aws-secret-" + "z" * 24)
EXTRACT_CAP = 1_000_000  # the server's archive cap (bytes unpacked per archive)
pytestmark = pytest.mark.integration  # a server of its own, jobs and model servers

SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"

PROBE = b'''
import json, os

def model_fn(model_dir):
    return None

def input_fn(body, content_type):
    return body

def _attempt(call):
    from botocore.exceptions import ClientError
    try:
        call()
        return "allowed"
    except ClientError as e:
        return f"{e.response['Error']['Code']} {e.response['ResponseMetadata']['HTTPStatusCode']}"

def predict_fn(data, model):
    env = dict(os.environ)
    out = {"shipyard_vars": sorted(k for k in env if k.startswith("SHIPYARD_")),
           "values": sorted(env.values()), "aws_key": env.get("AWS_ACCESS_KEY_ID"),
           "aws_secret": env.get("AWS_SECRET_ACCESS_KEY")}
    try:
        open(f"/proc/{env.get('SERVER_PID', '0')}/environ", "rb").read()
        out["server_environ"] = "read"
    except OSError as e:
        out["server_environ"] = type(e).__name__
    out["visible_processes"] = len([p for p in os.listdir("/proc") if p.isdigit()])
    folder, out["credentials_file"] = os.path.abspath(os.getcwd()), "not-found"
    while folder != "/":
        if os.path.exists(os.path.join(folder, "credentials.json")):
            out["credentials_file"] = "found"
            break
        folder = os.path.dirname(folder)
    if env.get("BUCKET") and env.get("AWS_ACCESS_KEY_ID"):
        import boto3
        from botocore.config import Config
        config = Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"})
        s3, sm = boto3.client("s3", config=config), boto3.client("sagemaker", config=config)
        bucket, job = env["BUCKET"], env["JOB"]
        out["attempts"] = {
            "read-own-input": _attempt(lambda: s3.get_object(Bucket=bucket, Key=f"{job}/in/rows.csv")),
            "read-other-input": _attempt(lambda: s3.get_object(Bucket=bucket, Key="private/secret.txt")),
            "list-bucket": _attempt(lambda: s3.list_objects_v2(Bucket=bucket)),
            "list-buckets": _attempt(lambda: s3.list_buckets()),
            "write-own-output": _attempt(lambda: s3.put_object(Bucket=bucket, Key=f"{job}/out/extra.txt",
                                                               Body=b"mine")),
            "write-elsewhere": _attempt(lambda: s3.put_object(Bucket=bucket, Key="private/x", Body=b"x")),
            "describe-own-job": _attempt(lambda: sm.describe_transform_job(TransformJobName=job)),
            "list-training-jobs": _attempt(lambda: sm.list_training_jobs()),
        }
    return out

def output_fn(prediction, accept):
    return json.dumps(prediction), "application/json"
'''


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory):
    from shipyard.testing.server import ShipyardProcess

    proc = ShipyardProcess(tmp_path_factory.mktemp("security-home"),
                           env={"SHIPYARD_ACCESS_KEY_ID": SERVER_KEY[0], "SHIPYARD_SECRET_ACCESS_KEY": SERVER_KEY[1],
                                "AWS_ACCESS_KEY_ID": HOST_AWS[0], "AWS_SECRET_ACCESS_KEY": HOST_AWS[1],
                                "SHIPYARD_MAX_EXTRACT_BYTES": str(EXTRACT_CAP)})
    proc.start()
    try:
        yield proc
    finally:
        proc.stop(kill_children=True)


def _no_server_secret(report: dict) -> None:
    assert not any(secret in value for value in report["values"]
                   for secret in (*SERVER_KEY, *HOST_AWS)), "a server or host secret reached the model"
    assert "SHIPYARD_SECRET_ACCESS_KEY" not in report["shipyard_vars"]
    assert "SHIPYARD_ACCESS_KEY_ID" not in report["shipyard_vars"]
    if isolation.hides_processes():
        assert report["server_environ"] == "FileNotFoundError"
    if isolation.available():
        assert report["credentials_file"] == "not-found"


def _model(server, name: str, env: dict[str, str]) -> None:
    s3, sm = server.client("s3"), server.client("sagemaker")
    url = upload(s3, "security-models", f"{name}/model.tar.gz", tarball({"code/inference.py": PROBE}))
    sm.create_model(ModelName=name, ExecutionRoleArn="arn:aws:iam::123456789012:role/Shipyard",
                    PrimaryContainer={"Image": SKLEARN_IMAGE, "ModelDataUrl": url,
                                      "Environment": {"SAGEMAKER_PROGRAM": "inference.py", **env}})


def _wait(sm, name: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        d = sm.describe_transform_job(TransformJobName=name)
        if d["TransformJobStatus"] in ("Completed", "Failed", "Stopped"):
            return d
        time.sleep(0.3)
    raise AssertionError(f"transform job {name} did not finish in {timeout}s")


def test_transform_job_holds_only_its_own_scoped_key(keyed_server):
    s3, sm = keyed_server.client("s3"), keyed_server.client("sagemaker")
    name = f"sec-{uuid.uuid4().hex[:8]}"
    bucket = "security-data"
    upload(s3, bucket, f"{name}/in/rows.csv", b"1,2\n")
    s3.put_object(Bucket=bucket, Key="private/secret.txt", Body=b"not yours")
    _model(keyed_server, name, {"BUCKET": bucket, "JOB": name, "SERVER_PID": str(keyed_server.pid)})
    sm.create_transform_job(
        TransformJobName=name, ModelName=name,
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                        "S3Uri": f"s3://{bucket}/{name}/in/"}},
                        "ContentType": "text/csv"},
        TransformOutput={"S3OutputPath": f"s3://{bucket}/{name}/out", "Accept": "application/json"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1})
    d = _wait(sm, name)
    assert d["TransformJobStatus"] == "Completed", d.get("FailureReason")
    report = json.loads(s3.get_object(Bucket=bucket, Key=f"{name}/out/rows.csv.out")["Body"].read())

    _no_server_secret(report)
    assert report["aws_key"] and report["aws_key"] not in (SERVER_KEY[0], HOST_AWS[0])
    assert report["attempts"] == {
        "read-own-input": "allowed",
        "read-other-input": "AccessDenied 403",
        "list-bucket": "AccessDenied 403",
        "list-buckets": "AccessDenied 403",
        "write-own-output": "allowed",
        "write-elsewhere": "AccessDenied 403",
        "describe-own-job": "allowed",
        "list-training-jobs": "AccessDeniedException 403",
    }, report["attempts"]
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="private/x")
    assert not (keyed_server.home / "runs" / "transform" / name / "job.json").read_text().count(SERVER_KEY[1])

    # the job has ended: its key is refused everywhere
    session = boto3.session.Session(aws_access_key_id=report["aws_key"],
                                    aws_secret_access_key=report["aws_secret"], region_name="us-east-1")
    config = Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"})
    with pytest.raises(ClientError) as e:
        session.client("s3", endpoint_url=keyed_server.url, config=config).get_object(
            Bucket=bucket, Key=f"{name}/in/rows.csv")
    assert (e.value.response["ResponseMetadata"]["HTTPStatusCode"], e.value.response["Error"]["Code"]) == \
        (403, "InvalidAccessKeyId")
    with pytest.raises(ClientError) as e:
        session.client("sagemaker", endpoint_url=keyed_server.url, config=config).describe_transform_job(
            TransformJobName=name)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    keys = json.loads((keyed_server.home / "job_keys.json").read_text())["keys"]
    assert all(v["scope"]["name"] != name for v in keys.values())


@pytest.fixture(scope="module")
def endpoint_report(keyed_server) -> dict:
    """What an endpoint's model server finds in its environment (its inference code reports it)."""
    sm, runtime = keyed_server.client("sagemaker"), keyed_server.client("sagemaker-runtime")
    name = f"sec-ep-{uuid.uuid4().hex[:8]}"
    _model(keyed_server, name, {"SERVER_PID": str(keyed_server.pid)})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
        {"VariantName": "main", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    try:
        wait_in_service(sm, name)
        return json.loads(runtime.invoke_endpoint(EndpointName=name, Body=b"1,2", ContentType="text/csv",
                                                  Accept="application/json")["Body"].read())
    finally:
        sm.delete_endpoint(EndpointName=name)


def test_endpoint_model_server_holds_no_server_secret(endpoint_report):
    assert not any(secret in value for value in endpoint_report["values"] for secret in SERVER_KEY)
    assert "SHIPYARD_SECRET_ACCESS_KEY" not in endpoint_report["shipyard_vars"]
    assert "SHIPYARD_ACCESS_KEY_ID" not in endpoint_report["shipyard_vars"]
    assert endpoint_report["aws_key"] != SERVER_KEY[0] and endpoint_report["aws_secret"] != SERVER_KEY[1]


def test_endpoint_model_server_holds_no_aws_credentials(endpoint_report):
    assert endpoint_report["aws_key"] is None and endpoint_report["aws_secret"] is None, endpoint_report["aws_key"]
    assert not any(secret in value for value in endpoint_report["values"] for secret in HOST_AWS)


# --- multi-model endpoints: the model server reaches its models with a read-only key of its own ---

def _job_keys(server) -> dict:
    return json.loads((server.home / "job_keys.json").read_text())["keys"]


def _keys_of(server, endpoint: str) -> dict:
    return {k: v for k, v in _job_keys(server).items()
            if v["scope"]["kind"] == "endpoint-model" and v["scope"]["name"].startswith(f"{endpoint}/")}


def _as(server, key_id: str, secret: str, service: str):
    session = boto3.session.Session(aws_access_key_id=key_id, aws_secret_access_key=secret, region_name="us-east-1")
    return session.client(service, endpoint_url=server.url,
                          config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}))


def _code(call) -> str:
    try:
        call()
        return "allowed"
    except ClientError as e:
        return f"{e.response['Error']['Code']} {e.response['ResponseMetadata']['HTTPStatusCode']}"


@pytest.fixture(scope="module")
def mme_endpoint(keyed_server):
    s3, sm = keyed_server.client("s3"), keyed_server.client("sagemaker")
    name, bucket = f"sec-mme-{uuid.uuid4().hex[:8]}", "security-mme"
    models = f"{name}/models/"
    upload(s3, bucket, models + "probe.tar.gz", tarball({"code/inference.py": PROBE}))
    upload(s3, bucket, models + "big.tar.gz",
           tarball({"code/inference.py": PROBE, "weights.bin": bytes(2 * EXTRACT_CAP)}))
    s3.put_object(Bucket=bucket, Key="private/secret.txt", Body=b"not yours")
    # the model's Environment tries to raise the archive cap: the server's setting is what counts
    sm.create_model(ModelName=name, ExecutionRoleArn="arn:aws:iam::123456789012:role/Shipyard",
                    PrimaryContainer={"Image": SKLEARN_IMAGE, "Mode": "MultiModel",
                                      "ModelDataUrl": f"s3://{bucket}/{models}",
                                      "Environment": {"SAGEMAKER_PROGRAM": "inference.py",
                                                      "SERVER_PID": str(keyed_server.pid),
                                                      "SHIPYARD_MAX_EXTRACT_BYTES": str(1 << 40)}})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
        {"VariantName": "main", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    wait_in_service(sm, name)
    yield name, bucket, models
    try:
        sm.delete_endpoint(EndpointName=name)
    except ClientError:
        pass  # the last test deleted it


def test_multi_model_server_loads_through_a_read_only_key_of_its_own(keyed_server, mme_endpoint):
    name, bucket, models = mme_endpoint
    runtime = keyed_server.client("sagemaker-runtime")
    report = json.loads(runtime.invoke_endpoint(EndpointName=name, TargetModel="probe.tar.gz", Body=b"1,2",
                                                ContentType="text/csv", Accept="application/json")["Body"].read())
    assert not any(secret in value for value in report["values"] for secret in (*SERVER_KEY, *HOST_AWS))
    assert "SHIPYARD_SECRET_ACCESS_KEY" not in report["shipyard_vars"]
    assert report["aws_key"] is None and report["aws_secret"] is None  # the model's code never sees the key
    assert not any(v.startswith(("s3://?", "file:")) for v in report["values"]), "the server's object store leaked"

    ((key_id, item),) = _keys_of(keyed_server, name).items()
    assert item["scope"]["name"] == f"{name}/main/0"
    assert (item["scope"]["read"], item["scope"]["write"]) == ([f"{bucket}/{models}"], [])
    s3, sm = _as(keyed_server, key_id, item["secret"], "s3"), _as(keyed_server, key_id, item["secret"], "sagemaker")
    assert {
        "read-a-model": _code(lambda: s3.get_object(Bucket=bucket, Key=models + "probe.tar.gz")),
        "read-elsewhere": _code(lambda: s3.get_object(Bucket=bucket, Key="private/secret.txt")),
        "write-a-model": _code(lambda: s3.put_object(Bucket=bucket, Key=models + "evil.tar.gz", Body=b"x")),
        "list-buckets": _code(lambda: s3.list_buckets()),
        "describe-endpoint": _code(lambda: sm.describe_endpoint(EndpointName=name)),
    } == {
        "read-a-model": "allowed",
        "read-elsewhere": "AccessDenied 403",
        "write-a-model": "AccessDenied 403",
        "list-buckets": "AccessDenied 403",
        "describe-endpoint": "AccessDeniedException 403",
    }


def test_multi_model_server_unpacks_under_the_servers_archive_cap(keyed_server, mme_endpoint):
    name, _, _ = mme_endpoint
    runtime = keyed_server.client("sagemaker-runtime")
    with pytest.raises(runtime.exceptions.ValidationError, match="big.tar.gz"):
        runtime.invoke_endpoint(EndpointName=name, TargetModel="big.tar.gz", Body=b"1,2", ContentType="text/csv")


def test_multi_model_key_is_revoked_with_the_endpoint(keyed_server, mme_endpoint):
    name, bucket, models = mme_endpoint
    ((key_id, item),) = _keys_of(keyed_server, name).items()
    sm = keyed_server.client("sagemaker")
    sm.delete_endpoint(EndpointName=name)
    sm.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    assert _keys_of(keyed_server, name) == {}
    with pytest.raises(ClientError) as e:
        _as(keyed_server, key_id, item["secret"], "s3").get_object(Bucket=bucket, Key=models + "probe.tar.gz")
    assert (e.value.response["ResponseMetadata"]["HTTPStatusCode"], e.value.response["Error"]["Code"]) == \
        (403, "InvalidAccessKeyId")
