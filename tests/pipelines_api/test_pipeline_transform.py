"""A SageMaker SDK pipeline with a ModelStep followed by a cached TransformStep, against a real server: the
Transform step runs a real batch transform of the model, and the second execution's Transform step hits the
cache although the ModelStep made a model with a new name (the trap of sagemaker-python-sdk#3392)."""

from __future__ import annotations

import io
import tarfile
import uuid

import numpy as np
import pytest

from shipyard.testing.sdk import sdk_environment

from .helpers import ROLE

# quick_sagemaker_sdk: the SDK without its fixed sleeps and per-call config-schema checks (tests/e2e/sdk_waits.py)
pytestmark = [pytest.mark.timeout(240), pytest.mark.usefixtures("quick_sagemaker_sdk")]

XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def _xgboost_model() -> bytes:
    import xgboost as xgb

    rng = np.random.default_rng(5)
    X = rng.normal(size=(200, 3)).astype(np.float32)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 2},
                        xgb.DMatrix(X, label=(X[:, 0] > 0).astype(np.float32)), 5)
    raw = booster.save_raw("ubj")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    return buf.getvalue()


def _finish(execution) -> dict[str, dict]:
    """Wait for the execution; its steps by name (a failed execution fails the test with its reasons)."""
    from botocore.exceptions import WaiterError

    try:
        execution.wait(delay=0.25, max_attempts=600)  # a look every 0.25 s (the SDK default: 30 s), 150 s at most
    except WaiterError:
        pass
    steps = {s["StepName"]: s for s in execution.list_steps()}
    status = execution.describe()["PipelineExecutionStatus"]
    assert status == "Succeeded", (execution.describe().get("FailureReason"), steps)
    return steps


def test_model_step_then_cached_transform_step_hits_the_cache_on_the_second_run(server, tmp_path):
    import boto3
    from sagemaker.model import Model
    from sagemaker.transformer import Transformer
    from sagemaker.workflow.model_step import ModelStep
    from sagemaker.workflow.pipeline import Pipeline
    from sagemaker.workflow.pipeline_context import PipelineSession
    from sagemaker.workflow.steps import CacheConfig, TransformStep

    bucket = f"pipeline-transform-{uuid.uuid4().hex[:8]}"
    server.client("s3").create_bucket(Bucket=bucket)
    with sdk_environment(server, tmp_path, bucket=bucket):
        boto_session = boto3.Session(region_name="us-east-1")
        s3 = boto_session.client("s3")
        s3.put_object(Bucket=bucket, Key="model/model.tar.gz", Body=_xgboost_model())
        s3.put_object(Bucket=bucket, Key="batch/rows.csv", Body=b"1.0,0.5,0.1\n-1.0,0.2,0.3\n0.3,-0.2,0.9\n")
        session = PipelineSession(boto_session=boto_session, sagemaker_client=boto_session.client("sagemaker"),
                                  default_bucket=bucket)
        model = Model(image_uri=XGB_IMAGE, model_data=f"s3://{bucket}/model/model.tar.gz", role=ROLE,
                      sagemaker_session=session)
        model_step = ModelStep(name="MakeModel", step_args=model.create(instance_type="ml.m5.large"))
        transformer = Transformer(model_name=model_step.properties.ModelName, instance_count=1,
                                  instance_type="ml.m5.large", output_path=f"s3://{bucket}/scored",
                                  accept="text/csv", assemble_with="Line", sagemaker_session=session)
        transform = TransformStep(name="Score", cache_config=CacheConfig(enable_caching=True, expire_after="PT1H"),
                                  step_args=transformer.transform(data=f"s3://{bucket}/batch/",
                                                                  content_type="text/csv", split_type="Line"))
        pipeline = Pipeline(name=f"transform-{uuid.uuid4().hex[:8]}", steps=[model_step, transform],
                            sagemaker_session=session)
        pipeline.upsert(role_arn=ROLE)

        first = pipeline.start()
        steps1 = _finish(first)
        assert steps1["Score"]["StepStatus"] == "Succeeded" and "CacheHitResult" not in steps1["Score"]
        job = steps1["Score"]["Metadata"]["TransformJob"]["Arn"].rsplit("/", 1)[1]
        described = session.sagemaker_client.describe_transform_job(TransformJobName=job)
        assert described["TransformJobStatus"] == "Completed"
        model1 = next(s for n, s in steps1.items() if n != "Score")["Metadata"]["Model"]["Arn"].rsplit("/", 1)[1]
        assert described["ModelName"] == model1
        out = s3.get_object(Bucket=bucket, Key="scored/rows.csv.out")["Body"].read().decode().split()
        assert len(out) == 3 and all(0.0 <= float(v) <= 1.0 for v in out), out

        second = pipeline.start()
        steps2 = _finish(second)
        model2 = next(s for n, s in steps2.items() if n != "Score")["Metadata"]["Model"]["Arn"].rsplit("/", 1)[1]
        assert model2 != model1  # the ModelStep made a new model, as on AWS
        assert steps2["Score"]["StepStatus"] == "Succeeded"
        assert steps2["Score"]["CacheHitResult"] == {"SourcePipelineExecutionArn": first.arn}
        assert steps2["Score"]["Metadata"]["TransformJob"]["Arn"].endswith(f"/{job}")
