"""After a server restart inside the --idle window no endpoint is judged idle: Shipyard keeps endpoint
invocations in memory, so "no invocations" would only mean "none since the restart"."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from shipyard.cleanup.collect import Collector


class _CloudWatch:
    """A CloudWatch client stub: no invocations at all; its endpoint is the health server below."""

    def __init__(self, url: str):
        self.meta = SimpleNamespace(endpoint_url=url)
        self.asked = 0

    def get_metric_statistics(self, **_kwargs):
        self.asked += 1
        return {"Datapoints": []}


@pytest.fixture
def health_server():
    state = {"started": None}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            body = json.dumps({"status": "ok", "started": state["started"]}).encode()
            self.send_response(200 if self.path == "/shipyard/health" else 404)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}", state
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize("started_ago, judged", [(30, False), (7200, True)])
def test_endpoints_are_judged_only_when_the_server_was_up_for_the_whole_window(health_server, started_ago, judged):
    url, state = health_server
    now = time.time()
    state["started"] = now - started_ago
    cw = _CloudWatch(url)
    c = Collector(None, cw, None, None, "123456789012", now)
    calls = c._invocations("ep", ["AllTraffic"], 3600)
    assert (calls == 0) is judged and (calls is None) is (not judged)
    assert (cw.asked == 1) is judged
    assert any("started" in w for w in c.warnings) is (not judged)


def test_no_health_answer_means_cloudwatch_is_trusted():
    cw = _CloudWatch("http://127.0.0.1:9")  # nothing listens on the discard port
    c = Collector(None, cw, None, None, "123456789012", time.time())
    assert c._invocations("ep", ["AllTraffic"], 3600) == 0
