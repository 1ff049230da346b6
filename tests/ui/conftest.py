"""Fixtures for the console's browser tests: a signed-in page on the ``browser`` of tests/conftest.py (Debian's
Chromium driven by Playwright for Python; skipped, saying what to install, when either is missing)."""

from __future__ import annotations

import re

import pytest


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
