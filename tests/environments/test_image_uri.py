"""The one image-URI parser that the built-in registry and the environment resolver share."""

from __future__ import annotations

import pytest

from shipyard.algorithms.registry import repository
from shipyard.environments.image_uri import repository_and_tag, split_image
from shipyard.environments.spec import parse_image

ECR = "683313688378.dkr.ecr.us-east-1.amazonaws.com"


@pytest.mark.parametrize("uri,expected", [
    (f"{ECR}/sagemaker-xgboost:1.7-1", (ECR, "sagemaker-xgboost", "1.7-1")),
    ("localhost:5000/sagemaker-xgboost:1.7-1", ("localhost:5000", "sagemaker-xgboost", "1.7-1")),
    ("localhost/team/kmeans", ("localhost", "team/kmeans", "")),
    ("127.0.0.1:5000/org/pytorch-training:2.0.1-cpu-py310", ("127.0.0.1:5000", "org/pytorch-training",
                                                             "2.0.1-cpu-py310")),
    ("ghcr.io/org/sklearn@sha256:abcd", ("ghcr.io", "org/sklearn", "sha256:abcd")),
    ("org/sklearn:1.2-1@sha256:abcd", ("", "org/sklearn", "1.2-1")),
    ("  Pytorch:2.1 ", ("", "Pytorch", "2.1")),
    ("xgboost", ("", "xgboost", "")),
])
def test_split_image(uri, expected):
    assert split_image(uri) == expected


def test_a_registry_port_is_not_a_tag():
    """The bug both copies of the old regex had: ``localhost:5000/...`` parsed as repository ``localhost``."""
    assert repository_and_tag("localhost:5000/sagemaker-xgboost:1.7-1") == ("sagemaker-xgboost", "1.7-1")
    assert repository("localhost:5000/sagemaker-xgboost:1.7-1") == "sagemaker-xgboost"
    assert parse_image("localhost:5000/sagemaker-scikit-learn:1.2-1-cpu-py3") == ("sagemaker-scikit-learn",
                                                                                  "1.2-1-cpu-py3")


def test_registry_and_resolver_agree():
    for uri in (f"{ECR}/sagemaker-scikit-learn:1.2-1", "localhost:5000/kmeans:1", "ghcr.io/a/b/pca@sha256:0",
                "XGBoost"):
        assert repository(uri) == repository_and_tag(uri)[0]
