"""ECR image URIs <-> the local registry (pure functions, no engine)."""

from __future__ import annotations

import pytest

from shipyard.containers import uris

ACCOUNT, REGION, LOCAL = "123456789012", "us-east-1", "127.0.0.1:5123"


@pytest.mark.parametrize("uri, local", [
    ("123456789012.dkr.ecr.us-east-1.amazonaws.com/byo:1", "127.0.0.1:5123/byo:1"),
    ("123456789012.dkr.ecr.us-east-1.amazonaws.com/team/byo-sklearn:v1.2", "127.0.0.1:5123/team/byo-sklearn:v1.2"),
    ("123456789012.dkr.ecr.us-east-1.amazonaws.com/byo", "127.0.0.1:5123/byo:latest"),
    ("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com/byo:2", "127.0.0.1:5123/byo:2"),
    ("123456789012.dkr.ecr.us-east-1.amazonaws.com/byo@sha256:" + "a" * 64, "127.0.0.1:5123/byo@sha256:" + "a" * 64),
])
def test_an_ecr_uri_of_this_account_maps_to_the_local_registry(uri, local):
    assert uris.to_local(uri, LOCAL, ACCOUNT, REGION) == local
    assert uris.is_ecr(uri)


@pytest.mark.parametrize("ref", ["shipyard/test-base:1", "python", "localhost:5000/x:y", "quay.io/org/img:3"])
def test_other_references_are_left_alone(ref):
    assert uris.to_local(ref, LOCAL, ACCOUNT, REGION) == ref
    assert not uris.is_ecr(ref)


@pytest.mark.parametrize("uri, words", [
    ("999999999999.dkr.ecr.us-east-1.amazonaws.com/byo:1", "account 999999999999"),
    ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/byo:1", "eu-west-1"),
    ("123456789012.dkr.ecr.us-east-1.amazonaws.com/Upper:1", "not a valid ECR repository name"),
    ("123456789012.dkr.ecr.us-east-1.amazonaws.com/byo:bad!tag", "invalid tag"),
])
def test_an_ecr_uri_this_registry_cannot_hold_is_refused_saying_why(uri, words):
    with pytest.raises(uris.ImageUriError, match=words):
        uris.to_local(uri, LOCAL, ACCOUNT, REGION)


def test_to_ecr_inverts_to_local_and_repository_uri_matches():
    uri = uris.repository_uri(ACCOUNT, REGION, "team/byo") + ":v3"
    assert uris.to_ecr(uris.to_local(uri, LOCAL, ACCOUNT, REGION), LOCAL, ACCOUNT, REGION) == uri
    assert uris.to_ecr("shipyard/test-base:1", LOCAL, ACCOUNT, REGION) == "shipyard/test-base:1"


def test_parse_splits_registry_repository_tag_and_digest():
    assert uris.parse("127.0.0.1:5000/a/b:c") == uris.ImageRef("127.0.0.1:5000", "a/b", "c")
    assert uris.parse("a/b") == uris.ImageRef("", "a/b")
    assert uris.parse("host.example:443/a@sha256:" + "b" * 64).digest == "sha256:" + "b" * 64
