"""Console sign-in over real HTTP: accounts from the command, roles, the session cookie's flags,
CSRF on every change, the login rate limit, sign-out, and a closed console with no account."""

from __future__ import annotations

import json
import subprocess
import sys
import os
import time

import pytest

from assistant.web.console.auth import LoginLimiter

from tests.console_support import PASSWORDS, Client, add_user, console_settings, ingest
from tests.web_support import serving

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def app(real_settings, real_embedder, tmp_path_factory):
    from dataclasses import replace

    settings = replace(console_settings(real_settings, tmp_path_factory, "console_auth"), login_rate_limit="5/minute",
                       login_address_rate_limit="20/minute")
    ingest(settings, real_embedder)
    with serving(settings, real_embedder, settings.data_dir / "feedback.sqlite3") as info:
        yield info | {"settings": settings}


def test_with_no_account_nothing_is_open_and_the_page_says_how_to_make_one(app):
    client = Client(app["url"])
    for path in ("/admin", "/admin/documents", "/admin/login", "/desk"):
        status, _, text = client.get(path)
        assert status == 401, path
        assert "python -m assistant user add NAME --role admin" in text
    status, _, text = client.get("/api/staff/search?q=redness")
    assert status == 401 and "user add" in json.loads(text)["error"]
    # Even a well-formed sign-in cannot open anything.
    assert client.sign_in("nobody", "whatever password")[0] == 401


def test_roles_sessions_csrf_and_sign_out(app):
    settings = app["settings"]
    assert "added admin1 (admin)" in add_user(settings, "admin1", "admin", PASSWORDS["admin"])
    add_user(settings, "desk1", "staff", PASSWORDS["staff"])
    listed = subprocess.run([sys.executable, "-m", "assistant", "user", "list"], capture_output=True, text=True,
                            env=os.environ | {"DATA_DIR": str(settings.data_dir)}, timeout=60).stdout
    assert listed.split("\n")[:2] == ["admin1\tadmin", "desk1\tstaff"]
    assert PASSWORDS["admin"] not in (settings.data_dir / "users.toml").read_text()
    assert oct((settings.data_dir / "users.toml").stat().st_mode & 0o777) == "0o600"

    anonymous = Client(app["url"])
    status, _, text = anonymous.get("/admin/documents")
    assert status == 401 and 'id="login-form"' in text and 'value="/admin/documents"' in text
    assert anonymous.get("/api/staff/search?q=redness")[0] == 401
    assert anonymous.request("/api/staff/ask", "POST", b'{"question": "x"}', {"Content-Type": "application/json"})[0] == 401

    # A sign-in without the CSRF token is refused, and so is a wrong password.
    assert anonymous.post_form("/admin/login", {"name": "admin1", "password": PASSWORDS["admin"]}, csrf=False)[0] == 403
    assert anonymous.sign_in("admin1", "wrong password!")[0] == 401

    staff = Client(app["url"])
    status, headers, _ = staff.sign_in("desk1", PASSWORDS["staff"])
    assert status == 303 and headers["Location"] == "/desk"  # staff land on the front desk
    cookie = headers["Set-Cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie
    status, _, text = staff.get("/admin/documents")
    assert status == 403 and "desk1" in text and "role" in text
    status, _, text = staff.get("/api/staff/search?q=how+long+do+results+last")
    assert status == 200 and json.loads(text)["results"]
    token = staff.csrf("/admin/documents")
    ask = json.dumps({"question": "How long do microneedling results last?"}).encode()
    assert staff.request("/api/staff/ask", "POST", ask, {"Content-Type": "application/json"})[0] == 403
    status, _, text = staff.request("/api/staff/ask", "POST", ask, {"Content-Type": "application/json",
                                                                     "X-CSRF-Token": token})
    assert status == 200 and json.loads(text)["status"] == "answered"

    admin = Client(app["url"])
    status, headers, _ = admin.sign_in("admin1", PASSWORDS["admin"], "/admin/documents")
    assert status == 303 and headers["Location"] == "/admin/documents"
    assert admin.get("/admin/documents")[0] == 200
    # A redirect target off this site is ignored.
    other = Client(app["url"])
    assert other.sign_in("admin1", PASSWORDS["admin"], "//evil.example/")[1]["Location"] == "/admin"

    # Sign-out needs the token too; after it the session opens nothing.
    assert admin.post_form("/admin/logout", {}, csrf=False)[0] == 403
    assert admin.get("/admin/documents")[0] == 200
    assert admin.post_form("/admin/logout", {}, csrf=True)[0] == 303
    assert admin.get("/admin/documents")[0] == 401

    # A removed account loses its open session at once.
    subprocess.run([sys.executable, "-m", "assistant", "user", "remove", "desk1"], check=True, timeout=60,
                   env=os.environ | {"DATA_DIR": str(settings.data_dir)}, capture_output=True)
    assert staff.get("/api/staff/search?q=redness")[0] == 401


def test_cookie_is_secure_over_https(app):
    # uvicorn trusts X-Forwarded-Proto from loopback (a TLS proxy in front): the request is HTTPS.
    client = Client(app["url"])
    status, headers, _ = client.get("/admin/login", headers={"X-Forwarded-Proto": "https"})
    assert status == 200
    cookie = headers["Set-Cookie"].lower()
    assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie


def test_sign_in_attempts_are_rate_limited_per_account_and_per_address(app):
    # Each client below comes from its own address (uvicorn takes X-Forwarded-For from loopback).
    add_user(app["settings"], "limited", "admin", PASSWORDS["admin"])
    client = Client(app["url"], address="203.0.113.1")
    statuses = [client.sign_in("limited", f"wrong password {i}")[0] for i in range(5)]
    assert statuses == [401] * 5
    status, _, text = client.sign_in("limited", PASSWORDS["admin"])
    assert status == 429 and "Too many sign-in attempts" in text  # even the right password waits
    # From another address the real administrator still gets in: the name is slowed, not locked.
    started = time.monotonic()
    assert Client(app["url"], address="203.0.113.2").sign_in("limited", PASSWORDS["admin"])[0] == 303
    assert time.monotonic() - started >= LoginLimiter.NAME_DELAY
    add_user(app["settings"], "other", "admin", PASSWORDS["admin"])
    assert Client(app["url"], address="203.0.113.3").sign_in("other", PASSWORDS["admin"])[0] == 303

    # One address trying many names is stopped after its own limit (20 a minute here).
    guesser = Client(app["url"], address="203.0.113.9")
    statuses = [guesser.sign_in(f"name{i}", "wrong password")[0] for i in range(21)]
    assert statuses == [401] * 20 + [429]
