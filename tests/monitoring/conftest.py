"""One server for the monitoring API and SDK tests (session-scoped: deploying its endpoint takes seconds), with
an endpoint that captures data (an XGBoost model from tests/hosting's helpers) and a few captured invocations;
and the baseline documents a schedule names."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from shipyard.testing.server import ShipyardProcess

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "hosting"))

from monitoring_helpers import BUCKET, ENDPOINT, deploy_capturing_endpoint  # noqa: E402

FAST = {"SHIPYARD_PROCESSING_CONTINUOUS_INTERVAL": "0.3", "SHIPYARD_PROCESSING_STOP_GRACE": "3"}


@pytest.fixture(scope="session")
def mon_server(tmp_path_factory):
    """A server with the endpoint ``ENDPOINT`` capturing into ``s3://BUCKET/capture`` (records already there)."""
    proc = ShipyardProcess(tmp_path_factory.mktemp("monitoring-home"), env=FAST)
    proc.start()
    try:
        deploy_capturing_endpoint(proc)
        yield proc
    finally:
        proc.stop(kill_children=True)


@pytest.fixture(scope="session")
def baseline(mon_server) -> dict[str, str]:
    """statistics.json / constraints.json in AWS's schema for the endpoint's 4 CSV features, in S3."""
    s3 = mon_server.client("s3")
    features = [f"_c{i}" for i in range(4)]
    stats = {"version": 0, "dataset": {"item_count": 100}, "features": [
        {"name": f, "inferred_type": "Fractional", "numerical_statistics": {
            "common": {"num_present": 100, "num_missing": 0}, "mean": 0.5, "sum": 50.0, "std_dev": 0.29,
            "min": 0.0, "max": 1.0}} for f in features]}
    constraints = {"version": 0, "features": [
        {"name": f, "inferred_type": "Fractional", "completeness": 1.0, "num_constraints": {"is_non_negative": True}}
        for f in features],
        "monitoring_config": {"evaluate_constraints": "Enabled", "emit_metrics": "Enabled",
                              "datatype_check_threshold": 1.0, "domain_content_threshold": 1.0,
                              "distribution_constraints": {"perform_comparison": "Enabled",
                                                           "comparison_threshold": 0.1,
                                                           "comparison_method": "Robust"}}}
    s3.put_object(Bucket=BUCKET, Key="baseline/statistics.json", Body=json.dumps(stats).encode())
    s3.put_object(Bucket=BUCKET, Key="baseline/constraints.json", Body=json.dumps(constraints).encode())
    return {"statistics": f"s3://{BUCKET}/baseline/statistics.json",
            "constraints": f"s3://{BUCKET}/baseline/constraints.json", "endpoint": ENDPOINT}
