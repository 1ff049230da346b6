"""Per-variant metrics: the recorder, Prometheus /metrics, the JSON route, `shipyard endpoints describe/compare`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from shipyard.serving.compare import compare, two_proportion_z
from shipyard.serving.metrics import RING, VariantMetrics, quantile

from feature_helpers import ROW, delete, deploy, get_json, get_text, make_model, variant


def test_recorder_counts_latencies_and_busy_time():
    m = VariantMetrics()
    s = m.begin()
    s2 = m.begin()
    assert m.in_flight == 2
    time.sleep(0.05)
    m.end(s, 0.01, 200)
    m.end(s2, 0.02, 424)
    assert (m.invocations, m.errors_4xx, m.errors_5xx, m.in_flight) == (2, 1, 0, 0)
    assert m.busy_seconds() == pytest.approx(0.1, abs=0.03)  # two requests in flight for ~50 ms
    m.end(m.begin(), 0.0, 0)  # no model reached: not an invocation
    m.end(m.begin(), 0.0, 503)
    assert (m.invocations, m.errors_5xx) == (3, 1)
    assert m.samples("model") == [0.01, 0.02, 0.0]
    assert m.samples("overhead")[0] == pytest.approx(0.05 - 0.01, abs=0.03)  # elapsed minus model time
    for i in range(RING + 10):  # the ring keeps the newest RING samples, oldest first
        m.end(m.begin(), float(i), 200)
    assert len(m.samples()) == RING and m.samples()[0] == 10.0 and m.samples()[-1] == float(RING + 9)
    assert quantile([3.0, 1.0, 2.0, 4.0], 0.5) == 2.0 and quantile([1.0] * 99 + [9.0], 0.99) == 1.0
    assert quantile([], 0.5) is None


def test_significance_tests():
    z, p = two_proportion_z(5, 100, 30, 100)
    assert z < 0 and p < 1e-4
    assert two_proportion_z(0, 50, 0, 60) == (0.0, 1.0)
    base = {"Invocation4XXErrors": 0, "Invocation5XXErrors": 0, "Invocations": 100}
    a = dict(base, VariantName="A", ModelLatencySamplesMs=[1.0 + i / 100 for i in range(100)])
    b = dict(base, VariantName="B", ModelLatencySamplesMs=[5.0 + i / 100 for i in range(100)])
    r = compare(a, b)
    assert r["latency"]["significant"] and r["latency"]["p"] < 1e-6 and not r["errors"]["significant"]
    same = compare(a, dict(a, VariantName="A2"))
    assert not same["latency"]["significant"] and same["latency"]["p"] > 0.5


def _cli(server, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SHIPYARD_"))}
    env.update(server.env())
    return subprocess.run([sys.executable, "-m", "shipyard.cli", *args], env=env, capture_output=True, text=True,
                          timeout=60)


def _prom(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        m = re.match(r"^(\w+)\{(.*)\} (\S+)$", line)
        if m and m.group(1) == name:
            got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
            if all(got.get(k) == v for k, v in labels.items()):
                return float(m.group(3))
    raise AssertionError(f"{name} {labels} not in /metrics")


def test_metrics_routes_and_cli(server):
    rt = server.client("sagemaker-runtime")
    make_model(server, "met-a", 2.0)
    make_model(server, "met-b", 1.0)
    deploy(server, "metrics", [variant("A", "met-a"), variant("B", "met-b", count=2)])
    for _ in range(60):
        rt.invoke_endpoint(EndpointName="metrics", Body=ROW, ContentType="text/csv", TargetVariant="A")
        rt.invoke_endpoint(EndpointName="metrics", Body=ROW, ContentType="text/csv", TargetVariant="B")
    for _ in range(30):
        with pytest.raises(ClientError):
            rt.invoke_endpoint(EndpointName="metrics", Body=b"1,2", ContentType="text/csv", TargetVariant="B")

    with urllib.request.urlopen(f"{server.url}/metrics", timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    assert "# TYPE shipyard_endpoint_invocations_total counter" in text
    a, b = {"endpoint": "metrics", "variant": "A"}, {"endpoint": "metrics", "variant": "B"}
    assert _prom(text, "shipyard_endpoint_invocations_total", **a) == 60
    assert _prom(text, "shipyard_endpoint_invocations_total", **b) == 90
    assert _prom(text, "shipyard_endpoint_invocation_4xx_errors_total", **b) == 30
    assert _prom(text, "shipyard_endpoint_invocation_4xx_errors_total", **a) == 0
    assert _prom(text, "shipyard_endpoint_instances", **b) == 2
    assert _prom(text, "shipyard_endpoint_in_flight_requests", **a) == 0
    p50 = _prom(text, "shipyard_endpoint_model_latency_seconds", quantile="0.5", **a)
    p99 = _prom(text, "shipyard_endpoint_model_latency_seconds", quantile="0.99", **a)
    assert 0 < p50 <= p99 < 1.0
    assert _prom(text, "shipyard_endpoint_model_latency_seconds_count", **a) == 60
    assert 0 <= _prom(text, "shipyard_endpoint_overhead_latency_seconds", quantile="0.5", **a) < p50 + 0.01

    data = get_json(f"{server.url}/shipyard/endpoints/metrics/metrics?samples=1")
    va, vb = data["Variants"]
    assert (va["VariantName"], va["Invocations"], va["InstanceCount"]) == ("A", 60, 1)
    assert (vb["Invocation4XXErrors"], len(vb["ModelLatencySamplesMs"])) == (30, 90)
    with pytest.raises(urllib.error.HTTPError) as e:
        get_text(f"{server.url}/shipyard/endpoints/nope/metrics")
    assert e.value.code == 404

    r = _cli(server, "endpoints", "describe", "metrics")
    assert r.returncode == 0, r.stderr
    assert "EndpointStatus" in r.stdout and "Metrics (since the server started):" in r.stdout
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines()[-2:]}
    assert rows["A"][4:7] == ["60", "0", "0"] and rows["B"][3:7] == ["2", "90", "30", "0"]
    r = _cli(server, "endpoints", "describe", "metrics", "--json")
    assert json.loads(r.stdout)["Metrics"]["Variants"][1]["Invocation4XXErrors"] == 30

    r = _cli(server, "endpoints", "compare", "metrics")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "A vs B (alpha 0.05)" and lines[1].startswith("latency: median")
    assert lines[2].startswith("errors: 0.00% vs 33.33% (n=60/90)") and lines[2].endswith(": DIFFERENT")
    r = _cli(server, "endpoints", "compare", "metrics", "--json")
    assert json.loads(r.stdout)["errors"]["p"] < 1e-4
    r = _cli(server, "endpoints", "compare", "metrics", "--variants", "A", "Z")
    assert r.returncode == 1 and "pick two of the endpoint's variants (A, B)" in r.stderr
    delete(server, "metrics")
    with pytest.raises(urllib.error.HTTPError):  # the endpoint's metrics go with it
        get_text(f"{server.url}/shipyard/endpoints/metrics/metrics")
