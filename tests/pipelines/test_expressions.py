"""Evaluating Get, Std:Join, Std:JsonGet and every condition operator over a fake resolver."""

from __future__ import annotations

import pytest

from shipyard.errors import ValidationError
from shipyard.pipelines.definition import parse
from shipyard.pipelines.expressions import condition_holds, evaluate, lookup, references
from shipyard.pipelines.paths import Index, Member, Named, parse_path

from .conftest import FakeResolver

PREP_OUT = "s3://pipelines-bucket/sdk-pipeline/exec-1/Prep/output"


def _prep_properties() -> dict:
    """DescribeProcessingJob-shaped: lists of named members, as the server answers."""
    return {
        "ProcessingJobName": "pipelines-exec-1-Prep",
        "ProcessingInputs": [
            {"InputName": "input-1", "S3Input": {"S3Uri": "s3://data/in"}},
            {"InputName": "code", "S3Input": {"S3Uri": "s3://pipelines-bucket/code/prep.py"}}],
        "ProcessingOutputConfig": {"Outputs": [
            {"OutputName": "train", "S3Output": {"S3Uri": f"{PREP_OUT}/train"}},
            {"OutputName": "evaluation", "S3Output": {"S3Uri": f"{PREP_OUT}/evaluation/"}}]},
    }


def _resolver(**documents) -> FakeResolver:
    return FakeResolver(
        parameters={"Threshold": 0.7, "InstanceType": "ml.m5.large", "Count": 1, "Flag": True, "InputData": "s3://d"},
        variables={"PipelineExecutionId": "exec-1", "PipelineName": "sdk-pipeline"},
        properties={
            "Prep": _prep_properties(),
            "Train": {"ModelArtifacts": {"S3ModelArtifacts": "s3://pipelines-bucket/exec-1/model/model.tar.gz"},
                      "FinalMetricDataList": [{"MetricName": "validation:auc", "Value": 0.91}],
                      "HyperParameters": {"eta": "0.1"}},
            "Model-CreateModel": {"ModelName": "pipelines-exec-1-model"},
            "Notify": {"OutputParameters": [{"Name": "status", "Value": "ok"}]},
            "Check": {"Outcome": "True"},
            "Tune": {"TrainingJobSummaries": [{"TrainingJobName": "best-job"}, {"TrainingJobName": "other"}]},
        },
        documents=documents)


def test_step_arguments_resolve_references_joins_and_execution_variables(sdk_definition):
    defn = parse(sdk_definition)
    resolver = _resolver()
    train = evaluate(defn.steps["Train"].arguments, defn, resolver, where="Train")
    assert train["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == f"{PREP_OUT}/train"
    assert train["OutputDataConfig"]["S3OutputPath"] == "s3://pipelines-bucket/exec-1/model"
    assert train["HyperParameters"] == {"eta": "0.1"}
    score = evaluate(defn.steps["Score"].arguments, defn, resolver)
    assert score["ModelName"] == "pipelines-exec-1-model"
    prep = evaluate(defn.steps["Prep"].arguments, defn, resolver)
    assert prep["ProcessingResources"]["ClusterConfig"] == {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                                                            "VolumeSizeInGB": 30}
    assert prep["ProcessingInputs"][0]["S3Input"]["S3Uri"] == "s3://d"
    assert prep["ProcessingOutputConfig"]["Outputs"][1]["S3Output"]["S3Uri"] == \
        "s3://pipelines-bucket/sdk-pipeline/exec-1/Prep/output/evaluation"
    # a Lambda output, by name, joined into a Fail message
    assert evaluate(defn.steps["Report"].arguments, defn, resolver) == {"ErrorMessage": "notified: ok"}
    assert evaluate(defn.steps["Stop"].arguments, defn, resolver) == {"ErrorMessage": "AUC below 0.7"}
    assert evaluate({"a": [1, "x", None, {"b": True}]}, defn, resolver) == {"a": [1, "x", None, {"b": True}]}


def test_join_stringifies_every_value(sdk_definition):
    defn = parse(sdk_definition)
    join = {"Std:Join": {"On": "-", "Values": [1, 2.5, "a", {"Get": "Parameters.Count"},
                                               {"Std:Join": {"On": "", "Values": ["x", "y"]}}]}}
    assert evaluate(join, defn, _resolver()) == "1-2.5-a-1-xy"
    assert evaluate({"Std:Join": {"Values": ["a", "b"]}}, defn, _resolver()) == "ab"


@pytest.mark.parametrize(("path", "expected"), [
    ("ProcessingInputs['code'].S3Input.S3Uri", "s3://pipelines-bucket/code/prep.py"),
    ("ProcessingInputs[0].InputName", "input-1"),
    ("ProcessingInputs[-1].InputName", "code"),
    ("ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri", f"{PREP_OUT}/train"),
    ("ProcessingOutputConfig.Outputs[1].OutputName", "evaluation"),
    ("ProcessingJobName", "pipelines-exec-1-Prep"),
])
def test_property_paths_index_by_position_and_by_name(path, expected):
    assert lookup(_prep_properties(), parse_path(path), "Prep") == expected


def test_property_lookups_over_other_step_types(sdk_definition):
    defn = parse(sdk_definition)
    resolver = _resolver()
    assert evaluate({"Get": "Steps.Train.FinalMetricDataList['validation:auc'].Value"}, defn, resolver) == 0.91
    assert evaluate({"Get": "Steps.Train.HyperParameters['eta']"}, defn, resolver) == "0.1"
    assert evaluate({"Get": "Steps.Tune.TrainingJobSummaries[0].TrainingJobName"}, defn, resolver) == "best-job"
    assert evaluate({"Get": "Steps.Check.Outcome"}, defn, resolver) == "True"
    # the SDK's local mode hands Outputs over as a dict keyed by name: the same path reads it
    resolver.properties["Prep"]["ProcessingOutputConfig"]["Outputs"] = {
        "train": {"OutputName": "train", "S3Output": {"S3Uri": "s3://dict/train"}}}
    assert evaluate({"Get": "Steps.Prep.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"},
                    defn, resolver) == "s3://dict/train"


def test_parse_path_segments():
    assert parse_path("Outputs['a.b'].S3Output[0][\"x\"]") == (
        Member("Outputs"), Named("a.b"), Member("S3Output"), Index(0), Named("x"))
    for bad in ("", "a..b", "a[b]", "a['b'", ".a"):
        with pytest.raises(ValidationError):
            parse_path(bad)


@pytest.mark.parametrize(("get", "message"), [
    ("Steps.Prep.ProcessingOutputConfig.Outputs['model'].S3Output.S3Uri",
     "Step 'Score': step 'Prep' property ProcessingOutputConfig.Outputs['model'] does not exist"),
    ("Steps.Prep.ProcessingInputs[5].InputName", "step 'Prep' property ProcessingInputs[5] does not exist"),
    ("Steps.Train.ModelArtifacts.S3Uri", "step 'Train' property ModelArtifacts.S3Uri does not exist"),
    ("Steps.Notify.OutputParameters['missing']", "step 'Notify' property OutputParameters['missing'] does not"),
])
def test_a_missing_property_at_run_time_names_the_step_and_the_path(sdk_definition, get, message):
    with pytest.raises(ValidationError) as caught:
        evaluate({"ModelName": {"Get": get}}, parse(sdk_definition), _resolver(), where="Score")
    assert message in caught.value.message


def test_json_get_reads_the_property_file_from_the_steps_output(sdk_definition):
    defn = parse(sdk_definition)
    uri = f"{PREP_OUT}/evaluation/evaluation.json"
    resolver = _resolver(**{uri: {"metrics": {"auc": {"value": 0.83}, "folds": [{"auc": 0.8}, {"auc": 0.86}]}}})
    left = defn.steps["Check"].arguments["Conditions"][0]["LeftValue"]
    assert evaluate(left, defn, resolver) == 0.83
    assert resolver.reads == [uri]  # the output's S3Uri (its trailing / dropped) + "/" + FilePath
    folds = {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Prep.PropertyFiles.Eval"}, "Path": "metrics.folds[1].auc"}}
    assert evaluate(folds, defn, resolver) == 0.86
    assert evaluate({"Get": "Steps.Prep.PropertyFiles.Eval"}, defn, resolver) == uri
    missing = {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Prep.PropertyFiles.Eval"}, "Path": "metrics.f1"}}
    with pytest.raises(ValidationError, match=r"Step 'Check': Std:JsonGet of .*evaluation.json: JSON path "
                                              r"metrics.f1 does not exist"):
        evaluate(missing, defn, resolver, where="Check")


def test_json_get_over_an_s3_uri_expression(sdk_definition):
    defn = parse(sdk_definition)
    resolver = _resolver(**{"s3://results/exec-1/out.json": {"Result": [3, 4]}})
    value = {"Std:JsonGet": {"S3Uri": {"Std:Join": {"On": "/", "Values": [
        "s3://results", {"Get": "Execution.PipelineExecutionId"}, "out.json"]}}, "Path": "Result[1]"}}
    assert evaluate(value, defn, resolver) == 4


def _condition_definition(*conditions: dict) -> tuple:
    defn = parse({"Version": "2020-12-01",
                  "Parameters": [{"Name": "L", "Type": "Float", "DefaultValue": 0.0},
                                 {"Name": "R", "Type": "Float", "DefaultValue": 0.0},
                                 {"Name": "S", "Type": "String", "DefaultValue": ""}],
                  "Steps": [{"Name": "Decide", "Type": "Condition",
                             "Arguments": {"Conditions": list(conditions), "IfSteps": [], "ElseSteps": []}}]})
    return defn, defn.steps["Decide"]


BINARY = {"Equals": (False, True, False), "GreaterThan": (False, False, True),
          "GreaterThanOrEqualTo": (False, True, True), "LessThan": (True, False, False),
          "LessThanOrEqualTo": (True, True, False)}


@pytest.mark.parametrize("operator", list(BINARY))
def test_every_binary_operator_over_parameters(operator):
    defn, step = _condition_definition(
        {"Type": operator, "LeftValue": {"Get": "Parameters.L"}, "RightValue": {"Get": "Parameters.R"}})
    outcomes = tuple(condition_holds(step, defn, FakeResolver(parameters={"L": left, "R": 2.0}))
                     for left in (1.0, 2.0, 3.0))
    assert outcomes == BINARY[operator]


def test_not_or_in_and_the_implicit_and():
    defn, step = _condition_definition(
        {"Type": "In", "QueryValue": {"Get": "Parameters.S"}, "Values": ["a", {"Get": "Parameters.L"}, 7]},
        {"Type": "Or", "Conditions": [
            {"Type": "Not", "Condition": {"Type": "LessThan", "LeftValue": {"Get": "Parameters.R"},
                                          "RightValue": 10}},
            {"Type": "Equals", "LeftValue": {"Get": "Parameters.R"}, "RightValue": 1}]})

    def holds(s, left, right) -> bool:
        return condition_holds(step, defn, FakeResolver(parameters={"S": s, "L": left, "R": right}))

    assert holds("a", 0.0, 1.0)          # In by literal; Or by Equals (Not fails: 1 < 10)
    assert holds("b", "b", 11.0)         # In by a parameter; Or by Not (11 < 10 is false)
    assert not holds("b", 0.0, 1.0)      # In fails: the AND fails
    assert not holds("a", 0.0, 5.0)      # both Or branches fail
    assert holds(7, 0.0, 12)             # In by a number


def test_the_sdk_condition_over_a_property_file(sdk_definition):
    defn = parse(sdk_definition)
    check = defn.steps["Check"]
    uri = f"{PREP_OUT}/evaluation/evaluation.json"

    def holds(auc, threshold, instance, flag) -> bool:
        resolver = _resolver(**{uri: {"metrics": {"auc": {"value": auc}}}})
        resolver.parameters.update(Threshold=threshold, InstanceType=instance, Flag=flag)
        return condition_holds(check, defn, resolver)

    assert holds(0.8, 0.7, "ml.m5.large", True)
    assert holds(0.7, 0.7, "ml.m5.large", False)      # >= at the boundary; In holds
    assert not holds(0.69, 0.7, "ml.m5.large", True)
    assert holds(0.9, 0.7, "ml.m5.xlarge", True)      # In fails, Not(Flag == False) holds
    assert not holds(0.9, 0.7, "ml.m5.xlarge", False)  # In fails, Not fails


def test_comparisons_across_number_types_and_numeric_text():
    defn, step = _condition_definition(
        {"Type": "GreaterThan", "LeftValue": {"Get": "Parameters.S"}, "RightValue": {"Get": "Parameters.R"}})
    assert condition_holds(step, defn, FakeResolver(parameters={"S": "0.9", "R": 0.5}))  # a Lambda output
    assert not condition_holds(step, defn, FakeResolver(parameters={"S": 1, "R": 1.0}))
    assert condition_holds(step, defn, FakeResolver(parameters={"S": "b", "R": "a"}))  # strings compare as text
    defn, equals = _condition_definition(
        {"Type": "Equals", "LeftValue": {"Get": "Parameters.S"}, "RightValue": {"Get": "Parameters.R"}})
    assert condition_holds(equals, defn, FakeResolver(parameters={"S": 2, "R": 2.0}))
    assert condition_holds(equals, defn, FakeResolver(parameters={"S": True, "R": "true"}))
    assert not condition_holds(equals, defn, FakeResolver(parameters={"S": True, "R": 1}))
    assert not condition_holds(equals, defn, FakeResolver(parameters={"S": "x", "R": 1}))


def test_an_impossible_comparison_names_the_step_and_the_condition():
    defn, step = _condition_definition(
        {"Type": "Equals", "LeftValue": 1, "RightValue": 1},
        {"Type": "LessThan", "LeftValue": {"Get": "Parameters.S"}, "RightValue": 3})
    with pytest.raises(ValidationError, match=r"Step 'Decide': Arguments.Conditions\[1\] \(LessThan\) cannot "
                                              r"compare LeftValue 'abc' with RightValue 3"):
        condition_holds(step, defn, FakeResolver(parameters={"S": "abc"}))


def test_references_name_the_steps_an_expression_reads(sdk_definition):
    defn = parse(sdk_definition)
    assert references(defn.steps["Score"].arguments) == {"Model-CreateModel", "Prep"}
    assert references(defn.steps["Check"].arguments) == {"Prep"}
    assert references(defn.steps["Stop"].arguments) == set()
    assert references({"x": {"Std:JsonGet": {"S3Uri": {"Get": "Steps.A.B"}, "Path": "p"}}}) == {"A"}
