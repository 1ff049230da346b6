"""Data capture (SageMaker's S3 layout and record shape) and shadow variants, read back through boto3 s3."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import time

import pytest

from shipyard.objectstore.local import LocalObjectStore
from shipyard.serving import capture as capture_mod
from shipyard.serving.capture import CaptureSink, CaptureWriter

from feature_helpers import ROW, delete, deploy, make_model, variant
from hosting_helpers import model_server_pids, upload, wait_until

KEY = re.compile(r"^cap/(?P<ep>[^/]+)/(?P<variant>[^/]+)/\d{4}/\d{2}/\d{2}/\d{2}/\d{2}-\d{2}-\d{3}-[0-9a-f-]{36}\.jsonl$")


class _Collect:
    def __init__(self):
        self.items = []

    def put(self, item):
        self.items.append(item)


def test_sampling_percentage_is_honoured():
    sink = CaptureSink("e", {"InitialSamplingPercentage": 30, "DestinationS3Uri": "s3://b/p",
                             "CaptureOptions": [{"CaptureMode": "Input"}]}, _Collect())
    for _ in range(10_000):
        sink.offer("v", b"1", "text/csv", b"2", "text/csv", None)
    assert abs(len(sink.writer.items) / 10_000 - 0.30) < 0.02
    sink.percent = 0
    before = len(sink.writer.items)
    for _ in range(200):
        sink.offer("v", b"1", "text/csv", b"2", "text/csv", None)
    assert len(sink.writer.items) == before


def test_writer_batches_into_hourly_jsonl_objects(tmp_path, monkeypatch):
    store = LocalObjectStore(str(tmp_path / "objects"))
    store.create_bucket("bkt")
    monkeypatch.setattr(capture_mod, "FLUSH_SECONDS", 3600.0)  # only explicit or size-triggered flushes
    writer = CaptureWriter(store)
    try:
        sink = CaptureSink("ep", {"DestinationS3Uri": "s3://bkt/cap/", "CaptureOptions": [{"CaptureMode": "Output"}],
                                  "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]}}, writer)
        t0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
        for i in range(3):
            writer.put((sink, "v", t0, b"in", "text/csv", b'{"p":%d}' % i, "application/json; charset=utf-8",
                        f"id-{i}"))
        writer.put((sink, "v", t0 + 3600, b"in", "text/csv", b"\xff\x00", "application/json", None))
        assert writer.flush() == 4
        keys = sorted(o.key for o in store.iter_keys("bkt", "cap/"))
        assert [k.rsplit("/", 1)[0] for k in keys] == ["cap/ep/v/2023/11/14/22", "cap/ep/v/2023/11/14/23"]
        first = [json.loads(x) for x in store.get_bytes("bkt", keys[0]).splitlines()]
        assert [r["eventMetadata"]["inferenceId"] for r in first] == ["id-0", "id-1", "id-2"]
        assert first[0]["captureData"] == {"endpointOutput": {
            "observedContentType": "application/json; charset=utf-8", "mode": "OUTPUT", "data": '{"p":0}',
            "encoding": "JSON"}}
        assert first[0]["eventMetadata"]["inferenceTime"] == "2023-11-14T22:13:20Z"
        (late,) = [json.loads(x) for x in store.get_bytes("bkt", keys[1]).splitlines()]
        out = late["captureData"]["endpointOutput"]  # not UTF-8: stored as BASE64 even for a JSON type
        assert out["encoding"] == "BASE64" and base64.b64decode(out["data"]) == b"\xff\x00"
        assert "inferenceId" not in late["eventMetadata"]
    finally:
        writer.close()


def _captured(s3, bucket: str, prefix: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            m = KEY.match(obj["Key"])
            assert m, obj["Key"]
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode()
            out.setdefault(m["variant"], []).extend(json.loads(line) for line in body.splitlines())
    return out


def test_capture_and_shadow_variant_end_to_end(server):
    sm, rt, s3 = server.client("sagemaker"), server.client("sagemaker-runtime"), server.client("s3")
    upload(s3, "capture-tests", "keep", b"")
    prod = make_model(server, "cap-prod", 2.0)
    shadow = make_model(server, "cap-shadow", -3.0)
    d = deploy(server, "capture", [variant("Prod", "cap-prod")],
               ShadowProductionVariants=[variant("Shadow", "cap-shadow")],
               DataCaptureConfig={"EnableCapture": True, "InitialSamplingPercentage": 100,
                                  "DestinationS3Uri": "s3://capture-tests/cap",
                                  "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                                  "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]}})
    assert [v["VariantName"] for v in d["ProductionVariants"]] == ["Prod"]
    assert [v["VariantName"] for v in d["ShadowProductionVariants"]] == ["Shadow"]
    assert d["DataCaptureConfig"]["CurrentSamplingPercentage"] == 100
    assert d["DataCaptureConfig"]["DestinationS3Uri"] == "s3://capture-tests/cap"
    cfg = sm.describe_endpoint_config(EndpointConfigName="capture")
    assert cfg["ShadowProductionVariants"][0]["VariantName"] == "Shadow"

    for i in range(20):
        r = rt.invoke_endpoint(EndpointName="capture", Body=ROW, ContentType="text/csv", InferenceId=f"req-{i}")
        assert r["InvokedProductionVariant"] == "Prod"  # the shadow's answer is never returned
        assert float(r["Body"].read()) == pytest.approx(prod, rel=1e-6)
    r = rt.invoke_endpoint(EndpointName="capture", ContentType="application/json", Accept="application/json",
                           Body=json.dumps({"instances": [{"features": [0.3, 0.1, 0.7, 0.2]}]}),
                           InferenceId="json-1")
    assert r["InvokedProductionVariant"] == "Prod"

    got = wait_until(lambda: (c := _captured(s3, "capture-tests", "cap/")) and
                     len(c.get("Prod", [])) == 21 and len(c.get("Shadow", [])) == 21 and c,
                     20, 0.5, "21 captured records per variant")
    for name, expected in (("Prod", prod), ("Shadow", shadow)):
        records = {r["eventMetadata"]["inferenceId"]: r for r in got[name]}
        assert set(records) == {f"req-{i}" for i in range(20)} | {"json-1"}
        rec = records["req-7"]
        assert rec["eventVersion"] == "0" and re.match(r"^[0-9a-f-]{36}$", rec["eventMetadata"]["eventId"])
        assert re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$", rec["eventMetadata"]["inferenceTime"])
        inp, out = rec["captureData"]["endpointInput"], rec["captureData"]["endpointOutput"]
        assert (inp["mode"], inp["encoding"], inp["observedContentType"], inp["data"]) == \
            ("INPUT", "CSV", "text/csv", ROW.decode())
        assert (out["mode"], out["encoding"]) == ("OUTPUT", "CSV")
        assert float(out["data"]) == pytest.approx(expected, rel=1e-6)  # each variant's own answer
        js = records["json-1"]["captureData"]  # application/json is not listed: BASE64
        assert js["endpointInput"]["encoding"] == "BASE64"
        assert json.loads(base64.b64decode(js["endpointInput"]["data"]))["instances"][0]["features"][0] == 0.3
        assert js["endpointOutput"]["encoding"] == "BASE64"
        assert json.loads(base64.b64decode(js["endpointOutput"]["data"]))["predictions"][0]["score"] == \
            pytest.approx(expected, rel=1e-6)

    # a dead shadow never fails or slows the caller
    pids = model_server_pids(server.home, "capture/Shadow")
    assert len(pids) == 1
    os.kill(pids[0], signal.SIGKILL)
    t = time.monotonic()
    for _ in range(10):
        r = rt.invoke_endpoint(EndpointName="capture", Body=ROW, ContentType="text/csv")
        assert r["InvokedProductionVariant"] == "Prod"
    assert time.monotonic() - t < 5
    delete(server, "capture")
