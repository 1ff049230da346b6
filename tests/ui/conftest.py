"""Fixtures for the console's browser tests: Debian's Chromium driven by Playwright for Python.

The browser is the system's (``scripts/browser_setup.py`` installs it with apt-get); Playwright never
downloads one. Tests skip, saying what to install, when either is missing.
"""

from __future__ import annotations

import os
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
