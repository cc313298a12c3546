"""Console sessions kept on the server, over real HTTP: a copied cookie opens nothing after sign-out,
after a password change or after the account is made again (each through the real `python -m
assistant user` command), the cookie carries only a random id, sign-in starts a new one; the
store's idle and absolute timeouts on a clock the test moves."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys

import pytest

from assistant.settings import PROJECT_ROOT, Settings
from assistant.errors import ConfigError
from assistant.web.console.sessions import SESSION_COOKIE, SessionStore
from tests.conftest import CORPUS, HashingEmbedder
from tests.console_support import PASSWORDS, Client, add_user
from tests.web_support import serving


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from assistant.index import ChromaIndex, open_client
    from assistant.ingest.ingestion import run_ingest

    root = tmp_path_factory.mktemp("sessions")
    shutil.copytree(CORPUS, root / "corpus")
    settings = Settings.from_env({}, corpus_dir=root / "corpus", data_dir=root / "data", rate_limit=100_000,
                                 forwarded_allow_ips="127.0.0.1", login_address_rate_limit="100/minute")
    embedder = HashingEmbedder()
    run_ingest(settings, embedder, ChromaIndex(open_client(settings), settings.collection), progress=False)
    with serving(settings, embedder, settings.data_dir / "feedback.sqlite3") as info:
        yield info | {"settings": settings}


def _signed_in(app, name: str, password: str) -> tuple[Client, str]:
    client = Client(app["url"])
    status, headers, _ = client.sign_in(name, password, "/admin/documents")
    assert status == 303, status
    (cookie,) = [c.value for c in client.jar if c.name == SESSION_COOKIE]
    return client, cookie


def _copy(app, cookie: str) -> Client:
    """Another client (an attacker's) holding a copy of the cookie."""
    thief = Client(app["url"])
    thief.headers["Cookie"] = f"{SESSION_COOKIE}={cookie}"
    return thief


def _opens(client: Client) -> bool:
    return client.get("/admin/documents")[0] == 200


def _saves_widget(client: Client, token: str) -> int:
    return client.post_form("/admin/widget", {"csrf_token": token, "title": "Changed by a copied cookie"},
                            csrf=False)[0]


def _user(app, *args: str, password: str | None = None) -> str:
    settings = app["settings"]
    done = subprocess.run([sys.executable, "-m", "assistant", "user", *args],
                          input=None if password is None else password + "\n", capture_output=True, text=True,
                          env=os.environ | {"DATA_DIR": str(settings.data_dir)}, cwd=PROJECT_ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_copied_cookie_opens_nothing_after_sign_out(app):
    add_user(app["settings"], "manager", "admin", PASSWORDS["admin"])
    client, cookie = _signed_in(app, "manager", PASSWORDS["admin"])
    thief = _copy(app, cookie)
    token = client.csrf("/admin/widget")
    assert _opens(thief)  # the copy works while the session lasts: it is the session
    assert _saves_widget(thief, token) == 303

    assert client.post_form("/admin/logout", {})[0] == 303
    status, _, text = thief.get("/admin/documents")
    assert status == 401 and 'id="login-form"' in text
    assert _saves_widget(thief, token) == 401
    assert not _opens(client)
    # Nothing of the ended session is left in the store.
    assert app_store(app).count("manager") == 0


def test_the_cookie_carries_only_a_random_id_and_the_store_only_its_hash(app):
    add_user(app["settings"], "keeper", "admin", PASSWORDS["admin"])
    client = Client(app["url"])
    client.get("/admin/login")
    (before,) = [c.value for c in client.jar if c.name == SESSION_COOKIE]
    _, cookie = _signed_in(app, "keeper", PASSWORDS["admin"])
    assert len(cookie) == 43 and "." not in cookie  # 32 random bytes, no signed payload
    stored = (app["settings"].data_dir / "sessions.sqlite3").read_bytes()
    assert cookie.encode() not in stored
    with sqlite3.connect(app["settings"].data_dir / "sessions.sqlite3") as db:
        users = [row[0] for row in db.execute("SELECT user FROM sessions")]
    assert "keeper" in users
    assert oct((app["settings"].data_dir / "sessions.sqlite3").stat().st_mode & 0o777) == "0o600"

    # Signing in starts a new session under a new id: the id shown before sign-in opens nothing.
    client.sign_in("keeper", PASSWORDS["admin"])
    (after,) = [c.value for c in client.jar if c.name == SESSION_COOKIE]
    assert after != before and _opens(client) and not _opens(_copy(app, before))


def test_a_password_change_ends_every_session_of_the_account(app):
    add_user(app["settings"], "desk2", "staff", PASSWORDS["staff"])
    add_user(app["settings"], "other", "admin", PASSWORDS["admin"])
    _, first = _signed_in(app, "desk2", PASSWORDS["staff"])
    _, second = _signed_in(app, "desk2", PASSWORDS["staff"])
    _, other = _signed_in(app, "other", PASSWORDS["admin"])
    search = "/api/staff/search?q=redness"
    assert _copy(app, first).get(search)[0] == 200 and _copy(app, second).get(search)[0] == 200

    said = _user(app, "add", "desk2", "--role", "staff", "--password-stdin", password="a new password 2")
    assert "updated desk2" in said and "ended 2 open sessions" in said
    assert _copy(app, first).get(search)[0] == 401 and _copy(app, second).get(search)[0] == 401
    assert _opens(_copy(app, other))  # another account's session stays
    assert Client(app["url"]).sign_in("desk2", PASSWORDS["staff"])[0] == 401
    assert Client(app["url"]).sign_in("desk2", "a new password 2")[0] == 303


def test_an_account_removed_and_made_again_does_not_get_its_old_sessions_back(app):
    add_user(app["settings"], "temp", "admin", PASSWORDS["admin"])
    _, cookie = _signed_in(app, "temp", PASSWORDS["admin"])
    assert "removed temp" in _user(app, "remove", "temp")
    # Made again with the very same password and role.
    assert "added temp" in add_user(app["settings"], "temp", "admin", PASSWORDS["admin"])
    assert not _opens(_copy(app, cookie))
    assert Client(app["url"]).sign_in("temp", PASSWORDS["admin"])[0] == 303


def test_a_session_is_bound_to_the_password_it_signed_in_with(app):
    # users.toml changed without the command (restored from a backup, edited by hand): the
    # session's fingerprint of the password hash no longer matches, so it is over.
    from assistant.web.console.accounts import UserStore

    add_user(app["settings"], "edited", "admin", PASSWORDS["admin"])
    _, cookie = _signed_in(app, "edited", PASSWORDS["admin"])
    UserStore(app["settings"].data_dir / "users.toml").add("edited", "admin", "changed by hand 1")
    assert not _opens(_copy(app, cookie))


def app_store(app) -> SessionStore:
    return SessionStore(app["settings"].data_dir / "sessions.sqlite3", 1800, 8 * 3600)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_sessions_end_after_the_idle_and_the_absolute_timeout(tmp_path):
    clock = Clock()
    store = SessionStore(tmp_path / "sessions.sqlite3", idle_seconds=30 * 60, max_seconds=8 * 3600, clock=clock)
    idle = store.create("anna", "c", {"csrf": "t"})
    used = store.create("anna", "c", {})
    for _ in range(20):  # used every 25 minutes for over eight hours
        clock.now += 25 * 60
        record = store.load(used)
        if record is None:
            break
        store.touch(record)
    assert store.load(idle) is None  # idle for more than 30 minutes
    assert record is None and 8 * 3600 < clock.now - 1_000_000.0 <= 8 * 3600 + 25 * 60
    assert store.count() == 0

    fresh = store.create("anna", "c", {})
    clock.now += 29 * 60
    assert store.load(fresh) is not None
    assert store.revoke_user("anna") == 1 and store.load(fresh) is None


def test_the_timeouts_are_settings_and_are_checked():
    settings = Settings.from_env({"SESSION_IDLE_MINUTES": "15", "SESSION_MAX_HOURS": "4"})
    assert (settings.session_idle_minutes, settings.session_max_hours) == (15, 4)
    with pytest.raises(ConfigError, match="SESSION_IDLE_MINUTES=0"):
        Settings.from_env({"SESSION_IDLE_MINUTES": "0"})
    with pytest.raises(ConfigError, match="longer than SESSION_MAX_HOURS=1"):
        Settings.from_env({"SESSION_IDLE_MINUTES": "90", "SESSION_MAX_HOURS": "1"})
