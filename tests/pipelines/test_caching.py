"""Cache keys over resolved arguments, and ISO-8601 durations."""

from __future__ import annotations

import copy

import pytest

from shipyard.errors import ValidationError
from shipyard.pipelines.caching import CACHE_KEY_FIELDS, cache_key, parse_duration
from shipyard.pipelines.definition import Step, parse
from shipyard.pipelines.expressions import evaluate

from .conftest import FakeResolver


def _train_arguments(sdk_definition, execution: str = "exec-1", train_uri: str = "s3://b/prep/train") -> dict:
    defn = parse(sdk_definition)
    resolver = FakeResolver(
        variables={"PipelineExecutionId": execution},
        properties={"Prep": {"ProcessingOutputConfig": {"Outputs": [
            {"OutputName": "train", "S3Output": {"S3Uri": train_uri}}]}}})
    return evaluate(defn.steps["Train"].arguments, defn, resolver)


def test_the_key_fields_are_the_aws_default_cache_key_attributes():
    assert CACHE_KEY_FIELDS["Processing"] == ("AppSpecification", "Environment", "ProcessingInputs")
    assert {"AlgorithmSpecification", "CheckpointConfig", "Environment", "HyperParameters",
            "InputDataConfig"} <= set(CACHE_KEY_FIELDS["Training"])
    assert set(CACHE_KEY_FIELDS["Transform"]) == {"DataProcessing", "Environment", "ModelName", "TransformInput"}
    assert {"HyperParameterTuningJobConfig", "TrainingJobDefinition"} <= set(CACHE_KEY_FIELDS["Tuning"])


def test_same_arguments_same_key_whatever_their_order_or_where_results_go(sdk_definition):
    step = parse(sdk_definition).steps["Train"]
    first = _train_arguments(sdk_definition)
    key = cache_key(step, first)
    assert len(key) == 64 and int(key, 16) >= 0
    assert cache_key(step, dict(reversed(list(copy.deepcopy(first).items())))) == key
    # a new execution writes elsewhere (OutputDataConfig, debug/profiler paths): the key is unchanged
    second = _train_arguments(sdk_definition, execution="exec-2")
    assert second["OutputDataConfig"] != first["OutputDataConfig"]
    assert cache_key(step, second) == key
    # fields outside the key do not matter
    other = copy.deepcopy(first)
    other["ResourceConfig"]["InstanceType"] = "ml.c5.xlarge"
    other["StoppingCondition"] = {"MaxRuntimeInSeconds": 60}
    other["TrainingJobName"] = "something-else"
    assert cache_key(step, other) == key


@pytest.mark.parametrize("change", ["hyperparameter", "new hyperparameter", "input", "image", "environment",
                                    "debug collections"])
def test_a_changed_key_field_changes_the_key(sdk_definition, change):
    step = parse(sdk_definition).steps["Train"]
    base = _train_arguments(sdk_definition)
    changed = copy.deepcopy(base)
    if change == "hyperparameter":
        changed["HyperParameters"]["eta"] = "0.2"
    elif change == "new hyperparameter":
        changed["HyperParameters"]["depth"] = "6"
    elif change == "input":
        changed = _train_arguments(sdk_definition, train_uri="s3://b/other/train")
    elif change == "image":
        changed["AlgorithmSpecification"]["TrainingImage"] = "img/train:2"
    elif change == "environment":
        changed["Environment"] = {"SEED": "1"}
    else:
        changed["DebugHookConfig"]["CollectionConfigurations"] = [{"CollectionName": "weights"}]
    assert cache_key(step, changed) != cache_key(step, base)


def test_the_step_type_is_part_of_the_key():
    arguments = {"Environment": {"A": "1"}}
    assert cache_key(Step("S", "Processing", arguments), arguments) != \
        cache_key(Step("S", "Training", arguments), arguments)
    # the step's name is not: a renamed step with the same work still hits
    assert cache_key(Step("S", "Processing", arguments), arguments) == \
        cache_key(Step("T", "Processing", arguments), arguments)


def test_a_transform_keys_on_its_model_name_not_its_output():
    step = Step("Score", "Transform", {})
    arguments = {"ModelName": "m-1", "TransformInput": {"DataSource": {"S3DataSource": {"S3Uri": "s3://in"}}},
                 "TransformOutput": {"S3OutputPath": "s3://out/exec-1"}}
    moved = dict(arguments, TransformOutput={"S3OutputPath": "s3://out/exec-2"})
    assert cache_key(step, moved) == cache_key(step, arguments)
    assert cache_key(step, dict(arguments, ModelName="m-2")) != cache_key(step, arguments)


def test_a_type_without_listed_fields_keys_on_all_its_arguments_and_its_target(sdk_definition):
    notify = parse(sdk_definition).steps["Notify"]
    assert "Lambda" not in CACHE_KEY_FIELDS
    arguments = {"model": "s3://m"}
    assert cache_key(notify, arguments) != cache_key(notify, {"model": "s3://n"})
    elsewhere = Step("Notify", "Lambda", notify.arguments, raw=dict(notify.raw, FunctionArn="arn:other"))
    assert cache_key(elsewhere, arguments) != cache_key(notify, arguments)


@pytest.mark.parametrize(("text", "seconds"), [
    ("PT1H", 3600.0), ("P30D", 30 * 86400.0), ("P1DT2H30M", 86400 + 2 * 3600 + 30 * 60.0), ("PT90S", 90.0),
    ("PT0.5S", 0.5), ("P1W", 7 * 86400.0), ("pt15m", 900.0), ("P1Y", 365 * 86400.0), ("P1M", 30 * 86400.0),
])
def test_iso_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "P", "PT", "1H", "PT1X", "P1H", "PTH", "one hour", "P1DT", None, 3600])
def test_bad_durations_are_rejected(text):
    with pytest.raises(ValidationError, match="is not an ISO-8601 duration"):
        parse_duration(text)
