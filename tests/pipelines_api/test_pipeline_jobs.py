"""Pipelines whose steps run real training jobs (boto3, a real server): properties flowing between steps,
Stop, MaxParallelExecutionSteps, RetryPipelineExecution and selective execution."""

from __future__ import annotations

import uuid

import pytest

from .helpers import (ROLE, SCRIPT, definition, steps_of, training_args, training_step, wait_execution,
                      wait_step)

pytestmark = [pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def env(server, tmp_path_factory):
    code = tmp_path_factory.mktemp("pipeline-code")
    (code / "train.py").write_text(SCRIPT)
    bucket = f"pipelines-{uuid.uuid4().hex[:8]}"
    server.client("s3").create_bucket(Bucket=bucket)
    return {"sm": server.client("sagemaker"), "s3": server.client("s3"), "code": str(code), "bucket": bucket}


def create(env, steps, parameters=None, **kw) -> str:
    name = f"jobs-{uuid.uuid4().hex[:8]}"
    env["sm"].create_pipeline(PipelineName=name, RoleArn=ROLE, PipelineDefinition=definition(steps, parameters),
                              **kw)
    return name


def job_name(step: dict) -> str:
    return next(iter(step["Metadata"].values()))["Arn"].rsplit("/", 1)[1]


def test_training_then_condition_then_fail_with_properties_between_steps(env):
    sm = env["sm"]
    steps = [
        training_step("Train", training_args(env["code"], env["bucket"], tag={"Get": "Parameters.Tag"})),
        {"Name": "Good", "Type": "Condition", "Arguments": {
            "Conditions": [{"Type": "GreaterThanOrEqualTo",
                            "LeftValue": {"Get": "Steps.Train.FinalMetricDataList['score'].Value"},
                            "RightValue": {"Get": "Parameters.Threshold"}}],
            "IfSteps": [],
            "ElseSteps": [{"Name": "TooLow", "Type": "Fail", "Arguments": {"ErrorMessage": {"Std:Join": {
                "On": " ", "Values": ["model", {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"},
                                      "scored below", {"Get": "Parameters.Threshold"}]}}}}]}}]
    params = [{"Name": "Threshold", "Type": "Float", "DefaultValue": 0.5},
              {"Name": "Tag", "Type": "String", "DefaultValue": "hello"}]
    name = create(env, steps, params)
    ok = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    low = sm.start_pipeline_execution(PipelineName=name, PipelineParameters=[
        {"Name": "Threshold", "Value": "0.9"}])["PipelineExecutionArn"]
    assert wait_execution(sm, ok)["PipelineExecutionStatus"] == "Succeeded"
    d = wait_execution(sm, low)
    assert d["PipelineExecutionStatus"] == "Failed"
    s = steps_of(sm, ok)
    train = s["Train"]
    assert train["StepStatus"] == "Succeeded" and train["AttemptCount"] == 1
    job = job_name(train)
    exec_id = ok.rsplit("/", 1)[1]
    assert job.startswith(f"pipelines-{exec_id}-train-") and len(job) <= 63 and job == job.lower()
    described = sm.describe_training_job(TrainingJobName=job)
    assert described["TrainingJobStatus"] == "Completed"
    assert described["HyperParameters"]["tag"] == "hello"
    assert s["Good"]["Metadata"]["Condition"]["Outcome"] == "True"
    assert "TooLow" not in s
    artifacts = sm.describe_training_job(TrainingJobName=job_name(steps_of(sm, low)["Train"]))["ModelArtifacts"]
    assert d["FailureReason"] == f"model {artifacts['S3ModelArtifacts']} scored below 0.9"


def test_stop_stops_the_running_job(env):
    sm = env["sm"]
    name = create(env, [training_step("Slow", training_args(env["code"], env["bucket"], sleep=60)),
                        training_step("After", training_args(env["code"], env["bucket"]), DependsOn=["Slow"])])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    step = wait_step(sm, arn, "Slow", ("Executing",))
    job = job_name(step)
    sm.stop_pipeline_execution(PipelineExecutionArn=arn)
    d = wait_execution(sm, arn, timeout=60)
    assert d["PipelineExecutionStatus"] == "Stopped"
    assert sm.describe_training_job(TrainingJobName=job)["TrainingJobStatus"] == "Stopped"
    s = steps_of(sm, arn)
    assert s["Slow"]["StepStatus"] == "Stopped" and "After" not in s


def test_max_parallel_execution_steps_is_honoured(env):
    sm = env["sm"]
    name = create(env, [training_step(f"T{i}", training_args(env["code"], env["bucket"], sleep=0.5, tag=str(i)))
                        for i in range(3)])
    arn = sm.start_pipeline_execution(PipelineName=name, ParallelismConfiguration={
        "MaxParallelExecutionSteps": 1})["PipelineExecutionArn"]
    assert wait_execution(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
    spans = sorted((s["StartTime"], s["EndTime"]) for s in steps_of(sm, arn).values())
    assert len(spans) == 3
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert start >= end  # one at a time: each starts after the previous one ended


def test_retry_execution_resumes_from_the_failed_step(env):
    sm, s3 = env["sm"], env["s3"]
    s3.put_object(Bucket=env["bucket"], Key="flag/flag.txt", Body=b"fail")
    name = create(env, [training_step("First", training_args(env["code"], env["bucket"], tag="a")),
                        training_step("Flaky", training_args(env["code"], env["bucket"], flag=True),
                                      DependsOn=["First"])])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    d = wait_execution(sm, arn)
    assert d["PipelineExecutionStatus"] == "Failed"
    before = steps_of(sm, arn)
    assert before["Flaky"]["StepStatus"] == "Failed" and before["Flaky"]["AttemptCount"] == 1
    assert "exit" in before["Flaky"]["FailureReason"].lower() or before["Flaky"]["FailureReason"]
    s3.put_object(Bucket=env["bucket"], Key="flag/flag.txt", Body=b"ok")
    sm.retry_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken=uuid.uuid4().hex)
    assert wait_execution(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
    after = steps_of(sm, arn)
    assert job_name(after["First"]) == job_name(before["First"])  # not run again
    assert job_name(after["Flaky"]) != job_name(before["Flaky"])
    assert after["Flaky"]["StepStatus"] == "Succeeded"


def test_selective_execution_reuses_the_steps_not_selected(env):
    sm = env["sm"]
    second = training_args(env["code"], env["bucket"], tag={"Get": "Steps.First.ModelArtifacts.S3ModelArtifacts"})
    name = create(env, [training_step("First", training_args(env["code"], env["bucket"], tag="a")),
                        training_step("Second", second)])
    source = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    assert wait_execution(sm, source)["PipelineExecutionStatus"] == "Succeeded"
    src_steps = steps_of(sm, source)
    arn = sm.start_pipeline_execution(PipelineName=name, SelectiveExecutionConfig={
        "SourcePipelineExecutionArn": source, "SelectedSteps": [{"StepName": "Second"}]})["PipelineExecutionArn"]
    assert wait_execution(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
    s = steps_of(sm, arn)
    assert s["First"]["SelectiveExecutionResult"]["SourcePipelineExecutionArn"] == source
    assert job_name(s["First"]) == job_name(src_steps["First"])
    assert job_name(s["Second"]) != job_name(src_steps["Second"])
    hp = sm.describe_training_job(TrainingJobName=job_name(s["Second"]))["HyperParameters"]["tag"]
    first_job = sm.describe_training_job(TrainingJobName=job_name(src_steps["First"]))
    assert hp == first_job["ModelArtifacts"]["S3ModelArtifacts"]


def test_cached_step_hits_on_the_second_run_and_misses_when_its_arguments_change(env):
    sm = env["sm"]
    cached = training_step("Train", training_args(env["code"], env["bucket"], tag={"Get": "Parameters.Tag"}),
                           CacheConfig={"Enabled": True, "ExpireAfter": "PT1H"})
    after = {"Name": "Check", "Type": "Condition", "Arguments": {
        "Conditions": [{"Type": "Equals", "LeftValue": {"Get": "Steps.Train.HyperParameters['tag']"},
                        "RightValue": {"Get": "Parameters.Tag"}}],
        "IfSteps": [], "ElseSteps": [{"Name": "Wrong", "Type": "Fail", "Arguments": {"ErrorMessage": "x"}}]}}
    name = create(env, [cached, after], [{"Name": "Tag", "Type": "String", "DefaultValue": "one"}])
    first = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    assert wait_execution(sm, first)["PipelineExecutionStatus"] == "Succeeded"
    second = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    assert wait_execution(sm, second)["PipelineExecutionStatus"] == "Succeeded"
    third = sm.start_pipeline_execution(PipelineName=name, PipelineParameters=[
        {"Name": "Tag", "Value": "two"}])["PipelineExecutionArn"]
    assert wait_execution(sm, third)["PipelineExecutionStatus"] == "Succeeded"
    s1, s2, s3 = (steps_of(sm, a)["Train"] for a in (first, second, third))
    assert "CacheHitResult" not in s1
    assert s2["CacheHitResult"] == {"SourcePipelineExecutionArn": first}
    assert job_name(s2) == job_name(s1)  # the first run's job, its properties reused
    assert steps_of(sm, second)["Check"]["Metadata"]["Condition"]["Outcome"] == "True"
    assert "CacheHitResult" not in s3 and job_name(s3) != job_name(s1)  # a changed hyperparameter: a miss


def test_tuning_step_then_model_step_from_its_best_job(env):
    sm = env["sm"]
    base = training_args(env["code"], env["bucket"])
    tune_args = {
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random", "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "score"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {"CategoricalParameterRanges": [{"Name": "tag", "Values": ["x", "y"]}]}},
        "TrainingJobDefinition": {
            "StaticHyperParameters": {k: v for k, v in base["HyperParameters"].items() if k != "tag"},
            **{k: base[k] for k in ("AlgorithmSpecification", "RoleArn", "OutputDataConfig", "ResourceConfig",
                                    "StoppingCondition")}}}
    model_args = {"ExecutionRoleArn": ROLE, "PrimaryContainer": {
        "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
        "ModelDataUrl": {"Std:Join": {"On": "/", "Values": [
            f"s3://{env['bucket']}/out", {"Get": "Steps.Tune.TrainingJobSummaries[0].TrainingJobName"},
            "output/model.tar.gz"]}}}}
    name = create(env, [{"Name": "Tune", "Type": "Tuning", "Arguments": tune_args},
                        {"Name": "Register", "Type": "Model", "Arguments": model_args}])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    assert wait_execution(sm, arn, timeout=120)["PipelineExecutionStatus"] == "Succeeded"
    s = steps_of(sm, arn)
    tuning = job_name(s["Tune"])
    assert len(tuning) <= 32 and set(s["Tune"]["Metadata"]) == {"TuningJob"}
    best = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=tuning)
    assert best["HyperParameterTuningJobStatus"] == "Completed"
    model = sm.describe_model(ModelName=job_name(s["Register"]))
    trials = {t["TrainingJobName"] for t in sm.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=tuning)["TrainingJobSummaries"]}
    url = model["PrimaryContainer"]["ModelDataUrl"]
    assert url.endswith("/output/model.tar.gz") and url.split("/")[-3] in trials
    assert set(s["Register"]["Metadata"]) == {"Model"}


def test_register_model_step_after_training(env):
    """With the model registry, a RegisterModel step registers the trained model (its group created if missing);
    without it, CreatePipeline refuses the step type by name."""
    from botocore.exceptions import ClientError

    from shipyard.resources.pipeline import registry_available

    sm = env["sm"]
    group = f"group-{uuid.uuid4().hex[:8]}"
    register = {"Name": "Reg", "Type": "RegisterModel", "Arguments": {
        "ModelPackageGroupName": group, "ModelApprovalStatus": "Approved",
        "InferenceSpecification": {
            "Containers": [{"Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/"
                                     "sagemaker-scikit-learn:1.2-1-cpu-py3",
                            "ModelDataUrl": {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}}],
            "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]}}}
    check = {"Name": "Approved", "Type": "Condition", "Arguments": {
        "Conditions": [{"Type": "Equals", "LeftValue": {"Get": "Steps.Reg.ModelApprovalStatus"},
                        "RightValue": "Approved"}],
        "IfSteps": [], "ElseSteps": [{"Name": "NotApproved", "Type": "Fail", "Arguments": {"ErrorMessage": "no"}}]}}
    steps = [training_step("Train", training_args(env["code"], env["bucket"])), register, check]
    if not registry_available():
        with pytest.raises(ClientError) as e:
            create(env, steps)
        assert "'Reg'" in e.value.response["Error"]["Message"]
        assert "RegisterModel" in e.value.response["Error"]["Message"]
        return
    name = create(env, steps)
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    assert wait_execution(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
    s = steps_of(sm, arn)
    package = s["Reg"]["Metadata"]["RegisterModel"]["Arn"]
    assert package.endswith(f"model-package/{group}/1")
    assert s["Approved"]["Metadata"]["Condition"]["Outcome"] == "True"
