"""A bring-your-own image end to end through the ECR API and the real registry: built FROM the local base image,
``docker login`` with GetAuthorizationToken's token, ``docker push`` to the ECR URI's local form, seen by
DescribeImages/ListImages, removed by BatchDeleteImage, its repository refused deletion while not empty."""

from __future__ import annotations

import base64
import os
import subprocess
import uuid

import pytest
from botocore.exceptions import ClientError

from shipyard.containers import uris

# A cold machine installs docker.io and debootstraps the base image inside the first test (about 3 minutes).
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

DOCKERFILE = """\
FROM {base}
COPY train /opt/program/train
RUN chmod +x /opt/program/train && python3 -c "import numpy"
ENV PATH=/opt/program:$PATH
"""
TRAIN = """\
#!/usr/bin/env python3
import numpy
print("train ran with numpy", numpy.__version__)
"""


@pytest.fixture(scope="module")
def docker_env(tmp_path_factory) -> dict[str, str]:
    """The engine's client with a private config folder (the login is this module's alone) and the classic
    builder (Debian's daemon, no buildx plugin needed)."""
    config = tmp_path_factory.mktemp("docker-config")
    return {**os.environ, "DOCKER_CONFIG": str(config), "DOCKER_BUILDKIT": "0"}


def _docker(engine, env, *args: str, input: bytes | None = None, check: bool = True, timeout: float = 300):
    done = subprocess.run(engine.command(*args), env=env, input=input, capture_output=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(args[:3])} failed: {done.stderr.decode(errors='replace')[-2000:]}")
    return done


@pytest.fixture(scope="module")
def byo_image(docker_engine, base_image, docker_env, tmp_path_factory) -> str:
    context = tmp_path_factory.mktemp("byo-context")
    (context / "Dockerfile").write_text(DOCKERFILE.format(base=base_image))
    (context / "train").write_text(TRAIN)
    ref = f"shipyard-test/byo:{uuid.uuid4().hex[:8]}"
    _docker(docker_engine, docker_env, "build", "-q", "-t", ref, str(context))
    yield ref
    _docker(docker_engine, docker_env, "image", "rm", "-f", ref, check=False)


def test_the_base_image_runs_python_with_numpy(docker_engine, byo_image, docker_env):
    done = _docker(docker_engine, docker_env, "run", "--rm", "--network", "none", byo_image, "train")
    assert b"train ran with numpy" in done.stdout


def test_push_through_the_ecr_uri_then_list_describe_and_delete(server, docker_engine, byo_image, docker_env,
                                                                  registry_program):
    ecr = server.client("ecr")
    settings = server.settings
    repo = f"byo/sklearn-{uuid.uuid4().hex[:6]}"
    uri = ecr.create_repository(repositoryName=repo)["repository"]["repositoryUri"]
    auth = ecr.get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(auth["authorizationToken"]).decode().partition(":")
    registry = auth["proxyEndpoint"].removeprefix("http://")
    local = {tag: uris.to_local(f"{uri}:{tag}", registry, settings.account, settings.region)
             for tag in ("v1", "stable")}
    assert local["v1"] == f"{registry}/{repo}:v1"

    _docker(docker_engine, docker_env, "tag", byo_image, local["v1"])
    _docker(docker_engine, docker_env, "tag", byo_image, local["stable"])
    refused = _docker(docker_engine, docker_env, "push", local["v1"], check=False)
    assert refused.returncode != 0, "the registry took a push without docker login"
    _docker(docker_engine, docker_env, "login", "--username", user, "--password-stdin", auth["proxyEndpoint"],
            input=password.encode())
    pushed = _docker(docker_engine, docker_env, "push", local["v1"]).stdout.decode()
    _docker(docker_engine, docker_env, "push", local["stable"])
    digest = next(w for w in pushed.split() if w.startswith("sha256:"))

    listed = ecr.list_images(repositoryName=repo)["imageIds"]
    assert sorted(listed, key=lambda i: i["imageTag"]) == [
        {"imageDigest": digest, "imageTag": "stable"}, {"imageDigest": digest, "imageTag": "v1"}]
    details = ecr.describe_images(repositoryName=repo)["imageDetails"]
    assert len(details) == 1
    detail = details[0]
    assert detail["imageDigest"] == digest and sorted(detail["imageTags"]) == ["stable", "v1"]
    assert detail["imageSizeInBytes"] > 10_000_000  # python3 and numpy, compressed
    assert detail["imageManifestMediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert detail["imagePushedAt"].timestamp() > 0
    by_tag = ecr.describe_images(repositoryName=repo, imageIds=[{"imageTag": "v1"}])["imageDetails"]
    assert by_tag[0]["imageDigest"] == digest
    assert ecr.list_images(repositoryName=repo, filter={"tagStatus": "UNTAGGED"})["imageIds"] == []

    with pytest.raises(ClientError) as e:
        ecr.delete_repository(repositoryName=repo)
    assert e.value.response["Error"]["Code"] == "RepositoryNotEmptyException"

    # Deleting one of two tags removes the tag; the image stays under the other.
    out = ecr.batch_delete_image(repositoryName=repo, imageIds=[{"imageTag": "v1"}])
    assert out == {"imageIds": [{"imageDigest": digest, "imageTag": "v1"}], "failures": [],
                   "ResponseMetadata": out["ResponseMetadata"]}
    assert ecr.list_images(repositoryName=repo)["imageIds"] == [{"imageDigest": digest, "imageTag": "stable"}]
    mismatch = ecr.batch_delete_image(repositoryName=repo, imageIds=[
        {"imageTag": "stable", "imageDigest": "sha256:" + "0" * 64}])
    assert [f["failureCode"] for f in mismatch["failures"]] == ["ImageTagDoesNotMatchDigest"]
    # Deleting the last tag deletes the image.
    out = ecr.batch_delete_image(repositoryName=repo, imageIds=[{"imageTag": "stable"}])
    assert out["imageIds"] == [{"imageDigest": digest, "imageTag": "stable"}] and out["failures"] == []
    assert ecr.list_images(repositoryName=repo)["imageIds"] == []
    assert ecr.describe_images(repositoryName=repo)["imageDetails"] == []
    pulled = _docker(docker_engine, docker_env, "pull", local["stable"], check=False)
    assert pulled.returncode != 0

    # Pushed again, a non-empty repository goes with force=True, its images with it.
    _docker(docker_engine, docker_env, "push", local["v1"])
    assert [i["imageTag"] for i in ecr.list_images(repositoryName=repo)["imageIds"]] == ["v1"]
    ecr.delete_repository(repositoryName=repo, force=True)
    with pytest.raises(ClientError) as e:
        ecr.list_images(repositoryName=repo)
    assert e.value.response["Error"]["Code"] == "RepositoryNotFoundException"
    ecr.create_repository(repositoryName=repo)  # a new repository of the same name starts empty ...
    assert ecr.list_images(repositoryName=repo)["imageIds"] == []
    _docker(docker_engine, docker_env, "push", local["stable"])  # ... and takes the same layers again
    assert ecr.list_images(repositoryName=repo)["imageIds"] == [{"imageDigest": digest, "imageTag": "stable"}]
    ecr.delete_repository(repositoryName=repo, force=True)
    for ref in local.values():
        _docker(docker_engine, docker_env, "image", "rm", ref, check=False)


def test_a_retagged_push_leaves_the_old_image_untagged_until_deleted_by_digest(
        server, docker_engine, byo_image, docker_env, registry_program, tmp_path):
    ecr = server.client("ecr")
    settings = server.settings
    repo = f"byo/retag-{uuid.uuid4().hex[:6]}"
    uri = ecr.create_repository(repositoryName=repo)["repository"]["repositoryUri"]
    auth = ecr.get_authorization_token()["authorizationData"][0]
    _, _, password = base64.b64decode(auth["authorizationToken"]).decode().partition(":")
    _docker(docker_engine, docker_env, "login", "-u", "AWS", "--password-stdin", auth["proxyEndpoint"],
            input=password.encode())
    target = uris.to_local(f"{uri}:v1", auth["proxyEndpoint"].removeprefix("http://"), settings.account,
                           settings.region)
    (tmp_path / "Dockerfile").write_text(f"FROM {byo_image}\nRUN echo second > /second\n")
    second = f"shipyard-test/second:{uuid.uuid4().hex[:8]}"
    _docker(docker_engine, docker_env, "build", "-q", "-t", second, str(tmp_path))
    try:
        digests = []
        for image in (byo_image, second):
            _docker(docker_engine, docker_env, "tag", image, target)
            out = _docker(docker_engine, docker_env, "push", target).stdout.decode()
            digests.append(next(w for w in out.split() if w.startswith("sha256:")))
        first, latest = digests
        assert first != latest
        assert ecr.list_images(repositoryName=repo, filter={"tagStatus": "TAGGED"})["imageIds"] == [
            {"imageDigest": latest, "imageTag": "v1"}]
        assert ecr.list_images(repositoryName=repo, filter={"tagStatus": "UNTAGGED"})["imageIds"] == [
            {"imageDigest": first}]
        page = ecr.describe_images(repositoryName=repo, maxResults=1)
        rest = ecr.describe_images(repositoryName=repo, maxResults=1, nextToken=page["nextToken"])
        assert "nextToken" not in rest
        assert {d["imageDigest"] for d in page["imageDetails"] + rest["imageDetails"]} == {first, latest}
        out = ecr.batch_delete_image(repositoryName=repo, imageIds=[{"imageDigest": first}])
        assert out["imageIds"] == [{"imageDigest": first}] and out["failures"] == []
        details = ecr.describe_images(repositoryName=repo)["imageDetails"]
        assert [(d["imageDigest"], d["imageTags"]) for d in details] == [(latest, ["v1"])]
        ecr.delete_repository(repositoryName=repo, force=True)
    finally:
        _docker(docker_engine, docker_env, "image", "rm", "-f", second, target, check=False)
