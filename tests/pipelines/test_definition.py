"""Parsing and validating the definition the SageMaker SDK emits: steps, edges, and every rejection, each naming
the step and the field."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable

import pytest

from shipyard.errors import ValidationError
from shipyard.pipelines.definition import Parameter, PropertyFile, RetryPolicy, bind_parameters, parse


def _steps(raw: dict) -> dict[str, dict]:
    """Every step dict of a raw definition by name, branch steps included (to mutate copies)."""
    found: dict[str, dict] = {}

    def visit(items: list) -> None:
        for item in items:
            found[item["Name"]] = item
            if item["Type"] == "Condition":
                visit(item["Arguments"].get("IfSteps", []))
                visit(item["Arguments"].get("ElseSteps", []))

    visit(raw["Steps"])
    return found


def test_the_sdk_definition_parses_into_typed_steps(sdk_definition):
    defn = parse(json.dumps(sdk_definition))
    assert list(defn.steps) == ["Prep", "Check", "Train", "Model-CreateModel", "Score", "Notify", "Stop", "Report"]
    assert {n: s.type for n, s in defn.steps.items()} == {
        "Prep": "Processing", "Check": "Condition", "Train": "Training", "Model-CreateModel": "Model",
        "Score": "Transform", "Notify": "Lambda", "Stop": "Fail", "Report": "Fail"}
    assert defn.parameters["Threshold"] == Parameter("Threshold", "Float", 0.7)
    assert defn.parameters["InstanceType"] == Parameter("InstanceType", "String", "ml.m5.large",
                                                        ("ml.m5.large", "ml.m5.xlarge"))
    assert defn.parameters["Count"] == Parameter("Count", "Integer", 1)
    assert defn.parameters["Flag"] == Parameter("Flag", "Boolean", True)
    assert defn.parameters["InputData"].default is None
    prep = defn.steps["Prep"]
    assert prep.cache_enabled and prep.cache_expire_after == 3600.0
    assert prep.property_files == (PropertyFile("Eval", "evaluation", "evaluation.json"),)
    assert prep.retry_policies == (
        RetryPolicy(("Step.SERVICE_FAULT",), interval_seconds=2.0, backoff_rate=2.0, max_attempts=3),
        RetryPolicy(("SageMaker.CAPACITY_ERROR",), interval_seconds=1.0, backoff_rate=2.0, max_attempts=None,
                    expire_after_min=10))
    check = defn.steps["Check"]
    assert check.if_steps == ("Train", "Model-CreateModel", "Score", "Notify") and check.else_steps == ("Stop",)
    assert list(check.arguments) == ["Conditions"] and len(check.arguments["Conditions"]) == 2
    assert check.depends_on == ("Prep",)
    notify = defn.steps["Notify"]
    assert notify.output_parameters == ("status",)
    assert notify.raw["FunctionArn"].endswith(":function:notify")
    assert defn.steps["Train"].arguments["HyperParameters"] == {"eta": "0.1"}


def test_edges_come_from_depends_on_references_and_branches(sdk_definition):
    defn = parse(sdk_definition)
    assert {name: set(defn.upstream(name)) for name in defn.steps} == {
        "Prep": set(),
        "Check": {"Prep"},                                  # DependsOn and the JsonGet property file
        "Train": {"Check", "Prep"},                         # its branch, and Outputs['train']
        "Model-CreateModel": {"Check", "Train"},            # ModelArtifacts
        "Score": {"Check", "Model-CreateModel", "Prep"},    # ModelName and the input S3Uri
        "Notify": {"Check", "Train"},
        "Stop": {"Check"},
        "Report": {"Notify"},                               # a top-level step after a branch step
    }
    assert defn.downstream("Prep") == {"Check", "Train", "Score"}
    assert defn.downstream("Report") == frozenset()
    assert defn.gate("Train") == ("Check", True) and defn.gate("Stop") == ("Check", False)
    assert defn.gate("Prep") is None and defn.gate("Report") is None
    order = defn.order()
    assert sorted(order) == sorted(defn.steps)
    for name in defn.steps:
        assert all(order.index(up) < order.index(name) for up in defn.upstream(name))


def test_order_breaks_ties_by_definition_order():
    defn = parse({"Version": "2020-12-01", "Steps": [
        {"Name": "Late", "Type": "Fail", "Arguments": {}, "DependsOn": ["Early"]},
        {"Name": "Early", "Type": "Processing", "Arguments": {}},
        {"Name": "Other", "Type": "Processing", "Arguments": {}}]})
    assert defn.order() == ("Early", "Late", "Other")


def _set(path: list, value) -> Callable[[dict], None]:
    """A mutation that sets raw[...path] = value, where path[0] is a step name."""
    def apply(raw: dict) -> None:
        target = _steps(raw)[path[0]]
        for key in path[1:-1]:
            target = target[key]
        target[path[-1]] = value
    return apply


def _move_stop_into_both_branches(raw: dict) -> None:
    arguments = _steps(raw)["Check"]["Arguments"]
    arguments["IfSteps"].append(copy.deepcopy(arguments["ElseSteps"][0]))


def _add_step(step: dict) -> Callable[[dict], None]:
    return lambda raw: raw["Steps"].append(step)


S3URI = ["Train", "Arguments", "InputDataConfig", 0, "DataSource", "S3DataSource", "S3Uri"]
JSONGET = ["Check", "Arguments", "Conditions", 0, "LeftValue", "Std:JsonGet", "PropertyFile"]
REJECTIONS = {
    "unknown step type": (_set(["Prep", "Type"], "Preprocessing"),
                          ["Step 'Prep'", "Type 'Preprocessing'"]),
    "duplicate names": (_set(["Report", "Name"], "Prep"), ["Step 'Prep'", "more than one step"]),
    "DependsOn a missing step": (_set(["Check", "DependsOn"], ["Prepare"]),
                                 ["Step 'Check': DependsOn refers to step 'Prepare' which does not exist"]),
    "Get of a missing step": (
        _set(S3URI, {"Get": "Steps.Prepare.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"}),
        ["Step 'Train': Arguments.InputDataConfig[0].DataSource.S3DataSource.S3Uri refers to step 'Prepare' "
         "which does not exist"]),
    "a property the step type lacks": (
        _set(S3URI, {"Get": "Steps.Prep.ModelArtifacts.S3ModelArtifacts"}),
        ["Step 'Train': Arguments.InputDataConfig[0].DataSource.S3DataSource.S3Uri",
         "property 'ModelArtifacts' of Processing step 'Prep'"]),
    "a misspelt property": (
        _set(["Model-CreateModel", "Arguments", "PrimaryContainer", "ModelDataUrl"],
             {"Get": "Steps.Train.ModelArtefacts.S3ModelArtifacts"}),
        ["Step 'Model-CreateModel': Arguments.PrimaryContainer.ModelDataUrl",
         "property 'ModelArtefacts' of Training step 'Train'"]),
    "a condition's property": (
        _set(["Report", "Arguments", "ErrorMessage"], {"Get": "Steps.Check.Result"}),
        ["Step 'Report': Arguments.ErrorMessage", "property 'Result' of Condition step 'Check'"]),
    "a malformed property path": (
        _set(S3URI, {"Get": "Steps.Prep.ProcessingOutputConfig.Outputs['train'.S3Output.S3Uri"}),
        ["Step 'Train': Arguments.InputDataConfig[0].DataSource.S3DataSource.S3Uri", "malformed"]),
    "a missing parameter": (
        _set(["Stop", "Arguments", "ErrorMessage", "Std:Join", "Values", 1], {"Get": "Parameters.Limit"}),
        ["Step 'Stop': Arguments.ErrorMessage.Std:Join.Values[1] refers to parameter 'Limit'"]),
    "an unknown execution variable": (
        _set(["Report", "Arguments", "ErrorMessage"], {"Get": "Execution.PipelineOwner"}),
        ["Step 'Report': Arguments.ErrorMessage refers to execution variable 'PipelineOwner'"]),
    "an unknown property file": (
        _set(JSONGET, {"Get": "Steps.Prep.PropertyFiles.Evaluation"}),
        ["Step 'Check': Arguments.Conditions[0].LeftValue.Std:JsonGet.PropertyFile",
         "property file 'Evaluation'"]),
    "a property file of a step without one": (
        _set(JSONGET, {"Get": "Steps.Train.PropertyFiles.Eval"}),
        ["Step 'Check'", "property file 'Eval' which step 'Train' does not declare"]),
    "an undeclared lambda output": (
        _set(["Report", "Arguments", "ErrorMessage", "Std:Join", "Values", 1],
             {"Get": "Steps.Notify.OutputParameters['state']"}),
        ["Step 'Report': Arguments.ErrorMessage.Std:Join.Values[1]", "output parameter 'state'"]),
    "a reference to a Fail step": (
        _set(["Notify", "Arguments", "model"], {"Get": "Steps.Stop.ErrorMessage"}),
        ["Step 'Notify': Arguments.model refers to Fail step 'Stop'"]),
    "a cycle": (_set(["Prep", "DependsOn"], ["Report"]), ["cycle", "Prep", "Check", "Notify", "Report"]),
    "a step in both branches": (_move_stop_into_both_branches,
                                ["Step 'Stop' is in both Arguments.IfSteps and Arguments.ElseSteps",
                                 "Condition step 'Check'"]),
    "an unknown condition type": (
        _set(["Check", "Arguments", "Conditions", 1, "Type"], "Xor"),
        ["Step 'Check': Arguments.Conditions[1].Type 'Xor'"]),
    "a condition without its operand": (
        lambda raw: _steps(raw)["Check"]["Arguments"]["Conditions"][0].pop("RightValue"),
        ["Step 'Check': Arguments.Conditions[0].RightValue is missing"]),
    "a property file on a missing output": (
        _set(["Prep", "PropertyFiles", 0, "OutputName"], "metrics"),
        ["Step 'Prep': PropertyFiles[0].OutputName 'metrics'", "evaluation, train"]),
    "an unknown retry exception": (
        _set(["Prep", "RetryPolicies", 0, "ExceptionType"], ["Step.TIMEOUT"]),
        ["Step 'Prep': RetryPolicies[0].ExceptionType 'Step.TIMEOUT'"]),
    "both MaxAttempts and ExpireAfterMin": (
        _set(["Prep", "RetryPolicies", 0, "ExpireAfterMin"], 5),
        ["Step 'Prep': RetryPolicies[0] sets both MaxAttempts and ExpireAfterMin"]),
    "too many attempts": (_set(["Prep", "RetryPolicies", 0, "MaxAttempts"], 21),
                          ["Step 'Prep': RetryPolicies[0].MaxAttempts", "21"]),
    "a bad ExpireAfter": (_set(["Prep", "CacheConfig", "ExpireAfter"], "1 hour"),
                          ["Step 'Prep': CacheConfig.ExpireAfter", "'1 hour'"]),
    "a DependsOn that is not a list": (_set(["Check", "DependsOn"], "Prep"), ["Step 'Check': DependsOn"]),
    "a Join without Values": (
        _set(["Report", "Arguments", "ErrorMessage"], {"Std:Join": {"On": ","}}),
        ["Step 'Report'", "Arguments.ErrorMessage", "Std:Join"]),
    "a JsonGet without a source": (
        _set(["Check", "Arguments", "Conditions", 0, "LeftValue"], {"Std:JsonGet": {"Path": "a"}}),
        ["Step 'Check'", "Arguments.Conditions[0].LeftValue", "PropertyFile or an S3Uri"]),
    "a default of the wrong type": (
        lambda raw: raw["Parameters"][2].update(DefaultValue="one"), ["Parameter 'Count'", "'one'", "Integer"]),
    "a default outside its enum": (
        lambda raw: raw["Parameters"][1].update(DefaultValue="ml.p3.2xlarge"),
        ["Parameter 'InstanceType'", "'ml.p3.2xlarge'", "EnumValues"]),
    "an unknown parameter type": (
        lambda raw: raw["Parameters"][0].update(Type="Double"), ["Parameter 'Threshold'", "Type 'Double'"]),
    "a parameter declared twice": (
        lambda raw: raw["Parameters"].append(dict(raw["Parameters"][0])), ["Parameter 'Threshold'", "twice"]),
    "no steps": (lambda raw: raw.update(Steps=[]), ["Steps must be a non-empty list"]),
}


@pytest.mark.parametrize("case", list(REJECTIONS))
def test_a_bad_definition_is_rejected_naming_the_step_and_the_field(sdk_definition, case):
    mutate, expected = REJECTIONS[case]
    raw = copy.deepcopy(sdk_definition)
    parse(copy.deepcopy(raw))  # the unmutated definition is fine: the mutation alone is what fails
    mutate(raw)
    with pytest.raises(ValidationError) as caught:
        parse(json.dumps(raw))
    assert caught.value.code == "ValidationException"
    for text in expected:
        assert text in caught.value.message


def test_a_two_step_cycle_names_its_path():
    raw = {"Version": "2020-12-01", "Steps": [
        {"Name": "A", "Type": "Processing", "Arguments": {}, "DependsOn": ["B"]},
        {"Name": "B", "Type": "Training", "Arguments": {"X": {"Get": "Steps.A.ProcessingJobArn"}}}]}
    with pytest.raises(ValidationError, match=r"Steps form a cycle: (A -> B -> A|B -> A -> B)"):
        parse(raw)


@pytest.mark.parametrize("text", ["", "{", "[1, 2]", "null", '"steps"'])
def test_text_that_is_not_a_definition_is_rejected(text):
    with pytest.raises(ValidationError, match="PipelineDefinition"):
        parse(text)


def test_bind_parameters_types_values_and_applies_defaults(sdk_definition):
    defn = parse(sdk_definition)
    bound = bind_parameters(defn, [{"Name": "InputData", "Value": "s3://b/in"}, {"Name": "Count", "Value": "3"},
                                   {"Name": "Threshold", "Value": "0.9"}, {"Name": "Flag", "Value": "False"}])
    assert bound == {"Threshold": 0.9, "InstanceType": "ml.m5.large", "Count": 3, "Flag": False,
                     "InputData": "s3://b/in"}
    assert isinstance(bound["Count"], int) and isinstance(bound["Threshold"], float)
    assert bind_parameters(defn, [{"Name": "InputData", "Value": "x"}, {"Name": "Threshold", "Value": "1"}]) \
        ["Threshold"] == 1.0


@pytest.mark.parametrize(("given", "expected"), [
    ([], "Parameter 'InputData' has no DefaultValue"),
    ([{"Name": "InputData", "Value": "x"}, {"Name": "Epochs", "Value": "3"}], "parameter 'Epochs' is not declared"),
    ([{"Name": "InputData", "Value": "x"}, {"Name": "Count", "Value": "three"}],
     "Parameter 'Count': Value 'three' is not a valid Integer"),
    ([{"Name": "InputData", "Value": "x"}, {"Name": "Count", "Value": "1.5"}], "Parameter 'Count'"),
    ([{"Name": "InputData", "Value": "x"}, {"Name": "Threshold", "Value": "high"}], "Parameter 'Threshold'"),
    ([{"Name": "InputData", "Value": "x"}, {"Name": "Threshold", "Value": "nan"}], "Parameter 'Threshold'"),
    ([{"Name": "InputData", "Value": "x"}, {"Name": "Flag", "Value": "yes"}],
     "Parameter 'Flag': Value 'yes' is not a valid Boolean"),
    ([{"Name": "InputData", "Value": "x"}, {"Name": "InstanceType", "Value": "ml.p3.2xlarge"}],
     "Parameter 'InstanceType': value 'ml.p3.2xlarge' is not one of its EnumValues"),
    ([{"Name": "InputData", "Value": "x"}, {"Name": "InputData", "Value": "y"}], "'InputData' is given twice"),
])
def test_bind_parameters_rejects_what_cannot_run(sdk_definition, given, expected):
    with pytest.raises(ValidationError) as caught:
        bind_parameters(parse(sdk_definition), given)
    assert expected in caught.value.message


def test_a_missing_step_lookup_names_it(sdk_definition):
    defn = parse(sdk_definition)
    assert defn.step("Prep").type == "Processing"
    with pytest.raises(ValidationError, match="Step 'Evaluate' does not exist"):
        defn.step("Evaluate")


def test_property_roots_are_the_describe_output_members():
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    from shipyard.pipelines.definition import PROPERTY_ROOTS

    for step_type, operation in [("Training", "DescribeTrainingJob"), ("Processing", "DescribeProcessingJob"),
                                 ("Transform", "DescribeTransformJob"), ("Model", "DescribeModel"),
                                 ("RegisterModel", "DescribeModelPackage"),
                                 ("Tuning", "DescribeHyperParameterTuningJob")]:
        members = set(model.operation_model(operation).output_shape.members)
        extra = {"TrainingJobSummaries"} if step_type == "Tuning" else set()
        assert members | extra <= PROPERTY_ROOTS[step_type], (step_type, members - PROPERTY_ROOTS[step_type])


def test_callback_steps_and_a_condition_nested_in_a_branch():
    defn = parse({"Version": "2020-12-01", "Steps": [
        {"Name": "Ask", "Type": "Callback", "Arguments": {"model": "m"}, "SqsQueueUrl": "https://sqs/q",
         "OutputParameters": [{"OutputName": "approved", "OutputType": "Boolean"}]},
        {"Name": "Outer", "Type": "Condition", "Arguments": {
            "Conditions": [{"Type": "Equals", "LeftValue": {"Get": "Steps.Ask.OutputParameters['approved']"},
                            "RightValue": True}],
            "IfSteps": [{"Name": "Inner", "Type": "Condition", "Arguments": {
                "Conditions": [{"Type": "Equals", "LeftValue": 1, "RightValue": 1}],
                "IfSteps": [{"Name": "Deep", "Type": "Processing", "Arguments": {}}], "ElseSteps": []}}],
            "ElseSteps": []}}]})
    assert defn.steps["Ask"].raw["SqsQueueUrl"] == "https://sqs/q"
    assert defn.steps["Ask"].output_parameters == ("approved",)
    assert defn.upstream("Outer") == {"Ask"}
    assert defn.gate("Inner") == ("Outer", True) and defn.gate("Deep") == ("Inner", True)
    assert defn.upstream("Deep") == {"Inner"}
    assert defn.order() == ("Ask", "Outer", "Inner", "Deep")


def test_property_files_belong_to_processing_steps():
    with pytest.raises(ValidationError, match="Step 'T': PropertyFiles are only allowed on Processing steps"):
        parse({"Version": "2020-12-01", "Steps": [
            {"Name": "T", "Type": "Training", "Arguments": {},
             "PropertyFiles": [{"PropertyFileName": "E", "OutputName": "o", "FilePath": "e.json"}]}]})
