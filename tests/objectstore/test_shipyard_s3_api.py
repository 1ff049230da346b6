"""The conformance suite on S3ObjectStore pointed at Shipyard's own S3 API (a real server on loopback).

The same checks that the local folder store and moto pass, now through boto3 -> the server's S3 routes
(``api/s3.py``) -> the server's object store, so a wire-level mistake (an error code, a header, a listing
marker) shows up as a failure here rather than in a user's SDK.
"""

from __future__ import annotations

import pytest

from shipyard.objectstore.s3 import S3ObjectStore
from shipyard.testing.objectstore import ObjectStoreConformance


class TestShipyardS3Api(ObjectStoreConformance):
    @pytest.fixture
    def store(self, server):
        return S3ObjectStore(region=server.region, client=server.client("s3"))
