"""The ECR operations through boto3 against a real server (and, for login and images, its real registry)."""

from __future__ import annotations

import base64
import time
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ecr(server):
    return server.client("ecr")


def _code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def test_create_describe_and_delete_a_repository(ecr, server):
    settings = server.settings
    made = ecr.create_repository(repositoryName="team/byo-sklearn", imageTagMutability="IMMUTABLE")["repository"]
    assert made["repositoryName"] == "team/byo-sklearn"
    assert made["repositoryArn"] == f"arn:aws:ecr:{settings.region}:{settings.account}:repository/team/byo-sklearn"
    assert made["repositoryUri"] == f"{settings.account}.dkr.ecr.{settings.region}.amazonaws.com/team/byo-sklearn"
    assert made["registryId"] == settings.account
    assert made["imageTagMutability"] == "IMMUTABLE"
    described = ecr.describe_repositories(repositoryNames=["team/byo-sklearn"])["repositories"]
    assert [r["repositoryArn"] for r in described] == [made["repositoryArn"]]
    assert described[0]["createdAt"] == made["createdAt"]
    deleted = ecr.delete_repository(repositoryName="team/byo-sklearn")["repository"]
    assert deleted["repositoryArn"] == made["repositoryArn"]
    with pytest.raises(ClientError) as e:
        ecr.describe_repositories(repositoryNames=["team/byo-sklearn"])
    assert _code(e) == "RepositoryNotFoundException"
    assert "CreateRepository" in e.value.response["Error"]["Message"]


def test_a_second_create_is_refused(ecr):
    ecr.create_repository(repositoryName="twice")
    with pytest.raises(ClientError) as e:
        ecr.create_repository(repositoryName="twice")
    assert _code(e) == "RepositoryAlreadyExistsException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_describe_repositories_pages_through_all_in_name_order(ecr):
    names = [f"paged-{i}" for i in range(5)]
    for name in reversed(names):
        ecr.create_repository(repositoryName=name)
    seen: list[str] = []
    kwargs: dict = {"maxResults": 2}
    for _ in range(20):
        page = ecr.describe_repositories(**kwargs)
        assert len(page["repositories"]) <= 2
        seen += [r["repositoryName"] for r in page["repositories"]]
        if "nextToken" not in page:
            break
        kwargs["nextToken"] = page["nextToken"]
    mine = [n for n in seen if n.startswith("paged-")]
    assert mine == names
    paginated = [r["repositoryName"] for p in ecr.get_paginator("describe_repositories").paginate()
                 for r in p["repositories"]]
    assert [n for n in paginated if n.startswith("paged-")] == names


def test_missing_repositories_answer_repository_not_found(ecr):
    for call in (lambda: ecr.delete_repository(repositoryName="never-made"),
                 lambda: ecr.describe_images(repositoryName="never-made"),
                 lambda: ecr.list_images(repositoryName="never-made"),
                 lambda: ecr.batch_delete_image(repositoryName="never-made", imageIds=[{"imageTag": "x"}])):
        with pytest.raises(ClientError) as e:
            call()
        assert _code(e) == "RepositoryNotFoundException"


def test_invalid_parameters_answer_invalid_parameter(ecr, server):
    account = server.settings.account
    other = "999999999999" if account != "999999999999" else "111111111111"
    ecr.create_repository(repositoryName="params")
    calls = [
        lambda: ecr.describe_repositories(registryId=other),
        lambda: ecr.create_repository(repositoryName="elsewhere", registryId=other),
        lambda: ecr.get_authorization_token(registryIds=[other]),
        lambda: ecr.describe_repositories(repositoryNames=["params"], maxResults=5),
        lambda: ecr.list_images(repositoryName="params", nextToken="not-a-token!"),
        lambda: ecr.describe_images(repositoryName="params", imageIds=[{"imageTag": "a"}], maxResults=5),
    ]
    for call in calls:
        with pytest.raises(ClientError) as e:
            call()
        assert _code(e) == "InvalidParameterException", e.value.response["Error"]
        assert e.value.response["Error"]["Message"]


def test_an_empty_repository_lists_no_images_and_reports_missing_ones(ecr):
    ecr.create_repository(repositoryName="empty")
    assert ecr.list_images(repositoryName="empty")["imageIds"] == []
    assert ecr.describe_images(repositoryName="empty")["imageDetails"] == []
    with pytest.raises(ClientError) as e:
        ecr.describe_images(repositoryName="empty", imageIds=[{"imageTag": "latest"}])
    assert _code(e) == "ImageNotFoundException"
    out = ecr.batch_delete_image(repositoryName="empty", imageIds=[
        {"imageTag": "latest"}, {}, {"imageDigest": "not-a-digest"}])
    assert out["imageIds"] == []
    assert [f["failureCode"] for f in out["failures"]] == ["ImageNotFound", "MissingDigestAndTag",
                                                         "InvalidImageDigest"]
    ecr.delete_repository(repositoryName="empty")  # empty: no force needed


def test_authorization_token_logs_in_to_the_registry(ecr, registry_program):
    data = ecr.get_authorization_token()["authorizationData"]
    assert len(data) == 1
    user, _, password = base64.b64decode(data[0]["authorizationToken"]).decode().partition(":")
    assert user == "AWS" and password
    endpoint = data[0]["proxyEndpoint"]
    assert endpoint.startswith("http://127.0.0.1:")
    assert data[0]["expiresAt"].timestamp() > time.time() + 3600
    with pytest.raises(urllib.error.HTTPError) as refused:  # the registry wants the login ...
        urllib.request.urlopen(endpoint + "/v2/", timeout=10)
    assert refused.value.code == 401
    req = urllib.request.Request(endpoint + "/v2/", headers={
        "Authorization": "Basic " + data[0]["authorizationToken"]})
    with urllib.request.urlopen(req, timeout=10) as resp:  # ... and the token is it
        assert resp.status == 200
    wrong = urllib.request.Request(endpoint + "/v2/", headers={
        "Authorization": "Basic " + base64.b64encode(b"AWS:wrong").decode()})
    with pytest.raises(urllib.error.HTTPError) as bad:
        urllib.request.urlopen(wrong, timeout=10)
    assert bad.value.code == 401
    again = ecr.get_authorization_token()["authorizationData"][0]
    assert again["proxyEndpoint"] == endpoint  # the same registry, not a second one
