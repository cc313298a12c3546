"""What visitors ask and how they vote, kept in SQLite in the data folder, redacted and for a limited time.

The clinic reads it back with `python -m assistant report`: the questions most often refused (or given
only the closest passages) and the answers most often voted down tell what to add to corpus/. Stored: each question (redacted, at most
``max_chars`` of it), its status and channel; each vote with the answer's cited chunk ids and
quotes (for the console's insights) and a per-run hash of the voter's address (so a second vote on the
same answer replaces the first; the address itself is never stored). Rows older than ``retention_days``
are purged.

Recording never breaks an answer: a failed write (read-only or full disk) is logged and the visitor
still gets the reply; ``health()`` reports it.

Callback requests (the "leave your question" form, see contact.py) are kept here too, for the same
``retention_days`` and purged with the questions: the question redacted like any other, the name,
e-mail address and phone number as the patient gave them, with their consent, for the clinic to
reply; when staff marked one done, and who.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from ..text import redact

if TYPE_CHECKING:
    from .contact import ContactRequest

VOTES = ("up", "down")
CHANNELS = ("chat", "widget", "desk", "api")
log = logging.getLogger(__name__)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS questions (id INTEGER PRIMARY KEY, question TEXT NOT NULL, "
    "status TEXT NOT NULL, created_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS votes (id INTEGER PRIMARY KEY, question TEXT NOT NULL, status TEXT NOT NULL, "
    "chunk_ids TEXT NOT NULL, vote TEXT NOT NULL CHECK (vote IN ('up', 'down')), created_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, at TEXT NOT NULL)",
    # mailed: "" (no SMTP configured, or not yet tried), "sent" or "failed".
    "CREATE TABLE IF NOT EXISTS contact_requests (id INTEGER PRIMARY KEY, question TEXT NOT NULL, "
    "name TEXT NOT NULL, email TEXT NOT NULL, phone TEXT NOT NULL, channel TEXT NOT NULL, created_at TEXT NOT NULL, "
    "mailed TEXT NOT NULL DEFAULT '', done_at TEXT, done_by TEXT)",
)
# Tables whose rows go when they are older than the retention limit.
_RETAINED = ("questions", "votes", "contact_requests")
# Columns added after the first release: existing files are upgraded in place.
_ADDED_COLUMNS = {
    "questions": {"channel": "TEXT NOT NULL DEFAULT 'chat'"},
    "votes": {"channel": "TEXT NOT NULL DEFAULT 'chat'", "answer_id": "TEXT", "voter": "TEXT", "quotes": "TEXT"},
}
_PURGE_EVERY_S = 3600.0


@dataclass(frozen=True)
class Vote:
    question: str
    status: str
    chunk_ids: tuple[str, ...]
    vote: str  # "up" or "down"
    answer_id: str = ""  # with ``voter``: one vote per visitor and answer (see answer_key)
    voter: str = ""  # the client address; stored only as a per-run hash
    channel: str = "chat"
    quotes: tuple[str, ...] = ()  # what the answer quoted, one per chunk id: the clinic's text, no visitor's


def answer_key(question: str, chunk_ids) -> str:
    """Which answer a vote is on, the same on every channel and however often it was asked: the
    question as the report groups it (case and spacing aside) and the passages it cited. Keyed
    with the client address, a visitor has one vote on it, whatever session ids or answer ids
    they send."""
    text = " ".join(question.lower().split()) + "\0" + "\0".join(chunk_ids)
    return hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=12).hexdigest()


class FeedbackStore:
    """Votes and asked questions in one SQLite file; safe to share between threads."""

    def __init__(self, path: Path, retention_days: int = 90, max_chars: int = 1000) -> None:
        self.path, self.retention_days, self.max_chars = path, retention_days, max_chars
        self._lock = threading.Lock()
        self._salt = secrets.token_bytes(16)  # voter hashes cannot be joined across runs or files
        self._db: sqlite3.Connection | None = None
        self._last_purge = 0.0
        self.last_error = ""
        try:
            self._connect()
        except (sqlite3.Error, OSError) as exc:
            self._failed("open", exc)

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, timeout=2.0)
            with db:
                for statement in _SCHEMA:
                    db.execute(statement)
                for table, columns in _ADDED_COLUMNS.items():
                    present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
                    for name, declaration in columns.items():
                        if name not in present:
                            db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {declaration}")
                db.execute("CREATE UNIQUE INDEX IF NOT EXISTS one_vote ON votes (answer_id, voter)")
            self._db = db
        return self._db

    def _failed(self, what: str, exc: Exception) -> None:
        self.last_error = f"feedback store cannot {what}: {exc.__class__.__name__}: {exc}"
        log.warning("%s; answers are still sent, this one is not recorded", self.last_error)

    def _write(self, what: str, sql: str, params: tuple) -> bool:
        try:
            with self._lock:
                db = self._connect()
                with db:
                    db.execute(sql, params)
                    self._purge_now_and_then(db)
        except (sqlite3.Error, OSError) as exc:
            self._failed(what, exc)
            return False
        self.last_error = ""
        return True

    def _text(self, question: str) -> str:
        # Bounded first, then redacted outside any lock: the cost is linear in at most max_chars.
        return redact(question[: self.max_chars])

    def record_vote(self, vote: Vote) -> bool:
        """Store (or change) a vote; False when it could not be stored."""
        if vote.vote not in VOTES:
            raise ValueError(f"vote must be 'up' or 'down', not {vote.vote!r}")
        voter = hashlib.blake2b(vote.voter.encode("utf-8", "replace"), key=self._salt, digest_size=12).hexdigest()
        # Without an answer id there is nothing to de-duplicate on: NULLs never collide in the index.
        answer_id = vote.answer_id or None
        return self._write("store a vote", (
            "INSERT INTO votes (question, status, chunk_ids, vote, channel, answer_id, voter, created_at, quotes) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (answer_id, voter) DO UPDATE SET vote = excluded.vote, "
            "created_at = excluded.created_at"),
            (self._text(vote.question), vote.status, json.dumps(list(vote.chunk_ids)), vote.vote, vote.channel,
             answer_id, voter, _now(), json.dumps(list(vote.quotes))))

    def record_question(self, question: str, status: str, channel: str = "chat") -> bool:
        """Every asked question (redacted, bounded), so refused ones can be counted."""
        return self._write("store a question",
                           "INSERT INTO questions (question, status, channel, created_at) VALUES (?, ?, ?, ?)",
                           (self._text(question), status, channel, _now()))

    def record_contact(self, request: "ContactRequest") -> int | None:
        """Store a callback request (already checked by contact.check_contact); its id, or None
        when it could not be stored (logged; the caller tells the patient)."""
        try:
            with self._lock:
                db = self._connect()
                with db:
                    row = db.execute(
                        "INSERT INTO contact_requests (question, name, email, phone, channel, created_at) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (self._text(request.question), request.name, request.email, request.phone, request.channel,
                         _now())).lastrowid
                    self._purge_now_and_then(db)
        except (sqlite3.Error, OSError) as exc:
            self._failed("store a callback request", exc)
            return None
        self.last_error = ""
        return row

    def contact_requests(self) -> list[dict]:
        """Every callback request kept, open ones first, newest first within each."""
        rows = self._rows("SELECT id, question, name, email, phone, channel, created_at, mailed, done_at, done_by "
                          "FROM contact_requests ORDER BY done_at IS NOT NULL, id DESC")
        keys = ("id", "question", "name", "email", "phone", "channel", "created_at", "mailed", "done_at", "done_by")
        return [dict(zip(keys, row)) for row in rows]

    def contact_mailed(self, request_id: int, sent: bool) -> bool:
        """Note whether the request's e-mail to the clinic went out."""
        return self._write("note a callback e-mail", "UPDATE contact_requests SET mailed = ? WHERE id = ?",
                           ("sent" if sent else "failed", request_id))

    def contact_done(self, request_id: int, by: str) -> bool:
        """Mark a callback request done by staff member ``by``; False when there is no such open request."""
        with self._lock:
            db = self._connect()
            with db:
                return db.execute("UPDATE contact_requests SET done_at = ?, done_by = ? "
                                  "WHERE id = ? AND done_at IS NULL", (_now(), by, request_id)).rowcount == 1

    def health(self) -> dict:
        """A real write (one row in ``probe``): a read-only or full disk shows here."""
        ok = self._write("write", "INSERT OR REPLACE INTO probe (id, at) VALUES (1, ?)", (_now(),))
        return {"ok": ok, "error": "" if ok else "feedback cannot be stored (see the server log)"}

    def purge(self, older_than_days: int | None = None) -> int:
        """Delete questions and votes older than the retention limit; returns how many rows went."""
        with self._lock:
            db = self._connect()
            with db:
                return self._purge(db, self.retention_days if older_than_days is None else older_than_days)

    def _purge_now_and_then(self, db: sqlite3.Connection) -> None:
        if time.monotonic() - self._last_purge >= _PURGE_EVERY_S:
            self._purge(db, self.retention_days)

    def _purge(self, db: sqlite3.Connection, days: int) -> int:
        self._last_purge = time.monotonic()
        cutoff = (datetime.now(timezone.utc) - timedelta(days=days)).isoformat(timespec="seconds")
        return sum(db.execute(f"DELETE FROM {table} WHERE created_at < ?", (cutoff,)).rowcount
                   for table in _RETAINED)

    def _rows(self, sql: str, params: tuple = ()) -> list:
        with self._lock:
            return self._connect().execute(sql, params).fetchall()

    def votes(self) -> list[dict]:
        rows = self._rows("SELECT question, status, chunk_ids, vote, channel, created_at FROM votes ORDER BY id")
        return [{"question": q, "status": s, "chunk_ids": json.loads(c), "vote": v, "channel": ch, "created_at": t}
                for q, s, c, v, ch, t in rows]

    def report(self, limit: int = 10) -> str:
        def most_often(status: str) -> list:
            return self._rows(
                "SELECT lower(trim(question)) AS q, COUNT(*) AS n, group_concat(DISTINCT channel) FROM questions "
                "WHERE status = ? GROUP BY q ORDER BY n DESC, MAX(id) DESC LIMIT ?", (status, limit))

        refused, closest = most_often("out_of_scope"), most_often("closest")
        disliked = self._rows(
            "SELECT lower(trim(question)) AS q, SUM(vote = 'down') AS down, SUM(vote = 'up') AS up FROM votes "
            "GROUP BY q HAVING down > 0 ORDER BY down DESC, up ASC LIMIT ?", (limit,))
        asked = self._rows("SELECT COUNT(*) FROM questions")[0][0]
        lines = [f"{asked} questions recorded (kept {self.retention_days} days)", "",
                 "Most often refused (add documents that answer these):"]
        lines += [f"  {n:4}  {q}  ({channels})" for q, n, channels in refused] or ["  (none)"]
        lines += ["", "Most often given only the closest passages (no direct answer: these need one):"]
        lines += [f"  {n:4}  {q}  ({channels})" for q, n, channels in closest] or ["  (none)"]
        lines += ["", "Answers most often voted down (check the cited passages):"]
        lines += [f"  {d:4} down, {u} up  {q}" for q, d, u in disliked] or ["  (none)"]
        return "\n".join(lines)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
