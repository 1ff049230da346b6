"""A built-in XGBoost model compiled by a compilation job, deployed with the job's InferenceImage, answers as the
original endpoint does (CSV, JSON, LibSVM; binary and multi-class); a model that cannot compile fails saying why.

Runs the real compiler (``python -m shipyard.compile.job``) when it is there, else the stand-in.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from neo_helpers import ROLE, XGB_IMAGE, compiler_env, job_request, upload, wait_in_service, wait_job, xgb_artifact

from shipyard.testing.archives import tarball
from shipyard.testing.server import ShipyardProcess

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def neo(tmp_path_factory):
    proc = ShipyardProcess(tmp_path_factory.mktemp("neo-endpoints"), env=compiler_env()).start()
    try:
        yield proc
    finally:
        proc.stop(kill_children=True)


def _endpoint(sm, name: str, image: str, model_uri: str) -> None:
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE,
                    PrimaryContainer={"Image": image, "ModelDataUrl": model_uri})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "v", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)


def _ask(rt, endpoint: str, body: str, ctype: str, accept: str = "text/csv") -> str:
    return rt.invoke_endpoint(EndpointName=endpoint, Body=body.encode(), ContentType=ctype,
                              Accept=accept)["Body"].read().decode()


@pytest.mark.parametrize("objective", ["binary:logistic", "multi:softprob"])
def test_compiled_xgboost_answers_as_the_original(neo, objective):
    sm, rt, s3 = neo.client("sagemaker"), neo.client("sagemaker-runtime"), neo.client("s3")
    tag = objective.split(":")[0]
    artifact, rows = xgb_artifact(objective)
    model = upload(s3, "neo", f"{tag}/model.tar.gz", artifact)
    sm.create_compilation_job(**job_request(f"xgb-{tag}", model, f"s3://neo/{tag}-compiled"))
    _endpoint(sm, f"orig-{tag}", XGB_IMAGE, model)
    job = wait_job(sm, f"xgb-{tag}", timeout=120)
    assert job["CompilationJobStatus"] == "COMPLETED", job["FailureReason"]
    compiled = job["ModelArtifacts"]["S3ModelArtifacts"]
    assert compiled == f"s3://neo/{tag}-compiled/model-ml_c5.tar.gz"
    _endpoint(sm, f"neo-{tag}", job["InferenceImage"], compiled)
    wait_in_service(sm, f"orig-{tag}")
    wait_in_service(sm, f"neo-{tag}")

    csv = "\n".join(",".join(repr(float(v)) for v in r) for r in rows)
    libsvm = "\n".join(" ".join(f"{i}:{v!r}" for i, v in enumerate(map(float, r)) if i != 2) for r in rows)
    for body, ctype, accept in ((csv, "text/csv", "text/csv"), (csv, "text/csv", "application/json"),
                                (libsvm, "text/libsvm", "text/csv"),
                                (json.dumps({"instances": [{"features": r.tolist()} for r in rows]}),
                                 "application/json", "application/json")):
        want, got = _ask(rt, f"orig-{tag}", body, ctype, accept), _ask(rt, f"neo-{tag}", body, ctype, accept)
        if accept == "text/csv":
            w = np.array([[float(v) for v in line.split(",")] for line in want.splitlines()])
            g = np.array([[float(v) for v in line.split(",")] for line in got.splitlines()])
        else:
            w = np.array([p["score"] for p in json.loads(want)["predictions"]])
            g = np.array([p["score"] for p in json.loads(got)["predictions"]])
        assert w.shape == g.shape and w.shape[0] == len(rows), (ctype, accept, want, got)
        np.testing.assert_allclose(g, w, atol=1e-5, err_msg=f"{ctype} -> {accept}")

    bad = rt.meta.events  # noqa: F841 - a wrong width is the caller's 4xx, as the original answers
    with pytest.raises(Exception) as e:
        _ask(rt, f"neo-{tag}", "1,2,3", "text/csv")
    assert "ModelError" in str(e.value) or "ValidationError" in str(e.value) or "400" in str(e.value)


def test_a_model_that_cannot_compile_fails_with_the_reason(neo):
    sm, s3 = neo.client("sagemaker"), neo.client("s3")
    model = upload(s3, "neo", "broken/model.tar.gz", tarball({"xgboost-model": b"this is not a model"}))
    sm.create_compilation_job(**job_request("broken", model, "s3://neo/broken-out"))
    job = wait_job(sm, "broken", timeout=60)
    assert job["CompilationJobStatus"] == "FAILED"
    assert job["FailureReason"] and "\n" not in job["FailureReason"]
    assert job["CompilationEndTime"]


def test_compiled_builtins_answer_as_their_containers(neo, tmp_path):
    """Linear learner and k-means models (AWS's MXNet-framed built-ins) compile with Framework MXNET; the job's
    InferenceImage serves them with the algorithm's own answers (scores, labels, clusters), equal to the
    uncompiled endpoint's."""
    from shipyard.algorithms import aws_artifacts
    from shipyard.algorithms.kmeans.model import to_aws as kmeans_to_aws
    from shipyard.algorithms.linear_learner.model import to_aws as ll_to_aws

    sm, rt, s3 = neo.client("sagemaker"), neo.client("sagemaker-runtime"), neo.client("s3")
    rng = np.random.default_rng(5)
    meta = {"predictor_type": "binary_classifier", "loss": "logistic", "threshold": 0.5, "feature_dim": 4,
            "num_classes": 2}
    artifacts = {"linear-learner": (ll_to_aws(meta, rng.normal(size=(4, 1)), rng.normal(size=1)), meta),
                 "kmeans": (kmeans_to_aws(rng.normal(size=(3, 4))), None)}
    rows = "\n".join(",".join(f"{v:.5f}" for v in r) for r in rng.normal(size=(5, 4)))
    for algo, (artifact, algo_meta) in artifacts.items():
        model_dir = tmp_path / algo
        aws_artifacts.write(model_dir, artifact, algo_meta)
        files = {p.name: p.read_bytes() for p in sorted(model_dir.iterdir())}
        model = upload(s3, "neo", f"{algo}/model.tar.gz", tarball(files))
        request = job_request(f"builtin-{algo}", model, f"s3://neo/{algo}-compiled", framework="MXNET")
        request["InputConfig"]["DataInputConfig"] = '{"data": [1, 4]}'
        sm.create_compilation_job(**request)
        image = f"382416733822.dkr.ecr.us-east-1.amazonaws.com/{algo}:1"
        _endpoint(sm, f"orig-{algo}", image, model)
        job = wait_job(sm, f"builtin-{algo}", timeout=120)
        assert job["CompilationJobStatus"] == "COMPLETED", job["FailureReason"]
        _endpoint(sm, f"neo-{algo}", job["InferenceImage"], job["ModelArtifacts"]["S3ModelArtifacts"])
        wait_in_service(sm, f"orig-{algo}")
        wait_in_service(sm, f"neo-{algo}")
        original = json.loads(_ask(rt, f"orig-{algo}", rows, "text/csv", "application/json"))["predictions"]
        compiled = json.loads(_ask(rt, f"neo-{algo}", rows, "text/csv", "application/json"))["predictions"]
        assert len(compiled) == 5 and set(compiled[0]) == set(original[0]), (original[0], compiled[0])
        for a, b in zip(original, compiled):
            for key in a:
                np.testing.assert_allclose(b[key], a[key], atol=1e-4, err_msg=f"{algo} {key}")
