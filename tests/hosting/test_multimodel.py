"""Multi-model endpoints: models load on first use, answer differently, are evicted LRU and re-load.

The cache budget (2 models) is set through the container's Environment (SHIPYARD_MME_MAX_MODELS), and
eviction is observed through the model server's own MME container API (GET /models).
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from hosting_helpers import XGB_IMAGE, model_server_pids, model_tarball, upload, wait_in_service

ROW = b"0.3,0.1,0.7,0.2"
SCALES = {"a.tar.gz": 1.0, "b.tar.gz": 5.0, "c.tar.gz": 20.0}
AUTH: dict[str, str] = {}  # the instance's token header, set by the fixture


def _port(pid: int) -> int:
    args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    return int(args[args.index(b"--port") + 1])


def _token(server, name: str) -> dict[str, str]:
    """The header that opens the instance's model server (issue 13: only the router may call it)."""
    from shipyard.metastore import open_metastore

    (inst,) = open_metastore(server.settings.database_url).get("endpoint", name).doc["_instances"]["main"]
    return {"X-Shipyard-Token": inst["token"]}


def _loaded(port: int) -> list[str]:
    with urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/models", headers=AUTH),
                                timeout=10) as r:
        return sorted(m["modelName"] for m in json.loads(r.read())["models"])


@pytest.fixture(scope="module")
def mme(server):
    sm, s3 = server.client("sagemaker"), server.client("s3")
    expected = {}
    for name, scale in SCALES.items():
        data, booster = model_tarball(scale)
        upload(s3, "mme", f"models/{name}", data)
        expected[name] = float(booster.inplace_predict(np.array([[0.3, 0.1, 0.7, 0.2]], dtype=np.float32))[0])
    sm.create_model(ModelName="mme", PrimaryContainer={
        "Image": XGB_IMAGE, "Mode": "MultiModel", "ModelDataUrl": "s3://mme/models/",
        "Environment": {"SHIPYARD_MME_MAX_MODELS": "2"}})
    sm.create_endpoint_config(EndpointConfigName="mme", ProductionVariants=[
        {"VariantName": "main", "ModelName": "mme", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName="mme", EndpointConfigName="mme")
    wait_in_service(sm, "mme")
    (pid,) = model_server_pids(server.home, "mme")
    AUTH.update(_token(server, "mme"))
    yield _port(pid), expected
    sm.delete_endpoint(EndpointName="mme")
    sm.get_waiter("endpoint_deleted").wait(EndpointName="mme", WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def _invoke(server, target: str) -> float:
    rt = server.client("sagemaker-runtime")
    out = rt.invoke_endpoint(EndpointName="mme", TargetModel=target, Body=ROW, ContentType="text/csv")
    return float(out["Body"].read())


def test_load_on_first_use_lru_eviction_and_reload(server, mme):
    port, expected = mme
    assert _loaded(port) == []  # nothing loads before it is asked for
    assert _invoke(server, "a.tar.gz") == pytest.approx(expected["a.tar.gz"], rel=1e-6)
    assert _loaded(port) == ["a.tar.gz"]
    assert _invoke(server, "b.tar.gz") == pytest.approx(expected["b.tar.gz"], rel=1e-6)
    assert len({round(v, 4) for v in expected.values()}) == 3  # the models really answer differently
    assert _loaded(port) == ["a.tar.gz", "b.tar.gz"]
    assert _invoke(server, "a.tar.gz") == pytest.approx(expected["a.tar.gz"], rel=1e-6)  # a is now most recent
    assert _invoke(server, "c.tar.gz") == pytest.approx(expected["c.tar.gz"], rel=1e-6)
    assert _loaded(port) == ["a.tar.gz", "c.tar.gz"]  # budget 2: b, least recently used, was evicted
    assert _invoke(server, "b.tar.gz") == pytest.approx(expected["b.tar.gz"], rel=1e-6)  # loads again
    assert _loaded(port) == ["b.tar.gz", "c.tar.gz"]


def test_missing_target_model_is_a_validation_error(server, mme):
    rt = server.client("sagemaker-runtime")
    with pytest.raises(rt.exceptions.ValidationError, match="nope.tar.gz"):
        rt.invoke_endpoint(EndpointName="mme", TargetModel="nope.tar.gz", Body=ROW, ContentType="text/csv")
    with pytest.raises(rt.exceptions.ValidationError, match="TargetModel"):
        rt.invoke_endpoint(EndpointName="mme", Body=ROW, ContentType="text/csv")


def test_a_target_model_archive_that_climbs_out_is_refused(server, mme):
    rt, s3 = server.client("sagemaker-runtime"), server.client("s3")
    data, _ = model_tarball(files={"xgboost-model": b"x", "../../escaped-mme-member": b"escaped"})
    upload(s3, "mme", "models/climb.tar.gz", data)
    with pytest.raises(rt.exceptions.ValidationError, match="leaves its folder"):
        rt.invoke_endpoint(EndpointName="mme", TargetModel="climb.tar.gz", Body=ROW, ContentType="text/csv")
    assert not list(server.home.parent.rglob("escaped-mme-member"))


def test_container_api(server, mme):
    port, expected = mme
    base = f"http://127.0.0.1:{port}"
    _invoke(server, "c.tar.gz")
    req = urllib.request.Request(f"{base}/models/c.tar.gz/invoke", data=ROW, method="POST",
                                 headers={"Content-Type": "text/csv", **AUTH})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert float(r.read()) == pytest.approx(expected["c.tar.gz"], rel=1e-6)
    with urllib.request.urlopen(urllib.request.Request(f"{base}/models/c.tar.gz", headers=AUTH), timeout=10) as r:
        assert json.loads(r.read())["modelUrl"] == "s3://mme/models/c.tar.gz"
    with urllib.request.urlopen(urllib.request.Request(f"{base}/models/c.tar.gz", method="DELETE", headers=AUTH),
                                timeout=10):
        pass
    assert "c.tar.gz" not in _loaded(port)
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(urllib.request.Request(f"{base}/models/c.tar.gz", headers=AUTH), timeout=10)
    assert e.value.code == 404
    with pytest.raises(urllib.error.HTTPError) as e:  # without the token: refused before the model runs
        urllib.request.urlopen(urllib.request.Request(f"{base}/models/c.tar.gz/invoke", data=ROW, method="POST",
                                                      headers={"Content-Type": "text/csv"}), timeout=10)
    assert e.value.code == 403
