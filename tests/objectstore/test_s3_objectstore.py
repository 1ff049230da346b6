"""The conformance suite on S3ObjectStore, against an independent S3 server (moto's, in its own process)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from shipyard.objectstore import open_objectstore
from shipyard.objectstore.s3 import S3ObjectStore
from shipyard.testing.objectstore import ObjectStoreConformance
from shipyard.testing.server import free_port


@pytest.fixture(scope="module")
def moto_url():
    port = free_port()
    env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=2).read()
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError("moto server did not start")
                time.sleep(0.2)
        yield url
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)


class TestS3ObjectStoreOnMoto(ObjectStoreConformance):
    # moto 5.2 raises KeyError (HTTP 500) for parts of an aborted upload; AWS and our server say NoSuchUpload.
    part_ops_report_missing_upload = False

    @pytest.fixture
    def store(self, moto_url):
        return open_objectstore(f"s3://?endpoint_url={moto_url}&region=us-east-1&access_key=testing"
                                "&secret_key=testing")


def test_from_url_parameters(moto_url):
    store = S3ObjectStore.from_url(f"s3://?endpoint_url={moto_url}&region=eu-west-1&access_key=AK&secret_key=SK")
    assert store.region == "eu-west-1"
    assert store.client.meta.endpoint_url == moto_url
    creds = store.client._request_signer._credentials
    assert (creds.access_key, creds.secret_key) == ("AK", "SK")
    store.create_bucket("eu-bucket-test")  # a non-default region sends a LocationConstraint
    assert store.client.get_bucket_location(Bucket="eu-bucket-test")["LocationConstraint"] == "eu-west-1"
    store.delete_bucket("eu-bucket-test")
