"""Deploying a registered package: :func:`resolve_model_package_containers` (what CreateModel calls for
``Containers[].ModelPackageName``), with and without the server's ``require_approval`` setting; and event
publishing never waiting on a slow webhook receiver. In-process services over a temporary home (no server)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shipyard.config import load_settings
from shipyard.context import build_services
from shipyard.errors import ValidationError
from shipyard.resources import model_package, model_package_group

from .conftest import IMAGE

URL = "s3://models/xgb/model.tar.gz"


@pytest.fixture
def services(tmp_path):
    s = build_services(load_settings(home=tmp_path), start_controllers=False)
    s.objects.create_bucket("models")
    s.objects.put_object("models", "xgb/model.tar.gz", b"artifact")
    yield s
    s.meta.close()


def _register(services, approval: str = "PendingManualApproval") -> str:
    try:
        model_package_group.create(services, {"ModelPackageGroupName": "xgb"})
    except Exception:  # noqa: BLE001 - the group exists from an earlier call in this test
        pass
    return model_package.create(services, {
        "ModelPackageGroupName": "xgb", "ModelApprovalStatus": approval,
        "InferenceSpecification": {"Containers": [
            {"Image": IMAGE, "ModelDataUrl": URL, "Environment": {"A": "package", "B": "package"}}]},
    })["ModelPackageArn"]


def test_resolves_the_package_containers(services):
    arn = _register(services)
    plain = {"Image": IMAGE, "ModelDataUrl": URL}
    out = model_package.resolve_model_package_containers(services, [
        {"ModelPackageName": arn, "Environment": {"B": "definition"}, "ContainerHostname": "first"}, plain])
    assert out == [{"Image": IMAGE, "ModelDataUrl": URL, "Environment": {"A": "package", "B": "definition"},
                    "ContainerHostname": "first"}, plain]
    by_name = model_package.resolve_model_package_containers(services, [{"ModelPackageName": "xgb/1"}])
    assert by_name[0]["Image"] == IMAGE


def test_require_approval_refuses_a_package_that_is_not_approved(services):
    pending = _register(services)
    approved = _register(services, "Approved")
    services.settings.require_approval = True
    with pytest.raises(ValidationError, match="PendingManualApproval, not Approved"):
        model_package.resolve_model_package_containers(services, [{"ModelPackageName": pending}])
    assert model_package.resolve_model_package_containers(services, [{"ModelPackageName": approved}])[0][
        "ModelDataUrl"] == URL
    model_package.update(services, {"ModelPackageArn": approved, "ModelApprovalStatus": "Rejected"})
    with pytest.raises(ValidationError, match="Rejected, not Approved"):
        model_package.resolve_model_package_containers(services, [{"ModelPackageName": approved}])
    services.settings.require_approval = False
    assert model_package.resolve_model_package_containers(services, [{"ModelPackageName": approved}])


def test_unknown_package_is_refused(services):
    with pytest.raises(ValidationError, match="no such model package"):
        model_package.resolve_model_package_containers(services, [
            {"ModelPackageName": "arn:aws:sagemaker:us-east-1:123456789012:model-package/xgb/7"}])


def test_a_slow_webhook_never_delays_the_api_call(services):
    release = threading.Event()
    got: list[bytes] = []

    class Slow(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            got.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            release.wait(10)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        services.settings.webhooks = [f"http://127.0.0.1:{httpd.server_address[1]}/"]
        started = time.monotonic()
        _register(services)
        assert time.monotonic() - started < 2.0
        deadline = time.monotonic() + 10
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
        assert got and b"Model Package State Change" in got[0]
    finally:
        release.set()
        httpd.shutdown()
        httpd.server_close()


def test_settings_from_environment_and_server_flag(tmp_path, monkeypatch):
    monkeypatch.setenv("SHIPYARD_REQUIRE_APPROVAL", "1")
    monkeypatch.setenv("SHIPYARD_WEBHOOKS", "http://a/x, http://b/y")
    s = load_settings(home=tmp_path)
    assert s.require_approval is True and s.webhooks == ["http://a/x", "http://b/y"]
    monkeypatch.delenv("SHIPYARD_REQUIRE_APPROVAL")
    assert load_settings(home=tmp_path).require_approval is False
    from shipyard.cli import build_parser

    args = build_parser().parse_args(["server", "--require-approval"])
    assert args.require_approval is True
    assert build_parser().parse_args(["server"]).require_approval is False
