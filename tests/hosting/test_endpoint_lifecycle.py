"""An XGBoost endpoint end to end through boto3: deploy, invoke, heal, rescale, blue/green, delete."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import numpy as np
import pytest
from botocore.exceptions import ClientError

from hosting_helpers import (XGB_IMAGE, alive, model_server_pids, model_tarball, upload, wait_in_service,
                             wait_until)

ROW = np.array([[0.3, 0.1, 0.7, 0.2]], dtype=np.float32)


def _deploy(server, name: str, scale: float = 2.0, count: int = 1, variants=("AllTraffic",)) -> object:
    sm, s3 = server.client("sagemaker"), server.client("s3")
    data, booster = model_tarball(scale)
    url = upload(s3, "hosting-tests", f"{name}/model.tar.gz", data)
    sm.create_model(ModelName=name, PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": url},
                    ExecutionRoleArn="arn:aws:iam::123456789012:role/SageMakerRole")
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
        {"VariantName": v, "ModelName": name, "InitialInstanceCount": count, "InstanceType": "ml.m5.large"}
        for v in variants])
    return booster


def test_xgboost_endpoint_lifecycle(server):
    sm, rt = server.client("sagemaker"), server.client("sagemaker-runtime")
    booster = _deploy(server, "life", count=2)
    sm.create_endpoint(EndpointName="life", EndpointConfigName="life")
    assert sm.describe_endpoint(EndpointName="life")["EndpointStatus"] == "Creating"
    sm.get_waiter("endpoint_in_service").wait(EndpointName="life", WaiterConfig={"Delay": 1, "MaxAttempts": 90})
    d = sm.describe_endpoint(EndpointName="life")
    pv = d["ProductionVariants"][0]
    assert (pv["VariantName"], pv["CurrentInstanceCount"], pv["DesiredInstanceCount"], pv["CurrentWeight"]) == \
        ("AllTraffic", 2, 2, 1.0)
    assert pv["DeployedImages"][0]["SpecifiedImage"] == XGB_IMAGE
    assert [e["EndpointName"] for e in sm.list_endpoints(StatusEquals="InService", NameContains="life")[
        "Endpoints"]] == ["life"]
    expected = float(booster.inplace_predict(ROW)[0])

    # invoke: CSV in, CSV out; JSON in, JSON out; custom attributes echoed; the variant named
    r = rt.invoke_endpoint(EndpointName="life", Body=b"0.3,0.1,0.7,0.2", ContentType="text/csv",
                           CustomAttributes="trace-id=42")
    assert float(r["Body"].read()) == pytest.approx(expected, rel=1e-6)
    assert r["ContentType"] == "text/csv" and r["InvokedProductionVariant"] == "AllTraffic"
    assert r["CustomAttributes"] == "trace-id=42"
    r = rt.invoke_endpoint(EndpointName="life", ContentType="application/json", Accept="application/json",
                           Body=json.dumps({"instances": [{"features": ROW[0].tolist()}] * 2}))
    preds = json.loads(r["Body"].read())["predictions"]
    assert r["ContentType"] == "application/json" and len(preds) == 2
    assert preds[0]["score"] == pytest.approx(expected, rel=1e-6)

    # a bad payload is the model's 4xx, surfaced as ModelError 424 with the model's own message
    with pytest.raises(ClientError) as e:
        rt.invoke_endpoint(EndpointName="life", Body=b"1,2", ContentType="text/csv")
    err = e.value.response
    assert err["Error"]["Code"] == "ModelError" and err["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert err["OriginalStatusCode"] == 400
    assert "Feature size of csv inference data 2 is not consistent" in err["OriginalMessage"]

    # a model server that dies is replaced; the endpoint stays InService and keeps answering
    pids = model_server_pids(server.home, "life")
    assert len(pids) == 2
    os.kill(pids[0], signal.SIGKILL)
    for _ in range(5):
        rt.invoke_endpoint(EndpointName="life", Body=b"0.3,0.1,0.7,0.2", ContentType="text/csv")
    new = wait_until(lambda: (p := model_server_pids(server.home, "life")) and len(p) == 2 and pids[0] not in p
                     and p, 60, what="replacement instance")
    assert pids[1] in new
    assert sm.describe_endpoint(EndpointName="life")["EndpointStatus"] == "InService"

    # capacity down to 1, weight changed
    sm.update_endpoint_weights_and_capacities(EndpointName="life", DesiredWeightsAndCapacities=[
        {"VariantName": "AllTraffic", "DesiredWeight": 0.5, "DesiredInstanceCount": 1}])
    d = wait_in_service(sm, "life")
    pv = d["ProductionVariants"][0]
    assert (pv["CurrentInstanceCount"], pv["CurrentWeight"]) == (1, 0.5)
    wait_until(lambda: len(model_server_pids(server.home, "life")) == 1, 30, what="scale-in")

    # blue/green UpdateEndpoint under load: zero failed requests, answers switch to the new model
    new_booster = _deploy(server, "life-v2", scale=-3.0, variants=("Blue",))
    new_expected = float(new_booster.inplace_predict(ROW)[0])
    failures, answers, stop = [], [], threading.Event()

    def load():
        client = server.client("sagemaker-runtime")
        deadline = time.monotonic() + 120
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                out = client.invoke_endpoint(EndpointName="life", Body=b"0.3,0.1,0.7,0.2", ContentType="text/csv")
                answers.append((out["InvokedProductionVariant"], float(out["Body"].read())))
            except Exception as exc:  # noqa: BLE001 - counted, must stay empty
                failures.append(repr(exc))
            time.sleep(0.01)

    worker = threading.Thread(target=load)
    worker.start()
    try:
        time.sleep(0.5)
        sm.update_endpoint(EndpointName="life", EndpointConfigName="life-v2")
        assert sm.describe_endpoint(EndpointName="life")["EndpointStatus"] == "Updating"
        d = wait_in_service(sm, "life")
        time.sleep(1.5)
    finally:
        stop.set()
        worker.join(30)
    assert failures == []
    assert d["EndpointConfigName"] == "life-v2" and d["ProductionVariants"][0]["VariantName"] == "Blue"
    assert answers[0] == ("AllTraffic", pytest.approx(expected, rel=1e-6))
    assert answers[-1] == ("Blue", pytest.approx(new_expected, rel=1e-6))
    assert len(answers) > 20

    # delete: the waiter sees it go, and every model-server process is gone
    pids = model_server_pids(server.home, "life")
    assert pids
    sm.delete_endpoint(EndpointName="life")
    sm.get_waiter("endpoint_deleted").wait(EndpointName="life", WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    wait_until(lambda: not any(alive(p) for p in pids), 20, what="model servers to exit")
    with pytest.raises(ClientError) as e:
        rt.invoke_endpoint(EndpointName="life", Body=b"1,2,3,4", ContentType="text/csv")
    assert e.value.response["Error"]["Code"] == "ValidationException"


def test_endpoint_with_unloadable_model_fails_with_reason(server):
    sm, s3 = server.client("sagemaker"), server.client("s3")
    data, _ = model_tarball(files={"README": b"not a model"})
    url = upload(s3, "hosting-tests", "broken/model.tar.gz", data)
    sm.create_model(ModelName="broken", PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": url})
    sm.create_endpoint_config(EndpointConfigName="broken", ProductionVariants=[
        {"VariantName": "v", "ModelName": "broken", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName="broken", EndpointConfigName="broken")
    d = wait_until(lambda: (x := sm.describe_endpoint(EndpointName="broken"))["EndpointStatus"] == "Failed" and x,
                   90, what="Failed")
    assert "No XGBoost model found" in d["FailureReason"]
    sm.delete_endpoint(EndpointName="broken")
    sm.get_waiter("endpoint_deleted").wait(EndpointName="broken", WaiterConfig={"Delay": 1, "MaxAttempts": 30})
