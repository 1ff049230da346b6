"""Search through boto3 and the SageMaker SDK against a real server: trial components in an experiment (its
Parents, parameters, every operator, Or sub-expressions, sort and paging), model packages (nested filters
over a list property, tags), and the errors a boto3 user sees (an unknown property named in the message).

The server is shared with other modules, so every query is narrowed to this module's own names."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from shipyard.testing.sdk import sdk_environment, sdk_session

pytestmark = [pytest.mark.timeout(120)]

TAG = uuid.uuid4().hex[:8]
EXPERIMENT = f"search-exp-{TAG}"
RUNS = 6


def _code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


@pytest.fixture(scope="module")
def sm(server):
    return server.client("sagemaker")


@pytest.fixture(scope="module")
def runs(sm):
    """An experiment with two trials; run i has lr = i/10, opt adam|sgd, and belongs to trial i % 2."""
    sm.create_experiment(ExperimentName=EXPERIMENT)
    trials = [f"search-trial-{TAG}-{j}" for j in range(2)]
    for t in trials:
        sm.create_trial(TrialName=t, ExperimentName=EXPERIMENT)
    names = []
    for i in range(RUNS):
        name = f"search-run-{TAG}-{i}"
        sm.create_trial_component(
            TrialComponentName=name, DisplayName=f"{TAG}-run-{i}-{'odd' if i % 2 else 'even'}",
            Parameters={"lr": {"NumberValue": i / 10}, "opt": {"StringValue": "sgd" if i % 3 == 0 else "adam"}},
            Status={"PrimaryStatus": "Completed"})
        sm.associate_trial_component(TrialComponentName=name, TrialName=trials[i % 2])
        names.append(name)
    return names, trials


def _search(sm, *filters, resource="ExperimentTrialComponent", key="TrialComponent", name_key="TrialComponentName",
            **kw) -> list[str]:
    """Every hit's name, following NextToken (bounded), narrowed to this module's records."""
    mine = {"Name": "DisplayName", "Operator": "Contains", "Value": TAG}
    expression = kw.pop("SearchExpression", {"Filters": [mine, *filters]})
    out: list[str] = []
    token = None
    for _ in range(50):
        paging = {"NextToken": token} if token else {}
        resp = sm.search(Resource=resource, SearchExpression=expression, **kw, **paging)
        out += [r[key][name_key] for r in resp["Results"]]
        token = resp.get("NextToken")
        if not token:
            return out
    raise AssertionError("Search paging did not end")


def _n(*ids: int) -> set[str]:
    return {f"search-run-{TAG}-{i}" for i in ids}


def test_search_by_parents_parameters_and_every_operator(sm, runs):
    _, trials = runs
    assert set(_search(sm, {"Name": "Parents.ExperimentName", "Operator": "Equals", "Value": EXPERIMENT})) == _n(
        *range(RUNS))
    assert set(_search(sm, {"Name": "Parents.TrialName", "Operator": "Equals", "Value": trials[1]})) == _n(1, 3, 5)
    assert set(_search(sm, {"Name": "Parents.TrialName", "Operator": "In", "Value": f"nope,{trials[0]}"})) == _n(
        0, 2, 4)
    cases = [
        ("Parameters.lr", "GreaterThan", "0.3", _n(4, 5)),
        ("Parameters.lr", "GreaterThanOrEqualTo", "0.3", _n(3, 4, 5)),
        ("Parameters.lr", "LessThan", "0.1", _n(0)),
        ("Parameters.lr", "LessThanOrEqualTo", "0.1", _n(0, 1)),
        ("Parameters.lr.NumberValue", "Equals", "0.2", _n(2)),
        ("Parameters.opt", "NotEquals", "adam", _n(0, 3)),
        ("Parameters.opt.StringValue", "In", "sgd,other", _n(0, 3)),
        ("DisplayName", "Contains", "odd", _n(1, 3, 5)),
        ("Status.PrimaryStatus", "Equals", "Completed", _n(*range(RUNS))),
    ]
    for name, op, value, want in cases:
        assert set(_search(sm, {"Name": name, "Operator": op, "Value": value})) == want, (name, op, value)
    assert set(_search(sm, {"Name": "Parameters.opt", "Operator": "Exists"})) == _n(*range(RUNS))
    assert set(_search(sm, {"Name": "Parameters.batch", "Operator": "NotExists"})) == _n(*range(RUNS))
    assert _search(sm, {"Name": "Parameters.lr", "Value": "0.5"}) == [f"search-run-{TAG}-5"]  # no Operator: Equals


def test_search_or_subexpressions_sort_and_pages(sm, runs):
    names, _ = runs
    expression = {"Filters": [{"Name": "DisplayName", "Operator": "Contains", "Value": TAG}],
                  "SubExpressions": [{"Operator": "Or", "Filters": [
                      {"Name": "Parameters.lr", "Operator": "LessThan", "Value": "0.15"},
                      {"Name": "Parameters.opt", "Operator": "Equals", "Value": "sgd"}]}]}
    assert set(_search(sm, SearchExpression=expression)) == _n(0, 1, 3)
    ascending = _search(sm, SortBy="Parameters.lr", SortOrder="Ascending", MaxResults=4)
    assert ascending == names
    assert _search(sm, SortBy="Parameters.lr", MaxResults=1) == list(reversed(names))  # Descending by default
    assert _search(sm, SortBy="CreationTime", SortOrder="Ascending", MaxResults=5) == names
    page = sm.search(Resource="ExperimentTrialComponent", MaxResults=2, SearchExpression={
        "Filters": [{"Name": "DisplayName", "Operator": "Contains", "Value": TAG}]})
    assert len(page["Results"]) == 2 and page["NextToken"]
    record = page["Results"][0]["TrialComponent"]
    assert record["Parents"][0]["ExperimentName"] == EXPERIMENT and "Parameters" in record


def test_sdk_experiment_analytics_dataframe_and_session_search(server, runs, tmp_path):
    from sagemaker.analytics import ExperimentAnalytics

    with sdk_environment(server, tmp_path):
        session = sdk_session()
        frame = ExperimentAnalytics(experiment_name=EXPERIMENT, sagemaker_session=session).dataframe()
        found = session.search(resource="ExperimentTrialComponent", sort_by="Parameters.lr", sort_order="Ascending",
                               max_results=2, search_expression={"Filters": [
                                   {"Name": "Parents.ExperimentName", "Operator": "Equals", "Value": EXPERIMENT}]})
    assert [r["TrialComponent"]["TrialComponentName"] for r in found["Results"]] == runs[0][:2]
    assert found["NextToken"]
    assert sorted(frame["TrialComponentName"]) == sorted(runs[0])
    by_name = frame.set_index("TrialComponentName")
    assert by_name.loc[f"search-run-{TAG}-4", "lr"] == pytest.approx(0.4)
    assert by_name.loc[f"search-run-{TAG}-3", "opt"] == "sgd"
    assert list(by_name.loc[f"search-run-{TAG}-3", "Experiments"]) == [EXPERIMENT]


def test_nested_filters_and_tags_on_model_packages(sm, server):
    group = f"search-group-{TAG}"
    bucket = f"search-{TAG}"
    s3 = server.client("s3")
    s3.create_bucket(Bucket=bucket)
    for key in ("one.tar.gz", "two.tar.gz", "c"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"model")
    sm.create_model_package_group(ModelPackageGroupName=group, Tags=[{"Key": "team", "Value": TAG}])
    images = [("img-a", f"s3://{bucket}/one.tar.gz"), ("img-b", f"s3://{bucket}/two.tar.gz")]
    for image, data in images:
        sm.create_model_package(ModelPackageGroupName=group, ModelPackageDescription=TAG, InferenceSpecification={
            "Containers": [{"Image": image, "ModelDataUrl": data}, {"Image": "img-c", "ModelDataUrl": f"s3://{bucket}/c"}],
            "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]})
    mine = {"Name": "ModelPackageGroupName", "Operator": "Equals", "Value": group}

    def versions(*nested) -> list[int]:
        found = _search(sm, resource="ModelPackage", key="ModelPackage", name_key="ModelPackageVersion",
                        SearchExpression={"Filters": [mine], **({"NestedFilters": list(nested)} if nested else {})},
                        SortBy="ModelPackageVersion", SortOrder="Ascending")
        return [int(v) for v in found]

    def containers(*filters):
        return {"NestedPropertyName": "InferenceSpecification.Containers", "Filters": [
            {"Name": f"InferenceSpecification.Containers.{n}", "Operator": o, "Value": v} for n, o, v in filters]}

    assert versions() == [1, 2]
    assert versions(containers(("Image", "Equals", "img-b"), ("ModelDataUrl", "Contains", "two"))) == [2]
    # both conditions hold, but in different containers: no single element satisfies them together
    assert versions(containers(("Image", "Equals", "img-c"), ("ModelDataUrl", "Contains", "two"))) == []
    groups = _search(sm, {"Name": "Tags.team", "Operator": "Equals", "Value": TAG}, resource="ModelPackageGroup",
                     key="ModelPackageGroup", name_key="ModelPackageGroupName",
                     SearchExpression={"Filters": [{"Name": "Tags.team", "Operator": "Equals", "Value": TAG}]})
    assert groups == [group]


def test_search_errors_name_what_to_fix(sm, runs):
    def error(**kw) -> ClientError:
        with pytest.raises(ClientError) as e:
            sm.search(**kw)
        assert _code(e) == "ValidationException"
        return e.value

    bad = {"Filters": [{"Name": "Parameters.lr", "Operator": "Equals", "Value": "1"},
                       {"Name": "NoSuchProperty.x", "Operator": "Equals", "Value": "1"}]}
    assert "NoSuchProperty.x" in str(error(Resource="ExperimentTrialComponent", SearchExpression=bad))
    assert "SortBy" in str(error(Resource="TrainingJob", SortBy="Bogus"))
    assert "needs a Value" in str(error(Resource="TrainingJob", SearchExpression={
        "Filters": [{"Name": "TrainingJobName", "Operator": "GreaterThan"}]}))
    assert "NextToken" in str(error(Resource="TrainingJob", NextToken="garbage"))
    assert "TrainingJob" in str(error(Resource="FeatureGroup"))  # names the resources it does search
    assert "at least one" in str(error(Resource="TrainingJob", SearchExpression={}))
