"""One server for the model registry tests (package scope: every module here shares it), started with
SHIPYARD_WEBHOOKS pointing at a small HTTP receiver on loopback (a thread here), so webhook delivery is checked
end to end."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shipyard.testing.server import ShipyardProcess

# a framework image AWS publishes (CreateModelPackage checks images as CreateModel does)
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


class Receiver:
    """Collects the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.events.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:  # quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, predicate, timeout: float = 10.0) -> list[dict]:
        """The events received, once ``predicate(events)`` holds (bounded wait)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                events = list(self.events)
            if predicate(events):
                return events
            time.sleep(0.05)
        raise AssertionError(f"webhook receiver: condition not met in {timeout}s; got {len(events)} events")

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="package")
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="package")
def server(tmp_path_factory, receiver):
    proc = ShipyardProcess(tmp_path_factory.mktemp("registry-home"), env={"SHIPYARD_WEBHOOKS": receiver.url})
    proc.start()
    try:
        yield proc
    finally:
        proc.stop(kill_children=True)


@pytest.fixture(scope="package")
def sm(server):
    return server.client("sagemaker")


@pytest.fixture(scope="package")
def model_data(server):
    """An S3 model artifact that exists: s3://<bucket>/model.tar.gz."""
    import uuid

    s3 = server.client("s3")
    bucket = f"registry-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="model.tar.gz", Body=b"not really a tarball")
    return bucket, f"s3://{bucket}/model.tar.gz"


def spec(url: str, image: str = IMAGE, env: dict | None = None) -> dict:
    container: dict = {"Image": image, "ModelDataUrl": url}
    if env:
        container["Environment"] = env
    return {"Containers": [container], "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"]}
