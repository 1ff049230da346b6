"""Serverless variants: idle -> zero model-server processes; the next request starts one and succeeds."""

from __future__ import annotations

import time

from hosting_helpers import XGB_IMAGE, model_server_pids, model_tarball, upload, wait_in_service, wait_until

ROW = b"0.3,0.1,0.7,0.2"


def test_scale_to_zero_and_cold_start(server_factory):
    srv = server_factory(env={"SHIPYARD_SERVERLESS_IDLE_SECONDS": "2"})
    sm, s3, rt = srv.client("sagemaker"), srv.client("s3"), srv.client("sagemaker-runtime")
    url = upload(s3, "serverless", "m/model.tar.gz", model_tarball()[0])
    sm.create_model(ModelName="sl", PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": url})
    sm.create_endpoint_config(EndpointConfigName="sl", ProductionVariants=[
        {"VariantName": "v", "ModelName": "sl", "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5}}])
    sm.create_endpoint(EndpointName="sl", EndpointConfigName="sl")
    wait_in_service(sm, "sl")
    first = float(rt.invoke_endpoint(EndpointName="sl", Body=ROW, ContentType="text/csv")["Body"].read())
    (pid,) = model_server_pids(srv.home, "sl")

    # busy for longer than the idle timeout: it must not scale down while used
    t_end = time.monotonic() + 3.5
    while time.monotonic() < t_end:
        rt.invoke_endpoint(EndpointName="sl", Body=ROW, ContentType="text/csv")
        time.sleep(0.3)
    assert model_server_pids(srv.home, "sl") == [pid]

    wait_until(lambda: not model_server_pids(srv.home, "sl"), 20, 0.2, "the idle variant to scale to zero")
    d = sm.describe_endpoint(EndpointName="sl")
    assert d["EndpointStatus"] == "InService" and d["ProductionVariants"][0]["CurrentInstanceCount"] == 0
    assert d["ProductionVariants"][0]["CurrentServerlessConfig"]["MaxConcurrency"] == 5

    t = time.perf_counter()
    out = rt.invoke_endpoint(EndpointName="sl", Body=ROW, ContentType="text/csv")
    cold = time.perf_counter() - t
    assert float(out["Body"].read()) == first
    new = model_server_pids(srv.home, "sl")
    assert len(new) == 1 and new != [pid]
    t = time.perf_counter()
    rt.invoke_endpoint(EndpointName="sl", Body=ROW, ContentType="text/csv")
    warm = time.perf_counter() - t
    print(f"serverless cold start {cold:.3f} s, warm invoke {warm * 1000:.1f} ms")
    assert warm < cold
    sm.delete_endpoint(EndpointName="sl")
    sm.get_waiter("endpoint_deleted").wait(EndpointName="sl", WaiterConfig={"Delay": 1, "MaxAttempts": 60})
