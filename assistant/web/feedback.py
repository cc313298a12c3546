"""Thumbs up/down on answers, kept in SQLite in the data folder, with contact details redacted.

The clinic reads it back with `python -m assistant report`: the questions most often refused
and the answers most often voted down tell what to add to corpus/.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..text import redact

VOTES = ("up", "down")
# Where a question came from; the console's insights show it.
CHANNELS = ("chat", "widget", "desk", "api")


@dataclass(frozen=True)
class Vote:
    question: str
    status: str
    chunk_ids: tuple[str, ...]
    vote: str  # "up" or "down"
    channel: str = "api"


class FeedbackStore:
    """Votes and asked questions in one SQLite file; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False)
        with self._db:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS votes (id INTEGER PRIMARY KEY, question TEXT NOT NULL, "
                "status TEXT NOT NULL, chunk_ids TEXT NOT NULL, vote TEXT NOT NULL CHECK (vote IN ('up', 'down')), "
                "created_at TEXT NOT NULL)")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS questions (id INTEGER PRIMARY KEY, question TEXT NOT NULL, "
                "status TEXT NOT NULL, created_at TEXT NOT NULL)")
            for table in ("votes", "questions"):  # files made before channels existed gain the column
                columns = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
                if "channel" not in columns:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN channel TEXT NOT NULL DEFAULT 'api'")

    def record_vote(self, vote: Vote) -> None:
        if vote.vote not in VOTES:
            raise ValueError(f"vote must be 'up' or 'down', not {vote.vote!r}")
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO votes (question, status, chunk_ids, vote, created_at, channel) VALUES (?, ?, ?, ?, ?, ?)",
                (redact(vote.question), vote.status, json.dumps(list(vote.chunk_ids)), vote.vote, _now(),
                 vote.channel))

    def record_question(self, question: str, status: str, channel: str = "api") -> None:
        """Every asked question (redacted), so refused ones can be counted."""
        with self._lock, self._db:
            self._db.execute("INSERT INTO questions (question, status, created_at, channel) VALUES (?, ?, ?, ?)",
                             (redact(question), status, _now(), channel))

    def votes(self) -> list[dict]:
        with self._lock:
            rows = self._db.execute("SELECT question, status, chunk_ids, vote, created_at FROM votes ORDER BY id").fetchall()
        return [{"question": q, "status": s, "chunk_ids": json.loads(c), "vote": v, "created_at": t}
                for q, s, c, v, t in rows]

    def report(self, limit: int = 10) -> str:
        with self._lock:
            refused = self._db.execute(
                "SELECT lower(trim(question)) AS q, COUNT(*) AS n FROM questions WHERE status = 'out_of_scope' "
                "GROUP BY q ORDER BY n DESC, MAX(id) DESC LIMIT ?", (limit,)).fetchall()
            disliked = self._db.execute(
                "SELECT lower(trim(question)) AS q, SUM(vote = 'down') AS down, SUM(vote = 'up') AS up FROM votes "
                "GROUP BY q HAVING down > 0 ORDER BY down DESC, up ASC LIMIT ?", (limit,)).fetchall()
            asked = self._db.execute("SELECT COUNT(*) FROM questions").fetchone()[0]
        lines = [f"{asked} questions recorded in {self.path}", "", "Most often refused (add documents that answer these):"]
        lines += [f"  {n:4}  {q}" for q, n in refused] or ["  (none)"]
        lines += ["", "Answers most often voted down (check the cited passages):"]
        lines += [f"  {d:4} down, {u} up  {q}" for q, d, u in disliked] or ["  (none)"]
        return "\n".join(lines)

    def close(self) -> None:
        self._db.close()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
