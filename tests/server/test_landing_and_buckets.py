"""The root URL in a browser gets a landing page; every signed or anonymous S3 client still gets S3.
CreateBucket of a bucket one already owns: 200 in us-east-1, BucketAlreadyOwnedByYou elsewhere (as AWS)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from botocore.exceptions import ClientError

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def test_browser_gets_landing_page(server):
    r = httpx.get(server.url + "/", headers=BROWSER, timeout=10)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert server.url in r.text  # the endpoint URL, as the browser reached it
    assert 'eval "$(shipyard env)"' in r.text
    assert "docs/deploy.md" in r.text and "<h1>Shipyard" in r.text
    assert httpx.head(server.url + "/", headers=BROWSER, timeout=10).status_code == 200


def test_s3_clients_still_get_s3_at_root(server):
    # anonymous, not asking for HTML: S3's answer (ListBuckets needs a signature)
    r = httpx.get(server.url + "/", timeout=10)
    assert r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text
    # presigned (query auth) even with a browser's Accept: S3, not the page
    s3 = server.client("s3")
    url = s3.generate_presigned_url("list_buckets", ExpiresIn=60)
    r = httpx.get(url, headers=BROWSER, timeout=10)
    assert "<ListAllMyBucketsResult" in r.text
    # signed (Authorization header): boto3's ListBuckets works
    assert isinstance(s3.list_buckets()["Buckets"], list)


def test_create_own_bucket_again_us_east_1_is_200(server):
    s3 = server.client("s3")
    name = f"again-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="k", Body=b"kept")
    assert s3.create_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"kept"  # nothing was reset


def test_create_own_bucket_again_elsewhere_is_409(server_factory):
    proc = server_factory(env={"SHIPYARD_REGION": "eu-west-1"})
    s3 = proc.client("s3")
    conf = {"LocationConstraint": "eu-west-1"}
    s3.create_bucket(Bucket="mine", CreateBucketConfiguration=conf)
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket="mine", CreateBucketConfiguration=conf)
    assert e.value.response["Error"]["Code"] == "BucketAlreadyOwnedByYou"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
