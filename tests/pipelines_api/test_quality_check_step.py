"""The SageMaker SDK's ``QualityCheckStep``, unmodified, against a real Shipyard server: a data-quality check
whose processing job runs the model-monitor analyzer, its four baseline properties read by a later
registering ``ModelStep``'s ``DriftCheckBaselines`` (stored and described as sent), and a second execution on
drifted data checked against the first one's baseline failing with the violations named; also what
CreatePipeline refuses (a ClarifyCheck step, a QualityCheck step with an unknown CheckType)."""

from __future__ import annotations

import io
import json
import tarfile
import uuid

import numpy as np
import pytest

from shipyard.testing.sdk import sdk_environment

from .helpers import ROLE, definition

pytestmark = [pytest.mark.timeout(180), pytest.mark.usefixtures("quick_sagemaker_sdk")]

POLL, ATTEMPTS = 0.25, 360  # execution.wait(): at most 90 s
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
ANALYZER_IMAGE = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"


def _csv(rows: list[tuple]) -> bytes:
    return ("age,income,state\n" + "".join(f"{a},{i:.2f},{s}\n" for a, i, s in rows)).encode()


def _data(seed: int, drifted: bool) -> bytes:
    rng = np.random.default_rng(seed)
    n = 400
    if not drifted:
        return _csv([(int(rng.integers(18, 70)), rng.normal(5e4, 1e4), "abc"[i % 3]) for i in range(n)])
    # ages far outside the baseline's distribution, and a state value the baseline never saw
    return _csv([(int(rng.integers(80, 120)), rng.normal(5e4, 1e4), "z") for i in range(n)])


@pytest.fixture(scope="module")
def sdk(server, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("quality-check")
    bucket = f"quality-check-{uuid.uuid4().hex[:8]}"
    s3 = server.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="data/train/train.csv", Body=_data(0, drifted=False))
    s3.put_object(Bucket=bucket, Key="data/drifted/drifted.csv", Body=_data(1, drifted=True))
    model = io.BytesIO()
    with tarfile.open(fileobj=model, mode="w:gz") as tar:
        info = tarfile.TarInfo("model.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"ok"))
    s3.put_object(Bucket=bucket, Key="model/model.tar.gz", Body=model.getvalue())
    with sdk_environment(server, tmp, bucket=bucket):
        yield server, bucket


def _read_json(s3, uri: str) -> dict:
    bucket, key = uri[len("s3://"):].split("/", 1)
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def test_quality_check_baseline_then_drift_check_and_drift_check_baselines_in_the_registry(sdk):
    import boto3
    from botocore.exceptions import WaiterError
    from sagemaker.drift_check_baselines import DriftCheckBaselines
    from sagemaker.model import Model
    from sagemaker.model_metrics import MetricsSource, ModelMetrics
    from sagemaker.model_monitor.dataset_format import DatasetFormat
    from sagemaker.workflow.check_job_config import CheckJobConfig
    from sagemaker.workflow.execution_variables import ExecutionVariables
    from sagemaker.workflow.functions import Join
    from sagemaker.workflow.model_step import ModelStep
    from sagemaker.workflow.parameters import ParameterBoolean, ParameterString
    from sagemaker.workflow.pipeline import Pipeline
    from sagemaker.workflow.pipeline_context import PipelineSession
    from sagemaker.workflow.quality_check_step import DataQualityCheckConfig, QualityCheckStep

    server, bucket = sdk
    boto_session = boto3.Session(region_name="us-east-1")
    session = PipelineSession(boto_session=boto_session, sagemaker_client=boto_session.client("sagemaker"),
                              default_bucket=bucket)
    s3, sm = boto_session.client("s3"), session.sagemaker_client
    data = ParameterString(name="Data", default_value=f"s3://{bucket}/data/train")
    skip = ParameterBoolean(name="SkipCheck", default_value=False)
    register_new = ParameterBoolean(name="RegisterNewBaseline", default_value=True)
    supplied_statistics = ParameterString(name="SuppliedStatistics", default_value="")
    supplied_constraints = ParameterString(name="SuppliedConstraints", default_value="")
    group = f"qc-{uuid.uuid4().hex[:8]}"

    check = QualityCheckStep(
        name="DataQuality",
        quality_check_config=DataQualityCheckConfig(
            baseline_dataset=data, dataset_format=DatasetFormat.csv(header=True),
            output_s3_uri=Join(on="/", values=[f"s3://{bucket}/quality", ExecutionVariables.PIPELINE_EXECUTION_ID])),
        check_job_config=CheckJobConfig(role=ROLE, instance_count=1, instance_type="ml.m5.xlarge",
                                        volume_size_in_gb=5, max_runtime_in_seconds=300, sagemaker_session=session),
        skip_check=skip, register_new_baseline=register_new,
        supplied_baseline_statistics=supplied_statistics, supplied_baseline_constraints=supplied_constraints,
        model_package_group_name=group)
    props = check.properties
    drift = DriftCheckBaselines(
        model_data_statistics=MetricsSource(content_type="application/json",
                                            s3_uri=props.BaselineUsedForDriftCheckStatistics),
        model_data_constraints=MetricsSource(content_type="application/json",
                                             s3_uri=props.BaselineUsedForDriftCheckConstraints))
    metrics = ModelMetrics(
        model_data_statistics=MetricsSource(content_type="application/json",
                                            s3_uri=props.CalculatedBaselineStatistics),
        model_data_constraints=MetricsSource(content_type="application/json",
                                             s3_uri=props.CalculatedBaselineConstraints))
    model = Model(image_uri=SKLEARN_IMAGE, model_data=f"s3://{bucket}/model/model.tar.gz", role=ROLE,
                  sagemaker_session=session)
    register = ModelStep(name="Register", step_args=model.register(
        content_types=["text/csv"], response_types=["text/csv"], inference_instances=["ml.m5.large"],
        transform_instances=["ml.m5.large"], model_package_group_name=group, approval_status="Approved",
        drift_check_baselines=drift, model_metrics=metrics))
    pipeline = Pipeline(name=f"qc-{uuid.uuid4().hex[:8]}", steps=[check, register], sagemaker_session=session,
                        parameters=[data, skip, register_new, supplied_statistics, supplied_constraints])
    pipeline.upsert(role_arn=ROLE)

    # (1) the first run: no previous baseline anywhere, so the step only calculates one
    first = pipeline.start()
    first.wait(delay=POLL, max_attempts=ATTEMPTS)
    steps = {s["StepName"]: s for s in first.list_steps()}
    meta = steps["DataQuality"]["Metadata"]["QualityCheck"]
    assert meta["CheckType"] == "DATA_QUALITY" and meta["RegisterNewBaseline"] is True
    assert meta["SkipCheck"] is False and meta["ModelPackageGroupName"] == group
    exec_id = first.arn.rsplit("/", 1)[1]
    statistics_uri = meta["CalculatedBaselineStatistics"]
    constraints_uri = meta["CalculatedBaselineConstraints"]
    assert statistics_uri == f"s3://{bucket}/quality/{exec_id}/statistics.json"
    assert constraints_uri == f"s3://{bucket}/quality/{exec_id}/constraints.json"
    assert meta["BaselineUsedForDriftCheckStatistics"] == statistics_uri  # RegisterNewBaseline: the new one
    assert meta["BaselineUsedForDriftCheckConstraints"] == constraints_uri
    job = sm.describe_processing_job(ProcessingJobName=meta["CheckJobArn"].rsplit("/", 1)[1])
    assert job["AppSpecification"]["ImageUri"].endswith("sagemaker-model-monitor-analyzer")
    statistics = _read_json(s3, statistics_uri)
    assert statistics["dataset"]["item_count"] == 400
    assert {f["name"]: f["inferred_type"] for f in statistics["features"]} == {
        "age": "Integral", "income": "Fractional", "state": "String"}
    constraints = _read_json(s3, constraints_uri)
    assert {f["name"] for f in constraints["features"]} == {"age", "income", "state"}
    assert "distribution_constraints" in constraints["monitoring_config"]

    package_arn = next(s for n, s in steps.items() if n.startswith("Register"))["Metadata"]["RegisterModel"]["Arn"]
    package = sm.describe_model_package(ModelPackageName=package_arn)
    assert package["DriftCheckBaselines"] == {"ModelDataQuality": {
        "Statistics": {"ContentType": "application/json", "S3Uri": statistics_uri},
        "Constraints": {"ContentType": "application/json", "S3Uri": constraints_uri}}}
    assert package["ModelMetrics"]["ModelDataQuality"]["Constraints"]["S3Uri"] == constraints_uri

    # (2) drifted data checked against the first run's baseline: the step fails, naming the violations
    second = pipeline.start(parameters={"Data": f"s3://{bucket}/data/drifted", "RegisterNewBaseline": False,
                                        "SuppliedStatistics": statistics_uri,
                                        "SuppliedConstraints": constraints_uri})
    with pytest.raises(WaiterError):
        second.wait(delay=POLL, max_attempts=ATTEMPTS)
    assert second.describe()["PipelineExecutionStatus"] == "Failed"
    steps = {s["StepName"]: s for s in second.list_steps()}
    assert list(steps) == ["DataQuality"]
    failed = steps["DataQuality"]
    assert failed["StepStatus"] == "Failed"
    reason = failed["FailureReason"]
    assert constraints_uri in reason and "feature 'age'" in reason and "baseline_drift_check" in reason, reason
    report = failed["Metadata"]["QualityCheck"]["ViolationReport"]
    assert report in reason
    violations = _read_json(s3, report)["violations"]
    assert {"age", "state"} <= {v["feature_name"] for v in violations}
    assert failed["Metadata"]["QualityCheck"]["BaselineUsedForDriftCheckConstraints"] == constraints_uri

    # (3) the same drifted data with SkipCheck: nothing is checked, and the step reports the baseline it would
    # have used, the latest Approved package's (RegisterNewBaseline false, nothing supplied)
    third = pipeline.start(parameters={"Data": f"s3://{bucket}/data/drifted", "SkipCheck": True,
                                       "RegisterNewBaseline": False})
    third.wait(delay=POLL, max_attempts=ATTEMPTS)
    steps = {s["StepName"]: s for s in third.list_steps()}
    meta = steps["DataQuality"]["Metadata"]["QualityCheck"]
    assert "ViolationReport" not in meta
    assert meta["BaselineUsedForDriftCheckConstraints"] == constraints_uri
    assert meta["CalculatedBaselineConstraints"].endswith(f"/{third.arn.rsplit('/', 1)[1]}/constraints.json")

    # (4) the training data again, checked (SkipCheck false) against the latest Approved package's baseline of
    # the group: no violations, so the step goes on to calculate its new baseline and succeeds
    fourth = pipeline.start(parameters={"RegisterNewBaseline": False})
    fourth.wait(delay=POLL, max_attempts=ATTEMPTS)
    meta = {s["StepName"]: s for s in fourth.list_steps()}["DataQuality"]["Metadata"]["QualityCheck"]
    fourth_id = fourth.arn.rsplit("/", 1)[1]
    assert "ViolationReport" not in meta
    assert meta["BaselineUsedForDriftCheckStatistics"] == statistics_uri
    assert meta["CalculatedBaselineStatistics"] == f"s3://{bucket}/quality/{fourth_id}/statistics.json"
    assert _read_json(s3, f"s3://{bucket}/quality/{fourth_id}/drift-check/constraint_violations.json") == {
        "violations": []}


def _quality_check_step(bucket: str, **overrides) -> dict:
    step = {"Name": "Check", "Type": "QualityCheck", "CheckType": "DATA_QUALITY", "SkipCheck": False,
            "RegisterNewBaseline": True, "Arguments": {
                "AppSpecification": {"ImageUri": ANALYZER_IMAGE}, "RoleArn": ROLE,
                "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                          "VolumeSizeInGB": 5}},
                "ProcessingOutputConfig": {"Outputs": [{"OutputName": "quality_check_output", "S3Output": {
                    "S3Uri": f"s3://{bucket}/q", "LocalPath": "/opt/ml/processing/output",
                    "S3UploadMode": "EndOfJob"}}]}}}
    step.update(overrides)
    return step


@pytest.mark.parametrize("step, words", [
    ({"CheckType": "DATA_DRIFT"}, ["CheckType", "DATA_QUALITY or MODEL_QUALITY"]),
    ({"SkipCheck": "maybe"}, ["SkipCheck", "true, false"]),
    ({"SuppliedBaselineConstraints": "/tmp/constraints.json"}, ["SuppliedBaselineConstraints", "s3://"]),
    ({"Type": "ClarifyCheck"}, ["ClarifyCheck", "Clarify", "QualityCheckStep"]),
])
def test_create_pipeline_refuses_bad_check_steps_naming_the_field(sdk, step, words):
    from botocore.exceptions import ClientError

    server, bucket = sdk
    sm = server.client("sagemaker")
    with pytest.raises(ClientError) as e:
        sm.create_pipeline(PipelineName=f"bad-{uuid.uuid4().hex[:8]}", RoleArn=ROLE,
                           PipelineDefinition=definition([_quality_check_step(bucket, **step)]))
    assert e.value.response["Error"]["Code"] == "ValidationException"
    message = e.value.response["Error"]["Message"]
    assert all(w in message for w in words), message


def test_a_cached_quality_check_step_reuses_the_first_runs_baselines(sdk):
    """CacheConfig as on any job step: the second execution's check is a cache hit with the first's properties
    and metadata; a different SkipCheck (a check setting beside Arguments) is another key."""
    from .helpers import steps_of, wait_execution

    server, bucket = sdk
    sm = server.client("sagemaker")
    step = _quality_check_step(bucket, CacheConfig={"Enabled": True, "ExpireAfter": "PT1H"},
                               SkipCheck={"Get": "Parameters.Skip"})
    args = step["Arguments"]
    args["ProcessingInputs"] = [{"InputName": "baseline_dataset_input", "AppManaged": False, "S3Input": {
        "S3Uri": f"s3://{bucket}/data/train", "LocalPath": "/opt/ml/processing/input/baseline_dataset_input",
        "S3DataType": "S3Prefix", "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated"}}]
    args["Environment"] = {"dataset_format": json.dumps({"csv": {"header": True, "output_columns_position": "START"}}),
                           "dataset_source": "/opt/ml/processing/input/baseline_dataset_input",
                           "output_path": "/opt/ml/processing/output", "publish_cloudwatch_metrics": "Disabled"}
    name = f"qc-cache-{uuid.uuid4().hex[:8]}"
    sm.create_pipeline(PipelineName=name, RoleArn=ROLE, PipelineDefinition=definition(
        [step], [{"Name": "Skip", "Type": "Boolean", "DefaultValue": False}]))
    arns = []
    for skip in ("false", "false", "true"):
        arn = sm.start_pipeline_execution(PipelineName=name, PipelineParameters=[
            {"Name": "Skip", "Value": skip}])["PipelineExecutionArn"]
        assert wait_execution(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
        arns.append(arn)
    first, second, third = (steps_of(sm, arn)["Check"] for arn in arns)
    assert "CacheHitResult" not in first
    assert second["CacheHitResult"]["SourcePipelineExecutionArn"] == arns[0]
    assert second["Metadata"] == first["Metadata"]
    assert "CacheHitResult" not in third and third["Metadata"]["QualityCheck"]["SkipCheck"] is True


def _labelled(seed: int, wrong: bool) -> bytes:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 300)
    scores = np.clip(labels * 0.5 + rng.random(300) * 0.5, 0, 1)
    if wrong:
        scores = 1.0 - scores  # a model that has learned the opposite
    return ("probability,prediction,label\n" + "".join(
        f"{s:.4f},{int(s >= 0.5)},{int(y)}\n" for s, y in zip(scores, labels))).encode()


def test_model_quality_check_fails_when_the_metrics_fall_below_the_baseline(sdk):
    """CheckType MODEL_QUALITY (the SDK's ModelQualityCheckConfig): a baseline of a good model's predictions,
    then predictions of a bad one checked against it fail the step, naming the metrics. No output_s3_uri: the
    SDK's default location is fixed when the pipeline is defined, so the second execution's new baseline is
    written where the supplied one lies; the check must have read the supplied one first."""
    import boto3
    from botocore.exceptions import WaiterError
    from sagemaker.model_monitor.dataset_format import DatasetFormat
    from sagemaker.workflow.check_job_config import CheckJobConfig
    from sagemaker.workflow.parameters import ParameterString
    from sagemaker.workflow.pipeline import Pipeline
    from sagemaker.workflow.pipeline_context import PipelineSession
    from sagemaker.workflow.quality_check_step import ModelQualityCheckConfig, QualityCheckStep

    server, bucket = sdk
    s3 = server.client("s3")
    s3.put_object(Bucket=bucket, Key="labelled/good/data.csv", Body=_labelled(2, wrong=False))
    s3.put_object(Bucket=bucket, Key="labelled/bad/data.csv", Body=_labelled(3, wrong=True))
    boto_session = boto3.Session(region_name="us-east-1")
    session = PipelineSession(boto_session=boto_session, sagemaker_client=boto_session.client("sagemaker"),
                              default_bucket=bucket)
    data = ParameterString(name="Data", default_value=f"s3://{bucket}/labelled/good")
    statistics = ParameterString(name="SuppliedStatistics", default_value="")
    constraints = ParameterString(name="SuppliedConstraints", default_value="")
    check = QualityCheckStep(
        name="ModelQuality",
        quality_check_config=ModelQualityCheckConfig(
            baseline_dataset=data, dataset_format=DatasetFormat.csv(header=True),
            problem_type="BinaryClassification", inference_attribute="prediction",
            probability_attribute="probability", ground_truth_attribute="label"),
        check_job_config=CheckJobConfig(role=ROLE, instance_count=1, instance_type="ml.m5.xlarge",
                                        volume_size_in_gb=5, sagemaker_session=session),
        skip_check=False, register_new_baseline=False,
        supplied_baseline_statistics=statistics, supplied_baseline_constraints=constraints)
    pipeline = Pipeline(name=f"qc-mq-{uuid.uuid4().hex[:8]}", steps=[check], sagemaker_session=session,
                        parameters=[data, statistics, constraints])
    pipeline.upsert(role_arn=ROLE)
    first = pipeline.start()
    first.wait(delay=POLL, max_attempts=ATTEMPTS)
    meta = first.list_steps()[0]["Metadata"]["QualityCheck"]
    assert meta["CheckType"] == "MODEL_QUALITY"
    baseline = _read_json(s3, meta["CalculatedBaselineConstraints"])
    assert "binary_classification_constraints" in baseline
    # nothing to check against, RegisterNewBaseline false: the calculated baseline is the only one there is
    assert meta["BaselineUsedForDriftCheckConstraints"] == meta["CalculatedBaselineConstraints"]

    second = pipeline.start(parameters={"Data": f"s3://{bucket}/labelled/bad",
                                        "SuppliedStatistics": meta["CalculatedBaselineStatistics"],
                                        "SuppliedConstraints": meta["CalculatedBaselineConstraints"]})
    with pytest.raises(WaiterError):
        second.wait(delay=POLL, max_attempts=ATTEMPTS)
    failed = second.list_steps()[0]
    assert failed["StepStatus"] == "Failed"
    assert "MODEL_QUALITY check found violations" in failed["FailureReason"], failed["FailureReason"]
    assert "accuracy" in failed["FailureReason"] or "auc" in failed["FailureReason"], failed["FailureReason"]
    assert failed["Metadata"]["QualityCheck"]["ViolationReport"].endswith("/drift-check/constraint_violations.json")
