"""The console's session cookie and CSRF token, without a server: forgery, expiry, tampering, the secret file."""

from __future__ import annotations

import os
import stat

from shipyard.ui.session import SessionSigner, load_secret


def test_a_cookie_round_trips_and_resists_tampering():
    signer = SessionSigner(b"k" * 32)
    cookie, session = signer.issue("AKIAEXAMPLE")
    assert signer.verify(cookie) == session
    payload, _, mac = cookie.rpartition(".")
    assert signer.verify(payload + "." + "0" * len(mac)) is None          # forged signature
    assert signer.verify(payload[:-2] + "AA." + mac) is None              # edited payload
    assert SessionSigner(b"x" * 32).verify(cookie) is None                 # another server's secret
    assert signer.verify(None) is None and signer.verify("garbage") is None


def test_an_expired_cookie_is_no_session():
    signer = SessionSigner(b"k" * 32, lifetime=-1)
    cookie, _ = signer.issue("AKIAEXAMPLE")
    assert signer.verify(cookie) is None


def test_csrf_token_is_bound_to_the_session():
    signer = SessionSigner(b"k" * 32)
    _, one = signer.issue("AKIAEXAMPLE")
    _, two = signer.issue("AKIAEXAMPLE")
    assert signer.check_csrf(one, signer.csrf_token(one))
    assert not signer.check_csrf(one, signer.csrf_token(two))
    assert not signer.check_csrf(one, None) and not signer.check_csrf(one, "")


def test_the_secret_is_created_once_and_private(tmp_path):
    first = load_secret(tmp_path)
    assert len(first) == 32 and load_secret(tmp_path) == first
    mode = stat.S_IMODE(os.stat(tmp_path / "console" / "secret").st_mode)
    assert mode == 0o600
