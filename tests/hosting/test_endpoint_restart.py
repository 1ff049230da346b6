"""Restart safety: endpoints keep answering across a server restart; instances that died meanwhile return."""

from __future__ import annotations

import os
import signal

from hosting_helpers import XGB_IMAGE, alive, model_server_pids, model_tarball, upload, wait_in_service, wait_until


def test_server_restart_reattaches_and_heals(server_factory):
    srv = server_factory()
    sm, s3 = srv.client("sagemaker"), srv.client("s3")
    data, _ = model_tarball()
    url = upload(s3, "restart", "m/model.tar.gz", data)
    sm.create_model(ModelName="m", PrimaryContainer={"Image": "xgboost", "ModelDataUrl": url})
    sm.create_endpoint_config(EndpointConfigName="c", ProductionVariants=[
        {"VariantName": "v", "ModelName": "m", "InitialInstanceCount": 2, "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName="ep", EndpointConfigName="c")
    wait_in_service(sm, "ep")
    pids = model_server_pids(srv.home, "ep")
    assert len(pids) == 2

    srv.stop()  # a clean restart: model servers keep running and are re-attached, not restarted
    assert all(alive(p) for p in pids)
    srv.start()
    rt = srv.client("sagemaker-runtime")
    out = rt.invoke_endpoint(EndpointName="ep", Body=b"0.1,0.2,0.3,0.4", ContentType="text/csv")
    assert out["InvokedProductionVariant"] == "v" and float(out["Body"].read()) > -100
    assert model_server_pids(srv.home, "ep") == pids

    srv.kill9()  # a crash, and one instance dies while the server is down
    os.kill(pids[0], signal.SIGKILL)
    srv.start()
    sm, rt = srv.client("sagemaker"), srv.client("sagemaker-runtime")
    new = wait_until(lambda: (p := model_server_pids(srv.home, "ep")) and len(p) == 2 and pids[0] not in p and p,
                     60, what="the dead instance replaced after restart")
    assert pids[1] in new
    for _ in range(4):
        rt.invoke_endpoint(EndpointName="ep", Body=b"0.1,0.2,0.3,0.4", ContentType="text/csv")
    assert sm.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "InService"
    sm.delete_endpoint(EndpointName="ep")
    sm.get_waiter("endpoint_deleted").wait(EndpointName="ep", WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    wait_until(lambda: not any(alive(p) for p in new), 20, what="model servers to exit")
