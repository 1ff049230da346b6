"""Shipyard Studio's Model Monitor pages in a real browser: the schedules list (status, endpoint, last
execution), a schedule's page with its execution, the latest violations and a drawn SVG chart per feature, and
Stop/Start through the console's CSRF-checked forms.

The data is made as a user would, with the analyzer running for real (tests/monitoring/test_monitor_cli_report's
:func:`analyzed_schedule`: a capturing endpoint, drifted traffic, an analyzer baseline, a NOW schedule)."""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "monitoring"))
sys.path.insert(0, str(Path(__file__).parent.parent / "hosting"))

from test_monitor_cli_report import FEATURES, analyzed_schedule  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

# As in test_console.py: screenshots go to a temporary folder unless SHIPYARD_SCREENSHOTS names one (docs/images).
IMAGES = Path(os.environ.get("SHIPYARD_SCREENSHOTS") or tempfile.mkdtemp(prefix="shipyard-studio-shots-"))


@pytest.fixture(scope="module")
def analyzed(server, tmp_path_factory):
    return analyzed_schedule(server, tmp_path_factory.mktemp("console-monitoring"), "studiomon")


def test_schedules_list_and_schedule_page(page, analyzed):
    name = analyzed["schedule"]
    page.goto("/studio/monitoring")
    row = page.locator(f"#schedules-table tr[data-name='{name}']")
    assert analyzed["endpoint"] in row.inner_text()
    assert "CompletedWithViolations" in row.locator(".last-execution").inner_text()
    row.locator("a", has_text=name).click()
    page.wait_for_url(re.compile(rf".*/studio/monitoring/{name}$"))
    assert "Scheduled" in page.locator("#schedule-status").inner_text()
    assert "CompletedWithViolations" in page.locator("#executions").inner_text()
    violations = page.locator("#violations tbody tr")
    assert violations.count() >= 1
    assert re.search(r"_check", violations.first.inner_text())
    for feature in FEATURES:
        chart = page.locator(f"#feature-charts .feature[data-feature='{feature}'] svg.feature-chart")
        box = chart.bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 50, feature
        assert chart.locator("rect.baseline").count() > 0 and chart.locator("rect.current").count() > 0
    page.screenshot(path=str(IMAGES / "studio-monitoring-schedule.png"), full_page=True)


def test_stop_and_start_a_schedule(page, analyzed, server):
    name = analyzed["schedule"]
    sm = server.client("sagemaker")
    page.goto(f"/studio/monitoring/{name}")
    page.once("dialog", lambda d: d.accept())
    page.click("#stop-schedule")
    page.wait_for_selector("#start-schedule")
    assert sm.describe_monitoring_schedule(MonitoringScheduleName=name)["MonitoringScheduleStatus"] == "Stopped"
    page.click("#start-schedule")
    page.wait_for_selector("#stop-schedule")
    assert sm.describe_monitoring_schedule(MonitoringScheduleName=name)["MonitoringScheduleStatus"] in (
        "Pending", "Scheduled")


def test_monitoring_routes_need_a_session_and_answer_api_errors(server, page):
    for method, path in (("GET", "/studio/monitoring"), ("GET", "/studio/monitoring/x"),
                         ("POST", "/studio/monitoring/x/stop"), ("POST", "/studio/monitoring/x/start")):
        r = httpx.request(method, server.url + path, follow_redirects=False, timeout=10)
        assert r.status_code == 401, (method, path, r.status_code)
    r = page.request.get("/studio/monitoring/no-such-schedule")  # the API's code and reason
    assert r.status == 400 and "does not exist" in r.text()
