"""Fuzz every served operation through a real server: zero 5xx, and every 4xx carries an AWS error code.

For each operation Shipyard registers (SageMaker, CloudWatch Logs, Application Auto Scaling, CloudWatch
metrics over JSON and CBOR, STS) it sends, correctly signed, bodies built from the operation's botocore input
shape from a fixed seed, in turn: one shaped like the model says (random values within the constraints, names
from a small pool so that calls meet existing resources), one with the shape broken (wrong types, missing
required members, unknown keys, extreme values), and one that is not a proper document at all. S3 and
sagemaker-runtime are fuzzed with requests built from templates (random keys, queries, headers and malformed
XML bodies).

Bounded: CASES_PER_OPERATION cases per operation, sent round-robin (every operation gets its first case
before any gets its second) within TIME_BUDGET seconds. A fresh server is used, and whatever the fuzzing
created is stopped and deleted at the end; the fixture kills every process under the server's home.
"""

from __future__ import annotations

import json
import os
import random
import time
import urllib.parse

import httpx
import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from shipyard.api import registry
from shipyard.wire import cbor
from shipyard.wire.models import TARGET_PREFIXES, operation_model

SEED = 20261206
# per operation, in turn: a well-shaped body, a broken one, a raw one (not a proper document)
CASES_PER_OPERATION = int(os.environ.get("SHIPYARD_FUZZ_CASES", "24"))
TIME_BUDGET = 40.0
PREFIX_OF = {service: prefix for prefix, service in TARGET_PREFIXES.items()}
BUCKET = "fuzz-bucket"
XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"

WEIRD_STRINGS = ["", " ", "../../etc/passwd", "..", "a" * 5000, "\u0000", "\ud7ff\u00e9\u4e2d", "%00%2F",
                 "arn:aws:sagemaker:us-east-1:000000000000:endpoint/x", "s3://", "s3://fuzz-bucket/../x",
                 "-1", "null", "{}", "<xml/>", "*", "a/b/c"]
WEIRD_VALUES = [None, True, -1, 0, 2 ** 63, -(2 ** 63) - 1, 1e308, -0.5, float("nan"), [], {}, [None],
                {"Unknown": {"x": 1}}, "x" * 3000] + WEIRD_STRINGS[:6]
RAW_BODIES = [b"{not json", b"[]", b"null", b'"a string"', b"123", b"[" * 2000, b'{"a":' * 600,
              b"\xff\xfe\x00garbage", b'{"": {"": []}}', b"{}" * 3, b'{"MaxResults": 1e400}',
              b'{"MaxResults": 99999999999999999999999}', b'{"NextToken": "\\ud800"}', b"\x9f" * 3000,
              b"\xd9\xd9\xf7\xa1\x61a\xc1\x1b\xff\xff\xff\xff\xff\xff\xff\xff", b"\xbf" * 300 + b"\xff"]


# --- values from shapes ----------------------------------------------------------------------------------------
def _string(rng: random.Random, shape, name: str) -> str:
    if shape.enum:
        return rng.choice(shape.enum)
    low = shape.metadata.get("min", 1)
    high = min(shape.metadata.get("max", 40), max(low, 40))
    n = rng.randint(low, max(low, high))
    lname = name.lower()
    if "s3uri" in lname or lname.endswith("url") or "s3path" in lname or "outputpath" in lname:
        return f"s3://{rng.choice([BUCKET, 'no-such-bucket'])}/{rng.choice(['', 'k', 'a/b', '../x'])}"
    if lname.endswith("arn"):
        if "role" in lname:
            return "arn:aws:iam::000000000000:role/fuzz"
        kind = rng.choice(["endpoint", "model", "training-job", "endpoint-config"])
        return f"arn:aws:sagemaker:us-east-1:000000000000:{kind}/fuzz-{rng.randint(0, 3)}"
    if lname.endswith("name") and rng.random() < 0.6 and low <= 6:  # a small pool: calls meet each other's work
        return f"fuzz-{rng.randint(0, 2)}"
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-"
    return "f" + "".join(rng.choice(alphabet) for _ in range(max(0, n - 1)))


def _number(rng: random.Random, shape, floating: bool):
    low = shape.metadata.get("min", 0)
    high = shape.metadata.get("max", 100)
    value = rng.choice([low, high, rng.uniform(low, high) if floating else rng.randint(int(low), int(high))])
    return float(value) if floating else int(value)


def value_for(rng: random.Random, shape, name: str = "", depth: int = 0, broken: bool = False):
    """A value for ``shape``; with ``broken``, each node may be replaced by something of the wrong kind."""
    if broken and rng.random() < 0.15:
        return rng.choice(WEIRD_VALUES)
    kind = shape.type_name
    if kind == "structure":
        if depth > 6:
            return {}
        out = {}
        required = set(shape.required_members)
        for member, mshape in shape.members.items():
            keep = member in required or (depth < 4 and rng.random() < 0.4)
            if member == "NextToken" and not broken and rng.random() < 0.8:
                keep = False
            if broken and member in required and rng.random() < 0.2:
                keep = False
            if keep:
                out[member] = value_for(rng, mshape, member, depth + 1, broken)
        if broken and rng.random() < 0.3:
            out["UnknownMember" + str(rng.randint(0, 9))] = rng.choice(WEIRD_VALUES)
        return out
    if kind == "list":
        if depth > 6:
            return []
        low = shape.metadata.get("min", 0)
        n = rng.choice([low, low + 1, min(low + 2, shape.metadata.get("max", 3))]) if not broken \
            else rng.choice([0, 1, 2, 3, 60])
        return [value_for(rng, shape.member, name, depth + 1, broken) for _ in range(n)]
    if kind == "map":
        n = rng.choice([0, 1, 2])
        return {(_string(rng, shape.key, "k") if not broken else rng.choice(WEIRD_STRINGS[:8])):
                value_for(rng, shape.value, name, depth + 1, broken) for _ in range(n)}
    if kind == "string":
        return rng.choice(WEIRD_STRINGS) if broken and rng.random() < 0.4 else _string(rng, shape, name)
    if kind in ("integer", "long"):
        return rng.choice([-5, 0, 2 ** 40]) if broken and rng.random() < 0.5 else _number(rng, shape, False)
    if kind in ("float", "double"):
        return _number(rng, shape, True)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "timestamp":
        extreme = ["yesterday", -1e12, 1e20, "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"]
        return rng.choice([time.time() - 3600, time.time(), 0, "2026-01-01T00:00:00Z"] + (extreme if broken else []))
    if kind == "blob":
        return rng.choice(["aGVsbG8=", ""] + (["not base64!"] if broken else []))
    return None


# --- requests ---------------------------------------------------------------------------------------------------
class Signer:
    def __init__(self, server):
        key_id, secret = server.keys()
        self.creds = Credentials(key_id, secret)
        self.region = server.region
        self.url = server.url

    def headers(self, service: str, method: str, path: str, body: bytes, headers: dict) -> dict:
        request = AWSRequest(method=method, url=f"{self.url}{path}", data=body, headers=dict(headers))
        (S3SigV4Auth if service == "s3" else SigV4Auth)(self.creds, service, self.region).add_auth(request)
        return dict(request.prepare().headers)


def _json_body(params) -> bytes:
    try:
        return json.dumps(params, allow_nan=True).encode()
    except (TypeError, ValueError):
        return b"{}"


def operation_cases(service: str, op: str) -> list[tuple[str, str, str, bytes, dict]]:
    """(signing service, method, path, body, headers) for one operation, deterministic per operation."""
    rng = random.Random(f"{SEED}:{service}:{op}")
    model = operation_model(service, op)
    shape = model.input_shape if model else None

    def valid():
        return value_for(rng, shape) if shape is not None else {}

    def broken():
        return value_for(rng, shape, broken=True) if shape is not None else {"x": 1}

    makers = [valid, broken, lambda: rng.choice(RAW_BODIES)]
    bodies = [makers[i % 3]() for i in range(CASES_PER_OPERATION)]
    if service == "sts":
        def form(params):
            items = params.items() if isinstance(params, dict) else []
            flat = {k: v if isinstance(v, str) else json.dumps(v) for k, v in items
                    if not isinstance(v, (dict, list))}
            return urllib.parse.urlencode({"Action": op, "Version": "2011-06-15", **flat}).encode()
        ctype = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        return [("sts", "POST", "/", b"Action=" + b[:20] if isinstance(b, bytes) else form(b), ctype)
                for b in bodies]
    headers = {"X-Amz-Target": f"{PREFIX_OF[service]}.{op}", "Content-Type": "application/x-amz-json-1.1"}
    signing = "monitoring" if service == "cloudwatch" else service
    cases = [(signing, "POST", "/", b if isinstance(b, bytes) else _json_body(b), headers) for b in bodies]
    if service == "cloudwatch":  # the same over Smithy RPC v2 CBOR
        path = f"/service/GraniteServiceVersion20100801/operation/{op}"
        cbor_headers = {"smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor",
                        "Accept": "application/cbor"}
        for b in bodies:
            try:
                cbor_body = b if isinstance(b, bytes) else cbor.dumps(b)
            except Exception:  # noqa: BLE001 - a value CBOR cannot carry: send garbage instead
                cbor_body = b"\xbf\xff\xff"
            cases.append(("monitoring", "POST", path, cbor_body, cbor_headers))
    return cases


def s3_cases() -> list[tuple[str, str, str, bytes, dict]]:
    rng = random.Random(f"{SEED}:s3")
    keys = ["k", "a/b/c", "..%2F..%2Fx", "%00", "%E4%B8%AD", "sp%20ace", "x" * 900]
    bad_xml = [b"<Delete><Object><Key>k</Key></Object>", b"<notxml", b"", b"<Delete/>",
               b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber></Part></CompleteMultipartUpload>",
               b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "x">]><Delete>&e;</Delete>',
               b"<CreateBucketConfiguration><LocationConstraint>nowhere</LocationConstraint>"
               b"</CreateBucketConfiguration>"]
    queries = ["", "list-type=2&max-keys=-1", "max-keys=abc", "continuation-token=%FF%FE", "prefix=..&delimiter=",
               "list-type=2&start-after=zzz&fetch-owner=maybe", "uploads&max-uploads=99999", "location",
               "versioning", "acl", "marker=%00", "encoding-type=bogus"]
    out = []
    for _ in range(30):
        key = rng.choice(keys)
        bucket = rng.choice([BUCKET, BUCKET, "no-such-bucket", "Bad_Bucket..Name", "a"])
        choice = rng.randrange(12)
        headers: dict = {}
        body = b""
        if choice == 0:
            method, path = "GET", f"/{bucket}?{rng.choice(queries)}"
        elif choice == 1:
            method, path = "PUT", f"/{bucket}/{key}"
            body = rng.choice([b"", b"data", bytes(rng.randrange(256) for _ in range(300))])
            headers = rng.choice([{}, {"Content-MD5": "notbase64"}, {"Content-MD5": "AAAAAAAAAAAAAAAAAAAAAA=="},
                                  {"x-amz-checksum-crc32": "!!"}, {"x-amz-meta-" + "m" * 10: "v"}])
        elif choice == 2:
            method, path = "GET", f"/{bucket}/{key}"
            headers = rng.choice([{}, {"Range": "bytes=9-1"}, {"Range": "bytes=abc"}, {"Range": "lines=1-2"},
                                  {"If-Match": '"nope"'}, {"If-Modified-Since": "yesterday"}])
        elif choice == 3:
            method, path, body = "POST", f"/{bucket}?delete", rng.choice(bad_xml)
        elif choice == 4:
            method, path = "PUT", f"/{bucket}/{key}?partNumber={rng.choice(['0', 'x', '10001', '1'])}" \
                                  f"&uploadId={rng.choice(['nope', '', '..%2F..'])}"
            body = b"part"
        elif choice == 5:
            method, path, body = "POST", f"/{bucket}/{key}?uploadId={rng.choice(['nope', '..'])}", rng.choice(bad_xml)
        elif choice == 6:
            method, path = "PUT", f"/{bucket}/{key}"
            headers = {"x-amz-copy-source": rng.choice(["", "/", "nobucket", f"{BUCKET}/missing", "%FF",
                                                        f"/{BUCKET}/k?versionId=1"]),
                       "x-amz-copy-source-range": rng.choice(["bytes=1-0", "bytes=x", "bytes=0-1"])}
        elif choice == 7:
            method, path = rng.choice(["HEAD", "DELETE"]), f"/{bucket}/{key}?{rng.choice(['', 'uploadId=zz'])}"
        elif choice == 8:
            method, path, body = "PUT", f"/{rng.choice(['fuzz-new', 'Bad_Name', 'xn--a', 'a' * 70])}", \
                rng.choice(bad_xml)
        elif choice == 9:
            method, path = "GET", f"/{bucket}/{key}?uploadId=nope&max-parts={rng.choice(['x', '-3', '5'])}"
        elif choice == 10:
            method, path = rng.choice(["POST", "PATCH", "OPTIONS", "DELETE"]), rng.choice(["/", f"/{bucket}"])
        else:
            method, path = "POST", f"/{bucket}/{key}?uploads"
            headers = {"Content-Type": rng.choice(["", "x/y", "\u00e9"]).encode("utf-8").decode("latin-1")}
        headers = {k: v for k, v in headers.items() if v != ""}
        out.append(("s3", method, path, body, headers))
    return out


def runtime_cases() -> list[tuple[str, str, str, bytes, dict]]:
    rng = random.Random(f"{SEED}:runtime")
    out = []
    for _ in range(10):
        endpoint = rng.choice(["no-such-endpoint", "no-such-endpoint", "x" * 70, "a%2Fb", ".."])
        action = rng.choice(["invocations", "invocations", "async-invocations", "invocations/extra", "other"])
        headers = rng.choice([{"Content-Type": "application/json"}, {"X-Amzn-SageMaker-Target-Variant": "v"},
                              {"X-Amzn-SageMaker-InputLocation": "s3://nowhere/x"}, {"Accept": "*/*"}])
        body = rng.choice([b"", b"{}", b"1,2,3", bytes(rng.randrange(256) for _ in range(64))])
        out.append(("sagemaker", rng.choice(["POST", "POST", "GET"]), f"/endpoints/{endpoint}/{action}", body,
                    headers))
    return out


def _has_error_code(response: httpx.Response, service: str, method: str) -> bool:
    if response.headers.get("x-amzn-errortype"):
        return True
    text = response.text
    if "<Code>" in text:
        return True
    if service == "s3" and method == "HEAD":  # S3 answers HEAD errors without a body
        return "x-amz-request-id" in response.headers
    if response.headers.get("content-type", "").startswith("application/cbor"):
        try:
            doc = cbor.loads(response.content)
        except Exception:  # noqa: BLE001
            return False
        return isinstance(doc, dict) and bool(doc.get("__type"))
    try:
        doc = response.json()
    except ValueError:
        return False
    return isinstance(doc, dict) and bool(doc.get("__type"))


# --- the test -------------------------------------------------------------------------------------------------
@pytest.fixture
def fuzz_server(server_factory):
    return server_factory()


def _cleanup(server) -> list[str]:
    """Stop and delete everything the fuzzing created; returns what is still running afterwards."""
    sm = server.client("sagemaker")
    for job in sm.list_training_jobs(MaxResults=100)["TrainingJobSummaries"]:
        if job["TrainingJobStatus"] == "InProgress":
            sm.stop_training_job(TrainingJobName=job["TrainingJobName"])
    for job in sm.list_transform_jobs(MaxResults=100)["TransformJobSummaries"]:
        if job["TransformJobStatus"] == "InProgress":
            sm.stop_transform_job(TransformJobName=job["TransformJobName"])
    for job in sm.list_hyper_parameter_tuning_jobs(MaxResults=100)["HyperParameterTuningJobSummaries"]:
        if job["HyperParameterTuningJobStatus"] == "InProgress":
            sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=job["HyperParameterTuningJobName"])
    for ep in sm.list_endpoints(MaxResults=100)["Endpoints"]:
        sm.delete_endpoint(EndpointName=ep["EndpointName"])
    for cfg in sm.list_endpoint_configs(MaxResults=100)["EndpointConfigs"]:
        sm.delete_endpoint_config(EndpointConfigName=cfg["EndpointConfigName"])
    for model in sm.list_models(MaxResults=100)["Models"]:
        sm.delete_model(ModelName=model["ModelName"])
    running = [j["TrainingJobName"] for j in sm.list_training_jobs(MaxResults=100)["TrainingJobSummaries"]
               if j["TrainingJobStatus"] == "InProgress"]
    return running + [e["EndpointName"] for e in sm.list_endpoints(MaxResults=100)["Endpoints"]]


def test_fuzz_every_operation(fuzz_server):
    registry.load_all()
    operations = [(s, op) for s, op in registry.registered() if s == "sts" or s in PREFIX_OF]
    assert {s for s, _ in operations} >= {"sagemaker", "logs", "application-autoscaling", "cloudwatch", "sts"}
    fuzz_server.client("s3").create_bucket(Bucket=BUCKET)
    fuzz_server.client("s3").put_object(Bucket=BUCKET, Key="k", Body=b"0123456789")
    # A model and an endpoint config named from the fuzzer's name pool, so calls reach existing resources.
    # (No endpoint, job or target is created here; whatever the fuzzing creates is removed below.)
    sm = fuzz_server.client("sagemaker")
    sm.create_model(ModelName="fuzz-0", PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": f"s3://{BUCKET}/k"},
                    ExecutionRoleArn="arn:aws:iam::000000000000:role/fuzz")
    sm.create_endpoint_config(EndpointConfigName="fuzz-1", ProductionVariants=[
        {"VariantName": "v", "ModelName": "fuzz-0", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])

    per_op = {f"{s}.{op}": operation_cases(s, op) for s, op in operations}
    per_op["s3"] = s3_cases()
    per_op["sagemaker-runtime"] = runtime_cases()
    rounds = max(len(c) for c in per_op.values())
    signer = Signer(fuzz_server)
    failures: list[str] = []
    sent: dict[str, int] = {name: 0 for name in per_op}
    deadline = time.monotonic() + TIME_BUDGET
    with httpx.Client(timeout=30) as http:
        for i in range(rounds):
            for name, cases in per_op.items():
                if i >= len(cases) or time.monotonic() > deadline:
                    continue
                service, method, path, body, headers = cases[i]
                signed = {k: v.encode("latin-1") for k, v in
                          signer.headers(service, method, path, body, headers).items()}
                r = http.request(method, f"{fuzz_server.url}{path}", headers=signed, content=body)
                sent[name] += 1
                what = f"{name} case {i}: {method} {path[:80]} {body[:120]!r}"
                if r.status_code >= 500:
                    failures.append(f"{what} -> {r.status_code} {r.text[:300]}")
                elif r.status_code >= 400 and not _has_error_code(r, service, method):
                    failures.append(f"{what} -> {r.status_code} without an AWS error code: {r.text[:200]}")
    try:
        assert not failures, f"{len(failures)} bad answers:\n" + "\n".join(failures[:40])
        assert all(sent.values()), f"operations never fuzzed (time budget): {[n for n, c in sent.items() if not c]}"
    finally:
        left = _cleanup(fuzz_server)
    assert not left, f"still running after clean-up: {left}"


def test_regression_cbor_epoch_time_out_of_range():
    """Found by this fuzzer: a CBOR epoch-time tag beyond datetime's range answered 500 (now a decode error,
    which the RPC v2 edge answers 400 SerializationException)."""
    for body in (b"\xc1\x1b\xff\xff\xff\xff\xff\xff\xff\xff", b"\xc1\xfb\x7f\xf8\x00\x00\x00\x00\x00\x00"):
        with pytest.raises(cbor.CBORDecodeError):
            cbor.loads(body)
