"""Fixtures for the console's browser tests: Debian's Chromium driven by Playwright for Python.

The browser is the system's (``scripts/browser_setup.py`` installs it with apt-get); Playwright never
downloads one. Tests skip, saying what to install, when either is missing.
"""

from __future__ import annotations

import os
import re
import shutil

import pytest

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def _chromium() -> str | None:
    explicit = os.environ.get("SHIPYARD_CHROMIUM")  # another Chromium build; skipped if it is not there
    if explicit:
        return explicit if os.path.exists(explicit) else None
    for path in CHROMIUM_CANDIDATES:
        if os.path.exists(path):
            return path
    return shutil.which("chromium")


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed: pip install playwright (the ui-test extra)")
    path = _chromium()
    if path is None:
        pytest.skip("no system Chromium: run `python scripts/browser_setup.py` (apt-get install chromium)")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, headless=True,
                                     args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def page(server, browser):
    """A browser page signed in with the server's key pair (one per test module)."""
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    key, secret = server.keys()
    page.goto("/studio/signin")
    page.fill("input[name=access_key_id]", key)
    page.fill("input[name=secret_access_key]", secret)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/studio/?$"))
    yield page
    context.close()
