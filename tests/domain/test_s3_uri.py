"""Every form SageMaker accepts for an S3 location scopes a job key the same way (domain.s3_uri + job_keys)."""

import pytest

from shipyard.domain.job_keys import s3_prefix
from shipyard.domain.s3_uri import parse_s3_uri


@pytest.mark.parametrize("uri", [
    "s3://bkt/data/train/",
    "https://bkt.s3.us-east-1.amazonaws.com/data/train/",
    "https://bkt.s3.amazonaws.com/data/train/",
    "https://s3.us-east-1.amazonaws.com/bkt/data/train/",
    "https://s3.amazonaws.com/bkt/data/train/",
])
def test_each_form_gives_the_same_prefix(uri):
    assert parse_s3_uri(uri) == ("bkt", "data/train/")
    assert s3_prefix(uri) == "bkt/data/train/"


@pytest.mark.parametrize("uri", ["", "file:///etc", "https://example.com/bkt/x", "s3://"])
def test_anything_else_scopes_nothing(uri):
    assert s3_prefix(uri) == ""
