"""Console sessions kept on the server (OWASP ASVS V3): the cookie carries only a random id.

The record lives in DATA_DIR/sessions.sqlite3 beside the accounts, keyed by a SHA-256 hash of the
id (a copy of the file opens no session), with who signed in, a fingerprint of that account's
password hash, the session's few values (CSRF token, a notice to show once), when it began and
when it was last used. A session ends when:

- its owner signs out (the record is deleted, so a copied cookie opens nothing afterwards);
- it has been idle for SESSION_IDLE_MINUTES, or open for SESSION_MAX_HOURS since sign-in;
- the account's password changes, or the account is removed or added again: `python -m assistant
  user add|remove` deletes that account's records, and every request also compares the record's
  fingerprint with the account's hash as it is now (a hand-edited users.toml counts too).

Signing in always starts a new record with a new id (no session fixation). Before sign-in a
visitor of the sign-in form gets a record of its own for the form's CSRF token; those are few,
expire like the rest and are capped (``MAX_ANONYMOUS``).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection

from .accounts import User, UserStore

SESSION_COOKIE = "console_session"
# Last use is written at most once a minute per session: the idle timeout is kept to the minute
# without a write on every request of the front desk (about 11 while a question is typed).
_TOUCH_EVERY_S = 60.0
_PURGE_EVERY_S = 60.0
# Pre-sign-in records kept at most (the newest): each sign-in form shown to a visitor makes one,
# so without a cap anyone could fill the disk with them. 10,000 is far above a clinic's staff
# opening the form within the idle timeout; past it the oldest form's token goes first, and that
# visitor is asked to reload the form.
MAX_ANONYMOUS = 10_000
_SCHEMA = ("CREATE TABLE IF NOT EXISTS sessions (key TEXT PRIMARY KEY, user TEXT NOT NULL, "
           "credential TEXT NOT NULL, data TEXT NOT NULL, created REAL NOT NULL, seen REAL NOT NULL)",
           "CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user)")


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "replace")).hexdigest()


def credential(user: User) -> str:
    """What ties a session to the account as it was at sign-in: a hash of its password hash, which
    changes with the password and with every `user add` (argon2 draws a new salt each time)."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()


@dataclass(frozen=True)
class Record:
    key: str
    user: str  # "" before sign-in
    credential: str
    data: dict
    created: float
    seen: float


class SessionStore:
    """Session records in one SQLite file; safe to share between threads and processes."""

    def __init__(self, path: Path, idle_seconds: float, max_seconds: float, clock=time.time) -> None:
        self.path, self.idle, self.max, self.clock = path, idle_seconds, max_seconds, clock
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._last_purge = 0.0

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:  # only the owner may read it (SQLite gives its journal files the same mode)
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:
                pass
            db = sqlite3.connect(self.path, check_same_thread=False, timeout=5.0, isolation_level=None)
            for statement in _SCHEMA:
                db.execute(statement)
            self._db = db
        return self._db

    def _run(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._connect().execute(sql, params)

    def load(self, session_id: str) -> Record | None:
        """The live record for this id; None when there is none, or it has timed out (then deleted)."""
        key = _key(session_id)
        row = self._run("SELECT key, user, credential, data, created, seen FROM sessions WHERE key = ?",
                        (key,)).fetchone()
        if row is None:
            return None
        record = Record(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5])
        now = self.clock()
        if now - record.seen > self.idle or now - record.created > self.max:
            self.delete(record.key)
            return None
        return record

    def create(self, user: str, credential_: str, data: dict) -> str:
        """A new record; returns its id (the cookie's value), which is stored only as a hash."""
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        self._run("INSERT INTO sessions (key, user, credential, data, created, seen) VALUES (?, ?, ?, ?, ?, ?)",
                  (_key(session_id), user, credential_, json.dumps(data), now, now))
        if time.monotonic() - self._last_purge >= _PURGE_EVERY_S:
            self.purge()
        return session_id

    def save(self, key: str, data: dict) -> None:
        self._run("UPDATE sessions SET data = ?, seen = ? WHERE key = ?", (json.dumps(data), self.clock(), key))

    def touch(self, record: Record) -> None:
        if self.clock() - record.seen >= _TOUCH_EVERY_S:
            self._run("UPDATE sessions SET seen = ? WHERE key = ?", (self.clock(), record.key))

    def delete(self, key: str) -> None:
        self._run("DELETE FROM sessions WHERE key = ?", (key,))

    def revoke_user(self, name: str) -> int:
        """End every session of account ``name``; how many there were."""
        return self._run("DELETE FROM sessions WHERE user = ?", (name,)).rowcount

    def count(self, name: str | None = None) -> int:
        if name is None:
            return self._run("SELECT COUNT(*) FROM sessions").fetchone()[0]
        return self._run("SELECT COUNT(*) FROM sessions WHERE user = ?", (name,)).fetchone()[0]

    def purge(self) -> int:
        """Delete timed-out records, and pre-sign-in ones past the newest ``MAX_ANONYMOUS``."""
        self._last_purge = time.monotonic()
        now = self.clock()
        gone = self._run("DELETE FROM sessions WHERE seen < ? OR created < ?", (now - self.idle, now - self.max)).rowcount
        return gone + self._run(
            "DELETE FROM sessions WHERE user = '' AND key NOT IN "
            "(SELECT key FROM sessions WHERE user = '' ORDER BY seen DESC LIMIT ?)", (MAX_ANONYMOUS,)).rowcount


def session_store(settings) -> SessionStore:
    """The session store these settings describe (DATA_DIR/sessions.sqlite3, their timeouts)."""
    return SessionStore(settings.data_dir / "sessions.sqlite3", settings.session_idle_minutes * 60.0,
                        settings.session_max_hours * 3600.0)


class ServerSessions:
    """ASGI middleware: ``scope["session"]`` (what ``request.session`` reads) from the record named
    by the cookie, written back after the handler; ``session["user"]`` is who is signed in.

    A change of who is signed in (sign-in, sign-out) deletes the old record and, when anything is
    left to keep, makes a new one under a new id. The cookie is HttpOnly and SameSite=Strict, and
    Secure when the request came over HTTPS; it has no expiry of its own (the browser drops it when
    it closes; the server's timeouts decide before that)."""

    def __init__(self, app, store: SessionStore, users: UserStore) -> None:
        self.app, self.store, self.users = app, store, users

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        from anyio.to_thread import run_sync

        session_id = HTTPConnection(scope).cookies.get(SESSION_COOKIE, "")
        record = await run_sync(self._live, session_id) if session_id else None
        data = dict(record.data) if record else {}
        if record and record.user:
            data["user"] = record.user
        scope["session"] = data
        before = json.dumps(data, sort_keys=True)
        if scope["type"] == "websocket":  # no cookie can be set on a websocket's answer
            return await self.app(scope, receive, send)

        async def send_with_cookie(message):
            if message["type"] == "http.response.start":
                cookie = await run_sync(self._commit, scope, session_id, record, before, data)
                if cookie:
                    MutableHeaders(scope=message).append("set-cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _live(self, session_id: str) -> Record | None:
        record = self.store.load(session_id)
        if record is None or not record.user:
            return record
        user = self.users.get(record.user)
        # Removed, added again or given a new password since this session began: it is over.
        if user is None:
            self.store.revoke_user(record.user)
            return None
        if not secrets.compare_digest(credential(user), record.credential):
            self.store.delete(record.key)
            return None
        return record

    def _commit(self, scope, session_id: str, record: Record | None, before: str, data: dict) -> str:
        """Write the session back; the Set-Cookie value to send, or ""."""
        user = str(data.get("user", "") or "")
        values = {k: v for k, v in data.items() if k != "user"}
        if record is not None and user == record.user:
            if json.dumps(data, sort_keys=True) != before:
                self.store.save(record.key, values)
            else:
                self.store.touch(record)
            return ""
        if record is not None:
            self.store.delete(record.key)
        account = self.users.get(user) if user else None
        if not data or (user and account is None):
            return _cookie(scope, "") if session_id else ""
        return _cookie(scope, self.store.create(user, credential(account) if account else "", values))


def _cookie(scope, value: str) -> str:
    flags = "; Path=/; HttpOnly; SameSite=Strict" + ("; Secure" if scope.get("scheme") in ("https", "wss") else "")
    if not value:
        return f"{SESSION_COOKIE}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT" + flags
    return f"{SESSION_COOKIE}={value}" + flags
