"""The console with users' own keys (issue 17), over HTTP: a user signs in with the pair ``shipyard users add``
printed, the header names the user (and "viewer"), a viewer's actions are refused with the API's rule, and a
removed user's session ends on the next request."""

from __future__ import annotations

import contextlib
import re
from typing import Iterator

import httpx
import pytest

from shipyard.domain.users import Users
from shipyard.testing.server import ShipyardProcess

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def console_server(tmp_path_factory):
    proc = ShipyardProcess(tmp_path_factory.mktemp("users-console-home"))
    proc.start()
    try:
        yield proc
    finally:
        proc.stop(kill_children=True)


@contextlib.contextmanager
def signed_in(server: ShipyardProcess, key_id: str, secret: str) -> Iterator[httpx.Client]:
    """An HTTP client holding a console session signed in with this key pair."""
    with httpx.Client(base_url=server.url, timeout=30, headers={"accept": "text/html"}) as web:
        r = web.post("/studio/signin", data={"access_key_id": key_id, "secret_access_key": secret})
        assert r.status_code == 303, r.text
        assert "shipyard_console" in web.cookies
        yield web


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def test_viewer_signs_in_sees_its_name_and_is_refused_actions(console_server):
    viewer = Users(console_server.home).add("vera", role="viewer")  # added while the server runs
    with signed_in(console_server, viewer.access_key_id, viewer.secret_access_key) as web:
        page = web.get("/studio/training-jobs")
        assert page.status_code == 200
        who = re.search(r'<form class="who".*?</form>', page.text, re.S)
        assert who and "vera" in who.group(0) and "(viewer)" in who.group(0)
        assert viewer.access_key_id not in re.sub(r'title="[^"]*"', "", who.group(0))  # the name, not the key
        r = web.post("/studio/training-jobs/any-job/stop", data={"csrf_token": csrf_of(page.text)})
        assert r.status_code == 403
        assert "AccessDeniedException" in r.text and "vera" in r.text and "read-only" in r.text


def test_admin_user_acts_and_a_removed_user_is_signed_out(console_server):
    users = Users(console_server.home)
    admin = users.add("adam")
    with signed_in(console_server, admin.access_key_id, admin.secret_access_key) as web:
        page = web.get("/studio/training-jobs")
        assert page.status_code == 200 and "adam" in page.text and "(viewer)" not in page.text
        r = web.post("/studio/training-jobs/no-such-job/stop", data={"csrf_token": csrf_of(page.text)})
        assert r.status_code != 403 and "AccessDenied" not in r.text  # allowed: the job is simply not there
        users.remove("adam")
        r = web.get("/studio/training-jobs")
        assert r.status_code == 303 and "/studio/signin" in r.headers["location"]


def test_wrong_or_unknown_user_keys_do_not_sign_in(console_server):
    user = Users(console_server.home).add("wanda")
    with httpx.Client(base_url=console_server.url, timeout=30) as web:
        for key_id, secret in ((user.access_key_id, user.secret_access_key[::-1]),
                               ("AKIAUNKNOWNUNKNOWN00", user.secret_access_key)):
            r = web.post("/studio/signin", data={"access_key_id": key_id, "secret_access_key": secret})
            assert r.status_code == 403 and "shipyard_console" not in web.cookies
