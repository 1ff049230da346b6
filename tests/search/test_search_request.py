"""The pure half of Search: property names checked against botocore's record shapes, request parsing and its
errors, the order-preserving key encoding, and how a document becomes index entries."""

from __future__ import annotations

import random

import pytest

from shipyard.errors import ValidationError
from shipyard.metastore.search_query import (SEARCHABLE_KINDS, SearchFilter, index_entries, number_key,
                                             string_key)
from shipyard.search import SEARCH_TYPES, parse_search
from shipyard.search.properties import is_known


def test_every_search_type_is_indexed_and_accepts_tags():
    assert {t.kind for t in SEARCH_TYPES.values()} == SEARCHABLE_KINDS
    for t in SEARCH_TYPES.values():
        assert is_known(t.shape, "Tags.anything")


@pytest.mark.parametrize("shape,path,known", [
    ("TrainingJob", "HyperParameters.eta", True),
    ("TrainingJob", "InputDataConfig.DataSource.S3DataSource.S3Uri", True),
    ("TrainingJob", "Metrics.validation:auc", True),
    ("TrainingJob", "TrainingJobStatus", True),
    ("TrainingJob", "NoSuchThing", False),
    ("TrainingJob", "HyperParameters.", False),
    ("TrialComponent", "Parameters.lr.NumberValue", True),
    ("TrialComponent", "Parents.ExperimentName", True),
    ("TrialComponent", "Metrics.loss.Max", True),
    ("TrialComponent", "Status.Bogus", False),
    ("ModelPackage", "InferenceSpecification.Containers.Image", True),
])
def test_property_names_follow_the_record_shape(shape, path, known):
    assert is_known(shape, path) is known


def test_parse_builds_the_typed_query():
    t, q = parse_search({"Resource": "TrainingJob", "SortBy": "LastModifiedTime", "SortOrder": "Ascending",
                         "MaxResults": 7, "SearchExpression": {
                             "Filters": [{"Name": "HyperParameters.eta", "Value": "0.1"}],
                             "SubExpressions": [{"Operator": "Or", "Filters": [
                                 {"Name": "TrainingJobName", "Operator": "Contains", "Value": "a"},
                                 {"Name": "FailureReason", "Operator": "Exists"}]}]}})
    assert t.kind == "training-job" and t.record_key == "TrainingJob"
    assert (q.sort_by, q.descending, q.max_results) == (None, False, 7)  # LastModifiedTime: the default order
    assert q.expression is not None and q.expression.filters == (SearchFilter("HyperParameters.eta", "Equals", "0.1"),)
    assert q.expression.subexpressions[0].operator == "Or"
    assert q.columns["TrainingJobStatus"] == "status" and q.columns["CreationTime"] == "created"


@pytest.mark.parametrize("params,message", [
    ({"Resource": "Endpoint"}, "not searchable"),
    ({"Resource": "TrainingJob", "SortBy": "Bogus.Path"}, "'Bogus.Path' is not a property of TrainingJob"),
    ({"Resource": "TrainingJob", "SearchExpression": {"Filters": [{"Name": "X1", "Value": "1"}]}},
     "SearchExpression.Filters.1.Name: 'X1'"),
    ({"Resource": "TrainingJob", "SearchExpression": {"Filters": [
        {"Name": "TrainingJobName", "Operator": "Exists", "Value": "x"}]}}, "takes no Value"),
    ({"Resource": "TrainingJob", "SearchExpression": {"Filters": [
        {"Name": "TrainingJobName", "Operator": "In"}]}}, "needs a Value"),
    ({"Resource": "TrainingJob", "SearchExpression": {"NestedFilters": [{
        "NestedPropertyName": "InputDataConfig", "Filters": [{"Name": "TrainingJobName", "Value": "x"}]}]}},
     "inside the nested property"),
    ({"Resource": "TrainingJob", "SearchExpression": {"Filters": [
        {"Name": "TrainingJobName", "Value": str(i)} for i in range(21)]}}, "at most 20"),
    ({"Resource": "TrainingJob", "SearchExpression": {}}, "at least one"),
])
def test_parse_errors_name_what_to_fix(params, message):
    with pytest.raises(ValidationError) as e:
        parse_search(params)
    assert message in str(e.value) and e.value.code == "ValidationException"


def test_number_keys_sort_as_numbers_and_before_strings():
    values = [random.uniform(-1e6, 1e6) for _ in range(500)] + [0.0, -0.0, 1e-300, -1e-300, 3, -3, 1e300]
    assert sorted(values, key=number_key) == sorted(values)
    assert max(number_key(v) for v in values) < string_key("")


def test_index_entries_of_a_trial_component():
    doc = {"TrialComponentName": "run-1", "Parameters": {"lr": {"NumberValue": 0.5}, "opt": {"StringValue": "7"}},
           "Metrics": [{"MetricName": "loss", "Max": 2.0}], "_tags": [{"Key": "team", "Value": "a"}],
           "Tags": [{"Key": "stale", "Value": "b"}], "_trials": ["t1", "t2"], "_private": {"x": 1},
           "Parents": [{"TrialName": "T1", "ExperimentName": "E"}, {"TrialName": "T2", "ExperimentName": "E"}]}
    entries = index_entries(doc)
    by_path: dict[str, list] = {}
    for e in entries:
        by_path.setdefault(e.path, []).append(e)
    assert [e.key for e in by_path["Parameters.lr"]] == [number_key(0.5)]  # the parameter's bare value
    assert [e.key for e in by_path["Parameters.opt.StringValue"]] == [number_key(7), string_key("7")]
    assert [e.first for e in by_path["Parameters.opt.StringValue"]] == [True, False]  # sorts numerically
    assert [e.key for e in by_path["Metrics.loss.Max"]] == [number_key(2.0)]
    assert [e.key for e in by_path["Tags.team"]] == [string_key("a")] and "Tags.stale" not in by_path
    assert [e.elem for e in by_path["Parents.TrialName"]] == [0, 1]
    assert {e.key for e in by_path["_trials"]} == {string_key("t1"), string_key("t2")}
    assert not any(p.startswith("_private") for p in by_path)
