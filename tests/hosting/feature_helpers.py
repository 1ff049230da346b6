"""Helpers for the hosting feature tests (variants, shadow, capture, metrics, autoscaling)."""

from __future__ import annotations

import json
import urllib.request

from hosting_helpers import XGB_IMAGE, model_tarball, upload, wait_in_service

ROW = b"0.3,0.1,0.7,0.2"


def make_model(server, name: str, scale: float) -> float:
    """Upload a tiny XGBoost model whose prediction scales with ``scale``; return its answer for ROW."""
    import numpy as np

    sm, s3 = server.client("sagemaker"), server.client("s3")
    data, booster = model_tarball(scale)
    url = upload(s3, "feature-tests", f"{name}/model.tar.gz", data)
    sm.create_model(ModelName=name, PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": url})
    return float(booster.inplace_predict(np.array([[0.3, 0.1, 0.7, 0.2]], dtype=np.float32))[0])


def variant(name: str, model: str, weight: float = 1.0, count: int = 1) -> dict:
    return {"VariantName": name, "ModelName": model, "InitialInstanceCount": count, "InstanceType": "ml.m5.large",
            "InitialVariantWeight": weight}


def deploy(server, name: str, variants: list[dict], **config) -> dict:
    sm = server.client("sagemaker")
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=variants, **config)
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    return wait_in_service(sm, name)


def delete(server, name: str) -> None:
    sm = server.client("sagemaker")
    sm.delete_endpoint(EndpointName=name)
    sm.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def get_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()
