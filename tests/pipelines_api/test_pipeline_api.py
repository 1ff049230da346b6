"""Pipelines through boto3 against a real server: definitions refused at CreatePipeline/Start with a
ValidationException naming the step and field, parameters, idempotent Start, list/describe/versions/delete,
and Condition/Fail/Callback executions (steps that run no job, so these tests take seconds)."""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.exceptions import ClientError

from .helpers import ROLE, definition, steps_of, wait_execution

pytestmark = [pytest.mark.timeout(120)]

PARAMS = [{"Name": "Threshold", "Type": "Float", "DefaultValue": 0.5},
          {"Name": "Mode", "Type": "String", "DefaultValue": "fast", "EnumValues": ["fast", "slow"]},
          {"Name": "Count", "Type": "Integer"}]


def check_and_fail(message_values: list) -> list[dict]:
    """Condition on the parameters; its else branch a Fail step whose message joins parameter values."""
    return [{"Name": "Check", "Type": "Condition", "Arguments": {
        "Conditions": [{"Type": "GreaterThanOrEqualTo", "LeftValue": {"Get": "Parameters.Threshold"},
                        "RightValue": 0.5}],
        "IfSteps": [],
        "ElseSteps": [{"Name": "Stop", "Type": "Fail", "Arguments": {
            "ErrorMessage": {"Std:Join": {"On": " ", "Values": message_values}}}}]}}]


@pytest.fixture(scope="module")
def sm(server):
    return server.client("sagemaker")


def new_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create(sm, steps, parameters=None, name=None, **kw):
    name = name or new_name("p")
    sm.create_pipeline(PipelineName=name, RoleArn=ROLE, PipelineDefinition=definition(steps, parameters), **kw)
    return name


@pytest.mark.parametrize("steps, parameters, words", [
    ([{"Name": "A", "Type": "Shell", "Arguments": {}}], None, ["'A'", "Shell"]),
    ([{"Name": "A", "Type": "Fail", "Arguments": {}, "DependsOn": ["Ghost"]}], None, ["'A'", "Ghost"]),
    ([{"Name": "A", "Type": "Fail", "Arguments": {"ErrorMessage": {"Get": "Parameters.Nope"}}}], None,
     ["'A'", "Nope"]),
    ([{"Name": "A", "Type": "Training", "Arguments": {}, "DependsOn": ["B"]},
      {"Name": "B", "Type": "Training", "Arguments": {}, "DependsOn": ["A"]}], None, ["cycle"]),
    ([{"Name": "A", "Type": "Fail", "Arguments": {"ErrorMessage": {"Get": "Steps.T.NoSuchProperty"}}},
      {"Name": "T", "Type": "Training", "Arguments": {}}], None, ["'A'", "NoSuchProperty"]),
    ([{"Name": "L", "Type": "Lambda", "Arguments": {}}], None, ["'L'", "Lambda"]),
])
def test_bad_definitions_are_refused_at_create_naming_the_step(sm, steps, parameters, words):
    with pytest.raises(ClientError) as e:
        create(sm, steps, parameters)
    err = e.value.response["Error"]
    assert err["Code"] == "ValidationException"
    for w in words:
        assert w in err["Message"], err["Message"]


def test_definition_that_is_not_json_and_duplicate_names(sm):
    with pytest.raises(ClientError) as e:
        sm.create_pipeline(PipelineName=new_name("p"), RoleArn=ROLE, PipelineDefinition="{not json")
    assert e.value.response["Error"]["Code"] == "ValidationException"
    name = create(sm, check_and_fail(["x"]), PARAMS)
    with pytest.raises(ClientError) as e:
        create(sm, check_and_fail(["x"]), PARAMS, name=name)
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert "already exists" in e.value.response["Error"]["Message"]  # what the SDK's upsert looks for


def test_parameters_are_bound_at_start(sm):
    name = create(sm, check_and_fail(["x"]), PARAMS)
    for bad, word in ([{"Name": "Count", "Value": "many"}], "Count"), \
                     ([{"Name": "Count", "Value": "1"}, {"Name": "Mode", "Value": "medium"}], "Mode"), \
                     ([{"Name": "Count", "Value": "1"}, {"Name": "Other", "Value": "1"}], "Other"), \
                     ([], "Count"):
        with pytest.raises(ClientError) as e:
            sm.start_pipeline_execution(PipelineName=name, PipelineParameters=bad)
        assert e.value.response["Error"]["Code"] == "ValidationException"
        assert word in e.value.response["Error"]["Message"]
    arn = sm.start_pipeline_execution(PipelineName=name, PipelineParameters=[
        {"Name": "Count", "Value": "3"}, {"Name": "Threshold", "Value": "0.9"}])["PipelineExecutionArn"]
    assert arn.startswith(f"arn:aws:sagemaker:us-east-1:123456789012:pipeline/{name.lower()}/execution/")
    exec_id = arn.rsplit("/", 1)[1]
    assert len(exec_id) == 12 and exec_id.isalnum() and exec_id.lower() == exec_id
    got = {p["Name"]: p["Value"] for p in
           sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)["PipelineParameters"]}
    assert got == {"Threshold": "0.9", "Mode": "fast", "Count": "3"}
    d = wait_execution(sm, arn)
    assert d["PipelineExecutionStatus"] == "Succeeded"
    steps = steps_of(sm, arn)
    assert steps["Check"]["Metadata"] == {"Condition": {"Outcome": "True"}}
    assert "Stop" not in steps  # the branch not taken never runs


def test_fail_step_fails_the_execution_with_its_message(sm):
    name = create(sm, check_and_fail(["threshold", {"Get": "Parameters.Threshold"}, "is too low for",
                                      {"Get": "Execution.PipelineName"}]), PARAMS)
    arn = sm.start_pipeline_execution(PipelineName=name, PipelineParameters=[
        {"Name": "Count", "Value": "1"}, {"Name": "Threshold", "Value": "0.25"}])["PipelineExecutionArn"]
    d = wait_execution(sm, arn)
    expected = f"threshold 0.25 is too low for {name}"
    assert d["PipelineExecutionStatus"] == "Failed"
    assert d["FailureReason"] == expected
    steps = steps_of(sm, arn)
    assert steps["Check"]["Metadata"]["Condition"]["Outcome"] == "False"
    assert steps["Stop"]["StepStatus"] == "Failed"
    assert steps["Stop"]["Metadata"] == {"Fail": {"ErrorMessage": expected}}
    summaries = sm.list_pipeline_executions(PipelineName=name)["PipelineExecutionSummaries"]
    assert [(s["PipelineExecutionArn"], s["PipelineExecutionStatus"]) for s in summaries] == [(arn, "Failed")]


def test_start_is_idempotent_with_a_client_request_token(sm):
    name = create(sm, check_and_fail(["x"]), PARAMS)
    token = uuid.uuid4().hex
    params = [{"Name": "Count", "Value": "1"}]
    a = sm.start_pipeline_execution(PipelineName=name, PipelineParameters=params, ClientRequestToken=token)
    b = sm.start_pipeline_execution(PipelineName=name, PipelineParameters=params, ClientRequestToken=token)
    c = sm.start_pipeline_execution(PipelineName=name, PipelineParameters=params,
                                    ClientRequestToken=uuid.uuid4().hex)
    assert a["PipelineExecutionArn"] == b["PipelineExecutionArn"] != c["PipelineExecutionArn"]
    assert len(sm.list_pipeline_executions(PipelineName=name)["PipelineExecutionSummaries"]) == 2


def test_describe_update_versions_list_and_delete(sm):
    first = check_and_fail(["one"])
    name = create(sm, first, PARAMS, PipelineDescription="first",
                  ParallelismConfiguration={"MaxParallelExecutionSteps": 2})
    d = sm.describe_pipeline(PipelineName=name)
    assert d["PipelineStatus"] == "Active" and d["PipelineDescription"] == "first"
    assert json.loads(d["PipelineDefinition"])["Steps"] == first
    assert d["ParallelismConfiguration"] == {"MaxParallelExecutionSteps": 2}
    arn1 = sm.start_pipeline_execution(PipelineName=name, PipelineParameters=[{"Name": "Count", "Value": "1"}])[
        "PipelineExecutionArn"]
    second = check_and_fail(["two"])
    up = sm.update_pipeline(PipelineName=name, PipelineDefinition=definition(second, PARAMS))
    assert up["PipelineVersionId"] == 2
    assert json.loads(sm.describe_pipeline(PipelineName=name)["PipelineDefinition"])["Steps"] == second
    old = sm.describe_pipeline(PipelineName=name, PipelineVersionId=1)
    assert json.loads(old["PipelineDefinition"])["Steps"] == first
    versions = sm.list_pipeline_versions(PipelineName=name)["PipelineVersionSummaries"]
    assert [v["PipelineVersionId"] for v in versions] == [2, 1]
    # the execution keeps the definition it started with
    ran = sm.describe_pipeline_definition_for_execution(PipelineExecutionArn=arn1)["PipelineDefinition"]
    assert json.loads(ran)["Steps"] == first
    assert name in [p["PipelineName"] for p in sm.list_pipelines(PipelineNamePrefix=name[:6])["PipelineSummaries"]]
    with pytest.raises(ClientError) as e:
        sm.update_pipeline(PipelineName=name, PipelineDefinition=definition([{"Name": "X", "Type": "Nope"}]))
    assert e.value.response["Error"]["Code"] == "ValidationException"
    wait_execution(sm, arn1)
    sm.delete_pipeline(PipelineName=name, ClientRequestToken=uuid.uuid4().hex)
    with pytest.raises(ClientError) as e:
        sm.describe_pipeline(PipelineName=name)
    assert e.value.response["Error"]["Code"] in ("ValidationException", "ResourceNotFound")
    # the execution's record stays readable
    assert sm.describe_pipeline_execution(PipelineExecutionArn=arn1)["PipelineExecutionStatus"] == "Succeeded"


def test_callback_step_waits_for_its_token(sm):
    # the SDK's CallbackStep shape: the queue beside Arguments (which are the message's inputs)
    steps = [{"Name": "Ask", "Type": "Callback", "Arguments": {"Input": "hello"},
              "SqsQueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/q",
              "OutputParameters": [{"OutputName": "answer", "OutputType": "String"}]},
             {"Name": "Check", "Type": "Condition", "Arguments": {
                 "Conditions": [{"Type": "Equals", "LeftValue": {"Get": "Steps.Ask.OutputParameters['answer']"},
                                 "RightValue": "yes"}],
                 "IfSteps": [], "ElseSteps": [{"Name": "No", "Type": "Fail", "Arguments": {"ErrorMessage": "no"}}]}}]
    name = create(sm, steps)
    arns = [sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"] for _ in range(2)]
    tokens = []
    for arn in arns:
        from .helpers import wait_step

        ask = wait_step(sm, arn, "Ask", ("Executing",))
        tokens.append(ask["Metadata"]["Callback"]["CallbackToken"])
        assert ask["Metadata"]["Callback"]["SqsQueueUrl"].endswith("/q")
    assert sm.describe_pipeline_execution(PipelineExecutionArn=arns[0])["PipelineExecutionStatus"] == "Executing"
    with pytest.raises(ClientError) as e:
        sm.send_pipeline_execution_step_success(CallbackToken="nosuchtokn")
    assert e.value.response["Error"]["Code"] == "ValidationException"
    out = sm.send_pipeline_execution_step_success(CallbackToken=tokens[0],
                                                  OutputParameters=[{"Name": "answer", "Value": "yes"}])
    assert out["PipelineExecutionArn"] == arns[0]
    sm.send_pipeline_execution_step_failure(CallbackToken=tokens[1], FailureReason="operator said no")
    assert wait_execution(sm, arns[0])["PipelineExecutionStatus"] == "Succeeded"
    d = wait_execution(sm, arns[1])
    assert d["PipelineExecutionStatus"] == "Failed" and "operator said no" in d["FailureReason"]
    steps0 = steps_of(sm, arns[0])
    assert steps0["Ask"]["Metadata"]["Callback"]["OutputParameters"] == [{"Name": "answer", "Value": "yes"}]
    assert steps0["Check"]["Metadata"]["Condition"]["Outcome"] == "True"
